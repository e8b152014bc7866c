"""``logs.format: auto``: recognise how a log file's lines are laid out from its first lines.

A config that says ``format: auto`` (and ``train`` given a log file with no config) gets its
``logs`` parsing keys from the lines themselves: JSON objects (the fields that hold the
message, time and level, by their usual names), or text lines with a time stamp in one of
the layouts common log writers use (:data:`STAMPS`), after a fixed number of leading fields
(a label, a host, a log id), then optionally a level, then the message. A file whose lines
hold no stamp that reads is counted per N lines, its whole line the message. The choice is
written into the bundle's config as a plain ``json`` or ``regex`` section, so ``score``,
``evaluate`` and ``serve`` read the same way; nothing is guessed again after training.

Pure: lines in, a :class:`Layout` out (the file reading is in :mod:`anomaly_gan.logs.offline`).

>>> lay = detect_layout(["2026-01-01 10:00:01,123 INFO  [main] shop.Cart - added 3",
...                      "2026-01-01 10:00:02,007 ERROR [main] shop.Pay - timeout 5003 ms"])
>>> lay.name, lay.timestamp_format, lay.share
('date time,ms', '%Y-%m-%d %H:%M:%S,%f', 1.0)
>>> ev = LogParser(format="regex", regex=lay.regex, timestamp_format=lay.timestamp_format,
...                entity="all").parse("2026-01-01 10:00:02,007 ERROR [main] x - timeout")
>>> ev.level, ev.message
('ERROR', '[main] x - timeout')
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from anomaly_gan.config import JsonFieldsConfig
from anomaly_gan.logs.events import LogEvent, LogParser
from anomaly_gan.stream.events import json_field

__all__ = ["AUTO_ENTITY", "JSON_NAMES", "MAX_LEADING_FIELDS", "MIN_SHARE", "NO_STAMP",
           "SAMPLE_LINES", "STAMPS", "Layout", "detect_layout", "stamp_regex"]

#: The entity of every line read with a recognised layout: one series for the file (a
#: layout's host or node field varies by writer; name one with ``logs.regex`` to split).
AUTO_ENTITY = "all"

#: The share of a file's first lines (those that do not start with a space or a tab: a
#: stack trace's lines join the event before them) a layout must read for it to be taken.
MIN_SHARE = 0.5

#: How many lines are looked at, and how many leading fields a stamp may come after.
SAMPLE_LINES = 500
MAX_LEADING_FIELDS = 4

# Time stamps as common writers lay them out: (name, pattern, strptime format or None for
# RFC 3339 and epoch numbers, which serve reads without one). A stamp may be in brackets.
STAMPS: tuple[tuple[str, str, str | None], ...] = (
    # RFC 3339 / ISO 8601 with a T or a space, fraction and offset optional (Spring Boot, Go,
    # Windows CBS, OpenStack, the Kubernetes node files)
    ("RFC 3339", r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?", None),
    # Logback, Log4j 2, Python's logging: 2026-01-01 10:00:01,123 (Hadoop, Zookeeper)
    ("date time,ms", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "%Y-%m-%d %H:%M:%S,%f"),
    # syslog (RFC 3164): Dec  5 10:00:01, no year (Linux, Mac, OpenSSH)
    ("syslog", r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d", "%b %d %H:%M:%S"),
    # Apache's error log: [Sun Dec 04 04:47:44 2005]
    ("ctime", r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}", "%a %b %d %H:%M:%S %Y"),
    # the Common Log Format of web servers' access logs: [10/Oct/2000:13:55:36 -0700]
    ("common log", r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}", "%d/%b/%Y:%H:%M:%S %z"),
    # Log4j 1's ISO8601_BASIC-like yy/MM/dd (Spark): 17/06/09 20:10:40
    ("yy/mm/dd", r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d", "%y/%m/%d %H:%M:%S"),
    # yyMMdd HHmmss (HDFS' own): 081109 203615
    ("yymmdd hhmmss", r"\d{6} \d{6}", "%y%m%d %H%M%S"),
    # Android's logcat (threadtime): 03-17 16:13:38.811, no year
    ("logcat", r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "%m-%d %H:%M:%S.%f"),
    # 20171223-22:15:29:606 (a compact date, then milliseconds after a colon)
    # (its milliseconds unpadded: 1 to 3 digits, read by %f as a fraction of a second)
    ("yyyymmdd-time:ms", r"\d{8}-\d\d?:\d\d?:\d\d?:\d{1,3}", "%Y%m%d-%H:%M:%S:%f"),
    # [10.30 16:49:06]: month.day, no year (Proxifier)
    ("mm.dd time", r"\d\d\.\d\d \d\d:\d\d:\d\d", "%m.%d %H:%M:%S"),
    # epoch seconds (with a fraction) or milliseconds (BGL, Thunderbird, HPC)
    ("epoch", r"\d{10}(?:\.\d{1,9})?|\d{13}", None),
)

# A level word as writers print it, whole: upper case or capitalised (Windows' "Info"), or
# lower case in brackets (Apache's "[error]"); at most six fields after the stamp (a pid
# and a thread id, as OpenStack writes; BlueGene/L's location, type and facility).
_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "WARN", "ERROR", "ERR", "FATAL",
           "CRITICAL", "CRIT", "SEVERE", "ALERT", "EMERGENCY", "EMERG")
_LEVEL = "|".join([w for level in _LEVELS for w in (level, level.capitalize())]
                  + [rf"(?<=\[){level.lower()}(?=\])" for level in _LEVELS])
# The message starts at a character that is no space: with '.*\S.*' a stamp followed by a
# long run of spaces (no message) tried every split of the run, time growing with the
# square of its length (a 32 KiB run: 4 s on serve's scoring loop).
_AFTER_STAMP = (r"\]?(?=[\s,:|\]-]|$)[\s,:|-]*"
                rf"(?:(?:\S+\s+){{0,6}}?[\[<]?(?P<level>{_LEVEL})[\]>]?(?=[\s:]|$)[\s:-]*)?"
                r"(?P<message>\S.*)$")

# JSON logs: the usual names of each part (pino, bunyan, zap, logrus, structlog, ECS,
# Serilog's CLEF, journald, Docker's json-file), in order of preference.
JSON_NAMES = {
    "message": ("message", "msg", "log", "event", "@mt", "MESSAGE", "text", "body"),
    "ts": ("ts", "time", "timestamp", "@timestamp", "@t", "datetime", "date",
           "__REALTIME_TIMESTAMP"),
    "level": ("level", "severity", "lvl", "levelname", "log.level", "@l", "PRIORITY"),
}


@dataclass(frozen=True)
class Layout:
    """How a file's lines are read: the ``logs`` keys to set, what it was recognised as
    (``name``, for the note ``train`` prints) and the share of the sample lines it reads."""

    name: str
    format: Literal["json", "regex"]
    regex: str | None = None
    timestamp_format: str | None = None
    json_fields: JsonFieldsConfig | None = None
    share: float = 0.0

    @property
    def has_time(self) -> bool:
        """Whether the lines carry a time (time buckets), or are counted per N lines."""
        if self.json_fields is not None:
            return self.json_fields.ts != ""
        return self.regex is not None and "(?P<ts>" in self.regex


def stamp_regex(pattern: str, leading: int) -> str:
    """The ``logs.regex`` of a stamp ``pattern`` after ``leading`` fields.

    >>> m = re.match(stamp_regex(r"\\d{10}", 1), "- 1117838570 RAS KERNEL INFO cache parity")
    >>> m["ts"], m["level"], m["message"]
    ('1117838570', 'INFO', 'cache parity')
    """
    skip = rf"(?:\S+\s+){{{leading}}}" if leading else ""
    return rf"^{skip}\[?(?P<ts>{pattern}){_AFTER_STAMP}"


#: Lines with no stamp: the whole line is the message (leading spaces left out), counted
#: per N lines.
NO_STAMP = r"^\s*(?P<message>\S.*)$"


def detect_layout(lines: Sequence[str]) -> Layout | None:
    """The layout that reads the most of ``lines`` (a file's first ones), or None where
    there are none or they are JSON objects with no message field that is known. Text lines
    where no stamp reads :data:`MIN_SHARE` of them (all indented ones too) are read whole,
    with no time (``name`` says so).

    >>> detect_layout(['{"msg": "up", "time": "2026-01-01T00:00:00Z", "level": "info"}'])
    ... # doctest: +NORMALIZE_WHITESPACE
    Layout(name='JSON', format='json', regex=None, timestamp_format=None,
           json_fields=JsonFieldsConfig(message='msg', ts='time', level='level', entity='entity'),
           share=1.0)
    >>> detect_layout(["- 1117838570 2005.06.03 R02-M1-N0 RAS KERNEL INFO cache parity"]).name
    'epoch'
    >>> lay = detect_layout(["free text with no time", "another line"])
    >>> lay.name, lay.has_time
    ('no time stamp', False)
    """
    sample = [line.rstrip("\r\n") for line in lines[:SAMPLE_LINES] if line.strip()]
    heads = [line for line in sample if not line[:1].isspace()]  # a trace's lines join
    if not sample:
        return None
    if not heads:  # no line starts an event: no stamp can be read at a line's start
        return Layout("no time stamp", "regex", NO_STAMP, None, share=1.0)
    json_layout = _json_layout(heads)
    if json_layout is not None or sum(h.startswith("{") for h in heads) > len(heads) / 2:
        return json_layout
    # the most lines read; of as many, the longest stamps (2026-01-01 10:00:01,123 is also
    # an RFC 3339 stamp up to its comma, and [Sun Dec 04 04:47:44 2005] a syslog one)
    best: tuple[float, float, Layout] | None = None
    for name, pattern, fmt in STAMPS:
        for leading in _leading_fields(pattern, heads):
            regex = stamp_regex(pattern, leading)
            share, stamp_chars = _share_read(regex, fmt, heads)
            if share >= MIN_SHARE and (best is None or (share, stamp_chars) > best[:2]):
                best = (share, stamp_chars, Layout(name, "regex", regex, fmt, share=share))
    if best is not None:
        return best[2]
    return Layout("no time stamp", "regex", NO_STAMP, None, share=1.0)


def _leading_fields(pattern: str, heads: Sequence[str]) -> list[int]:
    """The numbers of leading fields after which ``pattern`` starts in at least
    :data:`MIN_SHARE` of ``heads`` (a cheap test before each is parsed)."""
    counts: Counter[int] = Counter()
    found = re.compile(rf"\[?(?:{pattern})")
    for line in heads:
        fields = line.split(None, MAX_LEADING_FIELDS)
        at = 0
        for k in range(min(MAX_LEADING_FIELDS + 1, len(fields))):
            at = line.index(fields[k], at)
            if found.match(line, at):
                counts[k] += 1
            at += len(fields[k])
    return [k for k, n in sorted(counts.items()) if n >= MIN_SHARE * len(heads)]


def _share_read(regex: str, timestamp_format: str | None, heads: Sequence[str]
                ) -> tuple[float, float]:
    """The share of ``heads`` the product's own parser reads as events with a time, and
    the mean length of their stamps."""
    parser = LogParser(format="regex", regex=regex, timestamp_format=timestamp_format,
                       entity=AUTO_ENTITY)
    pattern = re.compile(regex)
    read = chars = 0
    for line in heads:
        ev = parser.parse(line)
        if isinstance(ev, LogEvent) and ev.ts is not None:
            read += 1
            m = pattern.match(line)
            chars += len(m["ts"]) if m is not None else 0
    return read / len(heads), chars / max(read, 1)


def _json_layout(heads: Sequence[str]) -> Layout | None:
    """JSON objects, with the fields named as most writers name them; None where fewer
    than :data:`MIN_SHARE` of ``heads`` are objects or none holds a known message field."""
    objects = []
    for line in heads:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # nested too deeply: bad_json to the parser
            continue
        if isinstance(obj, dict):
            objects.append(obj)
    if len(objects) < MIN_SHARE * len(heads):
        return None

    def most_held(part: str, names: tuple[str, ...]) -> str:
        # held with a value the parser reads: a message is a string, a time and a level a
        # string or a number (ECS' "event" is an object: taken as the message, it made
        # every line a missing_field, skipped, until 2026-12-06)
        kinds = (str,) if part == "message" else (str, int, float)
        held = [(sum(isinstance(v := json_field(obj, name), kinds) and not isinstance(v, bool)
                     for obj in objects), -i, name) for i, name in enumerate(names)]
        n, _, name = max(held)
        return name if n >= MIN_SHARE * len(objects) else ""

    fields = {part: most_held(part, names) for part, names in JSON_NAMES.items()}
    if not fields["message"]:
        return None
    share = len(objects) / len(heads)
    return Layout("JSON", "json", json_fields=JsonFieldsConfig(
        message=fields["message"], ts=fields["ts"], level=fields["level"] or "level"),
        share=share)
