"""A crash while a logs model is serving: the replay from the committed offset rebuilds every
bucket the next windows need, so the same windows are scored and the same alerts come out as
without the crash (the logs side of tests/stream/test_replay.py)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs import live
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.events import INVALID_REASONS, LOG_REASONS
from anomaly_gan.stream.metrics import StreamMetrics
from tests.logs.conftest import SeriesFromWindows
from tests.support import logs_replay
from tests.support.logs_replay import (
    NOW,
    T0,
    EmptyBucketModel,
    LineCountModel,
    LinesModel,
    assert_kills_score_as_a_whole_run,
    hostile_scorer,
    line,
    scored,
    whole_run,
)
from tests.support.stream_fakes import IN, FakeIO, Record


def records():
    """One entity alone on its partition: a line every 3 s, silent from 100 s to 160 s (six
    buckets, well under logs.gap_seconds), then lines again. Nothing but its own next line
    closes the buckets of its silence."""
    t0 = 1_767_225_600.0
    times = [t for t in range(0, 100, 3)] + [t for t in range(160, 260, 3)]
    return [Record(i, b"web", line(t0 + t).encode()) for i, t in enumerate(times)]


def scorer_over(batches):
    io = FakeIO(batches)
    cfg = config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0},
        "kafka": {"scores_topic": "scores"}}}).serve
    return Scorer(cfg, EmptyBucketModel(), io, StreamMetrics(CollectorRegistry())), io


def outputs(io):
    scored = {json.loads(v)["window_end_ts"] for t, _, v, _ in io.sent if t == "scores"}
    alerts = {json.loads(v)["alert_id"] for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"}
    return scored, alerts


@functools.cache
def _whole_run_outputs():
    """What a scorer that reads all of :func:`records` in one go sends: the same for every
    kill point below, so run once (the scorer and its fake model are deterministic)."""
    whole, io = scorer_over([records()])
    whole.step()
    whole._score_batch()
    return outputs(io)


@pytest.mark.parametrize("cut", range(1, 60, 2))
def test_a_kill_at_any_point_scores_the_same_windows_and_raises_the_same_alerts(cut):
    """The buckets of a silence are closed by the entity's next line. They used to be pushed
    with that line's offset, so a commit could pass the last line before the silence: killed
    there, the replay started the entity afresh at the new line, and the windows over the
    silence (its alerts) were never scored."""
    recs = records()
    want_scored, want_alerts = _whole_run_outputs()
    assert len(want_alerts) >= 3  # the silence alerts

    first, io1 = scorer_over([recs[:cut], recs[cut:cut + 4]])
    first.step()
    assert first._commit(force=True)
    resume = io1.commits[-1][IN]
    first.step()  # read past the commit, then killed: nothing more committed
    first._score_batch()
    second, io2 = scorer_over([recs[resume:]])
    second.step()
    second._score_batch()
    (s1, a1), (s2, a2) = outputs(io1), outputs(io2)
    assert s1 | s2 == want_scored
    assert a1 | a2 == want_alerts


def two_entities(until=200):
    """web every 3 s and db every 4 s, interleaved in time order on one partition."""
    t0 = 1_767_225_600.0
    lines = sorted([(t, "web") for t in range(0, until, 3)]
                   + [(t + 0.5, "db") for t in range(1, until, 4)])
    return [Record(i, e.encode(), line(t0 + t).replace(" web ", f" {e} ").encode())
            for i, (t, e) in enumerate(lines)]


def spans(io):
    """scored(), with each window's start too."""
    return {(r["entity"], r["window_start_ts"], r["window_end_ts"], r["score"])
            for r in (json.loads(v) for t, _, v, _ in io.sent if t == "scores")}


def tolerant_scorer(batches):
    """A scorer with a 5 s reorder tolerance over :class:`LineCountModel`."""
    io = FakeIO(batches)
    cfg = config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "windows": {"reorder_tolerance_seconds": 5.0},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0},
        "kafka": {"scores_topic": "scores"}}}).serve
    return Scorer(cfg, LineCountModel(), io, StreamMetrics(CollectorRegistry())), io


@functools.cache
def _tolerant_whole_run():
    """What :func:`tolerant_scorer` scores reading all of :func:`two_entities` in one go: the
    same for every kill point below, so run once (the scorer and its fake model are
    deterministic)."""
    whole, io = tolerant_scorer([two_entities()])
    whole.step()
    whole._score_batch()
    return scored(io)


@pytest.mark.parametrize("cut", range(1, 112))
def test_a_replay_rebuilds_no_bucket_of_another_entity_from_part_of_its_lines(cut):
    """With reorder_tolerance_seconds the two entities' windows hold back the commit to
    buckets of different times: it fell on db's first line of a bucket while web's bucket of
    that time had begun before it, so the replay rebuilt web's bucket from part of its lines
    and scored the window that holds it again with a smaller count (12 of 111 cut points).
    The commit now moves back to the first line of the oldest bucket rebuilt."""
    scorer = tolerant_scorer
    recs = two_entities()
    want = _tolerant_whole_run()

    first, io1 = scorer([recs[:cut], recs[cut:cut + 4]])
    first.step()
    assert first._commit(force=True)
    resume = io1.commits[-1][IN]
    first.step()
    first._score_batch()
    second, io2 = scorer([recs[resume:]])
    second.step()
    second._score_batch()
    assert scored(io1) | scored(io2) == want  # every window, each with its whole count


# ------------------------------------------------------------------ hostile lines, per N lines


def test_per_n_lines_a_replay_counts_each_entity_in_the_same_buckets():
    """Per N lines (``bucket_lines``) the commit was left where the windows and open buckets
    put it: often inside another entity's bucket, from where the replay counted that
    entity's lines in threes again, so each of its later buckets (and windows) held other
    lines (65 of 111 kill points of two interleaved entities scored other windows). The
    commit now moves back to the first line of a bucket it would cut."""
    recs = two_entities()
    assert_kills_score_as_a_whole_run(recs, LinesModel, whole_run(recs, LinesModel), every=2)


def test_per_n_lines_a_replay_ends_each_bucket_at_the_same_time():
    """Per N lines a bucket ends at its entity's newest line time so far: a bucket whose lines
    are all stamped before a line of an earlier bucket (a host's clock stepped back, two
    threads) ends at that earlier line's time. The commit could fall on such a bucket's first
    line; the replay, not reading the earlier line, ended it at its own newest line and
    published the windows holding it again with other times (found by the score-vs-serve fuzz,
    regex per N lines seed 200: a window of svc-1 from 69.301 where the run without a kill
    had it from 69.360). The commit now moves back to the line that set the time."""
    web = [0.0, 1.0, 10.0] + [float(t) for t in range(3, 30)]  # lines 3-8 end at 10
    recs = [Record(i, b"web", _at(t)) for i, t in enumerate(web)]
    want = whole_run(recs, LinesModel, seen=spans)
    assert {start - T0 for _, start, _, _ in want} >= {10.0}  # from a bucket ending at 10
    assert_kills_score_as_a_whole_run(recs, LinesModel, want, every=1, seen=spans)


def _at(t, entity="web", pad=""):
    return line(T0 + t).replace(" web ", f" {entity} ").encode() + pad.encode()


# Hostile lines, each made from the time t of the base line it follows. These go to the DLQ
# or, stamped with t, come in time order: a replay from any commit scores what a run without
# a kill scores (docs/logs.md, Live).
_IN_ORDER = {
    "far_future": lambda t: _at(t + 1e6),  # past max_future_skew_seconds: future_timestamp
    "before_epoch": lambda t: line(-5e9).encode(),  # bad_timestamp
    "invalid_utf8": lambda t: b"\xff\xfe" + _at(t),
    "no_timestamp": lambda t: b"not-a-time web GET /a/1 200",
    "no_fields": lambda t: b"",
    "huge": lambda t: _at(t, pad=" " + "9" * 8000),  # over max_event_bytes: oversized
    "big": lambda t: _at(t, pad=" " + "9" * 3000),
    "equal_ts": lambda t: _at(t),
    "odd_entity": lambda t: _at(t, "a/b%[*]?\u00e9\\x"),
    "line_separator_entity": lambda t: _at(t, "a\u2028b"),
}
# ... and these come out of time order against the other lines (a lagging or fast host, an
# epoch-0 line): safe to read, but a replay's windows are not promised to be the same
_OUT_OF_ORDER = {
    "within_skew": lambda t: _at(t + 250),
    "epoch": lambda t: line(0).encode(),
    "past_bucket": lambda t: _at(t - 30),
    "new_entity": lambda t: _at(t, f"pod-{int(t)}"),  # many entities: evictions
}


def with_hostile(kinds, every=7, n=80):
    """The first n lines of two_entities() with a hostile line after every ``every``-th."""
    out = []
    for i, r in enumerate(two_entities()[:n]):
        out.append(r.value)
        if i % every == every - 1:
            t = datetime.fromisoformat(r.value.split(b" ")[0].decode()).timestamp() - T0
            out.append(kinds[i // every % len(kinds)](t))
    return [Record(i, b"k", v) for i, v in enumerate(out)]


def read_with_commits(recs, sizes, model, **windows):
    """Reads ``recs`` in batches of the given sizes with a commit after each: nothing
    escapes, every record is counted or dead-lettered, and each commit is no further than
    the first line of an open bucket nor before the previous commit."""
    s, io = hostile_scorer([], model, **windows)
    commits, i = [], 0
    while i < len(recs):
        n = sizes[len(commits) % len(sizes)]
        io.batches.append(recs[i:i + n])
        i += n
        s.step()
        s._score_batch()
        assert s._commit(force=True)
        commits.append(io.commits[-1][IN])
        feed = s.intake.logs
        for buckets in feed._buckets.values():
            for ob in buckets._open.values():
                if ob.lines and ob.first_offset is not None:
                    assert commits[-1] <= ob.first_offset[1]
    assert commits == sorted(commits) and commits[-1] <= len(recs)
    dlq = [dict(h)["reason"].decode() for t, _, _, h in io.sent if t == "anomaly-gan.dlq"]
    assert set(dlq) <= set(INVALID_REASONS + LOG_REASONS) - {"unprocessable"}, dlq
    assert s.intake.logs.lines + len(dlq) == len(recs)  # counted (late ones too) or in the DLQ
    s._pool.shutdown()
    return dlq


_MODES = {"time": LineCountModel, "lines": LinesModel}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted({**_IN_ORDER, **_OUT_OF_ORDER})), min_size=1,
                max_size=6),
       st.integers(2, 9), st.lists(st.integers(1, 12), min_size=1, max_size=4),
       st.sampled_from(sorted(_MODES)), st.sampled_from([0.0, 5.0]), st.sampled_from([2, 1000]))
def test_hostile_lines_while_buckets_are_open_never_stop_the_service(
        kinds, every, sizes, mode, tolerance, max_entities):
    table = {**_IN_ORDER, **_OUT_OF_ORDER}
    recs = with_hostile([table[k] for k in kinds], every, n=40)
    read_with_commits(recs, sizes, _MODES[mode](), reorder_tolerance_seconds=tolerance,
                      max_entities=max_entities)


@pytest.mark.parametrize("tolerance", [0.0, 5.0])
@pytest.mark.parametrize("mode", sorted(_MODES))
def test_a_kill_among_hostile_lines_scores_the_windows_of_a_run_without_it(mode, tolerance):
    recs = with_hostile(list(_IN_ORDER.values()), every=5)
    model = _MODES[mode]
    want = whole_run(recs, model, reorder_tolerance_seconds=tolerance)
    assert want
    assert_kills_score_as_a_whole_run(recs, model, want, every=3,
                                      reorder_tolerance_seconds=tolerance)


def test_one_line_stamped_ahead_leaves_the_other_windows_and_a_kill_scores_them_the_same():
    """A line of a third entity stamped at the scorer's clock, among lines 100-300 s older:
    it moved the partition's watermark to its time, so every later line of web and db was
    late and their windows held empty buckets (107 of 118 lines late). Now they score the
    windows of a run without that line; its open bucket holds the commit back to it, and a
    replay that starts with it (the first line read) scores the same windows again."""
    values = [r.value for r in two_entities()]
    values.insert(10, _at(NOW - T0, "fresh"))
    recs = [Record(i, b"k", v) for i, v in enumerate(values)]
    want = whole_run(two_entities(), LineCountModel)
    assert whole_run(recs, LineCountModel) == want
    assert_kills_score_as_a_whole_run(recs, LineCountModel, want, every=3)


def held_back_stream(monkeypatch):
    """900 s of web and db lines (90 buckets each), and the same with a line stamped at the
    scorer's clock, which keeps its bucket open and holds the commit back to it throughout
    (the scorer's clock moved after every base line)."""
    monkeypatch.setattr(logs_replay, "NOW", T0 + 1200.0)  # hostile_scorer's clock
    base = two_entities(until=900)
    values = [r.value for r in base]
    values.insert(10, _at(logs_replay.NOW - T0, "fresh"))
    return base, [Record(i, b"k", v) for i, v in enumerate(values)]


@pytest.mark.parametrize("mode", sorted(_MODES))
def test_a_commit_held_back_longer_than_the_rows_kept_cuts_no_bucket_on_a_kill(
        monkeypatch, mode):
    """The line stamped ahead above, among 900 s of web and db lines (90 buckets each): its
    open bucket holds the commit back to it for longer than the rows kept per entity
    (``data.window`` + 64). The buckets of web and db that the offset falls in had left
    those rows, so the offset stayed inside them, and a replay rebuilt them from part of
    their lines (the windows holding them scored smaller counts). The offset now moves back
    to their first lines, as with a shorter hold."""
    base, recs = held_back_stream(monkeypatch)
    want = whole_run(base, _MODES[mode])
    assert len(want) > 2 * (3 + 64)  # web's and db's windows: more than the rows kept
    assert whole_run(recs, _MODES[mode]) == want
    assert_kills_score_as_a_whole_run(recs, _MODES[mode], want, every=3)


@pytest.mark.parametrize("mode", sorted(_MODES))
def test_the_spans_kept_for_a_held_back_commit_are_capped(monkeypatch, caplog, mode):
    """The spans of buckets that left the rows kept (above) grow with what is read while
    the commit is held back: past ``MAX_OLDER_SPANS`` the partition keeps none (as before
    they were kept), with a warning, and scoring goes on unchanged."""
    monkeypatch.setattr(live, "MAX_OLDER_SPANS", 10)
    base, recs = held_back_stream(monkeypatch)
    scorer, io = hostile_scorer([[r] for r in recs], _MODES[mode]())
    feed = scorer.intake.logs
    for _ in recs:
        scorer.step()
        assert feed._older_spans == sum(map(len, (
            spans for older in feed._older.values() for spans in older.values()))) <= 10
    scorer._score_batch()
    assert feed.older_overflows > 0
    assert "let go" in caplog.text
    assert scored(io) == whole_run(base, _MODES[mode])


def goes_silent(back):
    """web every 3 s, db every 4 s, and cache every 5 s but silent from 60 s to 150 s (nine
    buckets, under logs.gap_seconds), then ``back`` to its lines or not, up to 300 s."""
    lines = sorted([(t, "web") for t in range(0, 300, 3)]
                   + [(t + 0.5, "db") for t in range(1, 300, 4)]
                   + [(t + 0.25, "cache") for t in range(2, 300, 5)
                      if t < 60 or (back and t >= 150)])
    return [Record(i, b"k", _at(t, e)) for i, (t, e) in enumerate(lines)]


@pytest.mark.parametrize("back", [True, False], ids=["back", "gone"])
def test_an_entity_that_goes_silent_holds_the_commit_through_its_silence(back):
    """With reorder_tolerance_seconds a silent entity's empty buckets close that long behind
    the watermark, while an entity that logs closes its own with its next line: cache's rows
    trailed web's by up to 30 s (25 s tolerance, 10 s buckets), more than the 15 s after
    which the window state let an entity stop holding the commit. So the commit passed
    cache's last lines; a replay from there did not know cache, and the windows over its
    silence (its empty rows, and the rows before them) were never scored: 12 of cache's
    windows at 18 of 216 kill points, 22 windows at 38 of 186 where it does not come back.
    A logs entity now holds the commit for the tolerance longer, until the gap rule forgets
    it."""
    recs = goes_silent(back)
    want = whole_run(recs, LineCountModel, reorder_tolerance_seconds=25.0)
    assert sum(e == "cache" for e, _, _ in want) > 20  # its windows over the silence too
    assert_kills_score_as_a_whole_run(recs, LineCountModel, want, every=1,
                                      reorder_tolerance_seconds=25.0)


class ShortGapModel(LineCountModel):
    """LineCountModel whose entities are forgotten after 60 s of silence."""

    def __init__(self):
        super().__init__()
        self.config = config_from_dict({
            "model": {"backbone": "dense"}, "data": {"window": 3},
            "logs": {"format": "regex", "bucket_seconds": 10.0, "top_k": 2, "gap_seconds": 60.0,
                     "regex": r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"}})


def test_an_entity_gone_for_good_holds_the_commit_only_until_the_gap_rule_forgets_it():
    """The hold above ends with the gap rule: cache, silent from 60 s for good with a 60 s
    gap, no longer holds the commit once forgotten, and a kill at any point still scores
    the windows of a run without one."""
    recs = goes_silent(back=False)
    last_cache = max(i for i, r in enumerate(recs) if b" cache " in r.value)
    want = whole_run(recs, ShortGapModel, reorder_tolerance_seconds=25.0)
    s, io = hostile_scorer([recs], ShortGapModel(), reorder_tolerance_seconds=25.0)
    s.step()
    assert s._commit(force=True)
    assert io.commits[-1][IN] > last_cache + 100  # web's and db's windows hold it, not cache
    assert_kills_score_as_a_whole_run(recs, ShortGapModel, want, every=2,
                                      reorder_tolerance_seconds=25.0)


@pytest.mark.parametrize("tolerance", [5.0, 25.0])
@pytest.mark.parametrize("mode", sorted(_MODES))
def test_reorder_tolerance_delays_a_logs_window_once_not_a_bucket_more(mode, tolerance):
    """serve.windows.reorder_tolerance_seconds holds a logs model's buckets open (the
    watermark); the window state then held their rows again until one at least that much
    newer came, so each window waited for the entity's next bucket(s) as well: with 10 s
    buckets, 1 more for 5 s and 3 more for 25 s (per 3 lines, 5 or 25 s of line time), and
    the stream's last windows were not scored at all. Rows come out of the buckets in time
    order, so the same windows are scored as without the tolerance, as soon."""
    recs = records()[:21]  # one entity, a line every 3 s up to 60 s
    for n in range(1, len(recs) + 1):
        assert (whole_run(recs[:n], _MODES[mode], reorder_tolerance_seconds=tolerance)
                == whole_run(recs[:n], _MODES[mode])), n


# ------------------------------------------------------------------ explanations, per N lines

class LastBucketPanicModel(SeriesFromWindows, LinesModel):
    """Per 3 lines: a window is anomalous when its newest bucket holds an unseen line (its
    ``unseen`` column); ``score_series`` scores a file's rows as ``score`` does."""

    def score_windows(self, raw):
        s = raw[:, -1, self.n_counts - 1].round(6)
        return SimpleNamespace(score=s, threshold=0.0, is_anomaly=s > 0,
                               severity=np.where(s > 0, 100.0, 0.0),
                               components={"reconstruction": s},
                               top_features=[["unseen"]] * len(s))


def test_per_n_lines_an_alert_names_the_bucket_that_fired_among_buckets_of_one_second(
        tmp_path):
    """Per N lines a bucket ends at its last line's time, so at more than N lines a second
    consecutive buckets end at the same time. An alert was explained with the rows up to its
    window's end time: every bucket of that second read before it was published, so it named
    the templates of a later window (the panic that fired it was missing). It now names its
    own window's buckets, as ``score`` does for the same lines."""
    from anomaly_gan.logs.offline import load_log_model, read_log_file, score_log_events

    lines = [line(T0 + i // 30).encode() for i in range(60)]  # 30 lines each second
    lines[7] = lines[7].replace(b"GET /a/1 200", b"kernel panic on cpu 7")
    s, io = hostile_scorer([[Record(i, b"web", v) for i, v in enumerate(lines)]],
                           LastBucketPanicModel())
    s.step()
    s._score_batch()
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert len(alerts) == 1  # the first window: its newest bucket is lines 6-8
    panic = [t for t in alerts[0]["templates"] if t["feature"] == "unseen"]
    assert panic == [{"template": "kernel panic on cpu <NUM>", "feature": "unseen",
                      "observed": 1, "expected": 0.0, "examples": ["kernel panic on cpu 7"]}]

    det = LastBucketPanicModel()
    path = tmp_path / "web.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (run,) = score_log_events(det, load_log_model(det), read_log_file(path, det.config.logs))
    offline = [e for e in run.explanations if e]
    assert offline == [alerts[0]["templates"]]  # score's explanation of the same window


def test_per_n_lines_a_bucket_whose_last_line_is_stamped_earlier_is_scored_as_score_does(
        tmp_path):
    """Per N lines a bucket ended at its last line's time: a line written out of order (two
    threads, or a host's clock stepped back) could end a bucket before the bucket ahead of
    it, and serve dropped that row as late, with every window holding it (its alert too),
    where ``score`` scored it. A bucket now ends at the entity's newest line time so far."""
    from anomaly_gan.logs.offline import load_log_model, read_log_file, score_log_events

    times = [float(i) for i in range(30)]
    times[8] = 4.5  # the newest bucket of the first window: lines 6-8, its last one stamped early
    lines = [line(T0 + t).encode() for t in times]
    lines[7] = lines[7].replace(b"GET /a/1 200", b"kernel panic on cpu 7")
    s, io = hostile_scorer([[Record(i, b"web", v) for i, v in enumerate(lines)]],
                           LastBucketPanicModel())
    s.step()
    s._score_batch()
    served = sorted((r["window_end_ts"], r["score"]) for r in (
        json.loads(v) for t, _, v, _ in io.sent if t == "scores"))
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]

    det = LastBucketPanicModel()
    path = tmp_path / "web.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (run,) = score_log_events(det, load_log_model(det), read_log_file(path, det.config.logs))
    w = det.window
    assert served == sorted((r.end_ts, float(sc)) for r, sc in
                            zip(run.rows[w - 1:], run.scores.score[w - 1:], strict=True))
    assert len(served) == 10 - w + 1
    assert [(a["window_end_ts"], a["templates"]) for a in alerts] == [
        (r.end_ts, e) for r, e in zip(run.rows, run.explanations, strict=True) if e]
    assert len(alerts) == 1


def pod_churn(until=600):
    """web every 3 s, and a new pod every 20 s that logs one line and goes away: a pod that
    goes quiet before the last one's ``logs.gap_seconds`` (60 s here) is up."""
    lines = sorted([(t, "web") for t in range(0, until, 3)]
                   + [(t + 1.5, f"pod-{t}") for t in range(0, until, 20)])
    return [Record(i, b"k", _at(t, e)) for i, (t, e) in enumerate(lines)]


def test_pods_going_quiet_one_after_another_hold_the_commit_no_longer_than_the_gap(
        monkeypatch):
    """Each quiet pod holds the commit at its line until the gap rule forgets it (above).
    The holds chained: the replay point of the oldest pod still held fell in the empty
    buckets of pods already forgotten, whose lines then held it in turn, so the commit
    stayed at the first offset for good (a reproduction with five services and a pod a
    minute: 54,180 offsets read in 3 hours, none committed). A pod forgotten, with no line
    that a replay reads, no longer holds it: its windows were all scored, and a replay from
    after its line neither knows it nor scores it again. So the commit lags the stream by
    about the gap, and a kill at any point still scores the windows of a run without one."""
    monkeypatch.setattr(logs_replay, "NOW", T0 + 600.0)  # hostile_scorer's clock
    recs = pod_churn()
    want = whole_run(recs, ShortGapModel)
    assert sum(e.startswith("pod-") for e, _, _ in want) > 50  # their windows of silence
    s, io = hostile_scorer([recs], ShortGapModel())
    s.step()
    assert s._commit(force=True)
    held = recs[io.commits[-1][IN]].value.decode().split()[0]
    lag = T0 + 600 - datetime.fromisoformat(held).timestamp()
    assert lag <= 60 + 3 * 10  # the gap, and a bucket or so either side (10 s buckets)
    assert_kills_score_as_a_whole_run(recs, ShortGapModel, want, every=3)


def test_a_line_late_in_a_run_without_a_kill_is_late_in_a_replay_that_reads_it(monkeypatch):
    """web every 5 s and one line of a new entity stamped 208.5 read just after web's 210:
    its bucket (200-210) had closed, so it is late. A replay's watermark moves only from its
    third line (a line or two stamped far ahead close nothing), so a replay from web's bucket
    at 210 (its open one, where the commit stood) counted the line and scored windows of
    ``pod`` that the run without a kill never did. The commit now moves back to where a
    replay's watermark has closed that bucket again when it reads the line."""
    monkeypatch.setattr(logs_replay, "NOW", T0 + 400.0)  # hostile_scorer's clock
    lines = [(t, "web") for t in range(0, 300, 5)]
    lines.insert(lines.index((210, "web")) + 1, (208.5, "pod"))
    recs = [Record(i, b"k", _at(t, e)) for i, (t, e) in enumerate(lines)]
    want = whole_run(recs, LineCountModel)
    assert not any(e == "pod" for e, _, _ in want)  # late: no window of its own
    assert_kills_score_as_a_whole_run(recs, LineCountModel, want, every=1)
