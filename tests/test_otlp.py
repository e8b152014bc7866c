"""decode_proto: OTLP's protobuf encoding (the Collector kafka exporter's default,
otlp_proto) read as the document of its OTLP/JSON encoding, which the one walker reads."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from anomaly_gan.otlp import (
    LOGS,
    MAX_MESSAGE_BYTES,
    METRICS,
    FrameError,
    _as_json,
    decode_proto,
    frames,
    is_framed,
    json_frames,
)
from anomaly_gan.stream.events import InvalidEvent
from tests.support.otlp import (
    ExportLogsServiceRequest,
    ExportMetricsServiceRequest,
    framed,
    to_proto,
    zstd_framed,
)

NS = 1767225600 * 10**9


def test_a_metric_request_reads_as_its_otlp_json_document():
    """lowerCamelCase names, 64-bit integers as decimal strings, a oneof member set to its
    zero kept (asDouble 0.0, asInt 0, boolValue false, an empty string), an empty AnyValue
    as {}, bytes as base64, enums as numbers; a histogram is there for the walker to skip."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="host.name", value=AnyValue(string_value="web-1"))
    metrics = rm.scope_metrics.add().metrics
    gauge = metrics.add(name="load").gauge
    gauge.data_points.add(time_unix_nano=NS, as_double=0.0)
    attrs = gauge.data_points.add(time_unix_nano=NS, as_int=0).attributes
    for key, value in (("b", AnyValue(bool_value=False)), ("i", AnyValue(int_value=0)),
                       ("s", AnyValue(string_value="")), ("d", AnyValue(double_value=0.0)),
                       ("e", AnyValue()), ("by", AnyValue(bytes_value=b"\x00\xff"))):
        attrs.add(key=key, value=value)
    total = metrics.add(name="requests").sum
    total.aggregation_temporality = 2
    total.is_monotonic = True
    total.data_points.add(time_unix_nano=NS, as_int=-9007199254740993)
    metrics.add(name="latency").histogram.data_points.add(time_unix_nano=NS, count=3)

    doc = decode_proto(req.SerializeToString(), METRICS)
    ts = str(NS)
    assert doc == {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "web-1"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "load", "gauge": {"dataPoints": [
                {"timeUnixNano": ts, "asDouble": 0.0},
                {"timeUnixNano": ts, "asInt": "0", "attributes": [
                    {"key": "b", "value": {"boolValue": False}},
                    {"key": "i", "value": {"intValue": "0"}},
                    {"key": "s", "value": {"stringValue": ""}},
                    {"key": "d", "value": {"doubleValue": 0.0}},
                    {"key": "e", "value": {}},
                    {"key": "by", "value": {"bytesValue": "AP8="}}]}]}},
            {"name": "requests", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                         "dataPoints": [{"timeUnixNano": ts,
                                                         "asInt": "-9007199254740993"}]}},
            {"name": "latency", "histogram": {"dataPoints": [{"timeUnixNano": ts,
                                                              "count": "3"}]}}]}]}]}
    assert to_proto(doc) == req.SerializeToString()  # the same message, both ways
    assert doc == MessageToDict(req, use_integers_for_enums=True)


def test_a_log_records_trace_and_span_ids_are_base64_and_read_by_nothing():
    """protobuf's JSON mapping writes bytes as base64 where OTLP/JSON writes traceId and
    spanId in hex: no reader of a log record uses them, so the difference changes nothing."""
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add(
        time_unix_nano=NS, severity_number=17, trace_id=bytes(range(16)),
        span_id=bytes(range(8)), flags=1)
    rec.body.string_value = "db timeout"
    ((record,),) = [s["logRecords"] for r in decode_proto(req.SerializeToString(), LOGS)
                    ["resourceLogs"] for s in r["scopeLogs"]]
    assert record == {"timeUnixNano": str(NS), "severityNumber": 17, "flags": 1,
                      "body": {"stringValue": "db timeout"},
                      "traceId": "AAECAwQFBgcICQoLDA0ODw==", "spanId": "AAECAwQFBgc="}


def test_no_bytes_are_an_empty_request_and_other_bytes_are_bad_protobuf():
    """protobuf writes an empty request as no bytes: a batch of nothing. A JSON document
    (the Collector's encoding: otlp_json), a corrupt wire format and bytes whose fields the
    request does not have are each one bad_protobuf, its detail one line naming the
    request."""
    assert decode_proto(b"", METRICS) == {"resourceMetrics": []}
    assert decode_proto(b"", LOGS) == {"resourceLogs": []}
    json_doc = decode_proto(b'{"resourceMetrics": []}', METRICS)
    assert json_doc == InvalidEvent(
        "bad_protobuf", "not an OTLP protobuf ExportMetricsServiceRequest: Wire format was "
                        "corrupt (a JSON document? that is encoding: otlp_json, read with "
                        "serve.event_format: otlp_json)")
    good = to_proto({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "x" * 40}}]}]}]})
    cut = decode_proto(good[:-5], LOGS)
    assert cut.reason == "bad_protobuf" and cut.detail.startswith(
        "not an OTLP protobuf ExportLogsServiceRequest: ")
    other = decode_proto(b"\x10\x07", LOGS)  # field 2, a varint: no such field
    assert other == InvalidEvent("bad_protobuf", "not an OTLP protobuf ExportLogsServiceRequest"
                                                 ": 2 bytes with no resourceLogs, only unknown "
                                                 "fields")
    for bad in (json_doc, cut, other):
        assert "\n" not in bad.detail


# ---------------------------------------------------------------- property: never an exception

_METRICS = to_proto({"resourceMetrics": [{"resource": {"attributes": [
    {"key": "host.name", "value": {"stringValue": "web-1"}}]}, "scopeMetrics": [{"metrics": [
        {"name": "up", "gauge": {"dataPoints": [
            {"timeUnixNano": str(NS), "asDouble": 1.0, "attributes": [
                {"key": "cpu", "value": {"kvlistValue": {"values": [
                    {"key": "k", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}]}}}]}]}},
        {"name": "up", "sum": {"dataPoints": [{"timeUnixNano": str(NS), "asInt": "3"}]}}]}]}]})
_LOGS = to_proto({"resourceLogs": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "api"}}]}, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(NS), "severityNumber": 17, "body": {"stringValue": "db timeout"},
         "attributes": [{"key": "k", "value": {"intValue": "7"}}]},
        {"observedTimeUnixNano": str(NS), "body": {"kvlistValue": {"values": []}}}]}]}]})


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid request cut short, with bytes replaced or put in: mostly wire formats that
    are almost right, which random bytes seldom are."""
    raw = bytearray(draw(st.sampled_from([_METRICS, _LOGS])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["cut", "set", "insert"]))
        if op == "cut":
            del raw[at:]
        elif op == "set" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=6))
    return bytes(raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), _mutated()))
def test_any_bytes_are_events_or_reasons_never_an_exception(raw):
    """Whatever bytes an otlp_proto topic holds, both parsers give events and invalid
    events with a reason (bad_protobuf for no request), never an exception: one Kafka
    record must never stop serve."""
    from anomaly_gan.logs.events import LOG_INVALID_REASONS, LogEvent, LogParser
    from anomaly_gan.stream.events import INVALID_REASONS, PartialEvent
    from anomaly_gan.stream.otlp import MetricBatchParser

    metrics = MetricBatchParser(("up", "up{cpu={\"k\": [1]}}"), unknown_features="ignore",
                                format="otlp_proto")
    for ev in metrics.parse_many(raw):
        assert type(ev) is PartialEvent or (type(ev) is InvalidEvent and ev.detail
                                            and ev.reason in INVALID_REASONS), ev
    for ev in LogParser(format="otlp_proto", entity="x").parse_record_many(raw):
        assert type(ev) is LogEvent or (type(ev) is InvalidEvent and ev.detail
                                        and ev.reason in LOG_INVALID_REASONS), ev
        assert type(ev) is not InvalidEvent or ev.reason != "unprocessable"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_the_document_is_protobufs_own_json_mapping(raw):
    """decode_proto's faster conversion gives what json_format.MessageToDict gives, for
    any request that decodes (doubles of any bits: NaN and infinities as their names;
    bytes as base64; unknown enum numbers)."""
    for request in (ExportMetricsServiceRequest, ExportLogsServiceRequest):
        try:
            msg = request.FromString(raw)
        except DecodeError:
            continue
        assert _as_json(msg) == MessageToDict(msg, use_integers_for_enums=True)


# ---------------------------------------------------------------- the file exporter's files


def test_a_file_of_metric_and_log_messages_reads_back_message_by_message():
    """The file exporter's format: proto, metrics or logs: each request after its 4-byte
    big-endian length; frames gives each back with its number and byte offset, and
    decode_proto reads each as the request's OTLP/JSON document. An OTLP/JSON line, a
    byte-order mark or a compressed file is never taken for such a file."""
    import io

    for signal, request in _requests():
        raw = request.SerializeToString()
        data = framed(raw, b"", raw)
        assert is_framed(data[:4])
        got = list(frames(io.BytesIO(data)))
        assert [(n, at) for n, at, _ in got] == [(1, 0), (2, 4 + len(raw)), (3, 8 + len(raw))]
        want = MessageToDict(request, use_integers_for_enums=True)
        assert [decode_proto(m, signal) for _, _, m in got] == \
            [want, {signal.resources: []}, want]
    for text in (b'{"resourceLogs": []}\n', b"\xef\xbb\xbf{", b" {", b"\t{", b"\x1f\x8b\x08",
                 b"\x28\xb5\x2f\xfd", b""):
        assert not is_framed(text), text


@pytest.mark.parametrize("data, detail", [
    (b"\x00\x00", "message 1 at byte 0: cut short: 2 of the 4 bytes of its length prefix"),
    (b"\x00\x00\x00\x01\x0a\xff\xff\xff\xff",
     "message 2 at byte 5: cut short: its length prefix says 4294967295 bytes, 0 follow"),
    (b"\x00\x00\x00\x05\x28\xb5\x2f\xfd\x00",
     "message 1 at byte 0: not a valid zstd frame: "),
])
def test_a_file_that_cannot_be_cut_into_messages_names_the_message_and_byte(data, detail):
    import io

    with pytest.raises(FrameError) as err:
        list(frames(io.BytesIO(data)))
    assert str(err.value).startswith(detail) and "\n" not in str(err.value)


def _requests():
    metrics = ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    rm.resource.attributes.add(key="host.name", value=AnyValue(string_value="web-1"))
    rm.scope_metrics.add().metrics.add(name="load").gauge.data_points.add(
        time_unix_nano=NS, as_double=0.5)
    logs = ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add(
        time_unix_nano=NS).body.string_value = "up"
    return ((METRICS, metrics), (LOGS, logs))


def test_a_zstd_compressed_file_gives_the_messages_of_the_same_file_uncompressed():
    """The file exporter's compression: zstd (each message one zstd frame, then framed) was
    refused: its messages are now those of the uncompressed file, numbered the same, each
    at the byte its length starts at; with format: json the messages are OTLP/JSON
    documents, which json_frames tells from protobuf by the first."""
    import io
    import json

    for _, request in _requests():
        raw = request.SerializeToString()
        doc = json.dumps(MessageToDict(request, use_integers_for_enums=True))
        for messages, as_json in (((raw, b"", raw), False), ((doc, doc), True)):
            data = zstd_framed(*messages)
            assert is_framed(data[:4]) and data[4:8] == b"\x28\xb5\x2f\xfd"
            got = list(frames(io.BytesIO(data)))
            sizes = [int.from_bytes(data[at:at + 4], "big") for _, at, _ in got]
            assert [at for _, at, _ in got] == [sum(4 + k for k in sizes[:i])
                                                for i in range(len(got))]
            plain = [(n, m) for n, _, m in frames(io.BytesIO(framed(
                *(m.encode() if isinstance(m, str) else m for m in messages))))]
            assert [(n, m) for n, _, m in got] == plain
            told, again = json_frames(iter(plain))
            assert told is as_json and list(again) == plain


def test_a_cut_corrupt_or_padded_zstd_message_names_the_message_and_byte():
    """A compressed message cut short (its length prefix fixed up: the framing holds), one
    whose bytes changed (its checksum no longer matches), or one with bytes after its frame
    is one line naming the message and its byte, as a cut file is."""
    import io

    raw = _requests()[1][1].SerializeToString() * 50
    good = zstd_framed(raw)[4:]
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # the checksum
    for message, why in ((good[:-9], "not a valid zstd frame: "),
                         (bytes(bad), "not a valid zstd frame: "),
                         (good + b"\x00", "not a valid zstd frame: ")):
        data = framed(raw, message)
        with pytest.raises(FrameError) as err:
            list(frames(io.BytesIO(data)))
        assert str(err.value).startswith(f"message 2 at byte {4 + len(raw)}: {why}"), err.value
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("sized", [True, False])
def test_a_zstd_bomb_is_refused_before_it_fills_the_memory(sized):
    """A few KiB that decompress past MAX_MESSAGE_BYTES: refused by the size its header
    says before anything is allocated, or, with no size there, once that much came out."""
    import io

    import zstandard

    bomb = zstandard.ZstdCompressor(level=1, write_content_size=sized).compress(
        bytes(MAX_MESSAGE_BYTES + 1))
    assert len(bomb) < 1 << 16
    with pytest.raises(FrameError) as err:
        list(frames(io.BytesIO(framed(b"", bomb))))
    assert str(err.value) == (
        "message 2 at byte 4: the zstd frame decompresses to more than 64 MiB, the most a "
        "message may hold (a corrupt or hostile file)")
    whole = zstandard.ZstdCompressor(level=1, write_content_size=sized).compress(
        bytes(MAX_MESSAGE_BYTES))  # up to the limit: read
    (_, _, message), = frames(io.BytesIO(framed(whole)))
    assert len(message) == MAX_MESSAGE_BYTES


def test_json_cut_short_is_every_prefix_of_a_json_document_and_no_bad_text():
    """Every proper prefix of a JSON document (300 seeded random documents, every cut) is
    JSON cut short; one with a character after it that JSON has nowhere outside a string
    (those before a string is opened), or a whole document with more after it, is not."""
    import json
    import random

    from anomaly_gan.otlp import json_cut_short

    rng = random.Random(7)

    def value(depth: int):
        pick = rng.random()
        if depth > 3 or pick < 0.4:
            return rng.choice([0, -12, 3.5, -1.25e-7, 1e300, True, False, None, "",
                               "a\"b\\c\u00e9\n\x01", "日本"])
        if pick < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["a", "b\\", "k\"", "é"]): value(depth + 1)
                for _ in range(rng.randint(0, 4))}

    cuts = 0
    for _ in range(300):
        doc = json.dumps(value(0), ensure_ascii=rng.random() < 0.5,
                         separators=rng.choice([(",", ":"), (", ", ": ")]))
        for end in range(len(doc)):
            prefix = doc[:end]
            try:
                json.loads(prefix)
                continue  # a whole document already ("1" of "12")
            except ValueError:
                pass
            assert json_cut_short(prefix.encode()), prefix
            cuts += 1
            if '"' not in prefix:
                for junk in ("x", "#", ":,", "]}"):
                    assert not json_cut_short((prefix + junk).encode()), prefix + junk
        for junk in ("x", "}", " 1", ","):
            assert not json_cut_short((doc + junk).encode()), doc + junk
    assert cuts > 5000
