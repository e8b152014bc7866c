"""A crash in the middle of an anomalous run: the replay from the committed offset re-scores
the run, so the same alerts (same ids) come out as without the crash; with
serve.alerts.resolve_windows, an open incident is re-scored too, so the same resolutions."""

from __future__ import annotations

import json

import pytest

from tests.support.stream_fakes import IN, FakeIO, FakeModel, Record, make

CONSECUTIVE = 3


def records(per_timestamp=1):
    """Two entities interleaved; "e" has anomalous runs of 1 to 2 x consecutive windows.
    ``per_timestamp``: events of an entity that share one timestamp (a clock in seconds)."""
    values = []
    for run in range(1, 2 * CONSECUTIVE + 1):
        values += [1.0] * 4 + [50.0] * run
    values += [1.0] * 4
    out = []
    for t, v in enumerate(values):
        for entity, value in (("e", v), ("f", 1.0 if t % 7 else 60.0)):
            body = {"entity": entity, "ts": float(t // per_timestamp), "values": [value, 0.0]}
            out.append(Record(len(out), entity.encode(), json.dumps(body).encode()))
    return out


def alert_ids(io):
    return {json.loads(v)["alert_id"] for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"
            and json.loads(v)["status"] == "firing"}


def resolution_ids(io):
    return {json.loads(v)["resolution_id"] for t, _, v, _ in io.sent
            if t == "anomaly-gan.alerts" and json.loads(v)["status"] == "resolved"}


def scorer_over(batches, cooldown, resolve_windows=0):
    io = FakeIO(batches)
    scorer, _ = make(io, model=FakeModel(window=3), consecutive=CONSECUTIVE,
                     cooldown_seconds=cooldown, resolve_windows=resolve_windows)
    return scorer, io


def killed_and_resumed(recs, cooldown, resolve_windows):
    """For every commit point and a few records read past it: the records of the run that
    was killed there and of the one that resumed from its last commit."""
    for committed_at in range(1, len(recs), 3):
        for extra in (0, 5):
            first, io1 = scorer_over([recs[:committed_at],
                                      recs[committed_at:committed_at + extra]],
                                     cooldown, resolve_windows)
            first.step()
            assert first._commit(force=True)
            resume = io1.commits[-1][IN]
            first.step()  # read past the commit, then "killed": nothing more committed
            first._score_batch()
            second, io2 = scorer_over([recs[resume:]], cooldown, resolve_windows)
            second.step()
            second._score_batch()
            yield (committed_at, extra), io1, io2


def whole_run(recs, cooldown, resolve_windows):
    whole, io = scorer_over([recs], cooldown, resolve_windows)
    whole.step()
    whole._score_batch()
    return io


@pytest.mark.parametrize("cooldown", [0.0, 6.0, 1000.0])
def test_a_kill_at_any_point_gives_the_same_alert_ids(cooldown):
    """With cooldown 1000 s the first run alerts and the cooldown outlives it, covering every
    later run: the commit holds back to the alerting run while the cooldown lasts, so the
    replay re-fires that alert (same id) and the later runs stay quiet, as without a kill
    (they alerted again, with new ids, when the commit lay past the alerting run)."""
    recs = records()
    want = alert_ids(whole_run(recs, cooldown, 0))
    assert len(want) == 1 if cooldown == 1000.0 else len(want) >= 4  # the data does alert

    for at, io1, io2 in killed_and_resumed(recs, cooldown, 0):
        assert alert_ids(io1) | alert_ids(io2) == want, at


@pytest.mark.parametrize(("cooldown", "resolve_windows"), [(0.0, 1), (6.0, 3), (100.0, 3)])
def test_a_kill_at_any_point_gives_the_same_resolutions(cooldown, resolve_windows):
    """Each incident of "e" spans at most 2 x (consecutive + resolve_windows) windows: the
    replay rebuilds it whole, so alerts and resolutions are those of a run without a kill."""
    recs = records()
    io = whole_run(recs, cooldown, resolve_windows)
    want_alerts, want_resolved = alert_ids(io), resolution_ids(io)
    assert len(want_resolved) >= 3
    for at, io1, io2 in killed_and_resumed(recs, cooldown, resolve_windows):
        assert alert_ids(io1) | alert_ids(io2) == want_alerts, at
        assert resolution_ids(io1) | resolution_ids(io2) == want_resolved, at


def alert_records(io):
    return [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]


@pytest.mark.parametrize("resolve_windows", [0, 1])
def test_events_that_share_a_timestamp_alert_with_distinct_ids_that_a_kill_keeps(
        resolve_windows):
    """Three events of an entity per timestamp (a clock in seconds): windows end at the same
    time, yet each alert and each resolution has its own id (consumers drop an id seen
    before), and a kill at any point replays the same ids."""
    recs = records(per_timestamp=3)
    io = whole_run(recs, 0.0, resolve_windows)
    firing = [r for r in alert_records(io) if r["status"] == "firing"]
    resolved = [r for r in alert_records(io) if r["status"] == "resolved"]
    assert len({(r["entity"], r["window_end_ts"]) for r in firing}) < len(firing)
    assert len(alert_ids(io)) == len(firing)
    assert len(resolution_ids(io)) == len(resolved) == (4 if resolve_windows else 0)
    for at, io1, io2 in killed_and_resumed(recs, 0.0, resolve_windows):
        assert alert_ids(io1) | alert_ids(io2) == alert_ids(io), at
        assert resolution_ids(io1) | resolution_ids(io2) == resolution_ids(io), at


def test_an_incident_longer_than_the_replay_still_resolves_after_a_kill():
    """An anomaly longer than the windows a commit holds back: a replay from inside it
    re-opens the incident (one more alert, a later anomalous_since), and resolves it at the
    same window, with the same resolution id."""
    values = [1.0] * 4 + [50.0] * 30 + [1.0] * 6
    recs = [Record(t, b"g", json.dumps({"entity": "g", "ts": float(t),
                                        "values": [v, 0.0]}).encode())
            for t, v in enumerate(values)]
    io = whole_run(recs, 1000.0, 3)
    want_alerts, want_resolved = alert_ids(io), resolution_ids(io)
    assert len(want_alerts) == len(want_resolved) == 1
    for at, io1, io2 in killed_and_resumed(recs, 1000.0, 3):
        assert alert_ids(io1) | alert_ids(io2) >= want_alerts, at
        assert resolution_ids(io1) | resolution_ids(io2) == want_resolved, at


def test_a_new_owner_after_a_rebalance_rebuilds_the_open_incident():
    """Revoked in the middle of an incident: the offsets committed on revoke hold its
    windows back, so the new owner re-opens it (same alert ids) and sends the resolution
    the old owner would have sent."""
    values = [1.0] * 4 + [50.0] * 3 + [1.0] * 5
    recs = [Record(t, b"g", json.dumps({"entity": "g", "ts": float(t),
                                        "values": [v, 0.0]}).encode())
            for t, v in enumerate(values)]
    want = whole_run(recs, 0.0, 3)
    old, io1 = scorer_over([recs[:9]], 0.0, 3)
    old.step()
    old._score_batch()
    assert old.debouncer.incident("g") is not None and not resolution_ids(io1)
    resume = old.on_revoked([IN])[IN]
    assert old.debouncer.incident("g") is None  # the revoked entity is forgotten
    new, io2 = scorer_over([recs[resume:]], 0.0, 3)
    new.step()
    new._score_batch()
    assert resolution_ids(io2) == resolution_ids(want) != set()
    assert alert_ids(io2) >= alert_ids(io1) == alert_ids(want)
