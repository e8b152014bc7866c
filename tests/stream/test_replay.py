"""A crash in the middle of an anomalous run: the replay from the committed offset re-scores
the run, so the same alerts (same ids) come out as without the crash."""

from __future__ import annotations

import json

import pytest

from tests.stream.test_app import IN, FakeIO, FakeModel, Record, make

CONSECUTIVE = 3


def records():
    """Two entities interleaved; "e" has anomalous runs of 1 to 2 x consecutive windows."""
    values = []
    for run in range(1, 2 * CONSECUTIVE + 1):
        values += [1.0] * 4 + [50.0] * run
    values += [1.0] * 4
    out = []
    for t, v in enumerate(values):
        for entity, value in (("e", v), ("f", 1.0 if t % 7 else 60.0)):
            body = {"entity": entity, "ts": float(t), "values": [value, 0.0]}
            out.append(Record(len(out), entity.encode(), json.dumps(body).encode()))
    return out


def alert_ids(io):
    return {json.loads(v)["alert_id"] for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"}


def scorer_over(batches, cooldown):
    io = FakeIO(batches)
    scorer, _ = make(io, model=FakeModel(window=3), consecutive=CONSECUTIVE,
                     cooldown_seconds=cooldown)
    return scorer, io


@pytest.mark.parametrize("cooldown", [0.0, 6.0])
def test_a_kill_at_any_point_gives_the_same_alert_ids(cooldown):
    recs = records()
    whole, io = scorer_over([recs], cooldown)
    whole.step()
    whole._score_batch()
    want = alert_ids(io)
    assert len(want) >= 4  # the data does alert

    for committed_at in range(1, len(recs), 3):
        for extra in (0, 5):
            first, io1 = scorer_over([recs[:committed_at], recs[committed_at:committed_at + extra]],
                                     cooldown)
            first.step()
            assert first._commit(force=True)
            resume = io1.commits[-1][IN]
            first.step()  # read past the commit, then "killed": nothing more committed
            first._score_batch()
            second, io2 = scorer_over([recs[resume:]], cooldown)
            second.step()
            second._score_batch()
            got = alert_ids(io1) | alert_ids(io2)
            assert got == want, (committed_at, extra)
