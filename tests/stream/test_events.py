import json

import pytest

from anomaly_gan.stream.events import (
    INVALID_REASONS,
    Event,
    EventParser,
    InvalidEvent,
    parse_timestamp,
)

FEATURES = ("temp", "rpm")


@pytest.fixture
def parser():
    return EventParser(FEATURES, max_event_bytes=1024)


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def test_values_as_object_are_put_in_model_order(parser):
    ev = parser.parse(enc({"entity": "pump-7", "ts": 10, "values": {"rpm": 1500, "temp": 71.2}}))
    assert ev == Event("pump-7", 10.0, [71.2, 1500])


def test_values_as_list_keep_their_order(parser):
    ev = parser.parse(enc({"entity": "p", "ts": 10.5, "values": [1, 2.5]}))
    assert ev == Event("p", 10.5, [1.0, 2.5])


@pytest.mark.parametrize("ts, expected", [
    (1767225600, 1767225600.0),
    (1767225600123, 1767225600.123),
    (1767225600123456, 1767225600.123456),  # microseconds: journald
    (1767225600123456789, 1767225600.123456789),
    ("2026-01-01T00:00:00Z", 1767225600.0),
    ("2026-01-01T01:00:00+01:00", 1767225600.0),
    ("2026-01-01T00:00:00.5", 1767225600.5),  # no offset: UTC
])
def test_timestamp_forms(ts, expected):
    assert parse_timestamp(ts) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("ts, expected", [
    ("2016-12-31T23:59:60Z", 1483228800.0),  # the next minute's second 0, as POSIX counts it
    ("2016-12-31T23:59:60.25+00:00", 1483228800.25),
    ("2016-12-31 23:59:60", 1483228800.0),
    ("2016-12-31T23:59:61Z", None), ("2016-12-31T23:60:00Z", None),
    ("9999-12-31T23:59:60Z", None),  # past what datetime holds
])
def test_a_leap_second_is_rfc_3339(ts, expected):
    """RFC 3339 allows a second of 60 (a leap second): a line stamped 23:59:60Z was a
    bad_timestamp, 'not RFC 3339', and stopped a whole log file's training."""
    assert parse_timestamp(ts) == expected


def test_epoch_numbers_count_in_the_unit_their_size_gives():
    """journald stamps in microseconds, OpenTelemetry in nanoseconds (digits in JSON): both
    were bad_timestamp. Each unit starts where the one before would pass the year 5138."""
    from anomaly_gan.stream.events import parse_timestamp_text

    assert parse_timestamp_text("1767225600123456789") == pytest.approx(1767225600.123457,
                                                                       abs=1e-6)
    assert parse_timestamp(99_999_999_999) == 99_999_999_999.0  # seconds: the year 5138
    assert parse_timestamp(100_000_000_001) == pytest.approx(100_000_000.001)  # ms
    assert parse_timestamp(10**14 + 1) == pytest.approx(10**8, abs=1e-3)  # us
    assert parse_timestamp(2 * 10**17) == pytest.approx(2 * 10**8, abs=1e-3)  # ns
    assert parse_timestamp(1e30) is None and parse_timestamp(10**40) is None  # past 9999


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "bad_json"),
    (b"\xff\xfe", "not_utf8"),
    ("{}".encode("utf-16"), "not_utf8"),  # UTF-16: a byte-order mark, 2 bytes a character
    (b'{"entity": "p\xe9", "ts": 1, "values": [1, 2]}', "not_utf8"),  # Latin-1
    (None, "bad_json"),
    (b"[1, 2]", "not_object"),
    (b'"text"', "not_object"),
    (enc({"ts": 1, "values": [1, 2]}), "missing_field"),
    (enc({"entity": "", "ts": 1, "values": [1, 2]}), "missing_field"),
    (enc({"entity": 7.5, "ts": 1, "values": [1, 2]}), "missing_field"),
    (enc({"entity": True, "ts": 1, "values": [1, 2]}), "missing_field"),
    (enc({"entity": "p", "values": [1, 2]}), "missing_field"),
    (enc({"entity": "p", "ts": 1}), "missing_field"),
    (enc({"entity": "p", "ts": 1, "values": "1,2"}), "missing_field"),
    (enc({"entity": "p", "ts": "yesterday", "values": [1, 2]}), "bad_timestamp"),
    (enc({"entity": "p", "ts": True, "values": [1, 2]}), "bad_timestamp"),
    (enc({"entity": "p", "ts": -5, "values": [1, 2]}), "bad_timestamp"),
    (enc({"entity": "p", "ts": 1, "values": {"temp": 1, "rpm": 2, "oil": 3}}), "unknown_feature"),
    (enc({"entity": "p", "ts": 1, "values": {"temp": 1, "pressure": 2}}), "unknown_feature"),
    (enc({"entity": "p", "ts": 1, "values": {"temp": 1}}), "missing_feature"),
    (enc({"entity": "p", "ts": 1, "values": [1, 2, 3]}), "wrong_length"),
    (enc({"entity": "p", "ts": 1, "values": [1]}), "wrong_length"),
    (b'{"entity": "p", "ts": 1, "values": [NaN, 2]}', "non_finite"),
    (b'{"entity": "p", "ts": 1, "values": [1e999, 2]}', "non_finite"),
    (enc({"entity": "p", "ts": 1, "values": [None, 2]}), "non_finite"),
    (enc({"entity": "p", "ts": 1, "values": ["1.5", 2]}), "non_finite"),
    (enc({"entity": "p", "ts": 1, "values": [True, 2]}), "non_finite"),
    (enc({"entity": "p", "ts": 1, "values": [10**400, 2]}), "non_finite"),
    (enc({"entity": "p" * 1100, "ts": 1, "values": [1, 2]}), "oversized"),
])
def test_every_invalid_kind_has_its_reason(parser, raw, reason):
    bad = parser.parse(raw)
    assert isinstance(bad, InvalidEvent)
    assert bad.reason == reason
    assert bad.reason in INVALID_REASONS
    assert bad.detail


@pytest.mark.parametrize("entity, reason", [
    ("p" * 16, None),  # at the limit
    ("p" * 17, "oversized"),
    ("é" * 8, None),  # 16 UTF-8 bytes
    ("é" * 8 + "p", "oversized"),  # 9 characters, 17 bytes
    ("\ud800", "bad_entity"),  # a lone surrogate: not valid Unicode
])
def test_entity_ids_are_bounded_in_utf8_bytes(entity, reason):
    """Every held entity keeps its id in memory; unbounded ids (up to max_event_bytes) cost
    63.7 KiB per entity at 60 KB instead of ~5 KiB, so they are refused past the limit."""
    p = EventParser(("a",), max_event_bytes=4096, max_entity_bytes=16)
    got = p.parse(json.dumps({"entity": entity, "ts": 1, "values": [1.0]}).encode())
    assert getattr(got, "reason", None) == reason
    if reason == "oversized":
        assert "max_entity_bytes 16" in got.detail


@pytest.mark.parametrize("entity, reason", [
    ("pump-7\n2026-01-01 ERROR", "bad_entity"),  # a line break: a forged text log line
    ("pump-7\r", "bad_entity"),
    ("\tpump", "bad_entity"),
    ("\x1b[31mpump\x1b[0m", "bad_entity"),  # a terminal colour
    ("p\x00", "bad_entity"),
    ("p\x7f", "bad_entity"),
    ("p\x85", "bad_entity"),  # NEL, a C1 control
    ("p\u2028", "bad_entity"),  # ends a line for splitlines()
    ("p\u2029", "bad_entity"),
    ("pump 7", None),  # a space is no control character
    ("p\u00a0é", None),  # nor a no-break space (not printable for str.isprintable)
    ("\U0001F469\u200d\U0001F4BB", None),  # an emoji with a zero-width joiner
])
def test_entity_ids_with_control_characters_are_bad_entities(entity, reason):
    """An id is written into alerts, text logs, the entity_score label and CSV files: a line
    break or an escape in it could split or forge a line there."""
    got = EventParser(("a",), max_event_bytes=4096).parse(
        json.dumps({"entity": entity, "ts": 1, "values": [1.0]}).encode())
    assert getattr(got, "reason", None) == reason
    if reason is not None:
        assert "expected no control characters" in got.detail and "\n" not in got.detail


def test_the_entity_limit_comes_from_the_config():
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.stream.intake import Intake

    class Det:
        feature_names, window, extras = ("a",), 2, {}

    cfg = config_from_dict({"serve": {"windows": {"max_entity_bytes": 20}}}).serve
    intake = Intake(Det(), cfg, dead_letter=lambda *a: None, on_drop=lambda e: None,
                    clock=lambda: 0.0)
    assert intake.parser.max_entity_bytes == 20
    assert EventParser(("a",), 4096).max_entity_bytes == 512  # the shipped default


@pytest.mark.parametrize("record", [
    {"ts": 5, "message": "GET /x 200", "level": "INFO"},  # no entity either
    {"entity": "web-1", "ts": 5, "message": "GET /x 200"},
])
def test_a_log_line_sent_to_a_numeric_model_says_so(parser, record):
    """Every dead letter said only "'entity' must be..." or "'values' is missing"."""
    bad = parser.parse(json.dumps(record).encode())
    assert bad.reason == "missing_field" and "a log line?" in bad.detail
    assert "a log line?" not in parser.parse(b'{"entity": "e", "ts": 5}').detail


@pytest.mark.parametrize("line", [
    b"2026-11-04T00:00:00Z web-1 ERROR payment gateway timeout after 5003 ms",  # RFC 3339
    b"Dec  5 10:00:01 web-1 sshd[812]: Accepted publickey for deploy",  # syslog
    b"<30>Dec  5 10:00:01 web-1 checkout[812]: GET /api/v1/cart/7955 200 10ms",
    b"2026-01-01 10:00:01,123 INFO  [main] o.a.Server - started",  # Log4j
])
def test_a_text_log_line_sent_to_a_numeric_model_says_so(parser, line):
    """docs/runbook.md: a log line sent to a numeric model says so. A plain-text line (the
    lines of a regex logs model) was only "not valid JSON: Extra data: line 1 column 5
    (char 4)" (or "Expecting value"), which named no log line."""
    bad = parser.parse(line)
    assert bad.reason == "bad_json" and bad.detail.startswith("not valid JSON: ")
    assert bad.detail.endswith(" (a log line? this model reads JSON events, a logs model "
                               "reads log lines: docs/logs.md)")
    for broken in (b'{"entity": "e", "ts": 5', b"[1, 2", b"pump-7", b""):  # JSON gone wrong
        got = parser.parse(broken)
        assert got.reason in ("bad_json", "not_object") and "a log line?" not in got.detail


def test_a_utf8_byte_order_mark_before_the_object_is_ignored(parser):
    """A Windows tool writes one at the start of a file, and a shipper tailing it sends it
    with the first record: log records ignored it, numeric events were bad_json."""
    record = enc({"entity": "pump-7", "ts": 10, "values": [1, 2]})
    assert parser.parse(b"\xef\xbb\xbf" + record) == parser.parse(record)
    assert parser.parse(b"\xef\xbb\xbf").reason == "bad_json"  # nothing after it
    assert parser.parse(b"\xef\xbb\xbf\xef\xbb\xbf" + record).reason == "bad_json"  # one only


# --------------------------------------------------------------- serve.event_fields

_HINT = (" (a log line? it has 'message' and no 'values'; this model reads numeric events, a "
         "logs model reads log lines: docs/logs.md)")
_NOT_A_TIME = "is not RFC 3339, epoch s, ms, us or ns up to year 9999"


@pytest.mark.parametrize("record, reason, detail", [
    ({"ts": 1, "values": [1, 2]}, "missing_field", "'entity' must be a non-empty string"),
    ({"entity": "", "ts": 1, "values": [1, 2]}, "missing_field",
     "'entity' must be a non-empty string"),
    ({"entity": "p", "values": [1, 2]}, "missing_field", "'ts' is missing"),
    ({"entity": "p", "ts": 1}, "missing_field", "'values' is missing"),
    ({"entity": "p", "ts": None, "values": [1, 2]}, "bad_timestamp", f"'ts' None {_NOT_A_TIME}"),
    ({"entity": "p", "ts": 1, "values": None}, "missing_field", "'values' is missing"),
    ({"entity": "p", "ts": 1, "values": "1,2"}, "missing_field",
     "'values' must be an object or a list"),
    ({"entity": "p", "ts": "yesterday", "values": [1, 2]}, "bad_timestamp",
     f"'ts' 'yesterday' {_NOT_A_TIME}"),
    ({"entity": "p", "ts": 3e9, "values": [1, 2]}, "future_timestamp",
     "'ts' 3000000000.0 is more than the allowed clock skew ahead of the wall clock"),
    ({"entity": "p", "ts": 1, "values": {"temp": 1, "rpm": 2, "oil": 3}}, "unknown_feature",
     ("unknown feature(s) ['oil']; expected ['temp', 'rpm'] (serve.unknown_features: ignore "
      "leaves such names out)")),
    ({"entity": "p", "ts": 1, "values": {"temp": 1}}, "missing_feature",
     "missing feature(s) ['rpm']"),
    ({"entity": "p", "ts": 1, "values": [1, 2, 3]}, "wrong_length",
     "'values' has 3 items, the model expects 2"),
    ({"entity": "p" * 17, "ts": 1, "values": [1, 2]}, "oversized",
     "'entity' is 17 bytes > max_entity_bytes 16"),
    ({"entity": "p\n", "ts": 1, "values": [1, 2]}, "bad_entity",
     ("'entity' 'p\\n' holds U+000A: expected no control characters (U+0000-001F, "
     "U+007F-009F, U+2028, U+2029)")),
    ({"ts": 5, "message": "GET /x 200"}, "missing_field",
     "'entity' must be a non-empty string" + _HINT),
    ({"entity": "web-1", "ts": 5, "message": "GET /x 200"}, "missing_field",
     "'values' is missing" + _HINT),
])
def test_the_default_fields_give_the_details_they_always_gave(record, reason, detail):
    """The details a producer's dead letters showed before serve.event_fields existed, byte
    for byte: with no fields given and with the default ones written out."""
    from anomaly_gan.config import EventFieldsConfig

    for fields in (None, EventFieldsConfig(), EventFieldsConfig("entity", "ts", "values")):
        p = EventParser(FEATURES, max_event_bytes=1024, max_entity_bytes=16, fields=fields)
        p.not_after = 2e9
        assert p.parse(enc(record)) == InvalidEvent(reason, detail)


TELEGRAF = {"fields": {"usage_idle": 91.5, "usage_user": 4.1}, "name": "cpu",
            "tags": {"cpu": "cpu-total", "host": "web-1"}, "timestamp": 1767225600}


def telegraf_parser(unknown_features="reject", features=("usage_user", "usage_idle"), **kw):
    from anomaly_gan.config import EventFieldsConfig

    return EventParser(features, max_event_bytes=4096, unknown_features=unknown_features,
                       fields=EventFieldsConfig(entity="tags.host", ts="timestamp",
                                                values="fields"), **kw)


def test_telegraf_json_records_are_read_with_dotted_paths():
    assert telegraf_parser().parse(enc(TELEGRAF)) == Event("web-1", 1767225600.0, [4.1, 91.5])


@pytest.mark.parametrize("record", [
    {"deviceId": "pump-7", "time": "2026-01-01T00:00:10Z", "readings": {"temp": 71.2, "rpm": 1500}},
    {"device": {"id": "pump-7"}, "time": "2026-01-01T00:00:10Z",
     "readings": {"rpm": 1500, "temp": 71.2}},
    {"device": {"id": "pump-7"}, "time": 1767225610000, "readings": [71.2, 1500]},  # epoch ms
    # a flat key that holds the dots (ECS's log.level) is read before the path
    {"device.id": "pump-7", "device": {"id": "other"}, "time": 1767225610,
     "readings": [71.2, 1500]},
])
def test_iot_gateway_records_are_read_by_key_or_nested_path(record):
    from anomaly_gan.config import EventFieldsConfig

    entity = "deviceId" if "deviceId" in record else "device.id"
    p = EventParser(FEATURES, max_event_bytes=4096,
                    fields=EventFieldsConfig(entity=entity, ts="time", values="readings"))
    assert p.parse(enc(record)) == Event("pump-7", 1767225610.0, [71.2, 1500])


@pytest.mark.parametrize("entity, expected", [
    (7, "7"), (0, "0"), (-3, "-3"), (10**30, str(10**30)),
])
def test_an_integer_entity_is_read_as_its_digits(entity, expected):
    """A numeric device id, as logs.json_fields reads a numeric entity of a log record."""
    from anomaly_gan.config import EventFieldsConfig

    ev = EventParser(FEATURES, 1024).parse(enc({"entity": entity, "ts": 1, "values": [1, 2]}))
    assert ev == Event(expected, 1.0, [1, 2])
    nested = EventParser(FEATURES, 1024, fields=EventFieldsConfig(entity="device.id"))
    assert nested.parse(enc({"device": {"id": entity}, "ts": 1, "values": [1, 2]})).entity \
        == expected


@pytest.mark.parametrize("entity", [True, 7.0, None, [7], {"id": 7}])
def test_other_entities_than_strings_and_integers_are_refused_by_the_field_name(entity):
    bad = telegraf_parser().parse(enc({**TELEGRAF, "tags": {"host": entity}}))
    assert bad == InvalidEvent("missing_field", "'tags.host' must be a non-empty string")


def test_a_long_integer_entity_is_oversized_like_a_long_string():
    bad = EventParser(FEATURES, 4096, max_entity_bytes=16).parse(
        enc({"entity": 10**20, "ts": 1, "values": [1, 2]}))
    assert bad == InvalidEvent("oversized", "'entity' is 21 bytes > max_entity_bytes 16")
    # the longest integer JSON's decoder reads (4300 digits) is still written out, then sized
    raw = b'{"entity": 9' + b"9" * 4299 + b', "ts": 1, "values": [1, 2]}'
    assert EventParser(FEATURES, 8192).parse(raw) == InvalidEvent(
        "oversized", "'entity' is 4300 bytes > max_entity_bytes 512")
    assert EventParser(FEATURES, 8192).parse(raw.replace(b"9", b"99", 1)).reason == "bad_json"


def per_cpu_parser(**kw):
    from anomaly_gan.config import EventFieldsConfig

    return EventParser(("usage_user", "usage_idle"), max_event_bytes=4096,
                       fields=EventFieldsConfig(entity=("tags.host", "tags.cpu"),
                                                ts="timestamp", values="fields"), **kw)


def test_several_entity_fields_make_one_entity_per_host_and_cpu():
    """Telegraf's cpu input with percpu = true writes a record per CPU of a host at the same
    time: with tags.host alone they were one entity's events, whose windows interleaved the
    CPUs' readings row by row; with [tags.host, tags.cpu] each CPU is its own entity."""
    p = per_cpu_parser()
    got = [p.parse(enc({**TELEGRAF, "tags": {"host": "web-1", "cpu": cpu}}))
           for cpu in ("cpu0", "cpu1", "cpu-total")]
    assert [ev.entity for ev in got] == ["web-1/cpu0", "web-1/cpu1", "web-1/cpu-total"]
    assert {(ev.ts, tuple(ev.values)) for ev in got} == {(1767225600.0, (4.1, 91.5))}
    # an integer part is its digits, as a single entity field's
    assert p.parse(enc({**TELEGRAF, "tags": {"host": "web-1", "cpu": 3}})).entity == "web-1/3"


def test_a_slash_inside_a_joined_entitys_value_makes_no_other_entitys_id():
    """Values ("a/b", "c") and ("a", "b/c") were both the id 'a/b/c': two entities shared
    one window, their rows interleaved. A '/' or '%' inside a value is written %2F or %25;
    ids of values without them, and a single field's id, are as they were."""
    parser = per_cpu_parser()

    def entity(host, cpu):
        return parser.parse(enc({**TELEGRAF, "tags": {"host": host, "cpu": cpu}})).entity

    assert entity("a/b", "c") == "a%2Fb/c" and entity("a", "b/c") == "a/b%2Fc"
    assert entity("a%2Fb", "c") == "a%252Fb/c"  # the escape itself is escaped
    assert entity("web-1", "cpu0") == "web-1/cpu0"
    single = EventParser(FEATURES, 4096)
    assert single.parse(enc({"entity": "a/b%", "ts": 10, "values": [1.0, 2.0]})).entity \
        == "a/b%"


@pytest.mark.parametrize("tags, reason, detail", [
    ({"host": "web-1"}, "missing_field", "'tags.cpu' must be a non-empty string"),
    ({"cpu": "cpu0"}, "missing_field", "'tags.host' must be a non-empty string"),
    ({"host": "web-1", "cpu": ""}, "missing_field", "'tags.cpu' must be a non-empty string"),
    ({"host": True, "cpu": "cpu0"}, "missing_field", "'tags.host' must be a non-empty string"),
    ({"host": "web-1", "cpu": "c" * 20}, "oversized",
     "'tags.host/tags.cpu' is 26 bytes > max_entity_bytes 16"),
    ({"host": "web\n1", "cpu": "cpu0"}, "bad_entity",
     ("'tags.host/tags.cpu' 'web\\n1/cpu0' holds U+000A: expected no control characters "
      "(U+0000-001F, U+007F-009F, U+2028, U+2029)")),
])
def test_a_joined_entity_names_the_field_it_lacks_and_is_checked_whole(tags, reason, detail):
    bad = per_cpu_parser(max_entity_bytes=16).parse(enc({**TELEGRAF, "tags": tags}))
    assert bad == InvalidEvent(reason, detail)


def test_a_joined_entity_of_plain_names_reads_only_its_parts():
    """Parts without dots (an IoT gateway's site and device) with the default time and
    values fields: the id is read from the parts alone, a key named as the parts joined is
    no id, and the time and values are read and checked as with one entity field."""
    from anomaly_gan.config import EventFieldsConfig

    p = EventParser(FEATURES, 4096, fields=EventFieldsConfig(entity=("site", "device")))
    ok = {"site": "plant-2", "device": 7, "ts": 10, "values": [1.0, 2.0]}
    assert p.parse(enc(ok)) == Event("plant-2/7", 10.0, [1.0, 2.0])
    joined_key = {"site/device": "plant-2/7", "ts": 10, "values": [1.0, 2.0]}
    assert p.parse(enc(joined_key)) == InvalidEvent("missing_field",
                                                    "'site' must be a non-empty string")
    assert p.parse(enc({**ok, "device": None, "ts": None})) == InvalidEvent(
        "missing_field", "'device' must be a non-empty string")  # the id is checked first
    assert p.parse(enc({k: v for k, v in ok.items() if k != "ts"})) == InvalidEvent(
        "missing_field", "'ts' is missing")
    assert p.parse(enc({**ok, "values": None, "message": "GET /"})).detail.startswith(
        "'values' is missing (a log line?")


def test_unknown_features_are_rejected_by_default_and_left_out_when_ignored():
    """A Telegraf cpu record carries every field of the measurement; a model trained on two
    of them refused every record."""
    record = {**TELEGRAF, "fields": {**TELEGRAF["fields"], "usage_guest": 0, "usage_iowait": 0.2,
                                     "state": "ok"}}
    bad = telegraf_parser().parse(enc(record))
    assert bad == InvalidEvent("unknown_feature", "unknown feature(s) ['usage_guest', "
                               "'usage_iowait', 'state']; expected ['usage_user', 'usage_idle'] "
                               "(serve.unknown_features: ignore leaves such names out)")
    assert telegraf_parser("ignore").parse(enc(record)) == Event("web-1", 1767225600.0, [4.1, 91.5])
    # a feature missing is refused either way
    short = {**TELEGRAF, "fields": {"usage_idle": 91.5, "usage_guest": 0}}
    for policy in ("reject", "ignore"):
        got = telegraf_parser(policy).parse(enc(short))
        assert got.reason == ("missing_feature" if policy == "ignore" else "unknown_feature")
    assert telegraf_parser("ignore").parse(enc(short)) == InvalidEvent(
        "missing_feature", "missing feature(s) ['usage_user']")
    # and a list's length is still the model's feature count
    assert telegraf_parser("ignore").parse(enc({**TELEGRAF, "fields": [1, 2, 3]})).reason \
        == "wrong_length"



def test_a_detail_that_lists_some_of_the_names_says_how_many_it_left_out():
    """An engineer adds the missing features the dead letter names and expects the next
    record to pass: with more than five missing (or unknown), the detail named five and
    said nothing of the rest, so the fixed record was refused again."""
    names = tuple(f"f{i}" for i in range(8))
    parser = EventParser(names, max_event_bytes=4096)
    bad = parser.parse(enc({"entity": "p", "ts": 1, "values": {"f0": 1.0}}))
    assert bad == InvalidEvent("missing_feature", "missing feature(s) ['f1', 'f2', 'f3', 'f4', "
                                                  "'f5'] and 2 more")
    extra = {**{n: 1.0 for n in names}, **{f"x{i}": 1.0 for i in range(6)}}
    bad = parser.parse(enc({"entity": "p", "ts": 1, "values": extra}))
    assert bad.reason == "unknown_feature"
    assert bad.detail.startswith("unknown feature(s) ['x0', 'x1', 'x2', 'x3', 'x4'] and 1 more; "
                                 "expected ['f0', ")


_DROP = object()  # a field left out of the record


@pytest.mark.parametrize("change, reason, detail", [
    ({"tags": {"cpu": "cpu-total"}}, "missing_field", "'tags.host' must be a non-empty string"),
    ({"tags": "web-1"}, "missing_field", "'tags.host' must be a non-empty string"),
    ({"tags": {"host": ""}}, "missing_field", "'tags.host' must be a non-empty string"),
    ({"tags": {"host": "w" * 20}}, "oversized", "'tags.host' is 20 bytes > max_entity_bytes 16"),
    ({"tags": {"host": "web\n1"}}, "bad_entity", ("'tags.host' 'web\\n1' holds U+000A: expected "
     "no control characters (U+0000-001F, U+007F-009F, U+2028, U+2029)")),
    ({"timestamp": None}, "bad_timestamp", f"'timestamp' None {_NOT_A_TIME}"),
    ({"timestamp": "soon"}, "bad_timestamp", f"'timestamp' 'soon' {_NOT_A_TIME}"),
    ({"timestamp": 3_000_000_000}, "future_timestamp", ("'timestamp' 3000000000 is more than "
     "the allowed clock skew ahead of the wall clock")),
    ({"fields": _DROP}, "missing_field", "'fields' is missing"),
    ({"fields": None}, "missing_field", "'fields' is missing"),
    ({"fields": 91.5}, "missing_field", "'fields' must be an object or a list"),
    ({"fields": [1.0]}, "wrong_length", "'fields' has 1 items, the model expects 2"),
    ({"timestamp": _DROP}, "missing_field", "'timestamp' is missing"),
    # the default shape is not read
    ({"fields": _DROP, "tags": _DROP, "timestamp": _DROP, "entity": "web-1", "ts": 1,
      "values": {"usage_user": 1, "usage_idle": 2}}, "missing_field",
     "'tags.host' must be a non-empty string"),
])
def test_details_name_the_configured_field(change, reason, detail):
    p = telegraf_parser(max_entity_bytes=16)
    p.not_after = 2e9
    record = {k: v for k, v in {**TELEGRAF, **change}.items() if v is not _DROP}
    assert p.parse(enc(record)) == InvalidEvent(reason, detail)


def test_an_absent_time_field_is_missing_a_null_one_no_time():
    from anomaly_gan.config import EventFieldsConfig

    p = EventParser(FEATURES, 1024, fields=EventFieldsConfig(ts="meta.time"))
    assert p.parse(enc({"entity": "e", "meta": {}, "values": [1, 2]})) == InvalidEvent(
        "missing_field", "'meta.time' is missing")
    assert p.parse(enc({"entity": "e", "meta": {"time": None}, "values": [1, 2]})) \
        == InvalidEvent("bad_timestamp", f"'meta.time' None {_NOT_A_TIME}")


def test_a_log_line_hint_names_the_configured_values_field():
    p = telegraf_parser()
    bad = p.parse(enc({"tags": {"host": "web-1"}, "timestamp": 5, "message": "GET /x 200"}))
    assert bad.reason == "missing_field" and bad.detail.startswith(
        "'fields' is missing (a log line? it has 'message' and no 'fields';")
    # a record with 'message' and the values field is no log line
    assert "a log line?" not in p.parse(enc({**TELEGRAF, "tags": {}, "message": "x"})).detail


def test_the_scorer_and_retrain_parse_with_the_serve_config():
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain.source import SegmentBuilder
    from anomaly_gan.stream.intake import Intake

    class Det:
        feature_names, window, extras = ("usage_user", "usage_idle"), 2, {}

    serve = config_from_dict({"serve": {"unknown_features": "ignore", "event_fields": {
        "entity": "tags.host", "ts": "timestamp", "values": "fields"}}}).serve
    intake = Intake(Det(), serve, dead_letter=lambda *a: None, on_drop=lambda e: None,
                    clock=lambda: 2e9)
    record = enc({**TELEGRAF, "fields": {**TELEGRAF["fields"], "usage_guest": 0}})
    want = Event("web-1", 1767225600.0, [4.1, 91.5])
    assert intake.parser.parse(record) == want
    assert SegmentBuilder(Det.feature_names, serve).parser.parse(record) == want


@pytest.mark.parametrize("text", [
    '{"entity": "a", "ts": 1, "values": [1.5, 2]}', ' {"entity": "a"}', '{"entity": "a"}\r\n',
    "{} {}", "{}x", "", "   ", "{", '{"a": }', "[1]", "nul", "1e400", '"x"', '{"a": NaN}',
])
def test_a_record_decodes_as_the_json_decoder_decodes_it(text):
    """decode_object reads a record that is one JSON value with the decoder's scanner alone;
    any other text (whitespace around it, more after it, no JSON) gives what
    json.JSONDecoder().decode gives, its error message included."""
    from anomaly_gan.stream.events import decode_object

    try:
        expected = json.JSONDecoder().decode(text)
    except ValueError as exc:
        assert decode_object(text) == InvalidEvent("bad_json", f"not valid JSON: {exc}")
        return
    got = decode_object(text)
    assert got == expected if type(expected) is dict else got.reason == "not_object"


def test_a_plain_record_is_decoded_without_the_decoders_python_steps(monkeypatch, parser):
    """decode() reaches the scanner through two Python calls and two whitespace matches, a
    quarter of the decoding of a typical event: a record that is one object from its
    first character to its last does without them."""
    from anomaly_gan.stream import events

    def decode(text):
        raise AssertionError("the full decoder was used")

    monkeypatch.setattr(events, "_decode", decode)
    assert parser.parse(b'{"entity": "a", "ts": 1, "values": [1, 2]}') == Event("a", 1.0, [1, 2])


@pytest.mark.parametrize("raw", [0, 0.0, -0.0, 1.0, 1767225600, 1767225600.25, 99_999_999_999,
                                 100_000_000_000, 100_000_000_000.0, 100_000_000_001,
                                 1e11 + 0.5, 5e-324])
def test_epoch_seconds_read_as_the_general_rule_reads_them(raw):
    """parse_timestamp's shortcut for epoch seconds (up to 1e11) returns what the unit rule
    returns for them: the number itself, as a float (-0.0 and 1e11 included)."""
    from anomaly_gan.stream import events

    expected = float(raw)
    if raw > events._MS_THRESHOLD:
        expected = raw / 1000
    got = parse_timestamp(raw)
    assert type(got) is float and got == expected
    assert str(got) == str(expected)  # -0.0 stays -0.0
    if raw <= events._MS_THRESHOLD:  # the general path (a unit given), to compare
        assert parse_timestamp(raw, per_second=1) == got


@pytest.mark.parametrize("digits", ["100000000000000001", "100000000000000008", "100000000000001",
                                    "100000000001", "1767225668021411753", "9007199254740993",
                                    "000100000000000000001"])
def test_epoch_digits_as_text_are_the_time_of_the_same_integer(digits):
    """A CSV cell, a command-line time or a labels stamp (parse_timestamp_text) is the
    time a JSON event's integer ts is: the text was read as a float, so 100000000000000001
    (ns, 1973) was 1e17 exactly and counted as microseconds (the year 5138), and digits
    above 2**53 were often an ulp off the exact quotient."""
    from anomaly_gan.stream.events import parse_timestamp_text

    assert parse_timestamp_text(f" {digits} ") == parse_timestamp(int(digits))


@pytest.mark.parametrize("digits", ["1767225600", "1767225600123", " 1767225600123456 ",
                                    "1767225668021411753", "100000000000000001", "20260101"])
def test_a_json_ts_of_epoch_digits_is_the_time_of_the_same_integer(parser, digits):
    """A metric event whose ``ts`` is epoch digits in a string (a producer that writes every
    field as text) is the time of the integer, as a log event's ``ts``, a CSV cell and
    ``--from`` read it: until 2026-12-07 ``"1767225600123"`` was a ``bad_timestamp`` (the
    whole record dead-lettered) and ``"20260101"`` was a date, where a log event and the
    same row in a CSV file read epoch seconds."""
    from anomaly_gan.logs.events import LogParser
    from anomaly_gan.stream.events import parse_timestamp_text

    ev = parser.parse(enc({"entity": "p", "ts": digits, "values": [1, 2]}))
    assert ev == Event("p", parse_timestamp(int(digits)), [1.0, 2.0])
    assert ev.ts == parse_timestamp_text(digits)
    got = LogParser().parse(enc({"message": "hello", "ts": digits.strip(), "entity": "p"}))
    assert got.ts == ev.ts


@pytest.mark.parametrize("digits", ["100000000000000001.5", "100000000000001.25",
                                    "1767225600000099.123456789", "1767225600360.123456789",
                                    "0000000000000000000000001767225600.5"])
def test_epoch_digits_with_a_point_are_the_time_of_the_json_number(parser, digits):
    """Digits with a point in a string (a metric event's ``ts``, a log event's, a CSV cell)
    are read as the double a JSON number of the same digits is, unit and quotient: the
    common producer sends a number, and a CSV file of the same rows must give its times.
    (``"100000000000000001.5"`` is then 1e17, microseconds, as the JSON number is. Reading
    such text exactly was tried on 2026-12-07 and made a CSV cell of fractional
    milliseconds an ulp off the JSON number in 5,041 of 20,000 random stamps.)"""
    from anomaly_gan.logs.events import LogParser
    from anomaly_gan.stream.events import parse_timestamp_text

    number = parse_timestamp(json.loads(digits.lstrip("0") or "0"))
    ev = parser.parse(enc({"entity": "p", "ts": digits, "values": [1, 2]}))
    assert ev == Event("p", number, [1.0, 2.0])
    assert parse_timestamp_text(digits) == number
    got = LogParser().parse(enc({"message": "hello", "ts": digits, "entity": "p"}))
    assert got.ts == number


@pytest.mark.parametrize("record, reason", [
    ({"entity": "p", "ts": "password=hunter2x", "values": [1, 2]}, "bad_timestamp"),
    ({"entity": "p", "ts": "Bearer hunter2xyz0123", "values": [1, 2]}, "bad_timestamp"),
    ({"entity": "p token=hunter2x\n", "ts": 1, "values": [1, 2]}, "bad_entity"),
    ({"entity": "p", "ts": 1, "values": ["api_key=hunter2x", 2]}, "non_finite"),
])
def test_a_refused_field_is_quoted_without_its_credentials(parser, record, reason):
    """A refused event's detail (a dead letter's ``detail`` header, serve's log) quoted the
    field as sent, where a log line's detail quotes it redacted (docs/logs.md)."""
    got = parser.parse(enc(record))
    assert got.reason == reason
    assert "hunter2x" not in got.detail and "<SECRET>" in got.detail, got.detail
