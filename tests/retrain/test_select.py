"""Which rows enter the new baseline, and the report of what was left out."""

import numpy as np

from anomaly_gan.retrain.select import exclusion_mask, select_rows, split_holdout
from anomaly_gan.retrain.source import Alerted, Segment
from anomaly_gan.stream.silences import Silence, Silences

W = 4


def seg(n: int, entity: str = "a", t0: float = 0.0) -> Segment:
    return Segment(entity, t0 + np.arange(n, dtype=float), np.zeros((n, 1)))


def test_alerted_windows_plus_margin_and_over_threshold_rows_are_left_out():
    s = seg(40)
    over = np.zeros(40 - W + 1, dtype=bool)
    over[[20, 21]] = True  # windows ending at rows 23 and 24
    keep, reason = exclusion_mask(s, [Alerted("a", 5.0, 8.0)], margin=2.0, window=W, over=over)
    assert np.flatnonzero(reason == 1).tolist() == list(range(3, 11))
    assert np.flatnonzero(reason == 2).tolist() == [23, 24]
    assert keep.sum() == 40 - 8 - 2


def test_selection_counts_windows_and_rows_by_reason():
    segments = [seg(40), seg(40, "b")]
    over_a = np.zeros(37, dtype=bool)
    over_a[30] = True
    sel = select_rows(segments, [Alerted("a", 5.0, 8.0), Alerted("z", 0.0, 1.0)], margin=0.0,
                      window=W, over=[over_a, None])
    rep = sel.report()
    assert rep["rows"] == 80 and rep["windows"] == 74
    assert rep["windows_excluded"] == {"alerted": 4, "silenced": 0, "labelled": 0,
                                       "over_threshold": 1}
    # a keeps rows 0-4 (too short: < 2 windows) and 9-32, 34-39 (too short): b is untouched.
    assert rep["rows_excluded"] == {"alerted": 4, "silenced": 0, "labelled": 0,
                                    "over_threshold": 1, "too_short": 5 + 6}
    assert [(p.entity, len(p)) for p in sel.pieces] == [("a", 24), ("b", 40)]


def test_holdout_is_the_newest_share_of_the_range():
    train, held, cutoff = split_holdout([seg(100), seg(50, "b", t0=60.0)], 0.2, W)
    assert cutoff == 109.0 - 0.2 * 109.0
    assert [len(p) for p in train] == [88, 28] and [len(p) for p in held] == [12, 22]



def test_holdout_counts_the_time_covered_not_the_gaps_between_files():
    """Two files of one entity ten days apart: the newest 20% of the twelve-day span was
    the whole second file, half the rows. Now it is the newest 20% of the two days."""
    day = 86_400.0
    first, second = (Segment("a", t0 + np.linspace(0.0, day, 1000), np.zeros((1000, 1)))
                     for t0 in (0.0, 11 * day))
    train, held, cutoff = split_holdout([first, second], 0.2, W,
                                        covered=[first, second])
    assert cutoff == 12 * day - 0.4 * day  # 20% of the 2,000 rows, all from the second file
    assert [len(p) for p in held] == [400] and [len(p) for p in train] == [1000, 600]


def test_holdout_counts_the_time_covered_not_a_gap_inside_one_file():
    """The same two days in one file (an export across a ten-day outage, which windows
    span, as train's note says): the gap counted as covered, and the newest 20% of the
    twelve days held out the whole second day, half the rows, as two files did until
    2026-12-05."""
    day = 86_400.0
    ts = np.concatenate([np.linspace(0.0, day, 1000), 11 * day + np.linspace(0.0, day, 1000)])
    one = Segment("a", ts, np.zeros((2000, 1)))
    train, held, cutoff = split_holdout([one], 0.2, W, covered=[one])
    assert cutoff == 12 * day - 0.4 * day
    assert [len(p) for p in held] == [400] and [len(p) for p in train] == [1600]


def test_holdout_of_a_steady_series_is_not_moved_by_its_small_irregular_steps():
    """Steps a few times the usual one (a late reading, a missed one) are no gap."""
    rng = np.random.default_rng(0)
    ts = np.cumsum(rng.choice([10.0, 10.0, 10.0, 20.0, 60.0], size=500))
    one = Segment("a", ts - ts[0], np.zeros((500, 1)))
    _, _, cutoff = split_holdout([one], 0.2, W, covered=[one])
    assert cutoff == (ts[-1] - ts[0]) * 0.8


def test_rows_left_out_of_the_newest_part_do_not_push_the_holdout_back():
    """The share is of the time the rows read cover: an incident cut out of the newest
    rows leaves the cutoff where it was (a share of the kept rows held out more of a new
    normal, and the retrained model learned less of it)."""
    sel = select_rows([seg(100)], [Alerted("a", 85.0, 89.0)], margin=0.0, window=W, over=[None])
    train, held, cutoff = split_holdout(sel.pieces, 0.2, W, covered=[seg(100)])
    assert cutoff == 99.0 - 0.2 * 99.0 and [len(p) for p in train] == [80]
    assert [(float(p.ts[0]), float(p.ts[-1])) for p in held] == [(80.0, 84.0), (90.0, 99.0)]

def test_rows_without_times_hold_out_the_newest_share_of_each_file():
    """Rows without clock times (a CSV without a timestamp column: a row's time is its index)
    hold out their file's newest share, rows excluded counted as with times. Each piece left
    between exclusions held out its own tail instead: rows 40-49, before an over-threshold
    stretch, went to the gate while rows 55-90, after it, were trained on, so the gate
    measured false alarms on rows older than some the candidate had learned."""
    f = seg(100)
    over = np.zeros(100 - W + 1, dtype=bool)
    over[50 - (W - 1):55 - (W - 1)] = True  # the windows ending on rows 50-54
    sel = select_rows([f], [], margin=0.0, window=W, over=[over])
    train, held, cutoff = split_holdout(sel.pieces, 0.2, W, timed=False, covered=[f])

    def spans(pieces: list[Segment]) -> list[tuple[float, float]]:
        return [(float(p.ts[0]), float(p.ts[-1])) for p in pieces]

    assert spans(sel.pieces) == [(0.0, 49.0), (55.0, 99.0)] and np.isnan(cutoff)
    assert spans(held) == [(80.0, 99.0)]  # from 99 - 0.2 * 99 = 79.2 on
    assert spans(train) == [(0.0, 49.0), (55.0, 79.0)]


def test_labelled_incidents_are_left_out_of_the_baseline():
    """Rows inside an incident of --labels were trained on wherever the current model had
    not alerted on them (always, with no current model): the candidate learned the fault
    as normal, and the gate's check that it flags the incident could not be fair."""
    over = np.zeros(40 - W + 1, dtype=bool)
    over[[25, 26]] = True  # windows ending at rows 28 and 29: inside the incident
    sel = select_rows([seg(40), seg(40, "b")], [], margin=0.0, window=W, over=[over, None],
                      labelled=[Alerted("a", 25.0, 29.0)])
    rep = sel.report()
    assert rep["rows_excluded"]["labelled"] == 5 and rep["rows_excluded"]["over_threshold"] == 0
    # windows ending on rows 25-29 (those ending on 28 and 29 were also over threshold)
    assert rep["windows_excluded"] == {"alerted": 0, "silenced": 0, "labelled": 5,
                                       "over_threshold": 0}
    assert [(p.entity, float(p.ts[0]), float(p.ts[-1])) for p in sel.pieces] == [
        ("a", 0.0, 24.0), ("a", 30.0, 39.0), ("b", 0.0, 39.0)]


# ----------------------------------------------------------------------------- silences
# An alert in a silence is never written to the alert topic (serve.alerts.silences_path), so
# a maintenance window left no alert to exclude and entered the new baseline as normal.

SILENCES = Silences([Silence("a", 10.0, 20.0, "bearing swap"), Silence("b-*", None, 5.0),
                     Silence("b-?", 30.0, 32.0), Silence("z", 0.0, 100.0)])


def test_silenced_rows_are_those_whose_windows_serve_mutes_exact_ids_and_globs():
    """With no margin a row goes exactly when serve mutes the alert of a window ending on
    it (Silences.match: start inclusive, end exclusive); a pattern matches as in serve."""
    segments = [seg(40), seg(40, "b-1"), seg(40, "b-12"), seg(40, "c")]
    sel = select_rows(segments, [], margin=0.0, window=W, over=[None] * 4, silences=SILENCES)
    for s in segments:
        muted = [SILENCES.match(s.entity, float(t)) is not None for t in s.ts]
        _, reason = exclusion_mask(s, [], 0.0, W, None,
                                   silenced=SILENCES.of_entity(s.entity))
        assert (reason == 4).tolist() == muted, s.entity
    kept = [(p.entity, float(p.ts[0]), float(p.ts[-1])) for p in sel.pieces]
    assert kept == [("a", 0.0, 9.0), ("a", 20.0, 39.0), ("b-1", 5.0, 29.0), ("b-1", 32.0, 39.0),
                    ("b-12", 5.0, 39.0), ("c", 0.0, 39.0)]
    rep = sel.report()
    # a: rows 10-19; b-1: 0-4 and 30-31 (too short: 2 rows, < 2 windows); b-12: 0-4
    assert rep["rows_excluded"] == {"alerted": 0, "silenced": 10 + 7 + 5, "labelled": 0,
                                    "over_threshold": 0, "too_short": 0}
    # windows end on rows 3..39: a 10-19, b-1 3-4 and 30-31, b-12 3-4
    assert rep["windows_excluded"]["silenced"] == 10 + 4 + 2
    assert sel.silences_applied() == [
        {"entity": "b-*", "start": None, "end": "1970-01-01T00:00:05.000Z", "comment": "",
         "rows": 10},
        {"entity": "a", "start": "1970-01-01T00:00:10.000Z", "end": "1970-01-01T00:00:20.000Z",
         "comment": "bearing swap", "rows": 10},
        {"entity": "b-?", "start": "1970-01-01T00:00:30.000Z",
         "end": "1970-01-01T00:00:32.000Z", "comment": "", "rows": 2}]


def test_a_silence_is_widened_by_the_margin_and_an_alert_counts_first():
    """The margin is the alerts': a maintenance's edges (a pump stopped before the ticket's
    start, run in after its end) are no more normal than the silence."""
    _, reason = exclusion_mask(seg(40), [], 2.0, W, None, silenced=SILENCES.of_entity("a"))
    assert np.flatnonzero(reason == 4).tolist() == list(range(8, 22))
    sel = select_rows([seg(40)], [Alerted("a", 5.0, 12.0)], margin=0.0, window=W, over=[None],
                      silences=SILENCES)
    rep = sel.report()
    assert rep["rows_excluded"]["alerted"] == 8 and rep["rows_excluded"]["silenced"] == 7
    assert sel.silences_applied()[0]["rows"] == 7
