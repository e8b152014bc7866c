"""OTLP/JSON log batches (``logs.format: otlp_json``): the parts of each log record, pure.

The OpenTelemetry Collector's ``kafka`` exporter with ``encoding: otlp_json`` writes one
Kafka record per batch, and its ``file`` exporter one such object per line: an
``ExportLogsServiceRequest`` in the OTLP/JSON encoding, many log records in one document::

    {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name",
                                                    "value": {"stringValue": "api"}}]},
      "scopeLogs": [{"scope": {"name": "x"}, "logRecords": [
        {"timeUnixNano": "1700000000000000000", "severityNumber": 17, "severityText": "ERROR",
         "body": {"stringValue": "db timeout after 30 s"}}]}]}]}

:func:`log_records` walks the document's envelope (a malformed one is one
:class:`~anomaly_gan.stream.events.InvalidEvent` for the whole document: how many log
records it held is unknown); :func:`body_text`, :func:`severity_level` and the shared
:func:`~anomaly_gan.otlp.nanos` and :func:`~anomaly_gan.otlp.attribute` read one log
record's parts, raising :class:`~anomaly_gan.otlp.OtlpFieldError` for a part of the wrong
shape, which the parser turns into that log record's invalid event. Metric batches are read
by :mod:`anomaly_gan.stream.otlp`, on the same helpers (:mod:`anomaly_gan.otlp`).

>>> doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "7"}}]}]}]}
>>> [(where, body_text(rec["body"])) for where, rec, _ in log_records(doc)]
[('resourceLogs[0].scopeLogs[0].logRecords[0]', '7')]
"""

from __future__ import annotations

from typing import Any

from anomaly_gan.otlp import LOGS, OtlpFieldError, any_text, batch_items, integer, plain
from anomaly_gan.stream.events import InvalidEvent

__all__ = ["SEVERITY_NAMES", "body_text", "log_records", "severity_level"]

#: The short names of OTLP's severity number ranges (1-4, 5-8, ... 21-24).
SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_ENUM_PREFIX = "SEVERITY_NUMBER_"  # protobuf's JSON mapping may write an enum by its name


def log_records(doc: dict[str, Any]) -> list[tuple[str, Any, Any]] | InvalidEvent:
    """``(where, log record, its resource's attributes)`` of every log record of an
    ``ExportLogsServiceRequest``, in document order; or why the envelope is none (no
    ``resourceLogs`` list, a resource or scope entry that is no object, a ``scopeLogs`` or
    ``logRecords`` that is no list). A log record itself is not looked into here.

    >>> log_records({"resourceLogs": [{"scopeLogs": {}}]}).detail
    'resourceLogs[0].scopeLogs must be a list, got dict'
    >>> log_records({"message": "a json-format line"}).detail[:60]
    "'resourceLogs' must be a list (an OTLP/JSON ExportLogsServic"
    """
    return batch_items(doc, LOGS)


def body_text(body: Any, name: str = "'body'") -> str:
    """A log record's ``body`` as the text its template is mined from: a ``stringValue`` as
    it is; any other kind as compact, deterministic text (an int in digits, a double as
    Python writes it, ``true``/``false``, bytes as their base64 text, an array or kvlist
    as JSON, keys in the order given). No body, or an empty one, is no message.

    >>> [body_text(v) for v in ({"stringValue": "up"}, {"intValue": "42"},
    ...                         {"doubleValue": 0.5}, {"boolValue": False})]
    ['up', '42', '0.5', 'false']
    >>> body_text({"kvlistValue": {"values": [
    ...     {"key": "event", "value": {"stringValue": "login"}},
    ...     {"key": "tries", "value": {"intValue": "3"}},
    ...     {"key": "ids", "value": {"arrayValue": {"values": [{"intValue": 1}, {}]}}}]}})
    '{"event": "login", "tries": 3, "ids": [1, null]}'
    """
    if body is None:
        raise OtlpFieldError("missing_field", f"{name} is missing (a log record with no body "
                                              f"has no message)")
    value = plain(body, name)
    if value is None:
        raise OtlpFieldError("missing_field", f"{name} is empty (no message)")
    return any_text(value)


def severity_level(record: dict[str, Any]) -> str:
    """A log record's level: its ``severityText`` where it has one, else the short name of
    the range its ``severityNumber`` falls in (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16
    WARN, 17-20 ERROR, 21-24 FATAL; an enum name such as ``SEVERITY_NUMBER_ERROR2`` too),
    any other number as written, ``""`` for none (0, unspecified).

    >>> [severity_level(r) for r in ({"severityText": "Warning", "severityNumber": 13},
    ...                              {"severityNumber": 17}, {"severityNumber": "SEVERITY_NUMBER_FATAL4"},
    ...                              {"severityNumber": 0}, {}, {"severityNumber": 99})]
    ['Warning', 'ERROR', 'FATAL', '', '', '99']
    """
    text = record.get("severityText")
    if text is not None and type(text) is not str:
        raise OtlpFieldError("missing_field", "'severityText' must be a string")
    if text:
        return text
    number = record.get("severityNumber")
    if number is None:
        return ""
    if type(number) is str and number.startswith(_ENUM_PREFIX):
        name = number.removeprefix(_ENUM_PREFIX).rstrip("234")
        if name in SEVERITY_NAMES:
            return name
        if name == "UNSPECIFIED":
            return ""
        raise OtlpFieldError("missing_field", f"'severityNumber' {number[:40]!r} is no "
                                              f"severity number")
    n = integer(number, "'severityNumber'")
    if 1 <= n <= 4 * len(SEVERITY_NAMES):
        return SEVERITY_NAMES[(n - 1) // 4]
    return "" if n == 0 else str(n)
