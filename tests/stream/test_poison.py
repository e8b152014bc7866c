"""Poison records: whatever bytes and key a record holds, handling it ends in a scored event
or a DLQ record with a reason, never in an exception that stops the loop."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomaly_gan.stream.events import INVALID_REASONS, EventParser
from tests.support.hostmetrics import kv
from tests.support.stream_fakes import IN, FakeIO, FakeModel, Record, make

NOW = 1_795_000_000.0  # the fake wall clock: 2026-11-18


def parser():
    p = EventParser(("a", "b"), max_event_bytes=1 << 20)
    p.not_after = NOW + 300.0
    return p


def event(**fields):
    body = {"entity": "e", "ts": 10, "values": [1.0, 2.0], **fields}
    return json.dumps(body).encode()


def test_the_records_that_crashed_the_service_are_rejected_with_a_reason():
    p = parser()
    assert p.parse(b"[" * 60_000).reason == "bad_json"
    assert p.parse(b'{"entity": "e", "ts": 1' + b"0" * 400 + b', "values": [1, 2]}').reason \
        == "bad_timestamp"
    # 1e18 crashed it as ms (the year 31 million); it is read as ns (2001) since they are
    # read at all, and a larger number is past the year 9999 in any unit
    assert p.parse(event(ts=1e27)).reason == "bad_timestamp"
    assert p.parse(event(ts=1e18)).ts == 1e9
    assert p.parse(event(ts=NOW + 3600)).reason == "future_timestamp"
    assert p.parse(event(ts=NOW + 60)).ts == NOW + 60  # within the allowed skew
    assert p.parse(event(ts="9999-12-31T23:59:59-01:00")).reason == "bad_timestamp"
    assert p.parse(event(entity="\ud800")).reason == "bad_entity"
    assert p.parse(event(values=[[[[1]]], 2])).reason == "non_finite"
    assert p.parse(event(values=[10**400, 2])).reason == "non_finite"


def scorer(max_event_bytes=4096, **serve):
    io = FakeIO([])
    s, reg = make(io, model=FakeModel(window=2), consecutive=1,
                  windows={"max_event_bytes": max_event_bytes}, serve=serve)
    s.clock = lambda: NOW
    return s, io, reg


def test_an_entity_with_a_control_character_is_a_dead_letter_of_its_own_reason():
    """The id would reach alerts, text logs and the entity_score label as it stands: a
    record naming ``pump-7\\n...`` is refused before any state is kept for it."""
    s, io, reg = scorer()
    forged = event(entity="pump-7\n2026-01-01 ERROR forged")
    io.batches.append([Record(0, b"k", forged), Record(1, b"k", event(entity="pump-7", ts=11))])
    s.step()
    [(topic, _, value, headers)] = io.sent
    h = dict(headers)
    assert topic == "anomaly-gan.dlq" and value == forged and h["reason"] == b"bad_entity"
    assert b"U+000A" in h["detail"] and b"\n" not in h["detail"]
    assert reg.get_sample_value("anomaly_gan_events_invalid_total", {"reason": "bad_entity"}) == 1
    assert reg.get_sample_value("anomaly_gan_dlq_total", {"reason": "bad_entity"}) == 1
    assert len(s.intake.state) == 1 and "pump-7" in s.intake.state


def test_an_oversized_record_reaches_the_dlq_truncated_and_says_so():
    s, io, _ = scorer(max_event_bytes=1024)
    big = event(pad="x" * (1 << 20))
    io.batches.append([Record(0, b"k" * 5000, big)])
    s.step()
    [(topic, key, value, headers)] = io.sent
    h = dict(headers)
    assert topic == "anomaly-gan.dlq" and h["reason"] == b"oversized"
    assert value == big[:1024] and h["truncated"] == f"value: first 1024 of {len(big)} bytes".encode()
    assert key == b"k" * 1024 and b"5000" in h["truncated_key"]


# ------------------------------------------------------------------ the property

_numbers = st.one_of(
    st.integers(), st.floats(), st.integers(min_value=-(10**500), max_value=10**500),
    st.sampled_from([1e18, 1e11, NOW, NOW + 299, NOW + 301, -1, 0, 253_402_300_800]))
_json = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=10)
_ts = st.one_of(_numbers, st.text(max_size=30), _json,
                st.datetimes().map(lambda d: d.isoformat()),
                st.floats(min_value=NOW - 1000, max_value=NOW + 1000))
_values = st.one_of(
    st.lists(_numbers, min_size=2, max_size=2),
    st.fixed_dictionaries({"a": _numbers, "b": _numbers}),
    _json)
_event = st.fixed_dictionaries(
    {}, optional={"entity": st.one_of(st.sampled_from(["e", "f", "", "\ud800x", "e\n", "\x1b[1me",
                                                       "e\u2028f"]), _json),
                  "ts": _ts, "values": _values, "pad": st.text(max_size=50)})


def _encode(obj) -> bytes:
    try:
        return json.dumps(obj).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"{}"


_raw = st.one_of(
    _event.map(_encode),
    st.binary(max_size=64),
    st.integers(0, 100_000).map(lambda n: b"[" * n),
    st.integers(0, 50_000).map(lambda n: b'{"a":' * n),
    st.integers(4000, 2_000_000).map(lambda n: b'{"entity": "e", "pad": "' + b"x" * n + b'"}'),
    st.none())
_record = st.tuples(st.one_of(st.none(), st.binary(max_size=2048)), _raw)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(st.lists(_record, min_size=1, max_size=12))
def test_any_record_ends_scored_or_in_the_dlq_never_in_an_exception(pairs):
    ends_scored_or_in_the_dlq(pairs)


def ends_scored_or_in_the_dlq(pairs, **serve):
    s, io, reg = scorer(**serve)
    records = [Record(i, key, value) for i, (key, value) in enumerate(pairs)]
    io.batches.append(records)
    s.step()  # parse, window, score, alert formatting
    s._score_batch()
    assert s._commit(force=True)

    dlq = [dict(h) for t, _, _, h in io.sent if t == "anomaly-gan.dlq"]
    reasons = [h["reason"].decode() for h in dlq]
    assert set(reasons) <= set(INVALID_REASONS) - {"unprocessable"}, reasons
    assert reg.get_sample_value("anomaly_gan_events_consumed_total") == len(records)
    assert sum(reg.get_sample_value("anomaly_gan_dlq_total", {"reason": r})
               for r in INVALID_REASONS) == len(dlq)
    for topic, key, value, _ in io.sent:
        assert len(value) + len(key or b"") < 1_000_000  # fits one producer request
        if topic != "anomaly-gan.dlq":
            json.loads(value)  # alerts and scores are valid JSON
    assert io.commits[-1][IN] <= len(records)
    s._pool.shutdown()


_telegraf = st.fixed_dictionaries(
    {}, optional={"tags": st.one_of(st.fixed_dictionaries({}, optional={
                      "host": st.one_of(st.sampled_from(["web-1", "", "w\n"]), _numbers, _json)}),
                      _json),
                  "timestamp": _ts, "name": st.text(max_size=5), "message": _json,
                  "fields": st.one_of(_values, st.dictionaries(
                      st.sampled_from(["a", "b", "c", "d"]), _numbers | _json, max_size=4))})


@settings(max_examples=300, deadline=None)
@given(_telegraf, st.sampled_from(["reject", "ignore"]))
def test_events_read_through_dotted_fields_are_valid_or_have_a_reason(record, unknown):
    """serve.event_fields' paths through nested objects: whatever sits on the path (an
    integer entity, a list, a null) ends in an event or one of the reasons."""
    from anomaly_gan.config import EventFieldsConfig
    from anomaly_gan.stream.events import Event

    p = EventParser(("a", "b"), max_event_bytes=1 << 20, unknown_features=unknown,
                    fields=EventFieldsConfig(entity="tags.host", ts="timestamp", values="fields"))
    p.not_after = NOW + 300.0
    got = p.parse(_encode(record))
    if type(got) is Event:
        assert type(got.entity) is str and got.entity and len(got.values) == 2
        assert not isinstance(record["tags"]["host"], bool)
    else:
        assert got.reason in set(INVALID_REASONS) - {"unprocessable"} and got.detail


# serve.assemble_seconds: records with some of the features, repeated, late or out of slot
_part = st.fixed_dictionaries(
    {"entity": st.sampled_from(["e", "f", "", "e\n"]),
     "ts": st.one_of(st.integers(0, 40), st.floats(0, 40), _ts),
     "values": st.one_of(st.dictionaries(st.sampled_from(["a", "b", "c"]), _numbers | _json,
                                         max_size=3), _values)})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.none(), st.one_of(_part.map(_encode), _raw)), min_size=1,
                max_size=16))
def test_assembled_records_end_scored_or_in_the_dlq_never_in_an_exception(pairs):
    ends_scored_or_in_the_dlq(pairs, assemble_seconds=10.0)


# ------------------------------------------------------------------ today's configurations
# data.counters (each entity's last raw counter values), serve.alerts.resolve_windows (open
# incidents), silences with glob characters, hop > 1 and a small entity table (evictions
# mid-incident): the same property, with a model that reads feature "a" as a counter.

_ENTITIES = ["e", "f", "[e]", "e*", "e?", "*", "\\", "(?>", "a" * 300, "e/f%"]
_counter_values = st.one_of(
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 0.0,
                     -1.0, 1e300, 5e-324, "1", True, False, None, float("nan"), "inf"]),
    _numbers)
_counted = st.fixed_dictionaries(
    {"entity": st.sampled_from(_ENTITIES), "ts": st.integers(0, 400),
     "values": st.one_of(st.tuples(_counter_values, st.floats(-5, 20)).map(list),
                         st.fixed_dictionaries({"a": _counter_values, "b": _numbers}))})
_SILENCES = ["*e*", "[e]", "e?", "?", "\\", "(?>", "a*a*a*a*a*a*a*a*a*a*b", "*/*", "e*"]


class CountingModel(FakeModel):
    """Reads feature "a" as a counter. Scores as the real detector's can be: a window it
    cannot compute (an inf increase) is +inf, a finite score is far below 1e308."""

    counters = (0,)

    def score_windows(self, raw):
        res = super().score_windows(raw)
        s = np.where(np.isfinite(res.score), np.clip(res.score, -1e6, 1e6), np.inf)
        res.score, res.is_anomaly, res.components = s, s > self.threshold, {"reconstruction": s}
        return res


def counting_scorer(hop=1, resolve_windows=2, max_entities=3, silenced=(), alerts=None,
                    **serve):
    from anomaly_gan.stream.silences import Silence, Silences

    model = CountingModel(window=2)
    io = FakeIO([])
    s, reg = make(io, model=model, consecutive=1, resolve_windows=resolve_windows,
                  windows={"max_event_bytes": 4096, "hop": hop, "max_entities": max_entities,
                           "gap_seconds": 50.0},
                  serve=serve, **(alerts or {}))
    s.clock = lambda: NOW
    if silenced:
        s.publisher.silences = Silences([Silence(p, None, 200.0, "poison") for p in silenced])
    return s, io, reg


def ends_scored_or_dead_lettered(s, io, reg, values: list[bytes | None]):
    """Each value one record, read in batches of 5 with a commit after each: every record
    consumed, every DLQ reason a parser's, output valid JSON, the commit never past a read
    record and never moving back."""
    records = [Record(i, b"k", v) for i, v in enumerate(values)]
    commits = []
    for i in range(0, len(records), 5):
        io.batches.append(records[i:i + 5])
        s.step()
        s._score_batch()
        assert s._commit(force=True)
        commits.append(io.commits[-1][IN])
    reasons = [dict(h)["reason"].decode() for t, _, _, h in io.sent if t == "anomaly-gan.dlq"]
    assert set(reasons) <= set(INVALID_REASONS) - {"unprocessable"}, reasons
    assert reg.get_sample_value("anomaly_gan_events_consumed_total") == len(records)
    for topic, _, value, _ in io.sent:
        if topic != "anomaly-gan.dlq":
            json.loads(value)
    assert all(c <= len(records) for c in commits)
    s._pool.shutdown()
    return reasons


@pytest.mark.filterwarnings("error")  # a warning in the loop is a bug it would print to stderr
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_counted.map(_encode), _event.map(_encode)), min_size=1,
                max_size=20),
       st.sampled_from([1, 3]), st.sampled_from([0, 1, 3]), st.sampled_from([1, 3]),
       st.lists(st.sampled_from(_SILENCES), max_size=4))
def test_counters_incidents_evictions_and_silences_end_scored_or_in_the_dlq(
        values, hop, resolve_windows, max_entities, silenced):
    s, io, reg = counting_scorer(hop, resolve_windows, max_entities, silenced)
    ends_scored_or_dead_lettered(s, io, reg, values)


_counted_part = st.fixed_dictionaries(
    {"entity": st.sampled_from(_ENTITIES[:6]), "ts": st.integers(0, 60),
     "values": st.dictionaries(st.sampled_from(["a", "b"]), _counter_values, max_size=2)})


@pytest.mark.filterwarnings("error")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_counted_part.map(_encode), _raw), min_size=1, max_size=16),
       st.sampled_from([1, 2]))
def test_assembled_counters_with_resolutions_end_scored_or_in_the_dlq(values, hop):
    s, io, reg = counting_scorer(hop, 2, 2, ["e*"], assemble_seconds=10.0)
    ends_scored_or_dead_lettered(s, io, reg, values)


BIG = 1.7976931348623157e308  # the largest float: one step from it to its negative is inf
_COUNTER_RUNS = {
    "overflow": [-BIG, BIG, BIG, BIG, BIG, BIG],
    "overflow both ways": [BIG, -BIG, BIG, -BIG, BIG, -BIG],
    "reset every event": [5.0, 1.0, 0.0, -1.0, -2.0, -3.0],
    "strings and bools": ["1", True, 2.0, False, None, 3.0],
    "huge then small": [1e300, 1e-300, 1e300, 5e-324, 0.0, 1.0],
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("run", list(_COUNTER_RUNS), ids=list(_COUNTER_RUNS))
@pytest.mark.parametrize("hop", [1, 2])
def test_hostile_counter_runs_end_scored_or_in_the_dlq(run, hop):
    s, io, reg = counting_scorer(hop, resolve_windows=1, max_entities=2, silenced=["e?"])
    values = [_encode({"entity": e, "ts": t, "values": [v, 50.0 if t % 2 else 0.0]})
              for t, v in enumerate(_COUNTER_RUNS[run]) for e in ("e", "e1")]
    ends_scored_or_dead_lettered(s, io, reg, values)


@pytest.mark.filterwarnings("error")
def test_an_overflowing_counter_is_unscorable_once_and_the_entity_recovers():
    """-1e308 then 1e308: the increase is inf. The window ending there is unscorable (a +inf
    score, counted, alerted with a null score); the next windows score again and the
    incident resolves: the entity's windows are not unscorable for ever."""
    s, io, reg = counting_scorer(resolve_windows=2)
    run = [0.0, -BIG, BIG, BIG + 0.0, BIG, BIG, BIG]
    values = [_encode({"entity": "e", "ts": t, "values": [v, 0.0]}) for t, v in enumerate(run)]
    assert ends_scored_or_dead_lettered(s, io, reg, values) == []
    assert reg.get_sample_value("anomaly_gan_windows_unscorable_total") == 1
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [(a["status"], a["window_end_ts"] if a["status"] == "firing" else a["resolved_at"])
            for a in alerts][:1] == [("firing", 2.0)]
    assert alerts[0]["score"] is None and alerts[-1]["status"] == "resolved"
    scores = [json.loads(v)["score"] for t, _, v, _ in io.sent if t == "scores"]
    assert scores == [None, 0.0, 0.0, 0.0, 0.0]


# serve.event_format otlp_json / otlp_proto: Collector batches whose "a" is a cumulative sum
# (data.counters), assembled per slot, with resolutions and a glob silence
_sum_value = st.one_of(
    st.sampled_from([BIG, -BIG, 0.0, -1.0, 1e300]).map(lambda v: {"asDouble": v}),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: {"asInt": str(v)}),
    st.sampled_from([{"asDouble": "NaN"}, {"asDouble": "Infinity"}, {}, {"asInt": "x"}]))


def _otlp_batch(host, t, a, b):
    ns = str(int(t * 10**9))
    return {"resourceMetrics": [{"resource": {"attributes": [kv("host.name", host)]},
                                 "scopeMetrics": [{"metrics": [
        {"name": "a", "sum": {"isMonotonic": True, "aggregationTemporality": 2,
                              "dataPoints": [{"timeUnixNano": ns, **a}]}},
        {"name": "b", "gauge": {"dataPoints": [{"timeUnixNano": ns, **b}]}}]}]}]}


_otlp = st.builds(_otlp_batch, st.sampled_from(_ENTITIES[:6]), st.integers(0, 60), _sum_value,
                  _sum_value)


@pytest.mark.filterwarnings("error")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_otlp, _json), min_size=1, max_size=16),
       st.sampled_from(["otlp_json", "otlp_proto"]), st.sampled_from([1, 2]))
def test_otlp_counters_with_resolutions_end_scored_or_in_the_dlq(docs, fmt, hop):
    from tests.support.otlp import to_proto

    def encoded(doc):
        if fmt == "otlp_json":
            return _encode(doc)
        try:
            return to_proto(doc)
        except Exception:  # noqa: BLE001 - not a request protobuf can hold: random bytes
            return _encode(doc)

    s, io, reg = counting_scorer(hop, 2, 3, ["e*", "[e]"], assemble_seconds=10.0,
                                 event_format=fmt)
    ends_scored_or_dead_lettered(s, io, reg, [encoded(d) for d in docs])


# serve.alerts.silences_path: entity ids made of glob and regex characters, and a long id
# against many patterns, through the scorer's own watcher
_SILENCED_IDS = [("[e]", "[e]", True), ("[e]", "e", False), ("e?", "e*", True),
                 ("e?", "e", False), ("(?>", "(?>", True), ("\\", "\\", True),
                 ("*/*", "e/f%", True), ("e*", "e\\x", True), ("*a*a*b", "a" * 500, False),
                 ("?" * 500, "a" * 500, True), ("?" * 501, "a" * 500, False)]


@pytest.mark.parametrize(("pattern", "entity", "silenced"), _SILENCED_IDS)
def test_silences_of_glob_characters_mute_exactly_their_entities(tmp_path, pattern, entity,
                                                                  silenced):
    path = tmp_path / "silences.yaml"
    # many patterns before the one that decides, each to be tried against the id
    decoys = [{"entity": "*a" * 20 + f"*{i}", "end": 200} for i in range(1000)]
    path.write_text(json.dumps({"silences": [*decoys, {"entity": pattern, "end": 200}]}))
    s, io, reg = counting_scorer(resolve_windows=1, alerts={"silences_path": str(path)})
    run = [(0, 0.0), (1, 1.0), (2, 50.0), (3, 51.0), (4, 51.0), (5, 51.0)]
    values = [_encode({"entity": entity, "ts": t, "values": [v, 0.0]}) for t, v in run]
    assert ends_scored_or_dead_lettered(s, io, reg, values) == []
    sent = [json.loads(v)["status"] for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert s.publisher.alerts_silenced == (1 if silenced else 0)
    assert sent == ([] if silenced else ["firing", "resolved"])


# OTLP/JSON numbers beyond a double: json.loads reads 10**400 as an exact int, and float()
# of it raised OverflowError, which the intake sent to the DLQ as "unprocessable" (a bug)
_HUGE = 10**400


def _huge(part):
    doc = _otlp_batch("web-1", 1, {"asInt": "1"}, {"asDouble": 1.0})
    point = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["dataPoints"][0]
    if part == "asInt":
        point["asInt"] = -_HUGE
    elif part == "attribute":
        point["attributes"] = [{"key": "cpu", "value": {"doubleValue": _HUGE}}]
    else:  # the entity: the resource's host.name
        doc["resourceMetrics"][0]["resource"]["attributes"] = [
            {"key": "host.name", "value": {"doubleValue": _HUGE}}]
    return json.dumps(doc).encode()


_BEYOND = "'doubleValue' is an integer out of a double's range"


@pytest.mark.parametrize(("part", "reason", "detail"), [
    ("asInt", "non_finite", "'asInt' is an integer out of float range"),
    ("attribute", "missing_field", f"attribute 'cpu': {_BEYOND}"),
    ("entity", "missing_field", f"attribute 'host.name': {_BEYOND}"),
])
def test_an_otlp_number_beyond_a_double_is_a_dead_letter_with_its_reason(part, reason, detail):
    s, io, reg = counting_scorer(event_format="otlp_json", assemble_seconds=10.0)
    ok = [json.dumps(_otlp_batch("web-1", t, {"asInt": str(t)}, {"asDouble": 1.0})).encode()
          for t in (20, 40, 60)]
    assert ends_scored_or_dead_lettered(s, io, reg, [_huge(part), *ok]) == [reason]
    [h] = [dict(h) for t, _, _, h in io.sent if t == "anomaly-gan.dlq"]
    assert h["detail"].decode().endswith(detail)
    assert [json.loads(v)["entity"] for t, _, v, _ in io.sent if t == "scores"] == ["web-1"]


@pytest.mark.parametrize("name", ["é" * 300, "x" + "é" * 300, "€" * 300, "😀" * 300])
def test_a_long_detail_is_cut_to_whole_characters(name):
    """The detail header is cut at 512 bytes; cut inside a character's UTF-8 bytes it was
    no UTF-8, and a DLQ consumer decoding its headers failed on the record."""
    s, io, _ = scorer()
    io.batches.append([Record(0, b"k", event(values={"a": 1, "b": 2, name: 3}))])
    s.step()
    [(topic, _, _, headers)] = io.sent
    detail = dict(headers)["detail"]
    assert topic == "anomaly-gan.dlq" and 509 <= len(detail) <= 512
    assert detail.decode("utf-8").startswith(f"unknown feature(s) ['{name[:20]}")
    s._pool.shutdown()


_AT_LIMIT = event(pad="")  # padded below to exactly max_event_bytes


@pytest.mark.parametrize(("raw", "reason"), [
    (event(pad="x" * (4096 - len(_AT_LIMIT))), None),  # exactly max_event_bytes: read
    (event(pad="x" * (4097 - len(_AT_LIMIT))), "oversized"),  # one byte more
    (b"\xef\xbb\xbf" * 2 + event(), "bad_json"),  # one byte-order mark is skipped, not two
    # epoch digits as a string: the integer's time, as a log event's and a CSV cell's
    # (until 2026-12-07 bad_timestamp); with a second point no number
    (event(ts="1767225600"), None), (event(ts="1767225600.5.1"), "bad_timestamp"),
    (event(entity="é" * 257), "oversized"),  # 257 characters, 514 UTF-8 bytes > 512
    (event(values=[2**64, -0.0]), None),  # a large exact int and a negative zero are values
])
def test_records_at_the_edges_of_the_rules_are_read_or_refused_exactly(raw, reason):
    p = EventParser(("a", "b"), max_event_bytes=4096)
    got = p.parse(raw)
    assert getattr(got, "reason", None) == reason, got


@pytest.mark.parametrize("reading", [1e308, -1e308, 1.7976931348623157e308])
def test_a_reading_near_the_float64_limit_is_alerted_on_without_a_warning(stream_detector,
                                                                          plant, reading):
    """A finite reading a float64 barely holds, on a sensor whose spread is below 1 (the
    plant's load: 0.34), is more spreads out than a float64 holds. Ranking it (which feature
    an unscorable window names) overflowed, and the real model's scoring put numpy's
    'RuntimeWarning: overflow encountered in divide' into serve's log (fuzz through the
    embedded broker); under a warnings filter that raises, the loop failed on it."""
    io = FakeIO([])
    s, reg = make(io, model=stream_detector, consecutive=1)
    s.clock = lambda: NOW
    w, load = stream_detector.window, stream_detector.feature_names.index("load")
    rows = [plant.values[0, t].tolist() for t in range(w + 2)]
    rows[w][load] = reading
    io.batches.append([Record(t, b"p", json.dumps({"entity": "p", "ts": 10.0 * t, "values": x})
                              .encode()) for t, x in enumerate(rows)])
    with warnings.catch_warnings():  # the model's thread too: the filters are the process's
        warnings.simplefilter("error", RuntimeWarning)  # (Keras' DeprecationWarnings aside)
        s.step()
        s._score_batch()
    assert reg.get_sample_value("anomaly_gan_windows_unscorable_total") == 2
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [(a["window_end_ts"], a["score"], a["top_features"][0]) for a in alerts] == \
        [(10.0 * w, None, "load"), (10.0 * (w + 1), None, "load")]


def test_a_bug_that_every_record_trips_is_logged_once_per_kind_not_per_record(monkeypatch,
                                                                               caplog):
    """Handling that raises (a bug) sends the record to the DLQ as unprocessable and reads
    on; it also logged a traceback per record: 1,000 records that trip the same bug were
    9,002 lines (529 KB) of log. The first of each kind (exception type and the line that
    raised it) is logged, the rest counted."""
    s, io, reg = scorer()

    def push(entity, ts, values, *rest):
        if values[0] == 7.0:
            raise ValueError("another bug")
        raise KeyError("a bug")

    monkeypatch.setattr(s.intake.state, "push", push)
    io.batches.append([Record(i, b"k", event(ts=i, values=[7.0 if i % 100 == 99 else 1.0, 2.0]))
                       for i in range(300)])
    with caplog.at_level(logging.ERROR, "anomaly_gan.stream"):
        s.step()
    assert reg.get_sample_value("anomaly_gan_dlq_total", {"reason": "unprocessable"}) == 300
    logged = [r for r in caplog.records if "could not be handled" in r.getMessage()]
    assert [(r.exc_info[0], r.getMessage().split()[1]) for r in logged] == [
        (KeyError, "events/0/0"), (ValueError, "events/0/99")]
