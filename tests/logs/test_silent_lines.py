"""Per N lines (``logs.bucket_lines``): an entity that goes silent with a partial bucket no
longer holds its partition's commit back for ever (docs/logs.md, Live)."""

from __future__ import annotations

import json

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs.model import fit_log_model
from tests.support.logs_replay import (
    LINES,
    T0,
    LinesModel,
    assert_kills_score_as_a_whole_run,
    hostile_scorer,
    line,
    whole_run,
)
from tests.support.stream_fakes import IN, Record


class GapLinesModel(LinesModel):
    """A bucket per 3 lines, ``logs.gap_seconds: 60``."""

    def __init__(self):
        super().__init__()
        self.config = config_from_dict({
            "model": {"backbone": "dense"}, "data": {"window": 3},
            "logs": {"format": "regex", "bucket_seconds": None, "bucket_lines": 3, "top_k": 2,
                     "gap_seconds": 60.0,
                     "regex": r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"}})
        model, _ = fit_log_model(self.config.logs, LINES)
        self.extras = {"logs": model.to_dict()}


def silent_db(back=None):
    """web every 3 s for 280 s; db logs 4 lines (a bucket and one more) in its first 40 s
    and goes silent (a decommissioned host), or comes back ``back`` s later (12 lines)."""
    db = [t + 0.5 for t in range(0, 40, 10)]
    if back is not None:
        db += [back + t + 0.5 for t in range(0, 120, 10)]
    lines = sorted([(t, "web") for t in range(0, 280, 3)] + [(t, "db") for t in db])
    return [Record(i, e.encode(), line(T0 + t).replace(" web ", f" {e} ").encode())
            for i, (t, e) in enumerate(lines)]


def test_a_silent_entity_with_a_partial_bucket_no_longer_pins_the_commit():
    """db's 4th line opened a bucket that never filled: its first line (and db's window)
    held the commit there while web was read and scored for ever after. db is now forgotten
    once it is logs.gap_seconds behind web; its partial bucket is counted."""
    recs = silent_db()
    s, io = hostile_scorer([recs], GapLinesModel())
    s.step()
    s._score_batch()
    assert s._commit(force=True)
    db_last = max(r.offset for r in recs if r.key == b"db")
    assert io.commits[-1][IN] > db_last
    assert s.intake.logs.partial_dropped == 1
    assert s.intake.state.gap_restarts == 1
    # a count, as late lines are: it stays when the partition goes (a revoke, a rewind)
    s.intake.drop_partitions([IN])
    assert s.intake.logs.partial_dropped == 1


@pytest.mark.parametrize("back", [None, 60, 180])
def test_a_kill_at_any_point_scores_the_windows_of_a_run_without_it(back):
    """db silent for ever, back within the gap (30 s after its last line: its bucket goes
    on) or after it (150 s: a new bucket, a new series): a kill after any commit scores
    the same windows as a run without one."""
    recs = silent_db(back)
    want = whole_run(recs, GapLinesModel)
    assert {e for e, _, _ in want} == {"web", "db"} or back is None
    assert_kills_score_as_a_whole_run(recs, GapLinesModel, want, every=2)


class AlertingGapLinesModel(GapLinesModel):
    """GapLinesModel whose every window is anomalous (an alert per window)."""

    def score_windows(self, raw):
        out = super().score_windows(raw)
        out.is_anomaly[:] = True
        out.severity[:] = 100.0
        return out


def test_an_alert_keeps_its_templates_when_its_entity_returns_after_a_gap_in_its_batch():
    """db alerts on its first window (9 lines, 3 buckets), then comes back after
    logs.gap_seconds while that window waits in the same unpublished batch (a backlog
    replay). Its return forgot its rows at once, so the alert went out with templates of
    count 0; they are now forgotten once the batch is published, as with time buckets."""
    times = [t for t in range(0, 90, 10)] + [200]
    recs = [Record(i, b"db", line(T0 + t).replace(" web ", " db ").encode())
            for i, t in enumerate(times)]
    s, io = hostile_scorer([recs], AlertingGapLinesModel())
    s.step()
    s._score_batch()
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [a["entity"] for a in alerts] == ["db"]
    assert sum(t["observed"] for t in alerts[0]["templates"]) == 9
    assert s.intake.state.gap_restarts == 1
