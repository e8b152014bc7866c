"""Structured logging for the service: ``serve.log_format`` text or json (one object a line).

Fields passed as ``extra={"fields": {...}}`` become JSON keys (or ``k=v`` pairs in text).
Callers never pass secrets; Kafka settings are logged through ``kafka_io.describe``.

Fields carry what records hold (an entity, a log template), so in text a value is written
bare only when it holds no space, quote, ``=`` or control character, else as a JSON string;
other values (numbers, lists, the Kafka settings) as compact JSON; and a control character in
the message is escaped. An entity ``"pump-7\\n2026-01-01 ERROR ..."`` then cannot split a
line or forge one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import traceback
from typing import Any

from anomaly_gan.stream.events import CONTROL, CONTROL_CHARACTERS

__all__ = ["JsonFormatter", "KafkaRepeatLimiter", "TextFormatter", "configure_logging", "text_value"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


# What a text field's value may hold to be written bare, and what a message may not hold
# (the characters no entity id may hold either).
_BARE = re.compile(f'[^\\s"={CONTROL_CHARACTERS}]+')


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def text_value(value: object) -> str:
    """A field's value as text logs write it (see the module docstring).

    >>> [text_value(v) for v in ("pump-7", "a b", "x\\ny=1", 3.5, ["a", "b"], None)]
    ['pump-7', '"a b"', '"x\\\\ny=1"', '3.5', '["a","b"]', 'null']
    """
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)


# A traceback's own line breaks stay; any other control character is escaped.
_CONTROL_BUT_NEWLINE = re.compile(f"(?!\\n)[{CONTROL_CHARACTERS}]")


def _escaped_exception(exc_info: Any) -> str:
    """A traceback as ``logging`` writes it, with each exception's message (and notes)
    escaped like a log message: a message holding a line break followed by a forged log line
    stays on its ``Type: ...`` line. Exceptions from handling a record can quote it."""
    top = traceback.TracebackException(*exc_info[:3])
    messages: set[str] = set()
    pending, seen = [top], set()
    while pending:
        te = pending.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        messages.update(te.format_exception_only())
        pending += [t for t in (te.__cause__, te.__context__) if t is not None]
        pending += list(getattr(te, "exceptions", None) or ())
    out = []
    for chunk in top.format():
        if chunk in messages:
            body, end = (chunk[:-1], "\n") if chunk.endswith("\n") else (chunk, "")
            out.append(CONTROL.sub(_escape, body) + end)
        else:
            out.append(_CONTROL_BUT_NEWLINE.sub(_escape, chunk))
    return "".join(out).rstrip("\n")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return CONTROL.sub(_escape, super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return _escaped_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info:
            record.exc_text = None  # another handler's plain traceback, cached on the record
        text = super().format(record)  # a traceback after the message keeps its lines
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={text_value(v)}" for k, v in fields.items())
        return text


# kafka-python's event loop warns whenever one of its steps took over 0.1 s. In the scorer the
# model thread and the loop share the GIL and the cores, so on a busy machine a step of a few
# tenths of a second is contention, not the livelock the warning is meant to catch; a step of
# a second or more still comes through.
_SLOW_TASK = re.compile(r"^Task .* ran for (\d+(?:\.\d+)?)s \(>")
_SLOW_TASK_SHOWN_S = 1.0


def _not_a_short_slow_task(record: logging.LogRecord) -> bool:
    """False for kafka-python's 'Task ... ran for 0.166s ... blocking the event loop' under
    a second (see ``_SLOW_TASK``), which logs at DEBUG only.

    >>> def rec(msg, level=logging.WARNING):
    ...     return logging.LogRecord("kafka.net.selector", level, "", 0, msg, None, None)
    >>> _not_a_short_slow_task(rec("Task <x> ran for 0.166s (>0.100s threshold). It is ..."))
    False
    >>> _not_a_short_slow_task(rec("Task <x> ran for 2.500s (>0.100s threshold). It is ..."))
    True
    """
    if record.name != "kafka.net.selector" or record.levelno != logging.WARNING:
        return True
    m = _SLOW_TASK.match(record.getMessage())
    return m is None or float(m.group(1)) >= _SLOW_TASK_SHOWN_S


# While no broker answers, kafka-python writes four WARNING/ERROR lines per connection attempt
# ("Connection failed: ... ECONNREFUSED", "Connection lost", "Bootstrap connection ... failed
# (backoff 0.46 secs)", "... not ready; waiting 0.46 secs"): a dozen a second at first, and the
# scorer's own "broker unreachable; retrying" line, which names the error, was lost among them.
# A kafka-python line that repeats, digits aside, is shown once per period, the next one saying
# how many like it were left out.
_REPEAT_PERIOD_S = 60.0
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


class KafkaRepeatLimiter:
    """A logging filter: each kafka-python line (by logger, level and message with its numbers
    left out) passes once per ``period_s``; the first one after the period says how many like it
    were left out. Lines of other loggers always pass.

    >>> now = [0.0]
    >>> limit = KafkaRepeatLimiter(period_s=60.0, clock=lambda: now[0])
    >>> def rec(msg):
    ...     return logging.LogRecord("kafka.net.manager", logging.WARNING, "", 0, msg, None, None)
    >>> [limit(rec(f"waiting {t} secs")) for t in (0.1, 0.4, 1.5)]
    [True, False, False]
    >>> now[0] = 61.0
    >>> r = rec("waiting 2.9 secs")
    >>> limit(r), r.getMessage()
    (True, 'waiting 2.9 secs (2 lines like it in the last 61s not shown)')
    """

    def __init__(self, period_s: float = _REPEAT_PERIOD_S,
                 clock: Any = time.monotonic) -> None:
        self.period_s = period_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key -> [shown at, left out]
        # kafka-python logs from its network thread and the caller's: a handler runs its
        # filters outside its own lock
        self._lock = threading.Lock()

    def __call__(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a filter's exception reaches the logging caller
            return True  # the handler reports it ('--- Logging error ---'), as without us
        key = (record.name, record.levelno, _DIGITS.sub("#", text))
        with self._lock:
            now = self.clock()
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.period_s:
                seen[1] += 1
                return False
            if len(self._seen) >= 1024:  # bounded: kafka-python's texts are few
                self._seen.clear()
            self._seen[key] = [now, 0]
        if seen is not None and seen[1]:
            record.msg = (f"{text} ({int(seen[1])} lines like it in the last "
                          f"{now - seen[0]:.0f}s not shown)")
            record.args = None
        return True


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Route the ``anomaly_gan`` loggers to stderr in the chosen format.

    kafka-python's loggers and Python warnings get the same handler, so under ``json`` every
    line the process writes through logging is a JSON object.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if level.upper() != "DEBUG":
        handler.addFilter(_not_a_short_slow_task)
        handler.addFilter(KafkaRepeatLimiter())
    logging.captureWarnings(True)
    # kafka-python is chatty at INFO (every connection, every rebalance step), so it logs from
    # WARNING up, or from the level asked for when that is higher: under ERROR (the demo's)
    # its "task ran for 0.42 s, blocking the event loop" warnings on a busy machine are noise.
    # Never below WARNING, even under DEBUG: kafka-python's DEBUG lines print each request,
    # and SASL PLAIN's holds the password (SaslAuthenticateRequest(auth_bytes=b'u\x00u\x00pw')).
    kafka_level = max(logging.WARNING, logging.getLevelNamesMapping().get(level.upper(), 0))
    for name, lvl in (("anomaly_gan", level), ("py.warnings", logging.WARNING),
                      ("kafka", kafka_level)):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(handler)
        logger.setLevel(lvl)
        logger.propagate = False
