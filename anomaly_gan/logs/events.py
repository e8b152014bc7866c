"""Log line bytes -> :class:`LogEvent` or :class:`InvalidEvent`: pure parsing.

Four formats (``logs.format``):

- ``json``: one object per line or Kafka record::

      {"entity": "checkout-svc", "ts": "2026-01-01T00:00:10Z", "level": "ERROR",
       "message": "payment gateway timeout after 5003 ms"}

  ``entity`` may be left out when ``logs.entity`` names a default; ``level`` is optional.
- ``regex``: raw text matched with ``logs.regex``; named groups ``message`` (required),
  ``ts``, ``entity``, ``level`` and ``pri`` (a syslog ``<PRI>``, whose severity is the
  level where there is no ``level``; digits in ``level`` are the level they stand for, as
  in JSON: :func:`level_name`). ``ts`` is read with ``logs.timestamp_format``
  (``strptime``) or else as RFC 3339 / epoch seconds / ms / us / ns. A format with a date but
  no year (classic syslog, ``%b %d %H:%M:%S``) takes the latest year that does not put the
  line more than a day ahead of the clock, as syslog daemons do: December lines read in
  January belong to the year before. A syslog-like example::

      regex: '^(?P<ts>\\S+) (?P<entity>[\\w.-]+) (?P<level>[A-Z]+) (?P<message>.*)$'
      2026-01-01T00:00:10Z checkout-svc ERROR payment gateway timeout after 5003 ms

- ``otlp_json``: an OpenTelemetry ``ExportLogsServiceRequest`` in OTLP/JSON per line or
  Kafka record (the Collector's kafka exporter with ``encoding: otlp_json``, its file
  exporter): many log records, so :meth:`LogParser.parse_many` gives one event per log
  record (:mod:`anomaly_gan.logs.otlp`); the size limit applies to each log record's body.
- ``otlp_proto``: the same request in binary protobuf per Kafka record (the kafka
  exporter's default encoding), read as the document of its OTLP/JSON encoding
  (:func:`~anomaly_gan.otlp.decode_proto`), so its events are those of ``otlp_json``.
  Offline, a file of the Collector's file exporter is read with either OTLP format: its
  OTLP/JSON lines as ``otlp_json``, its ``format: proto`` messages (each after its
  length) as ``otlp_proto`` (:mod:`anomaly_gan.logs.offline`).

A record whose text spans several lines (a stack trace that a log shipper's multiline
setting joined to its event, or a JSON ``message`` with line breaks) is one event: its
first line is matched by ``logs.regex`` (``message`` alone, for JSON) and becomes the
template; the lines after it are the event's :attr:`LogEvent.continuation`, shown with it
in alerts' example lines (:meth:`LogEvent.example`). Matched whole, the regex's ``.*``
stopped at the first line break and the record went to the dead-letter topic as
``no_match``: the error events that carry a trace were the ones not counted.

Rejections carry a reason (``not_utf8``, ``oversized``, ``bad_json``, ``not_object``,
``missing_field``, ``bad_timestamp``, ``future_timestamp``, ``bad_entity``, ``no_match``):
the dead-letter ``reason`` header. A line stamped more than the allowed clock skew ahead of the wall clock
(:attr:`LogParser.not_after`, set by the service) is a ``future_timestamp``: it would close
every open bucket of its partition and make every later, correct line late.

>>> p = LogParser(format="regex", regex=r"^(?P<ts>\\d+) (?P<entity>\\S+) (?P<message>.*)$")
>>> p.parse(b"1767225600 web-1 GET /index 200 in 3 ms").message
'GET /index 200 in 3 ms'
>>> p.parse(b"no timestamp here").reason
'no_match'
>>> ev = p.parse(b"1767225600 web-1 request failed\\n\\tat Handler.run(Handler.java:42)")
>>> ev.message, ev.continuation
('request failed', '\\tat Handler.run(Handler.java:42)')
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timezone, tzinfo
from typing import Any

from anomaly_gan.config import (
    JsonFieldsConfig,
    LogsConfig,
    is_otlp,
    timestamp_format_has,
    zone_of,
)
from anomaly_gan.logs.otlp import body_text, log_records, severity_level
from anomaly_gan.logs.secrets import quote_redacted, redact_head, redact_secrets
from anomaly_gan.otlp import LOGS, OtlpFieldError, attribute, decode_proto, nanos
from anomaly_gan.stream.events import (
    LOG_REASONS,
    MAX_ENTITY_BYTES,
    InvalidEvent,
    check_entity,
    dead_letter_of,
    decode_object,
    entity_text,
    joined_entity,
    json_field,
    parse_timestamp,
    utf8_size,
    without_bom,
)

__all__ = ["EXAMPLE_CHARS", "LOG_INVALID_REASONS", "LineGroup", "LogEvent", "LogParser",
           "Multiline", "cut_text", "dead_letter_of", "in_pass_nearer", "join_lines", "json_field",
           "level_name", "parser_from_config", "split_lines", "without_nul_run"]

LOG_INVALID_REASONS = ("not_utf8", "bad_json", "not_object", "missing_field", "bad_timestamp",
                       "future_timestamp", "oversized", "bad_entity", "bad_protobuf",
                       *LOG_REASONS)

EXAMPLE_CHARS = 2000
"""Characters of an event's text kept as an example line for explanations."""

_BREAK = re.compile(r"\r\n|\r|\n")  # what ends a line in a log file, offline
_BYTES_BREAK = re.compile(rb"\r\n|\r|\n")


def without_nul_run(line: bytes) -> bytes:
    """``line`` without a run of NUL bytes at its start: the hole a file truncated under a
    writer that kept its offset holds before the next line written (logrotate's
    ``copytruncate``; a shipper tailing the file sends it with that line). A NUL elsewhere
    in a line is kept.

    >>> without_nul_run(b"\\x00\\x00up"), without_nul_run(b"up\\x00")
    (b'up', b'up\\x00')
    """
    return line.lstrip(b"\x00") if line[:1] == b"\x00" else line


def split_lines(text: bytes) -> tuple[list[bytes], list[tuple[int, int]]]:
    """The lines of a log file's text or of a record (``\\n``, ``\\r\\n`` and a lone
    ``\\r`` each end one), each :func:`without_nul_run`, and for each line that had such a
    run its index and the NUL bytes dropped: the one rule of a file's lines
    (:mod:`anomaly_gan.logs.offline`) and a record's (:meth:`LogParser.parse_record_many`),
    so that both count the same lines.

    >>> split_lines(b"up\\r\\n\\x00\\x00\\x00down\\rx\\x00")
    ([b'up', b'down', b'x\\x00'], [(1, 3)])
    """
    lines = _BYTES_BREAK.split(text) if b"\r" in text or b"\n" in text else [text]
    holes: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        if line[:1] == b"\x00":
            lines[i] = without_nul_run(line)
            holes.append((i, len(line) - len(lines[i])))
    return lines, holes


def _first_line(text: str) -> tuple[str, str]:
    """``(first line, the lines after it)`` of a record's text, leading line breaks and the
    continuation's trailing ones left out; a line ends as in a log file (``\\n``,
    ``\\r\\n`` or a lone ``\\r``), and the continuation's lines are joined with ``\\n``
    as a file's are, so a record and the same lines read from a file give the same event.

    >>> _first_line("\\nboom\\r\\n\\tat A.run\\r\\n\\tat B.main\\rmore\\n")
    ('boom', '\\tat A.run\\n\\tat B.main\\nmore')
    >>> _first_line("one line")
    ('one line', '')
    """
    text = text.lstrip("\r\n")
    m = _BREAK.search(text)
    if m is None:
        return text, ""
    rest = text[m.end():].rstrip("\r\n")
    return text[:m.start()], _BREAK.sub("\n", rest) if "\r" in rest else rest


# The lines a log shipper's multiline setting joins to the line before them (Filebeat's
# documented Java pattern, Fluent Bit's java and python parsers): an indented line (a frame,
# "\t... 5 more", a traceback's source line), a trace's own headers, a frame that lost its
# indentation, and an exception line ("java.io.IOException: x", "ValueError: x").
_TRACE_LINE = re.compile(
    r"[ \t]|(?:Caused by|Suppressed|Wrapped by): |(?:Traceback|Stack) \(most recent call last\):"
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|Exception in thread |\.\.\. \d+ (?:more|common frames omitted)|at [^\s(]+ ?\("
    # an exception's (dotted) name, the base classes too (java.lang.Exception, Node's Error),
    # with Node's [CODE] (Error [ERR_MODULE_NOT_FOUND]: x)
    r"|(?:[A-Za-z_$][\w$]*\.)*[\w$]*(?:Exception|Error|Throwable)(?: \[[\w-]+\])?(?::|$)")
# The line that ends a Python traceback: the exception's (dotted) name, alone or with ": message"
# (KeyboardInterrupt, psycopg2.errors.UniqueViolation: duplicate key).
_PYTHON_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(?::|$)")
_TRACEBACK_HEADERS = ("Traceback (most recent call last):", "Stack (most recent call last):")
# The lines Go's runtime writes that start a crash's or a goroutine's trace (printpanics,
# fatalthrow, sighandler, goroutineheader): "panic: x" (a panic's "[recovered]" mark is on
# its line, a nested panic is indented), "fatal error: x", "[signal SIGSEGV: ... code=0x1
# addr=0x0 pc=0x4a2b3c]", the fatal error's "runtime stack:" and a goroutine's header,
# "goroutine 7 [chan receive, 3 minutes]:" (with "gp=0x... m=4 mp=0x..." before the bracket
# in a fatal error). A header may come right after the event line: net/http's "http: panic
# serving ..." and a logged debug.Stack() put it there. Fluent Bit's built-in go multiline
# parser starts on the same lines.
_GO_TRACE = re.compile(r"(?:panic|fatal error): |\[signal [^\]]* code=\S+ addr=\S+ pc=\w+\]$"
                       r"|(?P<header>runtime stack:$"
                       r"|goroutine \d+ (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[[^\]]+\]:$)")
# The unindented lines inside a goroutine's trace, only after its header or one of its lines:
# a call "main.(*Server).handle(0x0, {0xc000012345, 0x5})", "main.main()", "panic({0x4a?})"
# (a function, package path first, then its arguments as Go prints them: hex words, {}, ?,
# ...), "created by main.start in goroutine 1", "...12 frames elided..." (and the
# "...additional frames elided..." of Go before 1.21), and the "exit status 2" that `go run`
# writes after the trace of a program that crashed.
_GO_FRAME = re.compile(r"(?:[^\s()]|\(\*?[^\s()]+\))+\([\w{}?,. ]*\)$"
                       r"|created by [^\s.]+\.\S+(?: in goroutine \d+)?$"
                       r"|\.\.\.(?:\d+|additional) frames elided\.\.\.$"
                       r"|(?P<exit>exit status \d+$)")


class Multiline:
    """Which lines of a log file continue the event before them, as a log shipper's multiline
    setting joins them into one record: a line that starts with a space or a tab, starts a
    trace's part (``Caused by:``, ``Suppressed:``, a root-cause-first trace's ``Wrapped
    by:``, ``Traceback (most recent call last):``, Python's ``During handling of the above
    exception...`` and ``The above exception was the direct cause...``, ``Exception in
    thread``, ``... N more``, a frame ``at X(`` without its indentation, Python logging's
    ``Stack (most recent call last):``), names an exception (``java.io.IOException: x``,
    ``ValueError: x``, ``java.lang.Exception: x``,
    Node's ``Error [ERR_X]: x``: a name ending in Exception, Error or Throwable), ends a Python
    traceback (after its header or an indented line, the exception's name alone or with
    ``: message``), starts a Go trace (``panic: x``, ``fatal error: x``, ``[signal SIGSEGV:
    ... code=0x1 addr=0x0 pc=0x4a2b3c]``, ``runtime stack:``, a goroutine's header
    ``goroutine 7 [chan receive, 3 minutes]:``), or is a line of a goroutine's trace (after
    its header or one of its lines: a call ``main.(*Server).handle(0x0, {0xc0000, 0x5})``,
    ``created by main.start in goroutine 1``, ``...12 frames elided...``, and ``exit status
    2``, which ends it). Only a line that does not parse as an event is asked, and only after
    an event: a reader calls :meth:`event` at each event's first line.

    Anything else (a banner, a line cut short, an event with a garbled time, a Go call line
    outside a goroutine's trace) is no continuation line: joined, it would be hidden in the
    example text of the event before.

    >>> m = Multiline()
    >>> m.event()
    >>> [m.continues(t) for t in ("Traceback (most recent call last):",
    ...                           '  File "app.py", line 3, in main', "KeyboardInterrupt",
    ...                           "=== service restarted ===")]
    [True, True, True, False]
    >>> m.continues("java.lang.IllegalStateException: no session"), m.continues("\\tat A.run")
    (True, True)
    >>> m.continues("2026-01-01T00:00:0"), m.continues("KeyboardInterrupt")  # no traceback open
    (False, False)
    >>> [m.continues(t) for t in ("java.lang.Exception: boom", "Error: ENOENT: no such file",
    ...                           "Error [ERR_MODULE_NOT_FOUND]: x", "Exception in thread w:")]
    [True, True, True, True]
    >>> m.event()
    >>> m.continues("main.main()")  # no goroutine's trace open
    False
    >>> [m.continues(t) for t in ("goroutine 1 [running]:", "main.main()",
    ...                           "\t/app/main.go:17 +0x65", "exit status 2", "main.main()")]
    [True, True, True, True, False]
    """

    __slots__ = ("_goroutine", "_traceback")

    def __init__(self) -> None:
        self._traceback = False  # after a Python traceback's header or one of its frames
        self._goroutine = False  # after a Go goroutine trace's header or one of its lines

    def event(self) -> None:
        """A new event starts: no traceback is open."""
        self._traceback = self._goroutine = False

    def continues(self, line: str) -> bool:
        """Whether ``line`` (that does not parse as an event) continues the event before it."""
        if _TRACE_LINE.match(line):
            indented = line[0] in " \t"
            self._traceback = (line.startswith(_TRACEBACK_HEADERS)
                               or (self._traceback and indented))
            self._goroutine = self._goroutine and indented
            return True
        if self._traceback and _PYTHON_EXCEPTION.match(line):
            self._traceback = False
            return True
        go = _GO_TRACE.match(line)
        if go is not None:
            self._traceback, self._goroutine = False, go["header"] is not None
            return True
        if self._goroutine and (go := _GO_FRAME.match(line)) is not None:
            self._goroutine = go["exit"] is None  # the trace ended with the program
            return True
        return False


# A lone surrogate ("\\ud800" in JSON, e.g. a UTF-16 string cut in half) is no Unicode text:
# it could not be written to a CSV file or a UTF-8 stream.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(slots=True)
class LogEvent:
    entity: str
    ts: float | None  # epoch seconds; None when the format carries no time (per-N-lines only)
    level: str
    message: str  # the first line of the event's message: what its template is mined from
    continuation: str = ""  # the lines after the first (a stack trace), or ""

    def example(self) -> str:
        """The event's text for explanations: the message and its continuation, credentials
        as ``<SECRET>`` before it is cut (a key id cut in two went out), at most
        :data:`EXAMPLE_CHARS` characters (a 64 KiB trace in each of an alert's example
        lines would make the alert too large to publish).

        >>> ev = LogEvent("a", None, "", "x" * 5000)
        >>> len(ev.example()), ev.example()[-25:]
        (2025, ' [cut at 2000 characters]')
        """
        return cut_text(redact_secrets(f"{self.message}\n{self.continuation}"
                                       if self.continuation else self.message))


def cut_text(text: str) -> str:
    """``text`` as alerts show it: at most :data:`EXAMPLE_CHARS` characters, and where it
    was longer, a note saying so (example lines, and template texts: a 64 KiB line of
    numbers is a 160 KiB template once each is ``<NUM>``)."""
    if len(text) <= EXAMPLE_CHARS:
        return text
    return f"{text[:EXAMPLE_CHARS]} [cut at {EXAMPLE_CHARS} characters]"


# A numeric level: syslog's severities 0-7 (GELF's level, journald's PRIORITY) and pino's
# and bunyan's 10-60.
_SYSLOG_SEVERITIES = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
_PINO_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}


def level_name(value: object) -> str | None:
    """A record's level as text: a string as it is ("" for none); a number, or a string of
    digits, as the level it stands for: 0-7 syslog's severities, 10-60 (tens) pino's and
    bunyan's levels, any other number as written. None for anything else.

    >>> [level_name(v) for v in ("warn", None, 3, "3", 50, 35, 2.0, 1e308, True)]
    ['warn', '', 'ERR', 'ERR', 'ERROR', '35', 'CRIT', '1e+308', None]
    """
    if value is None:
        return ""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 3):
            return value
        value = int(value)
    # only a float that an int holds exactly: 1e308 as an int is 309 digits, not as written
    if type(value) is float and value.is_integer() and abs(value) <= 2.0**53:
        value = int(value)
    if type(value) is int:
        if 0 <= value < len(_SYSLOG_SEVERITIES):
            return _SYSLOG_SEVERITIES[value]
        return _PINO_LEVELS.get(value, str(value))
    if type(value) is float and math.isfinite(value):
        return repr(value)
    return None


def _syslog_severity(pri: str | None) -> str | None:
    """The level of a syslog ``<PRI>`` (facility x 8 + severity) as its digits: the
    severity's keyword (:func:`level_name`), "" where there is none (a regex's ``pri``
    group left out), None where the digits are no priority (0-191).

    >>> [_syslog_severity(v) for v in ("34", "14", "0", "191", None, "", "192", "x", "0034")]
    ['CRIT', 'INFO', 'EMERG', 'DEBUG', '', '', None, None, None]
    """
    if not pri:
        return ""
    if not (pri.isascii() and pri.isdigit() and len(pri) <= 3 and int(pri) <= 191):
        return None
    return level_name(int(pri) % 8)


def _message(text: str) -> tuple[str, str]:
    """A structured record's message text as ``(first line, continuation)``, a lone
    surrogate read as U+FFFD (:func:`_first_line`)."""
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return _first_line(text)


def _keys(obj: dict[str, Any]) -> str:
    """The first keys of a record's object, for a message naming what it has (each cut to
    40 characters: a key may be as long as the record).

    >>> _keys({"msg": 1, "x" * 100: 2})
    "'msg', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    """
    keys = [r if len(r := repr(k)) <= 40 else r[:37] + "..." for k in list(obj)[:8]]
    return ", ".join(keys) + (", ..." if len(obj) > 8 else "") if keys else "none"


def _numeric_event(text: str) -> bool:
    """Whether a line that ``logs.regex`` does not match is a numeric event (a JSON object
    with ``values`` and no ``message``) sent to a logs model, so that its dead letter says
    so, as a JSON logs model's does; until 2026-12-06 a regex model's said only that the
    line did not match. Only lines that start with ``{`` are decoded (the error path).

    >>> _numeric_event('{"entity": "pump-7", "ts": 1, "values": [1.5]}')
    True
    >>> _numeric_event('{"message": "x", "values": 1}'), _numeric_event("GET / 200")
    (False, False)
    """
    if not text.lstrip().startswith("{"):
        return False
    obj = decode_object(text)
    return isinstance(obj, dict) and "values" in obj and "message" not in obj


def _zone_name_formats(fmt: str | None) -> tuple[str, ...]:
    """The strptime formats that read ``fmt``: one with each ``%Z`` written as the literal
    ``UTC``, one as ``GMT`` (strptime matches letters in any case). strptime's own ``%Z``
    also reads the host's zone names (``time.tzname``: ``CET`` on a host set to Berlin time)
    with no offset, so a stamp read on one host was an hour off and refused on another.

    >>> _zone_name_formats("%H:%M %Z (%%Z)")
    ('%H:%M UTC (%%Z)', '%H:%M GMT (%%Z)')
    """
    if fmt is None or not timestamp_format_has(fmt, ("%Z",)):
        return () if fmt is None else (fmt,)
    parts = re.split(r"(%.)", fmt, flags=re.DOTALL)  # '%%' is one part: a literal %
    return tuple("".join(name if part == "%Z" else part for part in parts)
                 for name in ("UTC", "GMT"))


def in_pass_nearer(dt: datetime, last: float | None) -> float:
    """``dt``'s time (a wall clock in its zone); in the hour that comes twice when the
    clocks go back, the pass nearer ``last`` (the first where there is none).
    :meth:`LogParser._local` and :func:`~anomaly_gan.logs.offline.years_in_file_order`
    (which moves a line to another year, where that hour may fall on another day).

    >>> from zoneinfo import ZoneInfo
    >>> berlin = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    >>> first = berlin.timestamp()  # 02:30 CEST; 02:30 CET is an hour later
    >>> [in_pass_nearer(berlin, last) - first for last in (None, first - 600, first + 3000)]
    [0.0, 0.0, 3600.0]
    """
    t = dt.replace(fold=0).timestamp()
    if last is not None and not isinstance(dt.tzinfo, timezone):  # a fixed offset: never
        again = dt.replace(fold=1).timestamp()
        if again > t and abs(again - last) < abs(t - last):
            return again  # (later only in a repeated hour, not in the skipped one)
    return t


class LogParser:
    """Parses one line (bytes or str) in the configured format."""

    def __init__(self, *, format: str = "json", regex: str | None = None,
                 timestamp_format: str | None = None, entity: str | None = None,
                 max_bytes: int = 65_536, need_ts: bool = True,
                 max_entity_bytes: int = MAX_ENTITY_BYTES, tz: tzinfo = UTC,
                 json_fields: JsonFieldsConfig | None = None,
                 otlp_entity: str = "service.name") -> None:
        self.format = format
        self.fields = json_fields or JsonFieldsConfig()
        self.otlp_entity = otlp_entity  # otlp_*: the attribute that names the entity
        self.pattern = re.compile(regex) if regex is not None else None
        if format == "regex" and self.pattern is None:
            raise ValueError("the regex format needs a regex")
        if format == "auto":  # train writes the keys it recognised into the bundle
            raise ValueError("logs.format auto is resolved from a file's lines "
                             "(logs.offline.resolve_layout) before a parser is made")
        self.timestamp_format = timestamp_format
        self._formats = _zone_name_formats(timestamp_format)
        self.tz = tz  # of timestamp_format stamps without an offset (logs.timezone)
        self.entity = entity
        self.max_bytes = int(max_bytes)
        self.max_entity_bytes = int(max_entity_bytes)
        self.need_ts = need_ts
        # The service sets it: now + serve.windows.max_future_skew_seconds.
        self.not_after = math.inf
        self.clock: Callable[[], float] = time.time  # for a year-less timestamp_format
        # (OTLP's times are nanoseconds: no format applies to them)
        self.infer_year = (timestamp_format is not None and not is_otlp(format)
                           and not timestamp_format_has(timestamp_format))
        # the last local stamp read (not after not_after): which pass of the hour the
        # clocks go back a stamp of it is (:meth:`_local`)
        self._last_local: float | None = None

    def _ts(self, raw: object) -> float | None:
        if self.timestamp_format is not None and isinstance(raw, str):
            if self.infer_year:
                return self._in_latest_year(raw)
            for fmt in self._formats:
                try:
                    dt = datetime.strptime(raw, fmt)
                except ValueError:
                    continue
                return self._seen(self._local(dt))
            return None
        # epoch digits in a string too (parse_timestamp): whitespace around them left out,
        # as around an RFC 3339 time and in a metric event (until 2026-12-07 refused)
        return parse_timestamp(raw)

    def _in_latest_year(self, raw: str) -> float | None:
        """A year-less stamp in the latest year that puts it at most a day ahead of the
        clock (a 29 February goes back to a leap year)."""
        assert self.timestamp_format is not None
        now = self.clock()
        limit = now + 86_400.0
        year = datetime.fromtimestamp(now, UTC).year
        # Next year's dates are candidates only on the last days of this one (a zone
        # offset in the format moves a stamp by at most 14 h): one parse for most lines.
        first = year + 1 if limit + 14 * 3600 >= datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() \
            else year
        for fmt in self._formats:
            for y in range(first, year - 8, -1):
                try:
                    dt = datetime.strptime(f"{y} {raw}", f"%Y {fmt}")
                except ValueError:
                    continue
                if dt.year != y:  # %j 366 in a year of 365 days rolls over into the next
                    continue
                t = self._local(dt)
                if t <= limit:
                    return self._seen(t)
        return None

    def _local(self, dt: datetime) -> float:
        """``dt``'s time, in ``logs.timezone`` where it has no offset. In the hour that
        comes twice when the clocks go back (a named zone's summer time ending), the pass
        nearer the stamp read last: a line's neighbours tell the passes apart (the last,
        not the newest: a file, or a topic's partition, read after one that went on
        later).
        Until 2026-12-07 the second pass was read as the first, an hour back: late lines
        for ``serve``, out of order for ``train`` and ``score``."""
        if dt.tzinfo is not None:
            return dt.timestamp()
        return in_pass_nearer(dt.replace(tzinfo=self.tz), self._last_local)

    def _seen(self, t: float) -> float:
        """Note ``t`` as read (:meth:`_local`), unless it lies past ``not_after``."""
        if t <= self.not_after:
            self._last_local = t
        return t

    def parse_record(self, raw: bytes | None) -> LogEvent | InvalidEvent:
        """One Kafka record (``serve``, a retrain's topic range): a UTF-8 byte-order mark
        at its start is ignored, as at the start of a log file. A shipper tailing a file
        written with one (Windows tools write one) sends it with the file's first line. So
        is a run of NUL bytes at its start (:func:`without_nul_run`), as at a file line's.

        >>> bom = b"\\xef\\xbb\\xbf"
        >>> LogParser().parse_record(bom + b'{"entity": "a", "ts": 1, "message": "up"}').message
        'up'
        """
        return self.parse(None if raw is None else without_nul_run(without_bom(raw)))

    def parse_record_many(self, raw: bytes | None) -> list[LogEvent | InvalidEvent]:
        """:meth:`parse_many` of one Kafka record (a byte-order mark and then a run of NUL
        bytes at its start ignored, as :meth:`parse_record`, and in ``regex`` a run of NULs
        at the start of each of its lines, as :func:`split_lines` reads a file's lines; not
        in ``otlp_proto``'s binary records)."""
        if raw is None or self.format == "otlp_proto":
            return self.parse_many(raw)
        if self.format == "regex":
            return self._regex_record(without_bom(raw))
        return self.parse_many(without_nul_run(without_bom(raw)))

    def _regex_record(self, raw: bytes) -> list[LogEvent | InvalidEvent]:
        """The events of a regex-format record, as a log file's lines give them
        (:func:`join_lines`, the one rule of both): each line that parses as an event
        starts one, the lines after it that continue it (a stack trace a shipper's multiline
        setting joined) are its continuation, and any other line is an invalid part of the
        record, as a file's bad line. A record holding several events' lines (a shipper that
        joined them) used to be one event whose continuation hid the others; until
        2026-12-06 every line that was no event (a banner, a trace's lines after it, an event
        the regex misses by its indent) was joined to the event before it, where a file's
        reader left it out as a bad line: the same lines gave other example texts and
        counts.

        >>> p = LogParser(format="regex", regex=r"^(?P<ts>\\S+) (?P<entity>\\w+) (?P<message>.*)$")
        >>> [(e.entity, e.message, e.continuation) if isinstance(e, LogEvent) else e.reason
        ...  for e in p.parse_record_many(b"2026-01-01T00:00:00Z api up\\n\\tat A.run\\n"
        ...                               b"restarting...\\n2026-01-01T00:00:01Z db down\\n")]
        [('api', 'up', '\\tat A.run'), 'no_match', ('db', 'down', '')]
        """
        # max_event_bytes bounds each event (its lines with its continuation), as in a
        # file, not the record: a shipper that batches 500 lines of 200 bytes into one
        # record had all 500 dropped as one oversized record, where a file of the same lines
        # counted each (the broker's message size bounds the record, as an OTLP batch's)
        body = raw.strip(b"\r\n")
        # a run of NULs at a line's start dropped, as in a file (until 2026-12-07 the hole
        # a copytruncate leaves made its line a no_match or oversized dead letter)
        lines, _ = split_lines(body)
        if len(lines) == 1:  # one line: the one event
            # bounded without its line breaks, as a file's line (until 2026-12-07 a line of
            # max_event_bytes sent with its "\n" was oversized)
            text = self._text(lines[0], whole=True)
            return [text if isinstance(text, InvalidEvent) else self._parse_regex(text)]
        # Several lines: read as a file's are, each line bounded and decoded on its own, so a
        # line that is not UTF-8 is a bad line of its own (until 2026-12-06 one such line
        # made the whole record a not_utf8 dead letter, its other events counted nowhere)
        out = [ev for _, _, _, _, ev, _ in join_lines(enumerate(lines), self)]
        # lines of spaces alone (ASCII, as join_lines' blank lines are): one no_match
        return out or [self._parse_regex(body.decode("ascii"))]

    def parse_many(self, raw: bytes | str | None) -> list[LogEvent | InvalidEvent]:
        """Every event of one line or record: its one event (:meth:`parse`) in the json and
        regex formats; in ``otlp_json`` and ``otlp_proto`` one per log record, in document
        order, or one :class:`InvalidEvent` for a document that is malformed as a whole
        (not UTF-8, not JSON, or in ``otlp_proto`` no protobuf request; no ``resourceLogs``
        list, an envelope of the wrong shape). Never raises for any input.

        >>> p = LogParser(format="otlp_json")
        >>> doc = ('{"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", '
        ...        '"value": {"stringValue": "api"}}]}, "scopeLogs": [{"logRecords": ['
        ...        '{"timeUnixNano": "1767225600000000000", "severityNumber": 17, '
        ...        '"body": {"stringValue": "db timeout"}}, {"timeUnixNano": "5"}]}]}]}')
        >>> p.parse_many(doc)  # doctest: +NORMALIZE_WHITESPACE
        [LogEvent(entity='api', ts=1767225600.0, level='ERROR', message='db timeout',
                  continuation=''),
         InvalidEvent(reason='missing_field', detail="resourceLogs[0].scopeLogs[0].logRecords[1]:
                      'body' is missing (a log record with no body has no message)")]
        """
        if not is_otlp(self.format):
            return [self.parse(raw)]
        if self.format == "otlp_proto" and raw is not None:
            obj = decode_proto(raw if isinstance(raw, bytes)
                               else raw.encode("utf-8", "surrogatepass"), LOGS)
        else:
            text = self._text(raw, whole=False)
            if isinstance(text, InvalidEvent):
                return [text]
            obj = decode_object(text)
        if isinstance(obj, InvalidEvent):
            return [obj]
        found = log_records(obj)
        if isinstance(found, InvalidEvent):
            return [found]
        return [self._otlp_event(where, rec, resource) for where, rec, resource in found]

    def parse(self, raw: bytes | str | None) -> LogEvent | InvalidEvent:
        """The one event of a line or record of the json or regex format (``otlp_json``'s
        and ``otlp_proto``'s records hold many: :meth:`parse_many`)."""
        if is_otlp(self.format):
            raise ValueError(f"an {self.format} record holds many log records: use parse_many")
        text = self._text(raw, whole=True)
        if isinstance(text, InvalidEvent):
            return text
        if self.format == "json":
            return self._parse_json(text)
        return self._parse_regex(text)

    def _text(self, raw: bytes | str | None, whole: bool) -> str | InvalidEvent:
        """A line's or record's text without its line end; with ``whole`` it is one event,
        refused over ``max_event_bytes``."""
        if raw is None:
            return InvalidEvent("missing_field", "empty record value (tombstone)")
        if isinstance(raw, bytes):
            if whole and len(raw) > self.max_bytes:
                return InvalidEvent("oversized", f"{len(raw)} bytes > max_event_bytes "
                                                 f"{self.max_bytes}")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return InvalidEvent("not_utf8", f"not UTF-8: {exc}")
        else:
            text = raw
            if whole and self._over(text):
                return InvalidEvent("oversized", f"line longer than max_event_bytes "
                                                 f"{self.max_bytes}")
        return text.rstrip("\r\n")

    def _over(self, text: str) -> bool:
        """Whether ``text`` is more than ``max_event_bytes`` in UTF-8 (encoded only where a
        character count cannot tell)."""
        if len(text) > self.max_bytes:
            return True
        return 4 * len(text) > self.max_bytes \
            and utf8_size(text, "surrogatepass") > self.max_bytes

    def _parse_json(self, text: str) -> LogEvent | InvalidEvent:
        obj = decode_object(text)
        if isinstance(obj, InvalidEvent):
            return obj
        names = self.fields
        message = json_field(obj, names.message)
        if type(message) is not str:
            hint = (" (a numeric event? it has 'values' and no 'message'; this is a logs "
                    "model, which reads log lines: docs/logs.md)"
                    if message is None and "values" in obj else
                    f" (logs.json_fields.message names the field; the record's fields: "
                    f"{_keys(obj)})" if message is None else "")
            return InvalidEvent("missing_field", f"{names.message!r} must be a string" + hint)
        message, continuation = _message(message)
        # null is how many serializers write a field they have no value for: left out
        # the field read once: this is serve's per-record path
        one = json_field(obj, names.entity) if isinstance(names.entity, str) else None
        if one is None and (isinstance(names.entity, str)
                            or all(json_field(obj, name) is None for name in names.entity)):
            if self.entity is None:  # e.g. a node's raw file read with Fluent Bit's fields
                named = [names.entity] if isinstance(names.entity, str) else names.entity
                return InvalidEvent(
                    "missing_field",
                    f"no {' or '.join(map(repr, named))} field and no logs.entity for records "
                    f"without it (logs.json_fields.entity names the field; the record's "
                    f"fields: {_keys(obj)})")
            entity, field = self.entity, "logs.entity"
        elif isinstance(names.entity, str):
            # an integer, a process or node number, as its digits
            value, field = entity_text(one), names.entity
            if type(value) is not str or not value:
                return InvalidEvent("missing_field",
                                    f"{names.entity!r} must be a non-empty string")
            entity = value
        else:  # several fields, as namespace/pod: every one of them, joined
            joined, missing = joined_entity(obj, names.entity)
            if joined is None:
                return InvalidEvent("missing_field", f"{missing!r} must be a non-empty string")
            entity, field = joined, "/".join(names.entity)
        bad = check_entity(entity, self.max_entity_bytes, field)
        if bad is not None:
            return bad
        level = level_name(json_field(obj, names.level))
        if level is None:
            return InvalidEvent("missing_field",
                                f"{names.level!r} must be a string or a finite number")
        return self._event(entity, json_field(obj, names.ts), level, message, continuation,
                           names.ts)

    def _otlp_event(self, where: str, rec: Any, resource: Any) -> LogEvent | InvalidEvent:
        """One log record of an OTLP document; an invalid one's detail names it (``where``)."""
        if type(rec) is not dict:
            return InvalidEvent("not_object", f"{where} must be an object")
        try:
            return self._otlp_parts(where, rec, resource)
        except OtlpFieldError as exc:
            return InvalidEvent(exc.reason, f"{where}: {exc}")
        except RecursionError:
            return InvalidEvent("bad_json", f"{where}: nested too deeply")

    def _otlp_parts(self, where: str, rec: dict[str, Any], resource: Any
                    ) -> LogEvent | InvalidEvent:
        text = body_text(rec.get("body"))
        if self._over(text):
            return InvalidEvent("oversized", f"{where}: 'body' is more than max_event_bytes "
                                             f"{self.max_bytes}")
        message, continuation = _message(text)
        # the log record's attribute first, then its resource's, then logs.entity
        key = self.otlp_entity
        entity = attribute(rec.get("attributes"), key, "")  # the detail gets ``where`` once
        if entity is None:
            entity = attribute(resource, key, where.partition(".")[0] + ".resource")
        field = key
        if entity is None:
            entity, field = self.entity, "logs.entity"
        if not entity:
            return InvalidEvent("missing_field", f"{where}: no {key!r} attribute in the log "
                                "record or its resource (logs.otlp_entity), and no logs.entity")
        bad = check_entity(entity, self.max_entity_bytes, field)
        if bad is not None:
            return InvalidEvent(bad.reason, f"{where}: {bad.detail}")
        level = severity_level(rec)
        # OTLP: the time it happened, or where that is unknown (absent or 0) when the
        # collector saw it
        name = "timeUnixNano"
        ns = nanos(rec.get(name), name)
        if ns is None:
            name = "observedTimeUnixNano"
            ns = nanos(rec.get(name), name)
        if ns is None and self.need_ts:
            return InvalidEvent("missing_field", f"{where}: 'timeUnixNano' and "
                                                 f"'observedTimeUnixNano' are missing (or 0)")
        ev = self._event(entity, ns, level, message, continuation, name, in_nanos=True)
        if isinstance(ev, InvalidEvent):
            return InvalidEvent(ev.reason, f"{where}: {ev.detail}")
        return ev

    def _parse_regex(self, text: str) -> LogEvent | InvalidEvent:
        assert self.pattern is not None
        text, continuation = _first_line(text)
        m = self.pattern.match(text)
        if m is None:
            hint = (" (a numeric event? it has 'values' and no 'message'; this is a logs "
                    "model, which reads log lines: docs/logs.md)"
                    if _numeric_event(text) else "")
            return InvalidEvent("no_match",
                                f"line does not match logs.regex: "
                                f"{redact_head(text, 120)[0]!r}{hint}")
        groups = m.groupdict()
        entity = groups.get("entity") or self.entity
        if not entity:
            return InvalidEvent("missing_field", "no entity in the line and no logs.entity")
        bad = check_entity(entity, self.max_entity_bytes)
        if bad is not None:
            return bad
        severity = _syslog_severity(groups.get("pri"))
        if severity is None:
            return InvalidEvent("missing_field", f"'pri' {groups['pri']!r:.20} is not a syslog "
                                                 f"priority (0-191)")
        # a level group's digits are the level they stand for, as a JSON record's
        level = level_name(groups.get("level") or "") or severity
        return self._event(entity, groups.get("ts"), level, groups["message"] or "",
                           continuation)

    def _event(self, entity: str, raw_ts: object, level: str, message: str,
               continuation: str = "", ts_name: str = "ts", in_nanos: bool = False
               ) -> LogEvent | InvalidEvent:
        """The event, or why it is none: its time missing (where time buckets need one),
        unreadable or too far ahead. ``in_nanos``: ``raw_ts`` is an int of nanoseconds (OTLP)."""
        if raw_ts is None:
            if self.need_ts:
                return InvalidEvent("missing_field", f"{ts_name!r} is missing")
            return LogEvent(sys.intern(entity), None, sys.intern(level.upper()), message,
                            continuation)
        ts = parse_timestamp(raw_ts, per_second=10**9) if in_nanos else self._ts(raw_ts)
        if ts is None:
            return InvalidEvent("bad_timestamp", f"{ts_name!r} {quote_redacted(raw_ts, 80)} is not "
                                + ("nanoseconds since the epoch up to the year 9999" if in_nanos
                                   else f"in format {self.timestamp_format!r}"
                                   if self.timestamp_format else
                                   "RFC 3339 or epoch s, ms, us or ns"
                                   # strptime reads text: no remedy for a number out of range
                                   + (" (another format: logs.timestamp_format)"
                                      if isinstance(raw_ts, str) else "")))
        if ts > self.not_after:
            return InvalidEvent("future_timestamp", f"{ts_name!r} {quote_redacted(raw_ts, 80)} is more than "
                                "the allowed clock skew ahead of the wall clock")
        # interned: one copy of each entity and level, not one per line (2 million lines
        # held 2 million copies of 'INFO', 56 B each)
        return LogEvent(sys.intern(entity), ts, sys.intern(level.upper()), message,
                        continuation)


def parser_from_config(logs: LogsConfig, max_bytes: int,
                       max_entity_bytes: int = MAX_ENTITY_BYTES) -> LogParser:
    """A parser for a ``logs:`` config section."""
    return LogParser(format=logs.format, regex=logs.regex, timestamp_format=logs.timestamp_format,
                     entity=logs.entity, max_bytes=max_bytes,
                     need_ts=logs.bucket_seconds is not None, max_entity_bytes=max_entity_bytes,
                     tz=zone_of(logs.timezone), json_fields=logs.json_fields,
                     otlp_entity=logs.otlp_entity)


# An event's lines (its first line and the continuation lines joined to it) or one line that
# is not an event, as a log shipper's multiline setting would send them: the numbers of its
# first and last lines, its lines' places among the non-empty lines (start, stop), the event,
# and for a line that is not one why it was not joined ("orphan": shaped like a continuation
# line with no event before it; "padded": an event once its leading spaces are removed, which
# logs.regex does not allow; "" otherwise). A plain tuple: one is made for every line of a file.
LineGroup = tuple[int, int, int, int, "LogEvent | InvalidEvent", str]


def join_lines(lines: Iterable[tuple[int, bytes | str]], parser: LogParser
               ) -> Iterator[LineGroup]:
    """The events of numbered text lines (``logs.format: regex``), as both a log file
    (:mod:`anomaly_gan.logs.offline`) and ``serve``'s record of several lines
    (:meth:`LogParser.parse_record_many`) read them, so that the same lines give the same
    events and the same bad lines whichever way they come.

    Each line that parses as an event starts one. A line that does not, and continues the
    event before it (:class:`Multiline`: a stack trace's), joins that event: its lines,
    joined with ``\\n`` (empty lines between them kept), are parsed as one record, the first
    line the event and the rest its continuation, ``oversized`` over ``max_event_bytes``.
    Any other line that does not parse (a banner, a line cut short, a trace's line after
    one, an event the regex misses by its indent) is a group of its own with the reason it
    is no event, and closes the event before it. A line that ``logs.regex`` matches but
    that is refused (stamped ahead of :attr:`LogParser.not_after`, its time unreadable, its
    entity missing or too long, the line over ``max_event_bytes``) is an event all the
    same: the lines that continue it are its trace, one group with its reason. Empty (or
    blank) lines are no lines.

    >>> p = LogParser(format="regex", regex=r"^(?P<ts>\\S+) (?P<entity>\\w+) (?P<message>.*)$")
    >>> lines = ["2026-01-01T00:00:00Z api down", "\\tat A.run", "restarting...",
    ...          "\\tat B.run", "2026-01-01T00:00:01Z api up"]
    >>> for first, last, _, _, ev, why in join_lines(enumerate(lines, 1), p):
    ...     print(first, last, ev.message if isinstance(ev, LogEvent) else ev.reason, why or "-")
    1 2 down -
    3 3 no_match -
    4 4 no_match orphan
    5 5 up -
    """
    multiline = Multiline()
    event: LogEvent | InvalidEvent | None = None  # the open event (or one refused) ...
    event_text = ""  # ... its first line
    held: list[str] = []  # ... all its lines, once it has a continuation line
    blank: list[str] = []  # empty lines after them: kept if a continuation line follows
    size = first = last = start = position = -1

    def close() -> LineGroup:
        assert event is not None
        done: LogEvent | InvalidEvent = event
        if held:
            k = position - start
            done = (InvalidEvent("oversized", f"an event and its {k} continuation "
                                 f"line{'s' if k > 1 else ''}, {size} bytes > "
                                 f"serve.windows.max_event_bytes {parser.max_bytes}")
                    if size > parser.max_bytes
                    else parser.parse("\n".join(held)) if isinstance(event, LogEvent)
                    else event)
            held.clear()
            multiline.event()
        return first, last, start, position + 1, done, ""

    for n, raw in lines:
        if not (raw.strip(_BLANK) if isinstance(raw, str) else raw.strip()):
            if event is not None:
                blank.append(raw if isinstance(raw, str) else raw.decode("ascii"))
            continue
        ev = parser.parse(raw)
        text = _line_text(raw)
        if isinstance(ev, LogEvent):
            if event is not None:
                yield close()
            position += 1
            assert text is not None
            event, event_text, first, last, start = ev, text, n, n, position
            blank.clear()
            continue
        # An indented line that is an event once its indent goes is one the regex missed
        # (log4j's %5p pads INFO to " INFO"): joined, every such line would vanish into the
        # event before it and the model would count the rest.
        padded = (text is not None and text[:1] in (" ", "\t")
                  and isinstance(parser.parse(text.lstrip()), LogEvent))
        if event is not None and not padded and text is not None \
                and multiline.continues(text):
            position += 1
            if not held:
                held.append(event_text)
                size = _line_size(event_text)
            size += sum(len(b) + 1 for b in blank) + _line_size(text) + 1  # blanks: ASCII
            if size <= parser.max_bytes:  # beyond it the group is dropped: stop keeping
                held.extend(blank)
                held.append(text)
            blank.clear()
            last = n
            continue
        if event is not None:
            yield close()
            event = None
        position += 1
        blank.clear()
        why = ("padded" if padded
               else "orphan" if text is not None and Multiline().continues(text) else "")
        if not why and text is not None and _refused_event(ev, text, parser):
            # its trace is its own, as a file's reader (which takes any time) joins it:
            # until 2026-12-07 a record's event stamped ahead of the clock was refused
            # alone and each line of its trace was an orphan, a no_match part of its own
            event, event_text, first, last, start = ev, text, n, n, position
            continue
        yield n, n, position, position + 1, ev, why
    if event is not None:
        yield close()


# Why a line that logs.regex matched is no event: refused for what it holds, its trace lines
# are still its own.
_REFUSED_AFTER_MATCH = frozenset({"future_timestamp", "bad_timestamp", "missing_field",
                                  "bad_entity"})


def _refused_event(ev: InvalidEvent, text: str, parser: LogParser) -> bool:
    """Whether a line that did not parse is an event line refused (stamped ahead of the
    clock, its time unreadable, its entity missing or over ``max_entity_bytes``, the line
    over ``max_event_bytes``), not a line that is no event (no match, not UTF-8): the lines
    that continue it are then its trace, left out with it, not lines of their own."""
    if ev.reason in _REFUSED_AFTER_MATCH:
        return True
    # over max_event_bytes before logs.regex was tried (or its entity over its bound): an
    # event line if it starts as one (its first max_event_bytes characters: the regex is
    # never run on more)
    return (ev.reason == "oversized" and parser.pattern is not None
            and parser.pattern.match(text[:parser.max_bytes]) is not None)


# What makes a line empty: ASCII white space (bytes.strip()'s), whether a line is bytes (a
# file's) or text (a record's); a line of U+00A0 is a line in both.
_BLANK = " \t\n\r\x0b\x0c"


def _line_text(raw: bytes | str) -> str | None:
    """A line's text, or None for bytes that are not UTF-8 (a ``not_utf8`` line)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _line_size(text: str) -> int:
    return utf8_size(text, "surrogatepass")
