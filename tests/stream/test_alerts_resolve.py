"""Resolution records (serve.alerts.resolve_windows): the debouncer's incidents, their
records, and the order in which the publisher sends them."""

from __future__ import annotations

import json

from anomaly_gan.stream.alerts import (
    Debouncer,
    alert_id,
    build_resolution,
    dumps,
    iso_utc,
    resolution_id,
)
from anomaly_gan.stream.state import WindowBatch, WindowState
from tests.support.stream_fakes import FakeIO, events, make

A, N = True, False


def feed(d, flags, entity="a"):
    """(alerted, resolved) per window, window end = its index."""
    out = []
    for t, f in enumerate(flags):
        out.append((d.update(entity, float(t), f), d.closed is not None))
    return out


def test_resolve_windows_0_keeps_the_debounce_of_before_and_never_resolves():
    flags = [A, A, N, A, A, A, N, N, N, N, A, A, A]
    old = Debouncer(consecutive=2, cooldown_seconds=3)
    new = Debouncer(consecutive=2, cooldown_seconds=3, resolve_windows=0)
    got = feed(new, flags)
    assert [a for a, _ in got] == [a for a, _ in feed(old, flags)]
    assert not any(r for _, r in got) and new.incident("a") is None
    assert new.held_windows("a") == new.run_length("a") == 3


def test_fewer_normal_windows_than_resolve_windows_continue_the_incident():
    d = Debouncer(consecutive=2, cooldown_seconds=0, resolve_windows=3)
    got = feed(d, [N, A, A, N, N, A, N, N, N])
    assert got == [(False, False), (False, False), (True, False), (False, False),
                   (False, False), (False, False), (False, False), (False, False),
                   (False, True)]
    incident = d.closed
    assert (incident.since, incident.resolved_ts) == (1.0, 8.0)  # the 3rd normal in a row
    assert (incident.alerts, incident.anomalous, incident.span) == (1, 3, 8)
    assert d.incident("a") is None and not d.active


def test_an_alert_inside_an_open_incident_keeps_its_anomalous_since():
    d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=2)
    feed(d, [N, A, N, A])
    assert d.run_since("a") == 3.0  # the run is new ...
    assert d.anomalous_since("a") == 1.0  # ... the incident is not
    assert d.incident("a").alerts == 2 and d.held_windows("a") == 3


def test_the_cooldown_holds_inside_an_incident_and_ends_with_its_resolution():
    d = Debouncer(consecutive=1, cooldown_seconds=100, resolve_windows=2)
    got = feed(d, [A, N, A, N, N, A])
    assert [a for a, _ in got] == [True, False, False, False, False, True]
    assert [r for _, r in got] == [False, False, False, False, True, False]
    # without resolutions the cooldown would have kept the second incident quiet
    assert [a for a, _ in feed(Debouncer(1, 100), [A, N, A, N, N, A])] == [
        True, False, False, False, False, False]


def test_forget_and_retain_drop_an_open_incident():
    d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=1)
    d.update("a", 0.0, True)
    d.update("b", 0.0, True)
    d.retain(lambda e: e == "a")
    d.forget("a")
    assert d.incident("a") is None and d.incident("b") is None and not d.active
    assert d.update("a", 1.0, False) is False and d.closed is None


def test_resolution_record_and_its_deterministic_id():
    d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=2)
    feed(d, [A, A, N, N], entity="pump-1")
    d.closed.alert_id = alert_id("pump-1", 1.0, "v1")
    rec = json.loads(dumps(build_resolution(entity="pump-1", incident=d.closed,
                                            model_version="v1", model_kind="ganomaly",
                                            normal_windows=2)))
    assert rec == {
        "status": "resolved", "resolution_id": resolution_id("pump-1", 3.0, "v1"),
        "alert_id": alert_id("pump-1", 1.0, "v1"), "entity": "pump-1",
        "anomalous_since": iso_utc(0.0), "anomalous_since_ts": 0.0,
        "resolved_at": iso_utc(3.0), "resolved_at_ts": 3.0, "duration_seconds": 3.0,
        "alerts": 2, "anomalous_windows": 2, "normal_windows": 2, "model_version": "v1",
        "model_kind": "ganomaly"}
    assert len({resolution_id("pump-1", 3.0, "v1"), resolution_id("pump-2", 3.0, "v1"),
                resolution_id("pump-1", 4.0, "v1"), resolution_id("pump-1", 3.0, "v2"),
                alert_id("pump-1", 3.0, "v1")}) == 5


def alert_topic(io):
    return [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]


def test_firing_and_resolved_records_go_out_in_window_order(caplog):
    """Within one batch: an incident fires, resolves, and the next one fires; the records
    keep that order, keyed by the entity, and the counter and the log line follow."""
    values = [1.0] * 3 + [50.0] + [1.0] * 2 + [50.0, 50.0] + [1.0] * 2
    io = FakeIO([events(list(enumerate(values)))])
    scorer, reg = make(io, consecutive=1, cooldown_seconds=1000.0, resolve_windows=2)
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        scorer.step()
        scorer._score_batch()
    recs = alert_topic(io)
    assert [(r["status"], r.get("window_end_ts", r.get("resolved_at_ts"))) for r in recs] == [
        ("firing", 3.0), ("resolved", 5.0), ("firing", 6.0), ("resolved", 9.0)]
    assert {k for t, k, _, _ in io.sent if t == "anomaly-gan.alerts"} == {b"e"}
    assert recs[1]["alert_id"] == recs[0]["alert_id"]
    assert recs[3]["alert_id"] == recs[2]["alert_id"]  # the cooldown: one alert, 2 windows
    assert (recs[3]["anomalous_windows"], recs[3]["alerts"]) == (2, 1)
    assert reg.get_sample_value("anomaly_gan_alerts_resolved_total",
                                {"model_version": "v1"}) == 2
    lines = [r for r in caplog.records if r.getMessage() == "resolved"]
    assert [r.fields["resolution_id"] for r in lines] == [
        recs[1]["resolution_id"], recs[3]["resolution_id"]]


def test_without_resolve_windows_the_alert_topic_has_alerts_only():
    values = [1.0] * 3 + [50.0] + [1.0] * 5
    io = FakeIO([events(list(enumerate(values)))])
    scorer, reg = make(io, consecutive=1)
    scorer.step()
    scorer._score_batch()
    assert [r["status"] for r in alert_topic(io)] == ["firing"]
    assert reg.get_sample_value("anomaly_gan_alerts_resolved_total",
                                {"model_version": "v1"}) == 0


def test_an_entity_that_goes_silent_resolves_only_on_its_normal_windows_after_the_gap():
    """No data is no resolution: the incident stays open through the silence, and the
    entity's normal windows after it (its window filled again) resolve it."""
    rows = [(0.0, 1.0), (1.0, 1.0), (2.0, 50.0)] + [(500.0 + t, 1.0) for t in range(4)]
    io = FakeIO([events(rows)])
    scorer, _ = make(io, resolve_windows=2)  # gap_seconds 100: the window restarts
    scorer.step()
    scorer._score_batch()
    recs = alert_topic(io)
    assert [r["status"] for r in recs] == ["firing", "resolved"]
    assert (recs[1]["resolved_at_ts"], recs[1]["duration_seconds"]) == (503.0, 501.0)


def test_an_evicted_entity_loses_its_open_incident_without_a_record():
    """serve.windows.max_entities evicts the least recently seen entity and its incident:
    its normal windows when it comes back resolve nothing (docs/streaming.md)."""
    rows = [(0.0, 1.0), (1.0, 1.0), (2.0, 50.0)]
    io = FakeIO([events(rows), events([(3.0, 1.0)], 3, entity="f"),
                 events([(4.0 + t, 1.0) for t in range(5)], 4)])
    scorer, _ = make(io, windows={"max_entities": 1}, resolve_windows=2)
    for _ in range(3):
        scorer.step()
        scorer._score_batch()
    assert scorer.state.evicted == 2  # e for f, then f for e
    assert [r["status"] for r in alert_topic(io)] == ["firing"]


def test_a_reload_mid_incident_resolves_it_under_the_new_model():
    """The incident survives a hot reload; its resolution names the model that scored the
    resolving window and the alert that the model before sent."""
    from tests.support.stream_fakes import FakeModel

    class Watcher:
        pending = FakeModel(version="v2")

        def take(self):
            det, Watcher.pending = Watcher.pending, None
            return det

    values = [1.0] * 3 + [50.0]
    io = FakeIO([events(list(enumerate(values))), events([(4.0 + t, 1.0) for t in range(2)], 4)])
    scorer, _ = make(io, resolve_windows=2)
    scorer.watcher = Watcher()
    scorer.step()  # scored by v1, then v2 is installed
    scorer.step()
    scorer._score_batch()
    fired, resolved = alert_topic(io)
    assert (fired["model_version"], resolved["model_version"]) == ("v1", "v2")
    assert resolved["alert_id"] == fired["alert_id"]
    assert resolved["resolution_id"] == resolution_id("e", 5.0, "v2")


def test_two_incidents_resolved_at_one_timestamp_have_two_resolution_ids():
    """An entity's events at one time (a batch export's timestamp): two incidents open and
    resolve within it, and the consumer must not drop the second resolution as a repeat."""
    from anomaly_gan.stream.alerts import build_resolution, debounce

    st = WindowState(window=2, n_features=1, gap_seconds=60, max_entities=10)
    out = WindowBatch(2, 1)
    for i, v in enumerate([0.0, 1.0, 9.0, 1.0, 8.0, 2.0]):  # all at t=5, > 5 anomalous
        st.push("a", 5.0, [v], "p0", i, out)
    d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=1)
    decided = debounce(d, out.entities, out.end_ts, [r[-1, 0] > 5 for r in out.windows()],
                       "v1", repeat=out.repeat)
    assert len(decided.fired) == len(decided.resolved) == 2
    ids = {build_resolution(entity="a", incident=inc, model_version="v1",
                            model_kind="ganomaly", normal_windows=1)["resolution_id"]
           for _, inc in decided.resolved}
    assert len(ids) == 2
