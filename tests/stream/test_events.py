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
    (enc({"entity": 7, "ts": 1, "values": [1, 2]}), "missing_field"),
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


def test_a_utf8_byte_order_mark_before_the_object_is_ignored(parser):
    """A Windows tool writes one at the start of a file, and a shipper tailing it sends it
    with the first record: log records ignored it, numeric events were bad_json."""
    record = enc({"entity": "pump-7", "ts": 10, "values": [1, 2]})
    assert parser.parse(b"\xef\xbb\xbf" + record) == parser.parse(record)
    assert parser.parse(b"\xef\xbb\xbf").reason == "bad_json"  # nothing after it
    assert parser.parse(b"\xef\xbb\xbf\xef\xbb\xbf" + record).reason == "bad_json"  # one only
