import json

from anomaly_gan.logs.events import LogEvent, LogParser
from tests.logs.conftest import SYSLOG_REGEX


def test_json_lines():
    p = LogParser(format="json", max_bytes=200)
    ev = p.parse(json.dumps({"entity": "checkout-svc", "ts": "2026-01-01T00:00:10Z",
                             "level": "error", "message": "boom"}).encode())
    assert ev == LogEvent("checkout-svc", 1767225610.0, "ERROR", "boom")
    assert p.parse(b'{"entity": "a", "ts": 5, "message": "m"}').level == ""


def test_json_rejections_carry_a_reason():
    p = LogParser(format="json", max_bytes=60)
    assert p.parse(b"\xff\xfe not utf-8").reason == "not_utf8"
    assert p.parse(b'{"entity": "a", "ts": 1, "message": "' + b"x" * 80 + b'"}').reason \
        == "oversized"
    assert p.parse(b"{nope").reason == "bad_json"
    assert p.parse(b"[1]").reason == "not_object"
    assert p.parse(b'{"entity": "a", "ts": 1}').reason == "missing_field"
    assert p.parse(b'{"ts": 1, "message": "m"}').reason == "missing_field"
    assert p.parse(b'{"entity": "a", "message": "m"}').reason == "missing_field"
    assert p.parse(b'{"entity": "a", "ts": "soon", "message": "m"}').reason == "bad_timestamp"
    assert LogParser(format="json", entity="svc").parse(b'{"ts": 1, "message": "m"}').entity \
        == "svc"


def test_regex_lines():
    p = LogParser(format="regex", regex=SYSLOG_REGEX)
    ev = p.parse(b"2026-01-01T00:00:10.500Z checkout-svc WARN slow query 1200 ms\n")
    assert ev == LogEvent("checkout-svc", 1767225610.5, "WARN", "slow query 1200 ms")
    assert p.parse(b"garbage").reason == "no_match"
    assert p.parse(b"2026-01-01T00:00:10Z ERROR no entity here").reason == "missing_field"
    assert p.parse(b"yesterday web ERROR x").reason == "bad_timestamp"


def test_regex_with_a_timestamp_format_and_a_default_entity():
    p = LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<message>.*)$",
                  timestamp_format="%Y-%m-%d %H:%M:%S", entity="app")
    assert p.parse("2026-01-01 00:00:10 started").ts == 1767225610.0
    assert p.parse("2026/01/01 00:00:10 started").reason == "bad_timestamp"


def test_lines_without_time_are_fine_when_counting_per_n_lines():
    p = LogParser(format="regex", regex=r"^(?P<message>.*)$", entity="bgl", need_ts=False)
    assert p.parse("anything").ts is None
    assert LogParser(format="regex", regex=r"^(?P<message>.*)$", entity="bgl").parse(
        "anything").reason == "missing_field"


def test_entity_ids_over_the_limit_are_oversized_in_both_formats():
    long = "svc-" + "x" * 40
    p = LogParser(format="json", max_entity_bytes=16)
    got = p.parse(json.dumps({"entity": long, "ts": 1, "message": "m"}).encode())
    assert got.reason == "oversized" and "max_entity_bytes 16" in got.detail
    p = LogParser(format="regex", regex=SYSLOG_REGEX, max_entity_bytes=16)
    assert p.parse(f"2026-01-01T00:00:10Z {long} WARN slow".encode()).reason == "oversized"
    assert p.parse(b"2026-01-01T00:00:10Z short-svc WARN slow").entity == "short-svc"
