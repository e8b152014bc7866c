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
records it held is unknown); :func:`body_text`, :func:`severity_level`, :func:`nanos` and
:func:`attribute` read one log record's parts, raising :class:`OtlpFieldError` for a part of
the wrong shape, which the parser turns into that log record's invalid event.

>>> doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "7"}}]}]}]}
>>> [(where, body_text(rec["body"])) for where, rec, _ in log_records(doc)]
[('resourceLogs[0].scopeLogs[0].logRecords[0]', '7')]
"""

from __future__ import annotations

import json
import math
from typing import Any

from anomaly_gan.stream.events import InvalidEvent, entity_text

__all__ = ["SEVERITY_NAMES", "OtlpFieldError", "attribute", "body_text", "log_records", "nanos",
           "severity_level"]

#: The short names of OTLP's severity number ranges (1-4, 5-8, ... 21-24).
SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_ENUM_PREFIX = "SEVERITY_NUMBER_"  # protobuf's JSON mapping may write an enum by its name


class OtlpFieldError(ValueError):
    """A log record's part has the wrong shape: its ``reason`` and what was expected."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _list(value: Any, where: str) -> list[Any] | InvalidEvent:
    """A repeated field: a list, or absent (null: none, as protobuf's JSON mapping reads it)."""
    if value is None:
        return []
    if type(value) is not list:
        return InvalidEvent("missing_field", f"{where} must be a list, got "
                                             f"{type(value).__name__}")
    return value


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
    resources = doc.get("resourceLogs")
    if type(resources) is not list:
        keys = ", ".join(repr(k)[:40] for k in list(doc)[:8]) or "none"
        return InvalidEvent("missing_field", "'resourceLogs' must be a list (an OTLP/JSON "
                            f"ExportLogsServiceRequest); the record's fields: {keys}")
    out: list[tuple[str, Any, Any]] = []
    for i, res in enumerate(resources):
        where = f"resourceLogs[{i}]"
        if type(res) is not dict:
            return InvalidEvent("not_object", f"{where} must be an object")
        resource = res.get("resource")
        if resource is not None and type(resource) is not dict:
            return InvalidEvent("not_object", f"{where}.resource must be an object")
        attributes = (resource or {}).get("attributes")
        scopes = _list(res.get("scopeLogs"), f"{where}.scopeLogs")
        if isinstance(scopes, InvalidEvent):
            return scopes
        for j, scope in enumerate(scopes):
            at = f"{where}.scopeLogs[{j}]"
            if type(scope) is not dict:
                return InvalidEvent("not_object", f"{at} must be an object")
            records = _list(scope.get("logRecords"), f"{at}.logRecords")
            if isinstance(records, InvalidEvent):
                return records
            out.extend((f"{at}.logRecords[{k}]", rec, attributes)
                       for k, rec in enumerate(records))
    return out


def _int(value: Any, name: str) -> int:
    """An OTLP 64-bit integer: a decimal string in OTLP/JSON, or a JSON number."""
    if type(value) is int:
        return value
    if type(value) is str:
        digits = value[1:] if value[:1] == "-" else value
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:
            return int(value)
    elif type(value) is float and math.isfinite(value) and value.is_integer():
        return int(value)
    raise OtlpFieldError("missing_field", f"{name} must be an integer (a decimal string)")


def _plain(value: Any, name: str) -> Any:
    """An AnyValue as the plain JSON value it holds (kvlist: an object, array: a list,
    bytes: its base64 text, an empty AnyValue: null)."""
    if type(value) is not dict:
        raise OtlpFieldError("missing_field", f"{name} must be an AnyValue object")
    if not value:
        return None
    if len(value) != 1:
        raise OtlpFieldError("missing_field", f"{name} must hold one value, got "
                                              f"{', '.join(sorted(value))[:80]}")
    kind, v = next(iter(value.items()))
    if kind in ("stringValue", "bytesValue") and type(v) is str:
        return v
    if kind == "intValue":
        return _int(v, f"{name}.intValue")
    if kind == "boolValue" and type(v) is bool:
        return v
    if kind == "doubleValue":
        if type(v) in (int, float):
            return float(v)
        if v in ("NaN", "Infinity", "-Infinity"):  # protobuf's JSON mapping of a double
            return float(v)
    if kind == "arrayValue" and type(v) is dict and type(v.get("values", [])) is list:
        return [_plain(x, f"{name}.arrayValue.values[{i}]")
                for i, x in enumerate(v.get("values") or [])]
    if kind == "kvlistValue" and type(v) is dict and type(v.get("values", [])) is list:
        out = {}
        for i, kv in enumerate(v.get("values") or []):
            at = f"{name}.kvlistValue.values[{i}]"
            if type(kv) is not dict or type(kv.get("key")) is not str:
                raise OtlpFieldError("missing_field", f"{at} must be an object with a string "
                                                      f"'key'")
            out[kv["key"]] = _plain(kv.get("value") or {}, f"{at}.value")
        return out
    raise OtlpFieldError("missing_field", f"{name}: {kind!r:.40} is no AnyValue kind, or holds "
                                          f"the wrong type")


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
    plain = _plain(body, name)
    if plain is None:
        raise OtlpFieldError("missing_field", f"{name} is empty (no message)")
    if isinstance(plain, str):
        return plain
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, float):
        return repr(plain)
    if isinstance(plain, int):
        return str(plain)
    return json.dumps(plain, ensure_ascii=False)


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
    n = _int(number, "'severityNumber'")
    if 1 <= n <= 4 * len(SEVERITY_NAMES):
        return SEVERITY_NAMES[(n - 1) // 4]
    return "" if n == 0 else str(n)


def nanos(value: Any, name: str = "timeUnixNano") -> int | None:
    """A time field (``timeUnixNano``, ``observedTimeUnixNano``): nanoseconds since the
    epoch as an int, from a decimal string or a JSON number; None where it is absent or 0
    (OTLP's "unknown"). A value of another shape raises, as a ``bad_timestamp``.

    >>> nanos("1700000000123456789"), nanos(0), nanos("0"), nanos(None)
    (1700000000123456789, None, None, None)
    """
    if type(value) is not bool and (value is None or value == 0 or value == "0"):
        return None
    try:
        n = _int(value, "")
    except OtlpFieldError:
        n = -1
    if n < 0 or type(value) is bool:
        raise OtlpFieldError("bad_timestamp", f"{name!r} {value!r:.40} is not nanoseconds "
                                              f"since the epoch (a decimal string)")
    return n


def attribute(attributes: Any, key: str, where: str) -> str | None:
    """The value of attribute ``key`` of an attributes list (``[{"key": k, "value":
    AnyValue}]``) as an entity name: a string, or an integer in digits; None where there is
    no such attribute (a null value counts as none). ``where``: the place of the object that
    holds the list (a resource), or ``""`` for the log record being read, whose place the
    parser puts before the detail.

    >>> attribute([{"key": "service.name", "value": {"stringValue": "api"}}], "service.name", "")
    'api'
    >>> attribute([{"key": "node", "value": {"intValue": "7"}}], "node", ""), attribute(None, "x", "")
    ('7', None)
    """
    name = f"{where}.attributes" if where else "'attributes'"
    found = _list(attributes, name)
    if isinstance(found, InvalidEvent):
        raise OtlpFieldError(found.reason, found.detail)
    for i, kv in enumerate(found):
        if type(kv) is not dict:
            raise OtlpFieldError("missing_field", f"{name}[{i}] must be an object")
        if kv.get("key") != key:
            continue
        value = entity_text(_plain(kv.get("value") or {}, f"attribute {key!r}"))
        if value is None:
            return None
        if type(value) is not str or not value:
            raise OtlpFieldError("missing_field", f"attribute {key!r} must be a non-empty "
                                                  f"string")
        return value
    return None
