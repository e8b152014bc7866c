"""serve.event_format: otlp_json and otlp_proto: OpenTelemetry's metric batches in OTLP/JSON
or protobuf, one value per gauge or sum data point, assembled into whole events
(serve.assemble_seconds)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomaly_gan.config import ServeConfig
from anomaly_gan.otlp import METRICS
from anomaly_gan.stream.events import INVALID_REASONS, InvalidEvent, PartialEvent
from anomaly_gan.stream.otlp import MetricBatchParser
from tests.support.fuzz import JSON, encoded, otlp_document
from tests.support.otlp import ExportMetricsServiceRequest, to_proto

T0 = 1767225600  # 2026-01-01T00:00:00Z
NS = str(T0 * 10**9)
FEATURES = ("system.memory.utilization{state=used}", "system.cpu.load_average.1m",
            "http.server.requests")


def kv(key, value):
    if isinstance(value, str):
        value = {"stringValue": value}
    return {"key": key, "value": value}


def point(value=0.5, ts=NS, **attributes):
    p = {"timeUnixNano": ts, **({"asDouble": value} if value is not None else {})}
    if attributes:
        p["attributes"] = [kv(k, v) for k, v in attributes.items()]
    return p


def gauge(name, *points):
    return {"name": name, "unit": "1", "gauge": {"dataPoints": list(points)}}


def batch(*metrics, host="web-1", resources=None):
    """An ExportMetricsServiceRequest: the metrics under one resource (or ``resources``:
    [(host, [metrics])])."""
    resources = resources or [(host, list(metrics))]
    return json.dumps({"resourceMetrics": [
        {"resource": {"attributes": [kv("host.name", h)] if h else []},
         "scopeMetrics": [{"scope": {"name": "hostmetrics"}, "metrics": ms}]}
        for h, ms in resources]}).encode()


def parse(doc, features=FEATURES, **kwargs):
    return MetricBatchParser(features, **kwargs).parse_many(doc)


def _hostmetrics() -> dict:
    """A hostmetrics-like batch: a gauge with attributes, one without, a sum of asInt and a
    histogram (not read)."""
    return batch(
        gauge("system.memory.utilization", point(0.41, state="used"),
              point(0.59, state="free")),
        gauge("system.cpu.load_average.1m", point(0.7)),
        {"name": "http.server.requests", "sum": {
            "aggregationTemporality": 1, "isMonotonic": True,
            "dataPoints": [{"asInt": "9007199254740993", "timeUnixNano": NS,
                            "startTimeUnixNano": "1"}]}},
        {"name": "http.server.duration", "histogram": {"dataPoints": [
            {"timeUnixNano": NS, "count": "3", "bucketCounts": ["1", "2"]}]}})


def test_the_hostmetrics_example_gives_a_value_per_data_point_of_a_gauge_or_a_sum():
    """The metric name, then the data point's attributes in braces, names the feature;
    asInt as a decimal string is exact; a histogram and a metric the model does not read
    (unknown_features: ignore) are left out."""
    doc = _hostmetrics()
    assert parse(doc, unknown_features="ignore") == [
        PartialEvent("web-1", float(T0), {0: 0.41}),
        PartialEvent("web-1", float(T0), {1: 0.7}),
        PartialEvent("web-1", float(T0), {2: 9007199254740993}),  # beyond a double: exact
    ]


def test_attributes_are_sorted_by_key_and_written_as_text_without_quotes():
    features = ("system.cpu.time{cpu=cpu0,state=user}", "m{big=7,ok=true,ratio=0.5}")
    doc = batch(gauge("system.cpu.time", point(1.0, state="user", cpu="cpu0")),
                gauge("m", point(2.0, ratio={"doubleValue": 0.5}, ok={"boolValue": True},
                                 big={"intValue": "7"})))
    assert [ev.values for ev in parse(doc, features)] == [{0: 1.0}, {1: 2.0}]


@pytest.mark.parametrize(("fields", "value"), [
    ({"asDouble": 3}, 3), ({"asDouble": -0.25}, -0.25), ({"asInt": "-12"}, -12),
    ({"asInt": 12}, 12), ({"asInt": "0"}, 0), ({"asDouble": 0.0}, 0.0),
])
def test_the_value_is_as_double_or_as_int_exactly(fields, value):
    (ev,) = parse(batch(gauge("up", {"timeUnixNano": NS, **fields})), ("up",))
    assert ev.values == {0: value} and type(ev.values[0]) is type(value)


@pytest.mark.parametrize(("fields", "reason", "detail"), [
    ({"asDouble": "NaN"}, "non_finite", "'asDouble' is NaN or infinite"),
    ({"asDouble": "-Infinity"}, "non_finite", "'asDouble' is NaN or infinite"),
    ({"asDouble": "0.5"}, "non_finite", "'asDouble' '0.5' is not a number"),
    ({"asDouble": True}, "non_finite", "'asDouble' True is not a number"),
    ({"asInt": "1.5"}, "non_finite", "'asInt' '1.5' is not an integer (a decimal string)"),
    # quoted with its credentials as <SECRET>, as a refused log line's field
    ({"asDouble": "token=hunter2x"}, "non_finite", "'asDouble' 'token=<SECRET>' is not a number"),
    ({"asInt": "pwd=hunter2x"}, "non_finite",
     "'asInt' 'pwd=<SECRET>' is not an integer (a decimal string)"),
    ({}, "missing_field", "'asDouble' or 'asInt' is missing"),
    ({"asDouble": 1.0, "asInt": "1"}, "missing_field", "holds both 'asDouble' and 'asInt'"),
])
def test_a_bad_value_is_invalid_and_named_by_its_place(fields, reason, detail):
    """The data point is named by its place in the document; the others are read."""
    doc = batch(gauge("system.cpu.load_average.1m", point(0.7)),
                gauge("system.memory.utilization", point(0.4, state="free")),
                gauge("system.memory.utilization", {"timeUnixNano": NS, **fields,
                                                    "attributes": [kv("state", "used")]}),
                gauge("http.server.requests", point(3.0)))
    events = parse(doc, unknown_features="ignore")
    assert events[0] == PartialEvent("web-1", float(T0), {1: 0.7})
    assert events[1] == InvalidEvent(reason, "resourceMetrics[0].scopeMetrics[0].metrics[2]"
                                             f".gauge.dataPoints[0]: {detail}")
    assert events[2] == PartialEvent("web-1", float(T0), {2: 3.0})


def test_the_entity_is_the_data_points_attribute_then_the_resources():
    """The entity attribute of a data point wins and is no part of the feature's name; an
    intValue is its digits; serve.otlp_entity names another attribute."""
    doc = batch(resources=[
        ("web-1", [gauge("up", point(1.0), point(2.0, **{"host.name": "web-9"}))]),
        (None, [gauge("up", point(3.0, **{"host.name": {"intValue": "7"}}), point(4.0))])])
    events = parse(doc, ("up",))
    assert [(ev.entity, ev.values) for ev in events[:3]] == \
        [("web-1", {0: 1.0}), ("web-9", {0: 2.0}), ("7", {0: 3.0})]
    assert events[3] == InvalidEvent("missing_field", "resourceMetrics[1].scopeMetrics[0]."
                                     "metrics[0].gauge.dataPoints[1]: no 'host.name' attribute "
                                     "on the data point or its resource (serve.otlp_entity)")
    svc = json.dumps({"resourceMetrics": [{"resource": {"attributes": [
        kv("service.name", "api"), kv("host.name", "web-1")]}, "scopeMetrics": [
        {"metrics": [gauge("up", point(1.0, **{"host.name": "web-2"}))]}]}]}).encode()
    # host.name is then an attribute like any other: part of the name
    assert parse(svc, ("up{host.name=web-2}",), otlp_entity="service.name") == \
        [PartialEvent("api", float(T0), {0: 1.0})]


@pytest.mark.parametrize(("entity", "reason", "detail"), [
    ("web-1\n2026 forged", "bad_entity", "'host.name' 'web-1\\n2026 forged' holds U+000A"),
    ("w" * 600, "oversized", "'host.name' is 600 bytes > max_entity_bytes 512"),
    ({"boolValue": True}, "missing_field", "attribute 'host.name' must be a non-empty string"),
])
def test_an_entity_is_checked_as_every_formats_is(entity, reason, detail):
    (bad,) = parse(batch(gauge("up", point(1.0)), host=entity), ("up",))
    assert bad.reason == reason and detail in bad.detail, bad


@pytest.mark.parametrize(("value", "detail"), [
    ({"boolValue": True}, "attribute 'host.name' must be a non-empty string"),
    ({"fooValue": 1}, ("attribute 'host.name': 'fooValue' is no AnyValue kind, or holds the "
                       "wrong type")),
])
def test_a_bad_entity_of_the_resource_is_named_as_the_resources(value, detail):
    """The data point's place came before a bad value of its resource's host.name, with
    nothing to say it was the resource's: the data point, which has no host.name, read as
    the fault. The detail names the resource's attributes; a data point's own is as it was."""
    (bad,) = parse(batch(gauge("up", point(1.0)), host=value), ("up",))
    assert bad == InvalidEvent("missing_field", "resourceMetrics[0].scopeMetrics[0].metrics[0]"
                                                ".gauge.dataPoints[0]: resourceMetrics[0]."
                                                f"resource.attributes: {detail}")
    (bad,) = parse(batch(gauge("up", point(1.0, **{"host.name": value}))), ("up",))
    assert bad.detail == f"resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: {detail}"


@pytest.mark.parametrize(("ts", "reason", "detail"), [
    (None, "missing_field", "'timeUnixNano' is missing (or 0)"),
    ("0", "missing_field", "'timeUnixNano' is missing (or 0)"),
    # 0 however written is OTLP's "unknown" (until 2026-12-07 "00" was 1970-01-01), and a
    # minus sign no fixed64 has, as the spec fuzz's reference reads them
    ("00", "missing_field", "'timeUnixNano' is missing (or 0)"),
    ("-0", "bad_timestamp", "'timeUnixNano' '-0' is not nanoseconds since the epoch"),
    ("noon", "bad_timestamp", "'timeUnixNano' 'noon' is not nanoseconds since the epoch"),
    (300_000_000_000 * 10**9, "bad_timestamp", ("is not nanoseconds since the epoch (a "
                                                "decimal string, below 2**64)")),
    (str((T0 + 86_400) * 10**9), "future_timestamp", "is more than the allowed clock skew"),
])
def test_the_time_is_time_unix_nano_or_the_point_is_invalid(ts, reason, detail):
    p = MetricBatchParser(("up",))
    p.not_after = T0 + 300.0
    (bad,) = p.parse_many(batch(gauge("up", point(1.0, ts=ts))))
    assert bad.reason == reason and detail in bad.detail, bad
    ns = T0 * 10**9 + 123_456_789
    (ev,) = p.parse_many(batch(gauge("up", point(1.0, ts=ns))))  # a JSON number too
    assert ev.ts == ns / 10**9  # exact division: no float of the 19 digits first


def test_unknown_metrics_are_rejected_or_left_out_and_a_batch_of_none_says_which_it_held():
    doc = batch(gauge("system.memory.utilization", point(0.4, state="used"),
                      point(0.6, state="free")),
                gauge("system.paging.usage", point(1.0)))
    rejected = parse(doc)
    assert [type(ev) for ev in rejected] == [PartialEvent, InvalidEvent, InvalidEvent]
    assert rejected[1].reason == "unknown_feature"
    assert rejected[1].detail.startswith(
        "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1]: unknown feature "
        "'system.memory.utilization{state=free}'; expected some of [")
    assert parse(doc, unknown_features="ignore") == \
        [PartialEvent("web-1", float(T0), {0: 0.4})]
    others = batch(gauge("system.paging.usage", point(1.0, direction="in")))
    assert parse(others, unknown_features="ignore") == [InvalidEvent(
        "missing_feature", "none of the batch's data points is of the model's features; "
        f"expected some of {list(FEATURES)}, got ['system.paging.usage{{direction=in}}']")]
    # no data points at all, or a staleness marker: nothing, and nothing wrong
    assert parse(batch()) == [] and parse(b'{"resourceMetrics": []}') == []
    stale = {**point(None), "flags": 1}
    assert parse(batch(gauge("system.cpu.load_average.1m", stale)),
                 unknown_features="ignore") == []


@pytest.mark.parametrize("unknown", ["reject", "ignore"])
def test_a_staleness_marker_of_a_feature_the_model_does_not_know_is_left_out_uncounted(unknown):
    """A NO_RECORDED_VALUE point holds no value, whatever its feature (docs: "Not read"):
    no unknown_feature dead letter with reject, no missing_feature batch with ignore (found
    by test_otlp_parse_spec_fuzz.py, seed 0)."""
    stale = {**point(None, state="offline"), "flags": 1}
    alone = batch(gauge("system.memory.utilization", stale))
    assert parse(alone, unknown_features=unknown) == []
    beside = batch(gauge("system.memory.utilization", stale, point(0.4, state="used")))
    assert parse(beside, unknown_features=unknown) == [PartialEvent("web-1", float(T0),
                                                                    {0: 0.4})]


@pytest.mark.parametrize(("raw", "reason", "detail"), [
    (b"\xff\xfe{", "not_utf8", "not UTF-8"),
    (b"{nope", "bad_json", "not valid JSON"),
    (b"[]", "not_object", "expected a JSON object"),
    (b'{"entity": "a", "ts": 1, "values": {"up": 1}}', "missing_field",
     ("'resourceMetrics' must be a list (an OTLP/JSON ExportMetricsServiceRequest); the "
     "record's fields: 'entity', 'ts', 'values'")),
    (b'{"resourceMetrics": [5]}', "not_object", "resourceMetrics[0] must be an object"),
    (b'{"resourceMetrics": [{"scopeMetrics": "x"}]}', "missing_field",
     "resourceMetrics[0].scopeMetrics must be a list, got str"),
    (b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": {}}]}]}', "missing_field",
     "resourceMetrics[0].scopeMetrics[0].metrics must be a list, got dict"),
    (None, "bad_json", "empty record value (tombstone)"),
])
def test_a_malformed_document_is_one_invalid_event_never_an_exception(raw, reason, detail):
    (bad,) = parse(raw)
    assert bad.reason == reason and bad.detail.startswith(detail), bad


@pytest.mark.parametrize(("metric", "detail"), [
    (5, "metrics[1] must be an object"),
    ({"gauge": {"dataPoints": [point()]}}, "metrics[1]: 'name' must be a non-empty string"),
    ({"name": "up", "gauge": []}, "metrics[1]: 'gauge' must be an object"),
    ({"name": "up", "sum": {"dataPoints": {}}}, "metrics[1]: 'sum.dataPoints' must be a list"),
    (gauge("up", 7), "metrics[1].gauge.dataPoints[0] must be an object"),
    (gauge("up", {**point(), "attributes": {}}), ("metrics[1].gauge.dataPoints[0]: "
                                                 "'attributes' must be a list, got dict")),
    (gauge("up", {**point(), "attributes": [{"value": {}}]}),
     "metrics[1].gauge.dataPoints[0]: 'attributes'[0] must be an object with a string 'key'"),
    (gauge("up", {**point(), "flags": "x"}), "'flags' must be an integer"),
])
def test_a_metric_or_data_point_of_the_wrong_shape_is_invalid_and_the_others_are_read(
        metric, detail):
    events = parse(batch(gauge("up", point(1.0)), metric, gauge("up", point(2.0))), ("up",))
    assert [ev.values for ev in events if type(ev) is PartialEvent] == [{0: 1.0}, {0: 2.0}]
    (bad,) = [ev for ev in events if type(ev) is InvalidEvent]
    assert bad.detail.startswith("resourceMetrics[0].scopeMetrics[0].") and detail in bad.detail


def test_a_kafka_records_byte_order_mark_is_ignored():
    raw = b"\xef\xbb\xbf" + batch(gauge("up", point(1.0)))
    assert parse(raw, ("up",)) == [PartialEvent("web-1", float(T0), {0: 1.0})]
    with pytest.raises(ValueError, match="parse_many"):
        MetricBatchParser(("up",)).parse(raw)


# ---------------------------------------------------------------- otlp_proto


def test_a_protobuf_batch_built_from_the_generated_classes_reads_as_its_data_points():
    """The Collector's default encoding: gauges and sums, asInt exact and asDouble 0.0 (a
    oneof member at its zero is a value, not an absent one), attributes in the feature's
    name, the entity from the data point before its resource, a histogram left out."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="host.name", value=AnyValue(string_value="web-1"))
    metrics = rm.scope_metrics.add().metrics
    mem = metrics.add(name="system.memory.utilization").gauge.data_points
    used = mem.add(time_unix_nano=T0 * 10**9, as_double=0.0)
    used.attributes.add(key="state", value=AnyValue(string_value="used"))
    other = mem.add(time_unix_nano=T0 * 10**9, as_double=0.25)
    other.attributes.add(key="state", value=AnyValue(string_value="used"))
    other.attributes.add(key="host.name", value=AnyValue(string_value="web-2"))
    requests = metrics.add(name="http.server.requests").sum
    requests.is_monotonic = True
    requests.data_points.add(time_unix_nano=T0 * 10**9 + 5, as_int=9007199254740993)
    requests.data_points.add(time_unix_nano=T0 * 10**9, as_int=0)
    metrics.add(name="http.server.duration").histogram.data_points.add(
        time_unix_nano=T0 * 10**9, count=3)
    events = parse(req.SerializeToString(), format="otlp_proto")
    assert events == [PartialEvent("web-1", float(T0), {0: 0.0}),
                      PartialEvent("web-2", float(T0), {0: 0.25}),
                      PartialEvent("web-1", T0 + 5e-9, {2: 9007199254740993}),
                      PartialEvent("web-1", float(T0), {2: 0})]
    assert [type(v) for ev in events for v in ev.values.values()] == [float, float, int, int]


# Every document of the otlp_json tests above that protobuf can hold: each reads as the same
# events (the walker is the same; only the decoding differs).
_BOTH = [
    _hostmetrics(),
    batch(gauge("system.cpu.time", point(1.0, state="user", cpu="cpu0")),
          gauge("m", point(2.0, ratio={"doubleValue": 0.5}, ok={"boolValue": False},
                           big={"intValue": "0"}, no={}, b={"bytesValue": "AP8="}))),
    batch(resources=[
        ("web-1", [gauge("system.cpu.load_average.1m", point(1.0),
                         point(2.0, **{"host.name": "web-9"}))]),
        (None, [gauge("system.cpu.load_average.1m",
                      point(3.0, **{"host.name": {"intValue": "7"}}), point(4.0))])]),
    batch(gauge("system.cpu.load_average.1m", point("NaN"), point("-Infinity"),
                {"timeUnixNano": NS}, point(0.0, ts="0"), {**point(None), "flags": 1},
                point(1.0, ts=str((T0 + 86_400) * 10**9)))),
    batch(gauge("system.memory.utilization", point(0.4, state="used"),
                point(0.6, state="free")), gauge("system.paging.usage", point(1.0))),
    batch(gauge("system.paging.usage", point(1.0, direction="in"))),
    batch(gauge("system.cpu.load_average.1m", point(1.0)), host="web-1\n2026 forged"),
    batch(),
]


@pytest.mark.parametrize("doc", _BOTH)
@pytest.mark.parametrize("unknown", ["reject", "ignore"])
def test_a_protobuf_batch_reads_as_the_same_batch_in_otlp_json(doc, unknown):
    json_parser = MetricBatchParser(FEATURES, unknown_features=unknown)
    proto_parser = MetricBatchParser(FEATURES, unknown_features=unknown, format="otlp_proto")
    json_parser.not_after = proto_parser.not_after = T0 + 300.0
    expected = json_parser.parse_many(doc)
    assert proto_parser.parse_many(to_proto(doc)) == expected
    assert expected or doc == batch()


@pytest.mark.parametrize(("raw", "detail"), [
    (batch(gauge("up", point(1.0))), ("Wire format was corrupt (a JSON document? that is "
                                     "encoding: otlp_json, read with serve.event_format: "
                                     "otlp_json)")),
    (b"\xef\xbb\xbf" + batch(gauge("up", point(1.0))), "Wire format was corrupt (a JSON"),
    (to_proto(batch(gauge("up", point(1.0))))[:-3], ""),
    (b"\x18\x01", "2 bytes with no resourceMetrics, only unknown fields"),
])
def test_bytes_that_are_no_protobuf_request_are_one_bad_protobuf(raw, detail):
    (bad,) = parse(raw, ("up",), format="otlp_proto")
    assert bad.reason == "bad_protobuf" and bad.detail.startswith(
        f"not an OTLP protobuf ExportMetricsServiceRequest: {detail}"), bad
    assert parse(None, format="otlp_proto") == [InvalidEvent("bad_json", "empty record value "
                                                                         "(tombstone)")]
    assert parse(b"", format="otlp_proto") == []  # an empty request: no data points


# ---------------------------------------------------------------- the scorer's intake


class _Det:
    feature_names, window, extras = FEATURES, 2, {}


@pytest.mark.parametrize("raw", [b"{}", b'{"resourceMetrics": null}', b"{}\n"])
def test_an_empty_otlp_json_request_is_a_batch_of_nothing_as_in_protobuf(raw):
    """protobuf's JSON mapping leaves an empty list out: an empty request is ``{}`` in
    OTLP/JSON (what protobuf's own mapping writes of it), as it is no bytes in protobuf.
    It was a missing_field dead letter ("'resourceMetrics' must be a list"), and a file's
    ``{}`` line stopped train; the same request in otlp_proto was nothing wrong."""
    empty = ExportMetricsServiceRequest()
    assert json.loads(json_format.MessageToJson(empty)) == {}
    assert parse(empty.SerializeToString(), format="otlp_proto") == []
    assert parse(raw, format="otlp_json") == []
    # a document with other keys is still no OTLP request
    assert parse(b'{"entity": "e"}', format="otlp_json")[0].reason == "missing_field"


class _Msg:
    def __init__(self, value, offset):
        self.value, self.offset = value, offset


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_the_intake_assembles_batches_and_dead_letters_a_batch_with_a_bad_point_once(fmt):
    """One record's data points of one time complete an event; a record that holds a bad
    data point goes to the dead-letter callback once, saying how many of its data points
    were invalid, and its valid data points are used: in either encoding."""
    from anomaly_gan.stream.intake import Intake
    from anomaly_gan.stream.state import WindowBatch

    encode = to_proto if fmt == "otlp_proto" else bytes
    serve = ServeConfig(event_format=fmt, assemble_seconds=10.0,
                        unknown_features="ignore")
    dead = []
    intake = Intake(_Det(), serve, dead_letter=lambda tp, m, bad: dead.append((m.offset, bad)),
                    on_drop=lambda e: None, clock=lambda: T0 + 1000.0)
    batch_ = WindowBatch(2, len(FEATURES))

    def reading(t, mem, broken=False):
        ns = str((T0 + 10 * t) * 10**9)
        return encode(batch(gauge("system.memory.utilization",
                                  point(mem, ts=ns, state="used"),
                                  point(1 - mem, ts=ns, state="free")),
                            gauge("system.cpu.load_average.1m",
                                  point("NaN" if broken else 0.7, ts=ns)),
                            {"name": "http.server.requests", "sum": {"dataPoints": [
                                {"asInt": str(10 * t), "timeUnixNano": ns}]}}))

    msgs = [_Msg(reading(0, 0.4), 0), _Msg(reading(1, 0.5), 1), _Msg(reading(2, 0.6, True), 2),
            _Msg(reading(3, 0.7), 3)]
    intake.consume("p0", msgs, batch_, lambda tp, offset, b, flush: b)
    # windows of two readings: 0-1, and 1-3 (reading 2's slot lacks its load, incomplete)
    assert batch_.windows()[:, :, 0].tolist() == [[0.4, 0.5], [0.5, 0.7]]
    assert batch_.windows()[:, :, 2].tolist() == [[0, 10], [10, 30]]
    assert [offset for offset, _ in dead] == [2]
    bad = dead[0][1]
    assert bad.reason == "non_finite" and bad.detail == (
        "1 of 3 data points invalid; the first: resourceMetrics[0].scopeMetrics[0].metrics[1]"
        ".gauge.dataPoints[0]: 'asDouble' is NaN or infinite")
    assert intake.assembler.incomplete == 1


# ---------------------------------------------------------------- property: never an exception

_json = JSON
_any_value = st.one_of(
    st.fixed_dictionaries({"stringValue": st.one_of(st.sampled_from(["web-1", "used", ""]),
                                                    _json)}),
    st.fixed_dictionaries({"intValue": st.one_of(st.integers(-2**70, 2**70).map(str), _json)}),
    st.fixed_dictionaries({"doubleValue": st.one_of(st.floats(), st.sampled_from(["NaN", "x"]))}),
    st.fixed_dictionaries({"boolValue": _json}),
    st.fixed_dictionaries({"kvlistValue": st.fixed_dictionaries({}, optional={
        "values": st.one_of(st.lists(st.fixed_dictionaries({"key": st.text(max_size=3)}), max_size=2),
                            _json)})}),
    st.just({}), _json)
_attributes = st.one_of(st.lists(st.fixed_dictionaries(
    {}, optional={"key": st.one_of(st.sampled_from(["host.name", "state", "cpu"]), _json),
                  "value": _any_value}), max_size=3), _json)
_nanos = st.one_of(st.integers(-10, 2**70).map(str), st.integers(-10, 2**70),
                   st.sampled_from([NS, "0", "", "1e18", "１２"]), _json)
_point = st.one_of(st.fixed_dictionaries({}, optional={
    "timeUnixNano": _nanos, "startTimeUnixNano": _nanos, "attributes": _attributes,
    "asDouble": st.one_of(st.floats(), st.integers(-2**1100, 2**1100),
                          st.sampled_from(["NaN", "Infinity", "1"]), _json),
    "asInt": st.one_of(st.integers(-2**70, 2**70).map(str), st.integers(), _json),
    "flags": st.one_of(st.integers(0, 3), _json)}), _json)
_data = st.one_of(st.fixed_dictionaries({}, optional={
    "dataPoints": st.one_of(st.lists(_point, max_size=4), _json),
    "aggregationTemporality": _json}), _json)
_metric = st.one_of(st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from(["up", "system.memory.utilization", ""]), _json),
    "gauge": _data, "sum": _data, "histogram": _data}), _json)
_document = otlp_document(METRICS, _attributes, _metric)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document, st.sampled_from(["reject", "ignore"]))
def test_any_otlp_document_is_events_or_reasons_never_an_exception(doc, unknown):
    """Whatever sits anywhere in the envelope, a metric or a data point (an integer where a
    string goes, a list for an AnyValue, a time of 2**70 ns, an asDouble of 2**1100),
    parse_many gives one-feature events with a finite value and invalid events with a
    reason, never an exception: one Kafka record must never stop serve."""
    features = ("up", "system.memory.utilization{state=used}", "up{cpu=1}")
    p = MetricBatchParser(features, unknown_features=unknown)
    p.not_after = T0 + 86_400.0
    for ev in p.parse_many(encoded(doc)):
        if type(ev) is PartialEvent:
            assert type(ev.entity) is str and ev.entity and 0 <= ev.ts <= p.not_after
            ((index, value),) = ev.values.items()
            assert 0 <= index < len(features) and -1e300 < value < 1e300
        else:
            assert type(ev) is InvalidEvent and ev.detail
            assert ev.reason in set(INVALID_REASONS) - {"unprocessable"}, ev


def requests_total(value, ts, start=None, temporality=2, kind="sum"):
    """A batch of one data point of http.server.requests: a cumulative sum (``temporality``
    1: a delta sum; ``kind`` gauge: a gauge) whose series started at ``start`` (s)."""
    p = {"timeUnixNano": str(ts * 10**9), "asInt": str(value)}
    if start is not None:
        p["startTimeUnixNano"] = str(start * 10**9)
    data = ({"aggregationTemporality": temporality, "isMonotonic": True, "dataPoints": [p]}
            if kind == "sum" else {"dataPoints": [p]})
    return json.loads(batch({"name": "http.server.requests", kind: data}))


def served_increases(docs, fmt, restart_after=None):
    """The increases of http.server.requests (data.counters) in serve's windows of one row:
    each batch parsed (in ``fmt``), assembled and pushed as serve's intake does; with
    ``restart_after`` serve stops after that many batches and a new one reads on from the
    offset it committed: the windows after the restart (the replay's, then the rest's)."""
    from anomaly_gan.stream.assemble import Assembler
    from anomaly_gan.stream.state import WindowBatch, WindowState

    def run(first, stop):
        parser = MetricBatchParser(("http.server.requests",), format=fmt)
        asm = Assembler(1, 10.0, max_entities=10, gap_seconds=3600.0)
        state = WindowState(1, 1, gap_seconds=3600.0, max_entities=10, counters=[0])
        out = WindowBatch(1, 1)
        for offset, doc in enumerate(docs[first:stop], start=first):
            raw = to_proto(doc) if fmt == "otlp_proto" else json.dumps(doc).encode()
            for ev in parser.parse_many(raw):
                assert type(ev) is PartialEvent
                done = asm.add(ev, "p0", offset)
                if done is not None:
                    whole, at = done
                    state.push(whole.entity, whole.ts, whole.values, "p0", at, out, None,
                               whole.starts)
        out.raw = out.raw[:len(out)]
        return state, out

    if restart_after is None:
        return run(0, len(docs))[1].raw[:, 0, 0].tolist()
    state, _ = run(0, restart_after)
    committed = state.commit_offsets({"p0": restart_after})["p0"]
    assert committed == restart_after - 1  # the event the next increase starts from
    return run(committed, len(docs))[1].raw[:, 0, 0].tolist()


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_a_cumulative_sums_later_start_time_is_a_reset_even_past_the_old_total(fmt):
    """A crash loop's error burst: 50 before the crash, 60 after the restart (a new
    startTimeUnixNano) within one interval. The total grew, yet the increase is the new
    value, 60 (it was 10: only a fall was a reset); an unchanged start time, a point
    without one, a delta sum's and a gauge's keep the fall rule."""
    docs = [requests_total(40, T0, T0 - 100), requests_total(50, T0 + 10, T0 - 100),
            requests_total(60, T0 + 20, T0 + 15),  # restarted at T0 + 15
            requests_total(65, T0 + 30, T0 + 15), requests_total(3, T0 + 40, T0 + 35)]
    assert served_increases(docs, fmt) == [10.0, 60.0, 5.0, 3.0]
    # the start time travels with the value, in both encodings
    (ev,) = parse(to_proto(docs[2]) if fmt == "otlp_proto" else json.dumps(docs[2]).encode(),
                  ("http.server.requests",), format=fmt)
    assert ev.starts == {0: float((T0 + 15) * 10**9)}
    # no start time (or 0, OTLP's unknown): today's rule, a fall alone is a reset
    for start in (None, 0):
        plain_docs = [requests_total(50, T0, start), requests_total(60, T0 + 10, start)]
        assert served_increases(plain_docs, fmt) == [10.0]
    for kind, temporality in (("sum", 1), ("gauge", 2)):  # their start times are not read
        docs2 = [requests_total(50, T0, T0 - 100, temporality, kind),
                 requests_total(60, T0 + 10, T0 + 5, temporality, kind)]
        assert served_increases(docs2, fmt) == [10.0]


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_a_restart_of_serve_replays_the_start_time_the_increase_starts_from(fmt):
    """serve's restart replays from its committed offset, which keeps the event the next
    increase starts from, with its start time: the replay invents no reset (and misses
    none), so its windows are those of the run before."""
    docs = [requests_total(40, T0, T0 - 100), requests_total(50, T0 + 10, T0 - 100),
            requests_total(60, T0 + 20, T0 + 15), requests_total(65, T0 + 30, T0 + 15)]
    assert served_increases(docs, fmt) == [10.0, 60.0, 5.0]
    # stopped before the restart's point: the replayed 50 keeps its start time
    assert served_increases(docs, fmt, restart_after=2) == [60.0, 5.0]
    # stopped after it: the replayed 60 starts the increases, with its own start time
    assert served_increases(docs, fmt, restart_after=3) == [5.0]
