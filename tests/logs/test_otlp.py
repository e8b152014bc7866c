"""logs.format: otlp_json and otlp_proto: OpenTelemetry's log batches in OTLP/JSON or
protobuf, one event per log record."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomaly_gan.logs.events import LogEvent, LogParser
from anomaly_gan.otlp import LOGS
from anomaly_gan.stream.events import InvalidEvent
from tests.support.fuzz import JSON, encoded, otlp_document
from tests.support.otlp import ExportLogsServiceRequest, to_proto

T0 = 1767225600  # 2026-01-01T00:00:00Z


def kv(key, value):
    return {"key": key, "value": value}


def record(body="up", ts=T0 * 10**9, **fields):
    rec = {"timeUnixNano": str(ts), **fields}
    if body is not None:
        rec["body"] = {"stringValue": body} if isinstance(body, str) else body
    return rec


def batch(*records, service="api", resources=None):
    """An ExportLogsServiceRequest: the records under one resource (or ``resources``:
    [(service, [records])])."""
    resources = resources or [(service, list(records))]
    return json.dumps({"resourceLogs": [
        {"resource": {"attributes": [kv("service.name", {"stringValue": s})] if s else []},
         "scopeLogs": [{"scope": {"name": "test"}, "logRecords": recs}]}
        for s, recs in resources]})


def parse(doc, **kwargs):
    return LogParser(format="otlp_json", **kwargs).parse_many(doc)


def test_the_collector_example_reads_as_one_event():
    doc = ('{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":'
           '{"stringValue":"api"}}]},"scopeLogs":[{"scope":{"name":"x"},"logRecords":['
           '{"timeUnixNano":"1700000000000000000","observedTimeUnixNano":"1700000000000000000",'
           '"severityNumber":17,"severityText":"ERROR","body":{"stringValue":"db timeout after '
           '30 s"},"attributes":[{"key":"k8s.pod.name","value":{"stringValue":"api-7f9"}}]}]}]}]}')
    assert parse(doc.encode()) == [LogEvent("api", 1.7e9, "ERROR", "db timeout after 30 s")]


def test_every_log_record_of_every_resource_and_scope_is_an_event_in_order():
    doc = json.dumps({"resourceLogs": [
        {"resource": {"attributes": [kv("service.name", {"stringValue": "api"})]},
         "scopeLogs": [{"logRecords": [record("a1"), record("a2")]},
                       {"logRecords": [record("a3")]}]},
        {"resource": {"attributes": [kv("service.name", {"stringValue": "db"})]},
         "scopeLogs": [{"logRecords": [record("d1")]}]}]})
    assert [(e.entity, e.message) for e in parse(doc)] == \
        [("api", "a1"), ("api", "a2"), ("api", "a3"), ("db", "d1")]
    # a batch with no log records is no event, and nothing wrong
    assert parse('{"resourceLogs": []}') == []
    assert parse('{"resourceLogs": [{"scopeLogs": [{"logRecords": []}]}]}') == []


@pytest.mark.parametrize(("body", "text"), [
    ({"stringValue": "db timeout after 30 s"}, "db timeout after 30 s"),
    ({"intValue": "-9007199254740993"}, "-9007199254740993"),  # beyond a double: exact
    ({"intValue": 42}, "42"),
    ({"doubleValue": 2.5}, "2.5"),
    ({"doubleValue": 3}, "3.0"),
    ({"doubleValue": "NaN"}, "nan"),
    ({"boolValue": True}, "true"),
    ({"bytesValue": "3q2+7w=="}, "3q2+7w=="),
    ({"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}}, '["a", 1, null]'),
    ({"arrayValue": {}}, "[]"),
    ({"kvlistValue": {"values": [kv("user", {"stringValue": "bob"}),
                                 kv("ok", {"boolValue": False}),
                                 kv("nested", {"kvlistValue": {"values": [
                                     kv("ms", {"doubleValue": 1.5})]}})]}},
     '{"user": "bob", "ok": false, "nested": {"ms": 1.5}}'),
    ({"kvlistValue": {"values": [kv("line", {"stringValue": "a\nb"})]}}, '{"line": "a\\nb"}'),
])
def test_every_anyvalue_kind_of_a_body_is_text_to_mine(body, text):
    (ev,) = parse(batch(record(body)))
    assert ev.message == text and ev.continuation == ""


def test_a_multi_line_string_body_is_a_first_line_and_its_trace():
    (ev,) = parse(batch(record("boom\n\tat A.run(A.java:1)\r\n\tat B.main")))
    assert (ev.message, ev.continuation) == ("boom", "\tat A.run(A.java:1)\n\tat B.main")
    (ev,) = parse(batch(record("bad \ud800 half")))  # a lone surrogate, as json reads it
    assert ev.message == "bad \ufffd half"


@pytest.mark.parametrize(("fields", "level"), [
    ({"severityText": "Warning", "severityNumber": 17}, "WARNING"),  # the text wins
    ({"severityText": "", "severityNumber": 17}, "ERROR"),
    *(({"severityNumber": n}, name) for n, name in (
        (1, "TRACE"), (4, "TRACE"), (5, "DEBUG"), (8, "DEBUG"), (9, "INFO"), (12, "INFO"),
        (13, "WARN"), (16, "WARN"), (17, "ERROR"), (20, "ERROR"), (21, "FATAL"), (24, "FATAL"))),
    ({"severityNumber": "18"}, "ERROR"),
    ({"severityNumber": "SEVERITY_NUMBER_ERROR3"}, "ERROR"),
    ({"severityNumber": "SEVERITY_NUMBER_UNSPECIFIED"}, ""),
    ({"severityNumber": 0}, ""),
    ({}, ""),
    ({"severityNumber": 30}, "30"),
])
def test_the_level_is_the_severity_text_or_the_severity_numbers_range(fields, level):
    (ev,) = parse(batch(record(**fields)))
    assert ev.level == level


def test_error_levels_count_severity_numbers_as_errors():
    from anomaly_gan.config import LogsConfig
    from anomaly_gan.logs.model import fit_log_model

    model, _ = fit_log_model(LogsConfig(), ["a"])
    events = parse(batch(*(record(severityNumber=n) for n in (9, 13, 17, 21))))
    assert [model.is_error(e.level) for e in events] == [False, False, True, True]


def test_time_is_nanoseconds_exactly_else_the_observed_time():
    ns = T0 * 10**9 + 123_456_789
    (ev,) = parse(batch(record(ts=ns)))
    assert ev.ts == ns / 10**9  # exact division: no float of the 19 digits first
    rec = record(observedTimeUnixNano=str(ns + 10**9))
    for absent in ("0", 0, None):
        rec["timeUnixNano"] = absent
        (ev,) = parse(batch(rec))
        assert ev.ts == (ns + 10**9) / 10**9, absent
    rec.pop("timeUnixNano")
    assert parse(batch(rec))[0].ts == (ns + 10**9) / 10**9
    rec = record(observedTimeUnixNano="5")
    rec["timeUnixNano"] = T0 * 10**9  # a JSON number, not a string
    assert parse(batch(rec))[0].ts == T0
    # a small number is still nanoseconds, not seconds read by its size
    assert parse(batch(record(ts=5 * 10**9)))[0].ts == 5.0


def test_a_log_record_without_a_time_is_missing_one_or_fine_per_n_lines():
    rec = record(observedTimeUnixNano="0")
    rec.pop("timeUnixNano")
    (bad,) = parse(batch(rec))
    assert bad == InvalidEvent("missing_field", "resourceLogs[0].scopeLogs[0].logRecords[0]: "
                               "'timeUnixNano' and 'observedTimeUnixNano' are missing (or 0)")
    (ev,) = parse(batch(rec), need_ts=False)
    assert ev.ts is None


@pytest.mark.parametrize(("ts", "reason", "detail"), [
    ("noon", "bad_timestamp", "'timeUnixNano' 'noon' is not nanoseconds since the epoch"),
    ("-5", "bad_timestamp", "'timeUnixNano' '-5' is not nanoseconds"),
    (True, "bad_timestamp", "'timeUnixNano' True is not nanoseconds"),
    ("9" * 21, "bad_timestamp", ("'timeUnixNano' '999999999999999999999' is not nanoseconds "
                                "since the epoch (a decimal string, below 2**64)")),  # beyond 64 bits
    (4102444800 * 10**9, "future_timestamp", "'timeUnixNano' 4102444800000000000 is more than"),
])
def test_a_bad_time_is_a_bad_timestamp_or_a_future_one(ts, reason, detail):
    p = LogParser(format="otlp_json")
    p.not_after = T0 + 60
    rec = record()
    rec["timeUnixNano"] = ts
    (bad,) = p.parse_many(batch(rec))
    assert bad.reason == reason
    assert bad.detail.startswith(f"resourceLogs[0].scopeLogs[0].logRecords[0]: {detail}")


def test_the_entity_is_the_log_records_attribute_then_the_resources_then_logs_entity():
    pod = kv("k8s.pod.name", {"stringValue": "api-7f9"})
    resource_pod = kv("k8s.pod.name", {"stringValue": "api-resource"})
    doc = json.dumps({"resourceLogs": [{
        "resource": {"attributes": [kv("service.name", {"stringValue": "api"}), resource_pod]},
        "scopeLogs": [{"logRecords": [record("own", attributes=[pod]), record("inherits")]}]},
        {"scopeLogs": [{"logRecords": [record("none")]}]}]})
    by_pod = parse(doc, entity="unknown-svc", otlp_entity="k8s.pod.name")
    assert [e.entity for e in by_pod] == ["api-7f9", "api-resource", "unknown-svc"]
    # service.name (the default): the record's own attribute wins over its resource's
    own = record("own", attributes=[kv("service.name", {"stringValue": "worker"})])
    assert [e.entity for e in parse(batch(own, record("x")))] == ["worker", "api"]
    assert parse(batch(record(attributes=[kv("service.name", {"intValue": "7"})])))[0].entity \
        == "7"
    # a null value is no attribute
    assert parse(batch(record(attributes=[kv("service.name", {})])))[0].entity == "api"
    (bad,) = parse(doc.replace('"api-resource"', '"x"'), otlp_entity="host.name")[2:]
    assert bad.reason == "missing_field"
    assert "no 'host.name' attribute in the log record or its resource" in bad.detail


@pytest.mark.parametrize(("entity", "reason", "detail"), [
    ({"stringValue": "api\n2026 ERROR forged"}, "bad_entity",
     "'service.name' 'api\\n2026 ERROR forged' holds U+000A: expected no control characters"),
    ({"stringValue": "x" * 600}, "oversized", "'service.name' is 600 bytes > max_entity_bytes 512"),
    ({"stringValue": ""}, "missing_field", "attribute 'service.name' must be a non-empty"),
    ({"boolValue": True}, "missing_field", "attribute 'service.name' must be a non-empty"),
    # a JSON number beyond a double: float() of it raised OverflowError out of parse_many
    ({"doubleValue": 10**400}, "missing_field",
     "attribute 'service.name': 'doubleValue' is an integer out of a double's range"),
])
def test_an_entity_is_checked_as_every_formats_is(entity, reason, detail):
    (bad,) = parse(batch(record(attributes=[kv("service.name", entity)])))
    assert bad.reason == reason
    assert bad.detail.startswith(f"resourceLogs[0].scopeLogs[0].logRecords[0]: {detail}")


def test_a_body_of_a_number_beyond_a_double_is_invalid_but_not_the_batch():
    """json.loads reads 10**400 as an exact int; float() of it raised OverflowError out of
    parse_many, and serve sent the whole record to the DLQ as ``unprocessable``."""
    events = parse(batch(record("before"), record({"doubleValue": -(10**400)}), record("after")))
    assert [getattr(e, "message", None) for e in events] == ["before", None, "after"]
    assert events[1].reason == "missing_field"
    assert events[1].detail == ("resourceLogs[0].scopeLogs[0].logRecords[1]: 'body': "
                                "'doubleValue' is an integer out of a double's range")


def test_a_body_over_max_event_bytes_is_oversized_but_not_the_batch():
    big = "é" * 300  # 600 bytes in UTF-8, 300 characters
    events = parse(batch(record("small"), record(big), record("x" * 100)), max_bytes=512)
    assert [type(e).__name__ for e in events] == ["LogEvent", "InvalidEvent", "LogEvent"]
    assert events[1].reason == "oversized"
    assert events[1].detail == ("resourceLogs[0].scopeLogs[0].logRecords[1]: 'body' is more "
                                "than max_event_bytes 512")
    # the document as a whole may be larger than one event: a batch of many
    assert len(batch(*(record("y" * 100) for _ in range(20)))) > 512
    assert len(parse(batch(*(record("y" * 100) for _ in range(20))), max_bytes=512)) == 20


@pytest.mark.parametrize(("body", "detail"), [
    (None, "'body' is missing (a log record with no body has no message)"),
    ({}, "'body' is empty (no message)"),
    ({"stringValue": 5}, "'body': 'stringValue' is no AnyValue kind, or holds the wrong type"),
    ({"intValue": "12abc"}, "'body'.intValue must be an integer (a decimal string)"),
    ({"stringValue": "a", "intValue": "1"}, ("'body' must hold one value, got intValue, "
                                            "stringValue")),
    ({"kvlistValue": {"values": [{"value": {}}]}},
     "'body'.kvlistValue.values[0] must be an object with a string 'key'"),
    ({"arrayValue": {"values": {}}}, ("'body': 'arrayValue' is no AnyValue kind, or holds the "
                                     "wrong type")),
    ({"fooValue": 1}, "'body': 'fooValue' is no AnyValue kind, or holds the wrong type"),
    (["text"], "'body' must be an AnyValue object"),
])
def test_a_log_record_with_no_usable_body_is_invalid_alone(body, detail):
    events = parse(batch(record("before"), record(body), record("after")))
    assert [e.message for e in events if isinstance(e, LogEvent)] == ["before", "after"]
    assert events[1] == InvalidEvent("missing_field",
                                     f"resourceLogs[0].scopeLogs[0].logRecords[1]: {detail}")


@pytest.mark.parametrize(("raw", "reason", "detail"), [
    (b"\xff\xfe{}", "not_utf8", "not UTF-8"),
    (b"not json", "bad_json", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "bad_json", "JSON nested too deeply"),
    (b"[]", "not_object", "expected a JSON object"),
    (b'{"entity": "a", "ts": 1, "message": "a json-format line"}', "missing_field",
     ("'resourceLogs' must be a list (an OTLP/JSON ExportLogsServiceRequest); the record's "
     "fields: 'entity', 'ts', 'message'")),
    (b'{"resourceLogs": {}}', "missing_field", "'resourceLogs' must be a list"),
    (b'{"resourceLogs": [5]}', "not_object", "resourceLogs[0] must be an object"),
    (b'{"resourceLogs": [{"resource": []}]}', "not_object",
     "resourceLogs[0].resource must be an object"),
    (b'{"resourceLogs": [{"scopeLogs": "x"}]}', "missing_field",
     "resourceLogs[0].scopeLogs must be a list, got str"),
    (b'{"resourceLogs": [{"scopeLogs": [null]}]}', "not_object",
     "resourceLogs[0].scopeLogs[0] must be an object"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": {"a": 1}}]}]}', "missing_field",
     "resourceLogs[0].scopeLogs[0].logRecords must be a list, got dict"),
    (None, "missing_field", "empty record value (tombstone)"),
])
def test_a_malformed_document_is_one_invalid_event_never_an_exception(raw, reason, detail):
    (bad,) = parse(raw)
    assert bad.reason == reason and bad.detail.startswith(detail), bad


@pytest.mark.parametrize("rec", [
    5, [], "x", {"body": {"stringValue": "m"}, "timeUnixNano": "1", "attributes": "api"},
    {"body": {"stringValue": "m"}, "timeUnixNano": "1", "attributes": [7]},
    {"body": {"stringValue": "m"}, "timeUnixNano": "1", "severityText": 17},
    {"body": {"stringValue": "m"}, "timeUnixNano": "1", "severityNumber": [17]},
    {"body": {"stringValue": "m"}, "timeUnixNano": "1", "severityNumber": "SEVERITY_NUMBER_X"},
    {"body": {"stringValue": "m"}, "timeUnixNano": {"n": 1}},
    {"body": {"arrayValue": {"values": [{"kvlistValue": {"values": 3}}]}}, "timeUnixNano": "1"},
])
def test_a_log_record_of_the_wrong_shape_is_invalid_and_the_others_are_read(rec):
    events = parse(batch(record("first"), rec, record("last")))
    assert [e.message for e in events if isinstance(e, LogEvent)] == ["first", "last"]
    assert isinstance(events[1], InvalidEvent)
    assert events[1].detail.startswith("resourceLogs[0].scopeLogs[0].logRecords[1]")


@pytest.mark.parametrize(("doc", "detail"), [
    (batch(record(attributes={})), "'attributes' must be a list, got dict"),
    (batch(record(attributes=[7])), "'attributes'[0] must be an object"),
    (json.dumps({"resourceLogs": [{"resource": {"attributes": "api"},
                                   "scopeLogs": [{"logRecords": [record()]}]}]}),
     "resourceLogs[0].resource.attributes must be a list, got str"),
])
def test_attributes_of_the_wrong_shape_are_named_once_by_their_place(doc, detail):
    """The log record's own attributes were named by its place twice ("...logRecords[0]:
    resourceLogs[0].scopeLogs[0].logRecords[0].attributes must be a list")."""
    assert parse(doc) == [InvalidEvent("missing_field",
                                       f"resourceLogs[0].scopeLogs[0].logRecords[0]: {detail}")]


@pytest.mark.parametrize(("levels", "reason"), [(200, None), (400, "bad_json")])
def test_a_deeply_nested_body_is_text_or_invalid_never_a_crash(levels, reason):
    body = '{"arrayValue":{"values":[' * levels + '{"stringValue":"x"}' + "]}}" * levels
    doc = batch(record("first"), record("BODY")).replace('{"stringValue": "BODY"}', body)
    events = parse(doc)
    if reason is None:
        assert events[1].message == "[" * levels + '"x"' + "]" * levels
    else:  # the decoder's limit: the whole document
        assert events == [InvalidEvent("bad_json", "JSON nested too deeply")]


def test_a_kafka_records_byte_order_mark_is_ignored():
    raw = b"\xef\xbb\xbf" + batch(record("up")).encode()
    assert [e.message for e in LogParser(format="otlp_json").parse_record_many(raw)] == ["up"]


def test_the_line_formats_give_one_event_from_parse_many_and_otlp_refuses_parse():
    line = b'{"entity": "a", "ts": 1, "message": "up"}'
    assert LogParser(format="json").parse_many(line) == [LogParser(format="json").parse(line)]
    with pytest.raises(ValueError, match="parse_many"):
        LogParser(format="otlp_json").parse(batch(record()))


def test_a_timestamp_format_does_not_touch_otlp_times():
    """logs.timestamp_format reads text stamps; a year-less one would have moved every
    OTLP time into the year of the file's modification time."""
    p = LogParser(format="otlp_json", timestamp_format="%b %d %H:%M:%S")
    assert not p.infer_year
    assert p.parse_many(batch(record()))[0].ts == T0


# ---------------------------------------------------------------- property: never an exception

_json = JSON
_any_value = st.recursive(
    st.one_of(st.fixed_dictionaries({"stringValue": st.one_of(st.text(max_size=20), _json)}),
              st.fixed_dictionaries({"intValue": st.one_of(st.integers(-2**70, 2**70).map(str),
                                                           _json)}),
              st.fixed_dictionaries({"doubleValue": st.one_of(
                  st.floats(), st.sampled_from(["NaN", "Infinity", "x"]))}),
              st.fixed_dictionaries({"boolValue": _json}),
              st.fixed_dictionaries({"bytesValue": _json}),
              st.just({}), _json),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries(
            {}, optional={"values": st.one_of(st.lists(inner, max_size=3), _json)})}),
        st.fixed_dictionaries({"kvlistValue": st.fixed_dictionaries(
            {}, optional={"values": st.lists(st.fixed_dictionaries(
                {}, optional={"key": st.one_of(st.text(max_size=6), _json), "value": inner}),
                max_size=3)})})),
    max_leaves=6)
_attributes = st.one_of(st.lists(st.fixed_dictionaries(
    {}, optional={"key": st.sampled_from(["service.name", "host.name", "x"]),
                  "value": _any_value}), max_size=3), _json)
_nanos = st.one_of(st.integers(-10, 2**70).map(str), st.integers(-10, 2**70),
                   st.floats(), st.sampled_from(["0", "", "1e18", "１２"]), _json)
_log_record = st.one_of(st.fixed_dictionaries({}, optional={
    "body": _any_value, "timeUnixNano": _nanos, "observedTimeUnixNano": _nanos,
    "severityNumber": st.one_of(st.integers(-3, 30), st.sampled_from(
        ["SEVERITY_NUMBER_ERROR2", "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_X"]), _json),
    "severityText": st.one_of(st.sampled_from(["ERROR", "", "info"]), _json),
    "attributes": _attributes}), _json)
_document = otlp_document(LOGS, _attributes, _log_record)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document, st.sampled_from([None, "fallback"]), st.booleans())
def test_any_otlp_document_is_events_or_reasons_never_an_exception(doc, entity, need_ts):
    """Whatever sits anywhere in the envelope or a log record (an integer where a string
    goes, a list for an AnyValue, a time of 2**70 ns, fullwidth digits), parse_many gives
    events and invalid events with a reason, never an exception: one Kafka record must
    never stop serve."""
    from anomaly_gan.logs.events import LOG_INVALID_REASONS

    p = LogParser(format="otlp_json", entity=entity, need_ts=need_ts)
    p.not_after = T0 + 86_400.0
    got = p.parse_many(encoded(doc))  # a batch of no log records: none
    for ev in got:
        if type(ev) is LogEvent:
            assert type(ev.entity) is str and ev.entity and type(ev.message) is str
            assert ev.ts is not None if need_ts else True
            assert ev.ts is None or 0 <= ev.ts <= p.not_after
        else:
            assert type(ev) is InvalidEvent and ev.detail
            assert ev.reason in set(LOG_INVALID_REASONS) - {"unprocessable"}, ev


# ---------------------------------------------------------------- otlp_proto


def test_a_protobuf_batch_built_from_the_generated_classes_reads_as_its_log_records():
    """The Collector kafka exporter's default encoding: the level from severityNumber's
    range (an enum, a number), the body of any kind, the entity from the log record's
    attribute before its resource's, the observed time where the time is 0, trace and span
    ids ignored."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="api"))
    records = rl.scope_logs.add().log_records
    records.add(time_unix_nano=T0 * 10**9 + 5, severity_number=17,
                body=AnyValue(string_value="db timeout\n\tat Db.call"),
                trace_id=bytes(16), span_id=bytes(range(8)))
    records.add(observed_time_unix_nano=T0 * 10**9, severity_number=13, severity_text="",
                body=AnyValue(int_value=0),
                attributes=[KeyValue(key="service.name", value=AnyValue(int_value=7))])
    kvlist = records.add(time_unix_nano=T0 * 10**9, severity_text="Notice").body.kvlist_value
    kvlist.values.add(key="ok", value=AnyValue(bool_value=False))
    kvlist.values.add(key="ms", value=AnyValue(double_value=0.0))
    records.add(time_unix_nano=T0 * 10**9)  # no body: no message
    events = LogParser(format="otlp_proto").parse_record_many(req.SerializeToString())
    assert events == [
        LogEvent("api", T0 + 5e-9, "ERROR", "db timeout", "\tat Db.call"),
        LogEvent("7", float(T0), "WARN", "0"),
        LogEvent("api", float(T0), "NOTICE", '{"ok": false, "ms": 0.0}'),
        InvalidEvent("missing_field", "resourceLogs[0].scopeLogs[0].logRecords[3]: 'body' is "
                                      "missing (a log record with no body has no message)")]


# Documents of the otlp_json tests above that protobuf can hold: each reads as the same
# events in either encoding (one walker; only the decoding differs).
_BOTH = [
    batch(*(record(body) for body in (
        "db timeout after 30 s", {"intValue": "-9007199254740993"}, {"doubleValue": 2.5},
        {"doubleValue": "NaN"}, {"boolValue": True}, {"bytesValue": "3q2+7w=="},
        {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}},
        {"arrayValue": {}}, {"kvlistValue": {"values": [
            kv("user", {"stringValue": "bob"}), kv("ok", {"boolValue": False}),
            kv("nested", {"kvlistValue": {"values": [kv("ms", {"doubleValue": 1.5})]}})]}},
        "boom\n\tat A.run(A.java:1)\r\n\tat B.main", "", None, {}))),
    batch(record(severityText="Warning", severityNumber=17), record(severityNumber=4),
          record(severityNumber=24), record(severityNumber="SEVERITY_NUMBER_ERROR3"),
          record(severityNumber=0), record(severityNumber=30), record("x" * 2000),
          record(observedTimeUnixNano=str(T0 * 10**9 + 7), ts=0),
          record(ts=4102444800 * 10**9), record(ts=0)),
    batch(resources=[
        ("api", [record(attributes=[kv("service.name", {"stringValue": "api-7f9"})]),
                 record(attributes=[kv("service.name", {"intValue": "7"})])]),
        (None, [record(), record(attributes=[kv("service.name", {"stringValue": "a\nb"})])]),
        ("w" * 600, [record()])]),
    batch(),
]


@pytest.mark.parametrize("doc", _BOTH)
@pytest.mark.parametrize("entity", [None, "fallback"])
def test_a_protobuf_batch_reads_as_the_same_batch_in_otlp_json(doc, entity):
    json_parser = LogParser(format="otlp_json", entity=entity, max_bytes=1000)
    proto_parser = LogParser(format="otlp_proto", entity=entity, max_bytes=1000)
    json_parser.not_after = proto_parser.not_after = T0 + 60.0
    expected = json_parser.parse_record_many(doc.encode())
    assert proto_parser.parse_record_many(to_proto(doc)) == expected
    assert expected or doc == batch()


def test_a_json_document_on_an_otlp_proto_topic_is_one_bad_protobuf():
    """The Collector with encoding: otlp_json writing to a topic read as otlp_proto: each
    record is one dead letter saying so, byte-order mark or not (a binary record keeps its
    bytes: none is stripped)."""
    p = LogParser(format="otlp_proto")
    detail = ("not an OTLP protobuf ExportLogsServiceRequest: Wire format was corrupt (a JSON "
              "document? that is encoding: otlp_json, read with logs.format: otlp_json)")
    raw = batch(record()).encode()
    assert p.parse_record_many(raw) == [InvalidEvent("bad_protobuf", detail)]
    assert p.parse_record_many(b"\xef\xbb\xbf" + raw) == [InvalidEvent("bad_protobuf", detail)]
    assert p.parse_record_many(b"\xef\xbb\xbf" + to_proto(batch(record())))[0].reason == \
        "bad_protobuf"
    assert p.parse_record_many(None)[0].detail == "empty record value (tombstone)"
    with pytest.raises(ValueError, match="an otlp_proto record holds many log records"):
        p.parse(to_proto(batch(record())))


@pytest.mark.parametrize("ns", [2**64, 10**20 + 5])
def test_a_time_past_otlps_64_bits_is_a_bad_timestamp_as_a_string_and_as_a_number(ns):
    """timeUnixNano is a fixed64: 2**64 ns and more (after 2554-07-21) is no time of OTLP's,
    whichever way the JSON writes it (a 21-digit string was refused, the same JSON number
    read as a time in the year 5138)."""
    for value in (str(ns), ns):
        got, = parse(batch(record(ts=0, timeUnixNano=value)))
        assert isinstance(got, InvalidEvent) and got.reason == "bad_timestamp", (value, got)
