"""OTLP/JSON, the parts that log and metric batches share (pure): the envelope, AnyValues,
64-bit integers, times and attributes; and the protobuf encoding read as OTLP/JSON.

The OpenTelemetry Collector's ``kafka`` exporter with ``encoding: otlp_json`` writes one
Kafka record per batch, and its ``file`` exporter one such object per line: an
``Export{Logs,Metrics}ServiceRequest`` in the OTLP/JSON encoding (protobuf's JSON mapping:
lowerCamelCase names, 64-bit integers as decimal strings). :func:`batch_items` walks a
document's envelope down to its log records or metrics (a malformed envelope is one
:class:`~anomaly_gan.stream.events.InvalidEvent` for the whole document: how many items it
held is unknown); the readers of one item (:mod:`anomaly_gan.logs.otlp` for log records,
:mod:`anomaly_gan.stream.otlp` for metrics' data points) raise :class:`OtlpFieldError` for
a part of the wrong shape, which becomes that item's invalid event.

The Collector's default encoding, ``otlp_proto``, writes the same request as binary
protobuf: :func:`decode_proto` reads it with the generated classes of
``opentelemetry-proto`` and gives the document its OTLP/JSON encoding holds, so that one
walker reads both. The file exporter with ``format: proto`` writes such requests to a file,
each after its length (:func:`frames`, told from OTLP/JSON lines by :func:`is_framed`); with
``compression: zstd`` each request (an OTLP/JSON document too, with ``format: json``) is a
zstd frame after its length, which :func:`frames` decompresses.

>>> doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "up"}]}]}]}
>>> [(where, item["name"]) for where, item, _ in batch_items(doc, METRICS)]
[('resourceMetrics[0].scopeMetrics[0].metrics[0]', 'up')]
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import re
from collections.abc import Callable, Iterator
from functools import cache
from itertools import chain
from typing import IO, Any, NamedTuple, TypeVar

from anomaly_gan.stream.events import InvalidEvent, entity_text

__all__ = ["CUT_LINE", "CUT_SHORT", "LOGS", "MAX_MESSAGE_BYTES", "METRICS", "FrameError",
           "OtlpFieldError", "Signal", "any_text", "attribute", "batch_items", "collector_file",
           "decode_proto", "frames", "integer",
           "is_framed", "json_cut_short", "json_frames", "nanos", "plain", "repeated"]


class Signal(NamedTuple):
    """The envelope of one OTLP signal: its request, its three levels of lists, and the
    module of opentelemetry-proto that holds the request's generated class."""

    request: str
    resources: str
    scopes: str
    items: str
    module: str


LOGS = Signal("ExportLogsServiceRequest", "resourceLogs", "scopeLogs", "logRecords",
              "opentelemetry.proto.collector.logs.v1.logs_service_pb2")
METRICS = Signal("ExportMetricsServiceRequest", "resourceMetrics", "scopeMetrics", "metrics",
                 "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")


@cache
def _request_class(signal: Signal) -> Any:
    """The generated message class of ``signal``'s request (imported on first use: protobuf
    is loaded only by a service that reads ``otlp_proto``)."""
    return getattr(importlib.import_module(signal.module), signal.request)


def decode_proto(raw: bytes, signal: Signal) -> dict[str, Any] | InvalidEvent:
    """A request in OTLP's protobuf encoding (the Collector's kafka exporter's default,
    ``otlp_proto``) as the document of its OTLP/JSON encoding (protobuf's JSON mapping:
    lowerCamelCase names, 64-bit integers as decimal strings, enums as numbers, bytes as
    base64: also a log record's ``traceId`` and ``spanId``, which OTLP/JSON writes in hex and
    no reader uses), which :func:`batch_items` and the readers of one item walk. A oneof member
    set to its zero (``asDouble: 0.0``, ``boolValue: false``) is kept. Bytes that are no
    such request (a corrupt wire format, a JSON document, known fields of none) are
    ``bad_protobuf``; no bytes at all are an empty request (what protobuf makes of one).

    >>> from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ...     ExportLogsServiceRequest)
    >>> req = ExportLogsServiceRequest()
    >>> req.resource_logs.add().scope_logs.add().log_records.add(
    ...     time_unix_nano=1767225600000000000, severity_number=17).body.string_value = "up"
    >>> decode_proto(req.SerializeToString(), LOGS)  # doctest: +NORMALIZE_WHITESPACE
    {'resourceLogs': [{'scopeLogs': [{'logRecords': [{'timeUnixNano': '1767225600000000000',
      'severityNumber': 17, 'body': {'stringValue': 'up'}}]}]}]}
    >>> print(decode_proto(b'{"resourceLogs": []}', LOGS).detail)
    not an OTLP protobuf ExportLogsServiceRequest: Wire format was corrupt (a JSON document? that is encoding: otlp_json, read with logs.format: otlp_json)
    """
    from google.protobuf.message import DecodeError

    request = _request_class(signal)
    why = ""
    try:
        msg = request.FromString(raw)
    except DecodeError as exc:
        # upb says "Error parsing message with type '<full name>': <why>"
        why = str(exc).rpartition("': ")[2] or type(exc).__name__
    else:
        if raw and not msg.ListFields():  # an empty request is no bytes: these are others
            why = f"{len(raw)} bytes with no {signal.resources}, only unknown fields"
    if why:
        if raw.lstrip()[:1] in (b"{", b"\xef"):  # JSON, maybe after a byte-order mark
            key = "logs.format" if signal is LOGS else "serve.event_format"
            why += f" (a JSON document? that is encoding: otlp_json, read with {key}: otlp_json)"
        return InvalidEvent("bad_protobuf", f"not an OTLP protobuf {signal.request}: {why}")
    doc = _as_json(msg)
    doc.setdefault(signal.resources, [])  # none: proto3 writes no empty list
    return doc


#: What a file of JSON lines whose last line is cut says (after its path and line), ``{closed}``
#: what closes such a file: its writer's rotation
CUT_SHORT = ("cut short: the last line is no complete JSON and ends without a newline (a file "
             "still being written or cut: read a closed file, such as one {closed} closed)")
#: What a file of OTLP/JSON lines whose last line is cut says (after its path and line)
CUT_LINE = CUT_SHORT.format(closed="the file exporter's rotation")

# JSON's tokens (RFC 8259), whitespace before each; a string's and a number's pieces are
# possessive (one way to match each character): no backtracking on a 64 KiB line
_JSON_TOKEN = re.compile(r'[ \t\r\n]*+(?:([{}\[\]:,])|("(?:[^"\\\x00-\x1f]|'
                         r'\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+")|'
                         r'(-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+(?![0-9.eE]))|'
                         r'(true|false|null))')
# What a token cut at the end of the text can be: a string, a number, a literal begun
_JSON_STRING_BEGUN = re.compile(r'[ \t\r\n]*+"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|'
                                r'\\u[0-9a-fA-F]{4})*+(?:\\|\\u[0-9a-fA-F]{0,3})?')
_JSON_VALUE_BEGUN = re.compile(r'[ \t\r\n]*+(?:-|-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]*+)?+'
                               r'(?:[eE][+-]?+[0-9]*+)?+|t|tr|tru|f|fa|fal|fals|n|nu|nul)')


def json_cut_short(line: bytes) -> bool:
    """Whether ``line``, no valid JSON document, is the start of one cut short: what it
    holds is JSON so far and ends early (in a string, a number, a literal, an open object or
    array), not text that no more bytes could make JSON (``hello``, ``{"a":1}}``,
    ``[1,2]x``). A UTF-8 byte-order mark before it is ignored, as the readers ignore it.

    >>> [json_cut_short(t) for t in (b'{"a": "b', b'{"a": [1, 2.', b'{"a": tr', b'{"a"',
    ...                              b'\\xef\\xbb\\xbf{', b'"\\\\u00', b'[1e')]
    [True, True, True, True, True, True, True]
    >>> [json_cut_short(t) for t in (b'hello', b'{"a":1}}', b'[1,2]x', b'{"a" 1', b'{,',
    ...                              b'{"a": 01', b'["\\x01', b'\\xff{')]
    [False, False, False, False, False, False, False, False]
    """
    try:
        text = line.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return False
    # what may come next: "value", "key" (or "}" after "{"), ":", "," (or the container's
    # close), "]" besides a value after "[", nothing after the document
    stack: list[str] = []
    expect, closable = "value", False
    at = 0
    while True:
        m = _JSON_TOKEN.match(text, at)
        if m is None:
            break
        punct, string = m.group(1), m.group(2)
        if expect == "end":
            return False
        if punct in ("}", "]"):
            if not closable or not stack or stack[-1] != punct:
                return False
            stack.pop()
        elif punct == ":":
            if expect != ":":
                return False
            expect, closable = "value", False
            at = m.end()
            continue
        elif punct == ",":
            if expect != "," or not stack:
                return False
            expect, closable = ("key" if stack[-1] == "}" else "value"), False
            at = m.end()
            continue
        elif expect == "key":
            if string is None:
                return False
            expect, closable = ":", False
            at = m.end()
            continue
        elif expect != "value":
            return False
        elif punct in ("{", "["):
            stack.append("}" if punct == "{" else "]")
            expect, closable = ("key" if punct == "{" else "value"), True
            at = m.end()
            continue
        # a value (or a container's close) ends: what follows it
        expect, closable = ("," if stack else "end"), bool(stack)
        at = m.end()
    rest = text[at:]
    if not rest.strip(" \t\r\n"):
        return expect != "end"
    begun = (_JSON_STRING_BEGUN if expect == "key" else
             _JSON_VALUE_BEGUN if expect == "value" else None)
    return bool(begun is not None and (begun.fullmatch(rest) or expect == "value"
                                       and _JSON_STRING_BEGUN.fullmatch(rest)))


class FrameError(ValueError):
    """A file of length-prefixed messages that cannot be cut into them: its detail names
    the message (from 1) and the byte offset of its length prefix."""


_ZSTD = b"\x28\xb5\x2f\xfd"  # a zstd frame's magic number
_CHUNK = 1 << 24  # a message is read in chunks: a corrupt length allocates no 4 GiB
#: The most a compressed message may decompress to: a corrupt or hostile frame (a "zstd
#: bomb": a few KiB that say, or make, gigabytes) is refused before it fills the memory
MAX_MESSAGE_BYTES = 64 << 20


def is_framed(head: bytes) -> bool:
    r"""Whether a file that starts with ``head`` holds the Collector's file exporter's
    ``format: proto`` messages (each after its length, :func:`frames`), not its default
    OTLP/JSON lines. A length prefix is 4 bytes, big-endian: its first byte is 0 for any
    message under 16 MiB and below 9 under 144 MiB, where an OTLP/JSON line starts with
    ``{``, a space or a byte-order mark, and a file compressed whole with its magic number
    (none of those below 9). The exporter's ``compression: zstd`` compresses each message,
    with either format, and frames it so: such a file is framed too.

    >>> is_framed(b"\x00\x00\x01\x2a\x0a"), is_framed(b'{"resourceLogs"'), is_framed(b"")
    (True, False, False)
    """
    return bool(head) and head[0] < 0x09


def collector_file(head: bytes, signal: Signal) -> str:
    r"""How a file that starts with ``head`` (its first 64 bytes, decompressed) is written
    where it is the Collector's file exporter's: ``OTLP/JSON lines`` (the first names
    ``signal``'s resources list), ``protobuf messages each after its 4-byte length`` (the
    first message's field 1, a resources list of either signal) or, with the exporter's
    ``compression: zstd``, ``messages each compressed with zstd after its 4-byte length``;
    else ``''``. A reader of another format says so, not what its own parser makes of it.

    >>> collector_file(b'{"resourceLogs": [', LOGS), collector_file(b'{"a": 1}', LOGS)
    ('OTLP/JSON lines', '')
    >>> collector_file(b"\x00\x00\x01\x2a\x0a\x8c", METRICS)
    'protobuf messages each after its 4-byte length'
    """
    if is_framed(head):
        if head[4:5] == b"\x0a":
            return "protobuf messages each after its 4-byte length"
        if head[4:8] == _ZSTD:
            return "messages each compressed with zstd after its 4-byte length"
        return ""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    listed = b'"' + signal.resources.encode() + b'"'
    return "OTLP/JSON lines" if text[:1] == b"{" and listed in text else ""


def frames(handle: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    r"""``(number from 1, byte offset of its length prefix, message)`` of each message of a
    file of the Collector's file exporter with ``format: proto``: a 4-byte big-endian
    unsigned length, then that many bytes of a protobuf ``Logs`` or ``Metrics`` (the bytes of
    an ``Export{Logs,Metrics}ServiceRequest``, :func:`decode_proto`), until the file ends.
    With the exporter's ``compression: zstd`` each message (a protobuf request, or with
    ``format: json`` an OTLP/JSON document: :func:`json_frames`) is one zstd frame, given
    back decompressed. A file cut inside a length or a message (one still being written, a
    copy cut short, or no such file) is a :class:`FrameError`: no message after it can be
    found; so is a message that starts as a zstd frame and is none (cut or corrupt), or
    that decompresses to more than :data:`MAX_MESSAGE_BYTES`.

    >>> import io
    >>> list(frames(io.BytesIO(b"\x00\x00\x00\x02\x0a\x00\x00\x00\x00\x00")))
    [(1, 0, b'\n\x00'), (2, 6, b'')]
    >>> list(frames(io.BytesIO(b"\x00\x00\x00\x09\x0a\x00")))
    Traceback (most recent call last):
    ...
    anomaly_gan.otlp.FrameError: message 1 at byte 0: cut short: its length prefix says 9 bytes, 2 follow (a file still being written or cut, or no file exporter's format: proto)
    """
    number = offset = 0
    while True:
        prefix = handle.read(4)
        if not prefix:
            return
        number += 1
        at = f"message {number} at byte {offset}"
        if len(prefix) < 4:
            raise FrameError(f"{at}: cut short: {len(prefix)} of the 4 bytes of its length "
                             f"prefix (a file still being written or cut)")
        size = int.from_bytes(prefix, "big")
        chunks, got = [], 0
        while got < size:
            chunk = handle.read(min(size - got, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got < size:
            raise FrameError(f"{at}: cut short: its length prefix says {size} bytes, {got} "
                             f"follow (a file still being written or cut, or no file "
                             f"exporter's format: proto)")
        body = b"".join(chunks)
        yield number, offset, _decompressed(body, at) if body.startswith(_ZSTD) else body
        offset += 4 + size


def _decompressed(frame: bytes, at: str) -> bytes:
    """The message the zstd frame ``frame`` holds (the file exporter writes one per message,
    saying its size); more than :data:`MAX_MESSAGE_BYTES`, or bytes that are no single whole
    frame (extra bytes after it too), are a :class:`FrameError` naming ``at``."""
    import zstandard  # loaded only for a compressed file

    limit = MAX_MESSAGE_BYTES
    over = (f"{at}: the zstd frame decompresses to more than {limit >> 20} MiB, the most a "
            f"message may hold (a corrupt or hostile file)")
    size = -1  # not in the frame's header
    try:
        size = zstandard.frame_content_size(frame)
        if size > limit:  # refused before decompress() allocates it
            raise FrameError(over)
        return zstandard.ZstdDecompressor().decompress(frame, max_output_size=limit,
                                                       allow_extra_data=False)
    except zstandard.ZstdError as exc:
        # with no size in its header, a frame past the limit fails as a cut one does
        if size < 0 and len(_head_of(frame, limit + 1)) > limit:
            raise FrameError(over) from None
        raise FrameError(f"{at}: not a valid zstd frame: {exc}") from None


def _head_of(frame: bytes, most: int) -> bytes:
    """The first ``most`` bytes ``frame`` decompresses to (fewer: all of them, or up to
    where it breaks)."""
    import zstandard

    try:
        return zstandard.ZstdDecompressor().stream_reader(frame).read(most)
    except zstandard.ZstdError:
        return b""


_Framed = TypeVar("_Framed", bound=tuple[Any, bytes])


def json_frames(messages: Iterator[_Framed]) -> tuple[bool, Iterator[_Framed]]:
    r"""Whether the messages of a framed file (``(where, message)`` pairs of :func:`frames`)
    are OTLP/JSON documents, not protobuf requests, and the messages again: the file
    exporter's ``format: json`` with ``compression: zstd`` frames its compressed documents
    as ``format: proto`` frames its requests. A file holds one format, told by its first
    message (read here): a document starts with ``{``, which no request does (a group of
    field 15, which OTLP's requests have none of).

    >>> as_json, again = json_frames(iter([(1, b'{"resourceLogs": []}'), (2, b"{}")]))
    >>> as_json, [n for n, _ in again]
    (True, [1, 2])
    >>> json_frames(iter([(1, b"\x0a\x00")]))[0]
    False
    """
    first = next(messages, None)
    if first is None:
        return False, messages
    return first[1][:1] == b"{", chain([first], messages)


# protobuf's JSON mapping, of the field types OTLP's messages have (no maps, no float32):
# each field's (JSON name, conversion of its value; None: as it is), built on first use
_FIELDS: dict[Any, tuple[str, Callable[[Any], Any] | None]] = {}
_INT64_TYPES = (3, 4, 6, 16, 18)  # FieldDescriptor.TYPE_INT64, UINT64, FIXED64, SFIXED64, SINT64
_DOUBLE, _BYTES, _MESSAGE = 1, 12, 11  # FieldDescriptor.TYPE_DOUBLE, TYPE_BYTES, TYPE_MESSAGE


def _as_json(msg: Any) -> dict[str, Any]:
    """The document protobuf's ``json_format.MessageToDict(msg, use_integers_for_enums=True)``
    gives (the tests hold them equal), at twice its speed: the per-field checks of the
    general mapping are done once per field, not once per value."""
    out = {}
    for field, value in msg.ListFields():  # the fields set, oneof members at zero too
        known = _FIELDS.get(field)
        if known is None:
            known = _FIELDS[field] = _field_json(field)
        name, convert = known
        out[name] = value if convert is None else convert(value)
    return out


def _field_json(field: Any) -> tuple[str, Callable[[Any], Any] | None]:
    one: Callable[[Any], Any] | None = None
    if field.type == _MESSAGE:
        one = _as_json
    elif field.type == _BYTES:
        one = _base64
    elif field.type == _DOUBLE:
        one = _double
    elif field.type in _INT64_TYPES:
        one = str  # a decimal string: a JSON number loses precision past 2**53
    repeated = (field.is_repeated if hasattr(field, "is_repeated")
                else field.label == field.LABEL_REPEATED)
    if not repeated:
        return field.json_name, one
    if one is None:
        return field.json_name, list
    each = one
    return field.json_name, lambda values: [each(v) for v in values]


def _double(value: float) -> float | str:
    if value - value == 0.0:
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


class OtlpFieldError(ValueError):
    """A part of an item has the wrong shape: its ``reason`` and what was expected."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def repeated(value: Any, where: str) -> list[Any] | InvalidEvent:
    """A repeated field: a list, or absent (null: none, as protobuf's JSON mapping reads it)."""
    if value is None:
        return []
    if type(value) is not list:
        return InvalidEvent("missing_field", f"{where} must be a list, got "
                                             f"{type(value).__name__}")
    return value


def batch_items(doc: dict[str, Any], signal: Signal) -> list[tuple[str, Any, Any]] | InvalidEvent:
    """``(where, item, its resource's attributes)`` of every item (a log record, a metric)
    of an OTLP request, in document order; or why the envelope is none (no resources list,
    a resource or scope entry that is no object, a scopes or items entry that is no list).
    An item itself is not looked into here. ``{}`` (or a null list) is an empty request:
    protobuf's JSON mapping leaves an empty list out, as its binary encoding does.

    >>> batch_items({"resourceLogs": [{"scopeLogs": {}}]}, LOGS).detail
    'resourceLogs[0].scopeLogs must be a list, got dict'
    >>> batch_items({}, METRICS), batch_items({"resourceMetrics": None}, METRICS)
    ([], [])
    >>> batch_items({"message": "a json-format line"}, LOGS).detail[:60]
    "'resourceLogs' must be a list (an OTLP/JSON ExportLogsServic"
    """
    resources = doc.get(signal.resources)
    if resources is None and not doc.keys() - {signal.resources}:
        return []  # {}: an empty request in protobuf's JSON mapping (no bytes in protobuf)
    if type(resources) is not list:
        keys = ", ".join(repr(k)[:40] for k in list(doc)[:8]) or "none"
        return InvalidEvent("missing_field", f"{signal.resources!r} must be a list (an "
                            f"OTLP/JSON {signal.request}); the record's fields: {keys}")
    out: list[tuple[str, Any, Any]] = []
    for i, res in enumerate(resources):
        where = f"{signal.resources}[{i}]"
        if type(res) is not dict:
            return InvalidEvent("not_object", f"{where} must be an object")
        resource = res.get("resource")
        if resource is not None and type(resource) is not dict:
            return InvalidEvent("not_object", f"{where}.resource must be an object")
        attributes = (resource or {}).get("attributes")
        scopes = repeated(res.get(signal.scopes), f"{where}.{signal.scopes}")
        if isinstance(scopes, InvalidEvent):
            return scopes
        for j, scope in enumerate(scopes):
            at = f"{where}.{signal.scopes}[{j}]"
            if type(scope) is not dict:
                return InvalidEvent("not_object", f"{at} must be an object")
            items = repeated(scope.get(signal.items), f"{at}.{signal.items}")
            if isinstance(items, InvalidEvent):
                return items
            out.extend((f"{at}.{signal.items}[{k}]", item, attributes)
                       for k, item in enumerate(items))
    return out


def integer(value: Any, name: str) -> int:
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


def plain(value: Any, name: str) -> Any:
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
        return integer(v, f"{name}.intValue")
    if kind == "boolValue" and type(v) is bool:
        return v
    if kind == "doubleValue":
        if type(v) is float:
            return v
        if type(v) is int:
            if -1e300 < v < 1e300:  # as events' integers (non_finite): float() may overflow
                return float(v)
            raise OtlpFieldError("missing_field", f"{name}: 'doubleValue' is an integer out "
                                                  f"of a double's range")
        if v in ("NaN", "Infinity", "-Infinity"):  # protobuf's JSON mapping of a double
            return float(v)
    if kind == "arrayValue" and type(v) is dict and type(v.get("values", [])) is list:
        return [plain(x, f"{name}.arrayValue.values[{i}]")
                for i, x in enumerate(v.get("values") or [])]
    if kind == "kvlistValue" and type(v) is dict and type(v.get("values", [])) is list:
        out = {}
        for i, kv in enumerate(v.get("values") or []):
            at = f"{name}.kvlistValue.values[{i}]"
            if type(kv) is not dict or type(kv.get("key")) is not str:
                raise OtlpFieldError("missing_field", f"{at} must be an object with a string "
                                                      f"'key'")
            out[kv["key"]] = plain(kv.get("value") or {}, f"{at}.value")
        return out
    raise OtlpFieldError("missing_field", f"{name}: {kind!r:.40} is no AnyValue kind, or holds "
                                          f"the wrong type")


def any_text(value: Any) -> str:
    """A :func:`plain` value as compact, deterministic text: a string as it is, an int in
    digits, a double as Python writes it, ``true``/``false``, an array or kvlist as JSON
    (keys in the order given), none as ``""``.

    >>> [any_text(v) for v in ("up", 42, 0.5, False, None, [1, "a"])]
    ['up', '42', '0.5', 'false', '', '[1, "a"]']
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def nanos(value: Any, name: str = "timeUnixNano") -> int | None:
    """A time field (``timeUnixNano``, ``observedTimeUnixNano``): nanoseconds since the
    epoch as an int, from a decimal string or a JSON number; None where it is absent or 0
    (OTLP's "unknown"). A value of another shape, or one that OTLP's unsigned 64 bits do
    not hold, raises, as a ``bad_timestamp``.

    >>> nanos("1700000000123456789"), nanos(0), nanos("0"), nanos("00"), nanos(None)
    (1700000000123456789, None, None, None, None)
    """
    if type(value) is not bool and (value is None or value == 0 or value == "0"):
        return None
    try:
        n = integer(value, "")
    except OtlpFieldError:
        n = -1
    # OTLP's time fields are fixed64: 2**64 ns and more (after 2554-07-21) cannot be sent in
    # protobuf, and a 21-digit string was refused where the same JSON number was read; nor
    # has one a minus sign ("-0" was read as 0 until 2026-12-07)
    if n < 0 or n >= 2**64 or type(value) is bool or (type(value) is str
                                                      and value[:1] == "-"):
        # quoted with its credentials as <SECRET>, as a refused log line's (imported here:
        # anomaly_gan.logs imports this module)
        from anomaly_gan.logs.secrets import quote_redacted

        raise OtlpFieldError("bad_timestamp", f"{name!r} {quote_redacted(value, 40)} is not nanoseconds "
                                              f"since the epoch (a decimal string, below 2**64)")
    # 0 however written ("00") is "unknown" too: it was read as the time 1970-01-01
    return n or None


def attribute(attributes: Any, key: str, where: str) -> str | None:
    """The value of attribute ``key`` of an attributes list (``[{"key": k, "value":
    AnyValue}]``) as an entity name: a string, or an integer in digits; None where there is
    no such attribute (a null value counts as none). ``where``: the place of the object that
    holds the list (a resource), which an error names, or ``""`` for the item being read,
    whose place the parser puts before the detail.

    >>> attribute([{"key": "service.name", "value": {"stringValue": "api"}}], "service.name", "")
    'api'
    >>> attribute([{"key": "node", "value": {"intValue": "7"}}], "node", ""), attribute(None, "x", "")
    ('7', None)
    """
    name = f"{where}.attributes" if where else "'attributes'"
    found = repeated(attributes, name)
    if isinstance(found, InvalidEvent):
        raise OtlpFieldError(found.reason, found.detail)
    # a resource's value is named as the resource's: after the item's place, it read as the
    # item's own attribute (until 2026-12-07)
    holder = f"{name}: " if where else ""
    for i, kv in enumerate(found):
        if type(kv) is not dict:
            raise OtlpFieldError("missing_field", f"{name}[{i}] must be an object")
        if kv.get("key") != key:
            continue
        value = entity_text(plain(kv.get("value") or {}, f"{holder}attribute {key!r}"))
        if value is None:
            return None
        if type(value) is not str or not value:
            raise OtlpFieldError("missing_field", f"{holder}attribute {key!r} must be a "
                                                  f"non-empty string")
        return value
    return None
