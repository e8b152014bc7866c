"""Event bytes -> :class:`Event` or :class:`InvalidEvent`: pure parsing and validation.

An event is one JSON object per Kafka record::

    {"entity": "pump-7", "ts": "2026-01-01T00:00:10Z", "values": {"temp": 71.2, "rpm": 1500}}
    {"entity": "pump-7", "ts": 1767225610, "values": [71.2, 1500]}   # model feature order

``ts`` is an RFC 3339 string (a missing offset means UTC), epoch seconds, or epoch
milliseconds (any number above 1e11, i.e. after the year 5138 in seconds, is read as ms;
above 1e14 as microseconds, above 1e17 as nanoseconds).
A time after the year 9999 is a ``bad_timestamp``; one more than the allowed clock skew
ahead of the wall clock (:attr:`EventParser.not_after`, set by the service) is a
``future_timestamp``: such an event would make every later, correct event of its entity
"late".

Every rejection carries one of :data:`INVALID_REASONS`, the same values as the
``reason`` label of ``anomaly_gan_events_invalid_total`` and the DLQ ``reason`` header.

>>> p = EventParser(("temp", "rpm"), max_event_bytes=1024)
>>> p.parse(b'{"entity": "pump-7", "ts": 10, "values": {"rpm": 1500, "temp": 71.2}}').values
[71.2, 1500]
>>> p.parse(b'{"entity": "pump-7", "ts": 10, "values": [1, 2, 3]}').reason
'wrong_length'
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from anomaly_gan.config import EventFieldsConfig, ServeConfig, is_otlp

if TYPE_CHECKING:
    from anomaly_gan.stream.otlp import MetricBatchParser

__all__ = ["CONTROL", "CONTROL_CHARACTERS", "INVALID_REASONS", "LOG_REASONS", "MAX_ENTITY_BYTES",
           "Event", "EventParser", "FailureKinds", "InvalidEvent", "PartialEvent", "check_entity",
           "dead_letter_of", "decode_object", "entity_part", "entity_text", "epoch_number",
           "joined_entity", "json_field", "leap_second", "non_finite", "parse_timestamp",
           "parser_from_config", "utf8_size", "without_bom"]

INVALID_REASONS = (
    "not_utf8",
    "bad_json",
    "not_object",
    "missing_field",
    "bad_timestamp",
    "unknown_feature",
    "missing_feature",
    "wrong_length",
    "non_finite",
    "oversized",
    "future_timestamp",
    "bad_entity",  # an entity id with a control character, or not valid Unicode
    "bad_protobuf",  # not an OTLP protobuf request (serve.event_format: otlp_proto)
    "unprocessable",  # handling the record raised an unexpected error (a bug: report it)
    "corrupt_record",  # a record batch the consumer cannot read: skipped (stream/app.py)
)
# The further reason of log lines (anomaly_gan.logs.events), for a logs model.
LOG_REASONS = ("no_match",)

MAX_ENTITY_BYTES = 512  # serve.windows.max_entity_bytes' default
# What no entity id may hold and text logs escape (a regex character class): C0 and C1
# controls, DEL, and U+2028/U+2029, which end a line for Python's splitlines() and some
# viewers. An id holding one could split or forge a line wherever it is written.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
_MS_THRESHOLD = 1e11
# An epoch number over each threshold counts in that many parts of a second: 1e11 s is the
# year 5138, 1e14 ms the year 5138 too, and so on.
_EPOCH_UNITS = ((1e17, 10**9), (1e14, 10**6), (_MS_THRESHOLD, 1000))
_MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last time datetime can format
# UTF-8 only (RFC 8259): decoding directly skips json.loads' encoding sniffing per event.
_DECODER = json.JSONDecoder()
_decode = _DECODER.decode
# The decoder's C scanner: the value that starts at an index and the index after it. decode()
# reaches it through two Python calls and two whitespace regex matches, a quarter of the
# decoding of a typical event (callgrind: 18.7k -> 13.5k instructions for an 8-value record).
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_isfinite = math.isfinite


@dataclass(slots=True)
class Event:
    entity: str
    ts: float  # epoch seconds
    values: list[float]  # model feature order (ints allowed: numpy converts)
    # feature index -> its series' start time (ns since the epoch) where the record gave one:
    # an OTLP cumulative sum's startTimeUnixNano, which moves on when its process restarts
    # (data/counters.py reads a later one as a reset); None: no start time
    starts: dict[int, float] | None = field(default=None, repr=False)


@dataclass(slots=True)
class PartialEvent:
    """Some of the model's features at one time: a record read with ``partial=True``
    (``serve.assemble_seconds`` > 0), for :class:`~anomaly_gan.stream.assemble.Assembler`."""

    entity: str
    ts: float  # epoch seconds
    values: dict[int, float]  # feature index (model order) -> value
    starts: dict[int, float] | None = field(default=None, repr=False)  # as Event's


@dataclass(slots=True)
class InvalidEvent:
    reason: str  # one of INVALID_REASONS
    detail: str


def parse_timestamp(raw: object, per_second: int | None = None) -> float | None:
    """Epoch seconds from an RFC 3339 string or an epoch number (also written as ASCII
    digits in a string, :func:`epoch_number`): seconds, or by its size milliseconds (over
    1e11), microseconds (over 1e14: journald's ``__REALTIME_TIMESTAMP``) or nanoseconds
    (over 1e17: OpenTelemetry's ``timeUnixNano``); None if invalid. With ``per_second`` a
    number counts in that many parts of a second whatever its size (an OTLP time field is
    nanoseconds, however small).

    >>> [parse_timestamp(v) for v in (1767225600, 1767225600500, 1767225600500000,
    ...                               1767225600500000000, " 1767225600500 ")]
    [1767225600.0, 1767225600.5, 1767225600.5, 1767225600.5, 1767225600.5]
    >>> parse_timestamp(5_000_000_000, per_second=10**9)
    5.0
    """
    if ((type(raw) is float or type(raw) is int) and per_second is None
            and 0 <= raw <= _MS_THRESHOLD):
        # epoch seconds, the usual event's time: what the steps below return for it, at a
        # third of their cost (a NaN, a negative number or a larger unit takes them)
        return float(raw)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        try:
            ts = float(raw)
        except OverflowError:  # an integer beyond float range
            return None
        if not _isfinite(ts) or ts < 0:
            return None
        for threshold, per in ((0.0, per_second),) if per_second else _EPOCH_UNITS:
            if (raw if type(raw) is int else ts) > threshold:  # an int compared exactly
                # an int divided exactly: 19 digits of ns are more than a float holds
                ts = raw / per if type(raw) is int else ts / per
                break
        return ts if ts <= _MAX_TS else None
    if isinstance(raw, str):
        text = raw.strip()
        number = epoch_number(text)
        if number is not None:
            # epoch digits as an int, its unit decided exactly (until 2026-12-07 a metric
            # event's "1767225600123" was a bad_timestamp and "20260101" a date, where a log
            # event's and a CSV cell's were the integer)
            return parse_timestamp(number, per_second)
        if not text or text[0] not in "0123456789":
            return None
        # RFC 3339 (5.6) allows a lower-case "t" and "z", which fromisoformat refuses
        if text[10:11] == "t":
            text = f"{text[:10]}T{text[11:]}"
        if text.endswith("z"):
            text = f"{text[:-1]}Z"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            leap = leap_second(text)
            if leap is None:
                return None
            dt = leap
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            ts = dt.timestamp()
        except (OverflowError, ValueError):  # e.g. 0001-01-01 with a positive offset
            return None
        return ts if 0.0 <= ts <= _MAX_TS else None
    return None


def leap_second(text: str) -> datetime | None:
    """An RFC 3339 time whose second is 60 (a leap second, which RFC 3339 allows and
    ``datetime`` cannot hold) as the next minute's second 0, as POSIX time counts it; None
    for any other text. Refused, a line stamped ``23:59:60Z`` was "not RFC 3339"; a
    silence's start or end reads it alike (stream/silences.py).

    >>> leap_second("2016-12-31T23:59:60.5Z").isoformat()
    '2017-01-01T00:00:00.500000+00:00'
    >>> leap_second("2016-12-31T23:59:61Z") is None
    True
    """
    if text[16:19] != ":60" or text[13:14] != ":":
        return None
    try:
        return datetime.fromisoformat(text[:17] + "59" + text[19:]) + timedelta(seconds=1)
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59:60
        return None


def parse_timestamp_text(text: str) -> float | None:
    """:func:`parse_timestamp` of a time written as text (a CSV cell, a command-line value,
    a labels field): a number is epoch seconds (or ms, us, ns by its size), anything else
    RFC 3339.

    >>> parse_timestamp_text(" 1767225600000 "), parse_timestamp_text("2026-01-01T00:00Z")
    (1767225600.0, 1767225600.0)
    """
    text = text.strip()
    number = epoch_number(text)
    if number is None:
        # float() also reads 1_000 and non-ASCII digits, which no JSON number, nor a CSV
        # number cell, is: they were times of 1970 (serve dead-letters such a string ts)
        if "_" in text or not text.isascii():
            return parse_timestamp(text)
        try:
            number = float(text)
        except ValueError:
            return parse_timestamp(text)
    return parse_timestamp(number)


def epoch_number(text: str) -> int | float | None:
    """The epoch number that ASCII digits alone (one decimal point allowed) write: an int
    where they have no point, so :func:`parse_timestamp` compares it with the units' edges
    and divides it exactly, as a JSON integer (as a float, ``100000000000000001`` is 1e17
    and counts as microseconds, the year 5138, where it is 1973's nanoseconds); None for
    any other text.

    >>> epoch_number("100000000000000001"), epoch_number("1767225600.5"), epoch_number("1e9")
    (100000000000000001, 1767225600.5, None)
    """
    # isdigit() also holds for "²" or "١", which float() refuses or reads as digits.
    if not (text.isascii() and text.replace(".", "", 1).isdigit()):
        return None
    # 25 digits or more are past the year 9999 in any unit (and int() refuses over 4,300)
    return int(text) if len(text) < 25 and text.isdigit() else float(text)


def _short(value: object, limit: int = 80) -> str:
    """``repr`` of a field for an error message, its credentials as ``<SECRET>`` (a dead
    letter's ``detail`` header goes out: until 2026-12-07 a time field holding
    ``password=...`` went out as sent, where a log line's went redacted), cut to ``limit``
    characters (an int's repr is never built when it has more digits than Python allows to
    convert)."""
    if type(value) is int and value.bit_length() > 200:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, (list, dict)):
        return f"<{type(value).__name__} of {len(value)} items>"
    # imported here: anomaly_gan.logs imports this module
    from anomaly_gan.logs.secrets import quote_redacted

    text = quote_redacted(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _some(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names`` for a dead letter's detail, and how many it leaves
    out: a detail that named five of eight missing features read as if five were all.

    >>> _some(["a", "b"]), _some(list("abcdefg"))
    ("['a', 'b']", "['a', 'b', 'c', 'd', 'e'] and 2 more")
    """
    more = len(names) - shown
    return f"{names[:shown]}" + (f" and {more} more" if more > 0 else "")


def without_bom(raw: bytes) -> bytes:
    """``raw`` without a UTF-8 byte-order mark at its start: Windows tools write one at the
    start of a file, and a shipper tailing the file sends it with the first record.

    >>> without_bom(b"\\xef\\xbb\\xbf{}"), without_bom(b"{}")
    (b'{}', b'{}')
    """
    return raw.removeprefix(codecs.BOM_UTF8)


def decode_object(text: str) -> dict[str, Any] | InvalidEvent:
    """The JSON object of a record's text, or why it is none (``bad_json``, ``not_object``).

    A record nested too deeply for the decoder (``[[[...]]]`` a few thousand levels down,
    well under ``max_event_bytes``) is ``bad_json``: Python's decoder raises RecursionError,
    no ValueError, for it.

    >>> decode_object('{"entity": "a"}')
    {'entity': 'a'}
    >>> decode_object("[" * 100_000 + "]" * 100_000).detail
    'JSON nested too deeply'
    >>> decode_object("[1]").reason
    'not_object'
    >>> decode_object(' {"entity": "a"}\\n'), decode_object('{} {}').detail
    ({'entity': 'a'}, 'not valid JSON: Extra data: line 1 column 4 (char 3)')
    """
    try:
        # A text that is one JSON value from its first character to its last, as a record
        # usually is, is read by the scanner alone; decode() reads any other (whitespace
        # around the value, more after it, or no value: its errors and messages).
        try:
            obj, end = _scan(text, 0)
        except StopIteration:  # no value starts at 0: whitespace first, or not JSON
            end = -1
        if end != len(text):
            obj = _decode(text)
    except ValueError as exc:
        return InvalidEvent("bad_json", f"not valid JSON: {exc}")
    except RecursionError:
        return InvalidEvent("bad_json", "JSON nested too deeply")
    if type(obj) is not dict:
        return InvalidEvent("not_object", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def json_field(obj: dict[str, Any], name: str, missing: Any = None) -> Any:
    """``obj[name]``, or where ``obj`` has no such key and ``name`` has dots, the value at
    that path through nested objects; ``missing`` where there is none. How a configured
    field name is read, in numeric events (``serve.event_fields``) and JSON log records
    (``logs.json_fields``) alike.

    >>> rec = {"log.level": "info", "kubernetes": {"pod_name": "web-1"}}
    >>> json_field(rec, "log.level"), json_field(rec, "kubernetes.pod_name")
    ('info', 'web-1')
    >>> json_field(rec, "kubernetes.node") is None, json_field(rec, "kubernetes") is not None
    (True, True)
    """
    if name in obj:
        return obj[name]
    if "." not in name:
        return missing
    value: Any = obj
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return missing
        value = value[part]
    return value


def utf8_size(text: str, errors: str = "strict") -> int:
    """How many bytes ``text`` is in UTF-8: an ASCII string's length, without encoding it.
    ``errors`` as :meth:`str.encode`'s: ``strict`` raises UnicodeEncodeError for a lone
    surrogate (an entity id), ``surrogatepass`` counts it as 3 bytes (a log line's text).

    >>> utf8_size("pump-7"), utf8_size("Pumpe-7 in Köln"), utf8_size("\\ud800", "surrogatepass")
    (6, 16, 3)
    """
    return len(text) if text.isascii() else len(text.encode("utf-8", errors))


def check_entity(entity: str, max_bytes: int, field: str = "entity") -> InvalidEvent | None:
    """Why the string ``entity`` cannot name an entity, or None: it must be valid Unicode
    without :data:`CONTROL_CHARACTERS` (``bad_entity``) and at most ``max_bytes`` UTF-8
    bytes long (``oversized``: each held entity keeps its id in memory). ``field``: the
    record's field it came from, as the detail names it.

    >>> check_entity("pump-7", 8) is None
    True
    >>> check_entity("pump-" + "x" * 20, 8).detail
    "'entity' is 25 bytes > max_entity_bytes 8"
    >>> print(check_entity("pump-7\\n2026-01-01 ERROR", 64).detail)
    'entity' 'pump-7\\n2026-01-01 ERROR' holds U+000A: expected no control characters (U+0000-001F, U+007F-009F, U+2028, U+2029)
    """
    if len(entity) > max_bytes // 4 or not entity.isascii():
        try:
            size = utf8_size(entity)
        except UnicodeEncodeError:  # a lone surrogate escape such as "\\ud800"
            return InvalidEvent("bad_entity", f"{field!r} is not a valid Unicode string")
        if size > max_bytes:
            return InvalidEvent("oversized", f"{field!r} is {size} bytes > max_entity_bytes "
                                             f"{max_bytes}")
    # isprintable() is False for every control character, and for a few more (a no-break
    # space, a joiner in an emoji), which the search lets through: the search runs rarely.
    if not entity.isprintable() and (m := CONTROL.search(entity)) is not None:
        return InvalidEvent("bad_entity", f"{field!r} {_short(entity)} holds "
                                          f"U+{ord(m.group()):04X}: expected no control "
                                          "characters (U+0000-001F, U+007F-009F, U+2028, "
                                          "U+2029)")
    return None


def non_finite(values: Iterable[Any]) -> InvalidEvent | None:
    """Why ``values`` are not all finite numbers (``non_finite``), or None: the rule by which
    ``serve`` dead-letters an event for its values, and by which ``score --alerts`` leaves
    out a file's row (:func:`~anomaly_gan.stream.offline.dead_letters`).

    >>> non_finite([71.2, 1500]) is None, non_finite([71.2, float("nan")]).reason
    (True, 'non_finite')
    >>> non_finite([71.2, None]).detail
    'a value is None, not a finite number'
    """
    for v in values:
        tv = type(v)
        if tv is float:
            if v - v != 0.0:  # NaN or +-inf (cheaper than math.isfinite per value)
                return InvalidEvent("non_finite", "a value is NaN or infinite")
        elif tv is int:
            if not -1e300 < v < 1e300:
                return InvalidEvent("non_finite", "an integer value is out of float range")
        else:
            return InvalidEvent("non_finite", f"a value is {_short(v, 40)}, not a finite "
                                              "number")
    return None


def _log_line_hint(obj: dict[str, Any], values: str = "values") -> str:
    """Why a record is refused when it is a log line sent to a numeric model: the detail of
    every dead letter then says so, not only which field is missing. ``values``: the field
    that holds an event's values (``serve.event_fields.values``)."""
    if "message" in obj and json_field(obj, values) is None:
        return (f" (a log line? it has 'message' and no {values!r}; this model reads numeric "
                "events, a logs model reads log lines: docs/logs.md)")
    return ""


def _text_line_hint(invalid: InvalidEvent, text: str) -> InvalidEvent:
    """A record that is no JSON and reads as a line of text (words, no ``{``/``[`` first):
    most likely a plain-text log line (syslog, RFC 3339, Log4j) sent to a numeric model,
    whose dead letter then says so, as a JSON log record's does (:func:`_log_line_hint`).
    Until 2026-12-06 it said only ``not valid JSON: Extra data: line 1 column 5``.

    >>> _text_line_hint(InvalidEvent("bad_json", "not valid JSON: x"), "Dec  5 sshd: ok").detail
    'not valid JSON: x (a log line? this model reads JSON events, a logs model reads log lines: docs/logs.md)'
    >>> _text_line_hint(InvalidEvent("bad_json", "not valid JSON: x"), '{"a": 1').detail
    'not valid JSON: x'
    """
    if invalid.reason != "bad_json":
        return invalid
    line = text.strip()
    if not line or line[0] in "{[\"" or not any(c.isspace() for c in line):
        return invalid
    return InvalidEvent("bad_json", invalid.detail + " (a log line? this model reads JSON "
                                                     "events, a logs model reads log lines: "
                                                     "docs/logs.md)")


def entity_text(value: object) -> object:
    """An entity id as text: an integer (a numeric device id, a node number) as its digits,
    anything else as it is, to be refused where it is no string. (JSON's decoder refuses an
    integer longer than ``str`` writes, 4300 digits: no decoded one is.)

    >>> entity_text(7), entity_text("pump-7"), entity_text(True), entity_text(7.0)
    ('7', 'pump-7', True, 7.0)
    """
    return str(value) if type(value) is int else value


def joined_entity(obj: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, str]:
    """An entity id from several fields of ``obj`` (``serve.event_fields.entity`` or
    ``logs.json_fields.entity`` given as a list): their values joined with ``/``, each read
    as a single entity field is (an integer as its digits). Returns (the id, "") or (None,
    the first field without a non-empty string). A ``/`` or ``%`` inside a value is
    written ``%2F`` or ``%25`` (:func:`entity_part`), so that two different tuples of
    values never make one id; a value without either is written as it is.

    >>> joined_entity({"tags": {"host": "web-1", "cpu": 0}}, ("tags.host", "tags.cpu"))
    ('web-1/0', '')
    >>> joined_entity({"tags": {"host": "web-1"}}, ("tags.host", "tags.cpu"))
    (None, 'tags.cpu')
    >>> [joined_entity({"ns": ns, "pod": pod}, ("ns", "pod"))[0]
    ...  for ns, pod in (("a/b", "c"), ("a", "b/c"))]
    ['a%2Fb/c', 'a/b%2Fc']
    """
    parts = []
    for name in names:
        part = entity_text(json_field(obj, name))
        if type(part) is not str or not part:
            return None, name
        parts.append(entity_part(part))
    return "/".join(parts), ""


def entity_part(value: str) -> str:
    """One value of a joined entity id (:func:`joined_entity`) as it is written in the id:
    ``%`` as ``%25`` and ``/`` as ``%2F`` (as in a URL's path segment), anything else as
    it is. Values ``("a/b", "c")`` and ``("a", "b/c")`` were both ``a/b/c``, one entity
    whose window interleaved the two's events; escaped, the id is read back into its
    values unambiguously, and one without ``/`` or ``%`` in its values is unchanged.

    >>> entity_part("cpu0"), entity_part("a/b"), entity_part("50%/x")
    ('cpu0', 'a%2Fb', '50%25%2Fx')
    """
    if "/" not in value and "%" not in value:
        return value
    return value.replace("%", "%25").replace("/", "%2F")


def dead_letter_of(events: Sequence[object], items: str) -> InvalidEvent | None:
    """What a record's events send to the dead-letter topic: nothing when every one is an
    event; else the record once, with the reason of its first invalid event and, where the
    record held several (an OTLP batch: ``items`` names them, ``log records`` or ``data
    points``), how many of them were invalid first in the detail (the header is cut at 512
    bytes). The valid events of such a record are used all the same.

    >>> ok, bad = Event("a", 1.0, [1.0]), InvalidEvent("missing_field", "x: no body")
    >>> dead_letter_of([ok, ok], "log records") is None, dead_letter_of([bad], "") is bad
    (True, True)
    >>> dead_letter_of([ok, bad, bad], "log records")
    InvalidEvent(reason='missing_field', detail='2 of 3 log records invalid; the first: x: no body')
    """
    invalid = [ev for ev in events if type(ev) is InvalidEvent]
    if not invalid:
        return None
    first = invalid[0]
    if len(events) == 1:
        return first
    return InvalidEvent(first.reason, f"{len(invalid)} of {len(events)} {items} invalid; "
                                      f"the first: {first.detail}")


class FailureKinds:
    """Which failures handling a record has met: each is logged with its traceback the first
    time only. A bug that a producer's every record trips logged a traceback per record
    (1,000 records: 9,002 lines, 529 KB); one is enough to report it, and
    ``anomaly_gan_dlq_total{reason="unprocessable"}`` counts the rest. A kind is the
    exception's type and the line that raised it; past ``limit`` kinds, none is logged.

    >>> kinds = FailureKinds()
    >>> def fail(x):
    ...     try:
    ...         return {}[x]
    ...     except KeyError as exc:
    ...         return kinds.first(exc)
    >>> fail(1), fail(2)
    (True, False)
    """

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._seen: set[tuple[type, str, int]] = set()

    def first(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the first failure of its kind (and so to be logged)."""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        kind = (type(exc), *((tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb else ("", 0)))
        if kind in self._seen or len(self._seen) >= self.limit:
            return False
        self._seen.add(kind)
        return True


_ABSENT = object()  # a field that the record does not have (null is a value: bad_timestamp)


class EventParser:
    """Validates events against the model's feature names (order matters for lists).

    ``fields`` names the record's field of each part (:class:`EventFieldsConfig`, default
    ``entity``, ``ts`` and ``values``: a key or a dotted path, :func:`json_field`); an
    error's detail names the field as configured. ``unknown_features``: ``reject`` a values
    object with a name the model does not know (``unknown_feature``), or ``ignore`` the name.
    ``partial`` (``serve.assemble_seconds`` > 0): a values object with some of the model's
    features is a :class:`PartialEvent` for the assembler, not ``missing_feature``; one with
    none of them still is, and a values list must still hold every feature (it is
    positional).

    >>> from anomaly_gan.config import EventFieldsConfig
    >>> telegraf = EventParser(("usage_idle", "usage_user"), 4096, unknown_features="ignore",
    ...                        fields=EventFieldsConfig("tags.host", "timestamp", "fields"))
    >>> telegraf.parse(b'{"fields": {"usage_idle": 91.5, "usage_user": 4.1, "usage_guest": 0},'
    ...                b' "name": "cpu", "tags": {"host": "web-1"}, "timestamp": 1767225600}')
    Event(entity='web-1', ts=1767225600.0, values=[91.5, 4.1])
    >>> telegraf.parse(b'{"fields": {}, "tags": {}, "timestamp": 1}').detail
    "'tags.host' must be a non-empty string"
    >>> per_cpu = EventParser(("usage_idle",), 4096, unknown_features="ignore",
    ...                       fields=EventFieldsConfig(("tags.host", "tags.cpu"), "timestamp",
    ...                                                "fields"))
    >>> per_cpu.parse(b'{"fields": {"usage_idle": 88.0}, "tags": {"cpu": "cpu0", "host": "web-1"},'
    ...               b' "timestamp": 1767225600}')
    Event(entity='web-1/cpu0', ts=1767225600.0, values=[88.0])
    >>> per_cpu.parse(b'{"fields": {"usage_idle": 1}, "tags": {"host": "web-1"}, "timestamp": 1}'
    ...               ).detail
    "'tags.cpu' must be a non-empty string"
    >>> parts = EventParser(("temp", "rpm"), 4096, partial=True)
    >>> parts.parse(b'{"entity": "pump-7", "ts": 10, "values": {"rpm": 1500}}')
    PartialEvent(entity='pump-7', ts=10.0, values={1: 1500})
    >>> parts.parse(b'{"entity": "pump-7", "ts": 10, "values": [1500]}').reason
    'wrong_length'
    """

    def __init__(self, feature_names: tuple[str, ...] | list[str], max_event_bytes: int,
                 max_entity_bytes: int = MAX_ENTITY_BYTES, *,
                 fields: EventFieldsConfig | None = None,
                 unknown_features: str = "reject", partial: bool = False) -> None:
        self.feature_names = tuple(feature_names)
        self.partial = partial
        self.n_features = len(self.feature_names)
        self.max_event_bytes = int(max_event_bytes)
        self.max_entity_bytes = int(max_entity_bytes)
        self.fields = fields or EventFieldsConfig()
        self.ignore_unknown = unknown_features == "ignore"
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        # Several entity fields (a host and a device): their values joined with "/", and
        # their names so in the details about the joined id.
        entity = self.fields.entity
        self._entity_parts = () if isinstance(entity, str) else tuple(entity)
        names = ("/".join(self._entity_parts) or str(entity), self.fields.ts,
                 self.fields.values)
        # Names without dots are read with dict.get, as before there were paths: parse is the
        # intake's hot path, and json_field's three calls cost 1-3% of it (bench/parse.py).
        # Several entity fields are read with json_field too, each of them (a path or not).
        self._names = (*names, bool(self._entity_parts) or any("." in name for name in names))
        # Latest acceptable event time (epoch s); the service moves it with the wall clock.
        self.not_after = math.inf

    def parse(self, raw: bytes | None) -> Event | PartialEvent | InvalidEvent:
        if raw is None:
            return InvalidEvent("bad_json", "empty record value (tombstone)")
        if len(raw) > self.max_event_bytes:
            return InvalidEvent("oversized", f"{len(raw)} bytes > max_event_bytes "
                                             f"{self.max_event_bytes}")
        try:
            text = without_bom(raw).decode("utf-8")
        except UnicodeDecodeError as exc:  # a UTF-16 byte-order mark too: JSON is UTF-8
            return InvalidEvent("not_utf8", f"not UTF-8: {exc}")
        obj = decode_object(text)
        if isinstance(obj, InvalidEvent):
            return _text_line_hint(obj, text)
        entity_name, ts_name, values_name, dotted = self._names
        entity: Any
        if dotted:
            if self._entity_parts:  # entity_name is the parts' names joined: no field
                entity = self._joined_entity(obj, values_name)
                if type(entity) is InvalidEvent:
                    return entity
            else:
                entity = json_field(obj, entity_name)
            raw_ts = json_field(obj, ts_name, _ABSENT)
            raw_values = json_field(obj, values_name)
        else:
            entity = obj.get(entity_name)
            raw_ts = obj.get(ts_name, _ABSENT)
            raw_values = obj.get(values_name)
        if type(entity) is not str or not entity:
            entity = entity_text(entity)
            if type(entity) is not str or not entity:
                return InvalidEvent("missing_field", f"{entity_name!r} must be a non-empty "
                                    "string" + _log_line_hint(obj, values_name))
        bad = check_entity(entity, self.max_entity_bytes, entity_name)
        if bad is not None:
            return bad
        if raw_ts is _ABSENT:
            return InvalidEvent("missing_field", f"{ts_name!r} is missing")
        if raw_values is None:
            return InvalidEvent("missing_field", f"{values_name!r} is missing"
                                + _log_line_hint(obj, values_name))
        ts = parse_timestamp(raw_ts)
        if ts is None:
            return InvalidEvent("bad_timestamp", f"{ts_name!r} {_short(raw_ts)} is not RFC "
                                                 "3339, epoch s, ms, us or ns up to year 9999")
        if ts > self.not_after:
            return InvalidEvent("future_timestamp", f"{ts_name!r} {_short(raw_ts)} is more "
                                                    "than the allowed clock skew ahead of the "
                                                    "wall clock")
        if type(raw_values) is dict:
            index = self._index
            if len(raw_values) != self.n_features or any(k not in index for k in raw_values):
                unknown = [] if self.ignore_unknown else [k for k in raw_values if k not in index]
                if unknown:
                    return InvalidEvent("unknown_feature", f"unknown feature(s) {_some(unknown)}; "
                                                           f"expected {list(self.feature_names)} "
                                                           "(serve.unknown_features: ignore "
                                                           "leaves such names out)")
                missing = [n for n in self.feature_names if n not in raw_values]
                if missing:
                    if self.partial:
                        return self._partial(entity, ts, raw_values, values_name)
                    return InvalidEvent("missing_feature", f"missing feature(s) {_some(missing)}")
            values = [raw_values[name] for name in self.feature_names]
        elif type(raw_values) is list:
            if len(raw_values) != self.n_features:
                return InvalidEvent("wrong_length", f"{values_name!r} has {len(raw_values)} "
                                                    f"items, the model expects {self.n_features}")
            values = raw_values
        else:
            return InvalidEvent("missing_field", f"{values_name!r} must be an object or a list")
        bad = non_finite(values)
        return Event(entity, ts, values) if bad is None else bad

    def parse_many(self, raw: bytes | None) -> list[Event | PartialEvent | InvalidEvent]:
        """The one event of a record, as a list: how a caller that also reads
        OpenTelemetry batches (``serve.event_format: otlp_proto``, ``otlp_json``:
        :class:`~anomaly_gan.stream.otlp.MetricBatchParser`, many per record) reads it."""
        return [self.parse(raw)]

    def _partial(self, entity: str, ts: float, raw_values: dict[str, Any],
                 values_name: str) -> PartialEvent | InvalidEvent:
        """A values object with some of the model's features (``partial``)."""
        index = self._index
        present = {index[k]: v for k, v in raw_values.items() if k in index}
        if not present:  # an empty object, or one of names the model does not know
            return InvalidEvent("missing_feature", f"{values_name!r} holds none of the model's "
                                                   f"features; expected some of "
                                                   f"{list(self.feature_names)}")
        bad = non_finite(present.values())
        return PartialEvent(entity, ts, present) if bad is None else bad

    def _joined_entity(self, obj: dict[str, Any], values_name: str) -> str | InvalidEvent:
        """The entity id of several fields (:func:`joined_entity`), or why there is none."""
        entity, bad = joined_entity(obj, self._entity_parts)
        if entity is None:
            return InvalidEvent("missing_field", f"{bad!r} must be a non-empty string"
                                + _log_line_hint(obj, values_name))
        return entity


def parser_from_config(feature_names: tuple[str, ...] | list[str],
                       serve: ServeConfig) -> EventParser | MetricBatchParser:
    """The parser of ``serve``'s numeric events, for the scorer and for ``retrain``'s topic
    range alike: the same limits, fields and unknown-feature policy, and with
    ``serve.assemble_seconds`` records of some of the features (for
    :func:`~anomaly_gan.stream.assemble.assembler_from_config`). With
    ``serve.event_format: otlp_proto`` or ``otlp_json`` a
    :class:`~anomaly_gan.stream.otlp.MetricBatchParser`:
    a record is a batch of data points, each some of the features
    (:meth:`~anomaly_gan.stream.otlp.MetricBatchParser.parse_many`)."""
    w = serve.windows
    if is_otlp(serve.event_format):
        from anomaly_gan.stream.otlp import MetricBatchParser

        return MetricBatchParser(feature_names, w.max_entity_bytes,
                                 otlp_entity=serve.otlp_entity,
                                 unknown_features=serve.unknown_features,
                                 format=serve.event_format)
    return EventParser(feature_names, w.max_event_bytes, w.max_entity_bytes,
                       fields=serve.event_fields, unknown_features=serve.unknown_features,
                       partial=serve.assemble_seconds > 0)
