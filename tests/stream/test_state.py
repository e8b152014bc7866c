import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from anomaly_gan.data.windows import sliding_windows
from anomaly_gan.stream.state import WindowBatch, WindowState


def make(window=3, **kw):
    kw.setdefault("gap_seconds", 100.0)
    kw.setdefault("max_entities", 100)
    return WindowState(window, 2, **kw), WindowBatch(window, 2, capacity=2)


def feed(state, batch, entity, ts_list, start_offset=0, partition="p0"):
    for i, ts in enumerate(ts_list):
        state.push(entity, float(ts), [float(ts), -float(ts)], partition, start_offset + i, batch)


def test_windows_equal_offline_sliding_windows_after_warm_up():
    st, out = make(window=4)
    rows = np.arange(20, dtype=float)
    feed(st, out, "a", rows)
    assert len(out) == 20 - 4 + 1  # the first W-1 events only fill the window
    expected = sliding_windows(np.column_stack([rows, -rows]), 4)
    np.testing.assert_array_equal(out.windows(), expected)
    assert out.end_ts == list(rows[3:])
    assert out.start_ts == list(rows[:-3])
    assert out.offsets == list(range(3, 20))


def test_hop_emits_every_hth_window_the_same_as_offline_rows():
    st, out = make(window=4, hop=3)
    rows = np.arange(20, dtype=float)
    feed(st, out, "a", rows)
    # The first complete window (ending at row 3), then every third: rows 6, 9, ... 18.
    assert out.end_ts == [3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    expected = sliding_windows(np.column_stack([rows, -rows]), 4)[::3]
    np.testing.assert_array_equal(out.windows(), expected)
    # Offsets to commit still keep the newest W-1 rows: a replay rebuilds the next window.
    assert st.commit_offsets({"p0": 20}) == {"p0": 17}


def test_hop_restarts_with_the_window():
    st, out = make(window=2, hop=2, gap_seconds=5.0)
    feed(st, out, "a", [0, 1, 2, 3, 4, 20, 21, 22, 23])
    assert out.end_ts == [1.0, 3.0, 21.0, 23.0]


def test_entities_are_independent():
    st, out = make(window=2)
    for t in range(3):
        st.push("a", t, [t, 0.0], "p0", 2 * t, out)
        st.push("b", t, [10 + t, 0.0], "p0", 2 * t + 1, out)
    assert out.entities == ["a", "b", "a", "b"]
    assert out.raw[1, :, 0].tolist() == [10.0, 11.0]


def test_late_events_are_dropped_and_counted_equal_ts_is_kept():
    st, out = make(window=2)
    feed(st, out, "a", [1, 2, 3])
    st.push("a", 2.5, [0.0, 0.0], "p0", 3, out)
    st.push("a", 3.0, [0.0, 0.0], "p0", 4, out)
    assert st.late == 1
    assert out.end_ts == [2.0, 3.0, 3.0]


def test_reorder_tolerance_releases_in_timestamp_order():
    st, out = make(window=2, reorder_tolerance_seconds=5.0)
    for i, ts in enumerate([10, 12, 11, 20, 30]):
        st.push("a", float(ts), [float(ts), 0.0], "p0", i, out)
    # 11 arrived after 12 but within tolerance: windows follow timestamp order.
    assert out.end_ts == [11.0, 12.0, 20.0]
    assert st.late == 0
    st.push("a", 15.0, [0.0, 0.0], "p0", 5, out)  # older than the released 20: late
    assert st.late == 1


def test_the_rows_held_at_the_end_are_released_in_time_order_up_to_its_time():
    """Where the events end (retrain's topic range), the rows still held are released as
    newer events would release them, those stamped before the end alone."""
    st, out = make(window=2, reorder_tolerance_seconds=5.0)
    for i, ts in enumerate([10, 12, 11, 14, 13, 16]):
        st.push("a", float(ts), [float(ts), 0.0], "p0", i, out)
    assert out.end_ts == [11.0]
    st.release_held(out, before=16.0)
    assert out.end_ts == [11.0, 12.0, 13.0, 14.0] and out.offsets == [2, 1, 4, 3]
    st.release_held(out)
    assert out.end_ts[-1] == 16.0 and st.late == 0


def test_held_events_of_one_time_and_offset_keep_their_order_and_tags():
    """Held for reordering, events were ordered by (time, offset, values): the log records of
    one OTLP batch share its offset, and a logs model's rows are arrays, so two buckets of an
    entity ending at one second in one batch raised 'The truth value of an array ... is
    ambiguous' (the record went to the DLQ as unprocessable). Ties now keep arrival order;
    each window carries the tag of its newest event."""
    st, out = make(window=2, reorder_tolerance_seconds=5.0)
    for tag, (ts, offset) in enumerate([(10, 0), (11, 1), (11, 1), (11, 1), (20, 2)]):
        st.push("a", float(ts), np.array([float(tag), 0.0]), "p0", offset, out, tag=tag)
    assert out.raw[:len(out), :, 0].tolist() == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    assert out.tags == {0: 1, 1: 2, 2: 3}
    assert out.end_ts == [11.0, 11.0, 11.0]


def test_gap_restarts_the_window():
    st, out = make(window=3, gap_seconds=10.0)
    feed(st, out, "a", [0, 1, 2, 3, 100, 101, 102])
    assert st.gap_restarts == 1
    assert out.end_ts == [2.0, 3.0, 102.0]  # no window spans 3 -> 100
    assert out.start_ts[-1] == 100.0


@pytest.mark.parametrize("stamps, gap", [
    # floats: 1767225600.4 - 1767225600.1 is 0.3000001907..., more than the float 0.3
    ([1767225600.1, 1767225600.4, 1767225600.7, 1767225601.0], 0.3),
    ([1767225600.1, 1767225600.2, 1767225600.3, 1767225600.4], 0.1),
    ([1767225600.6, 1767225600.9, 1767225601.2], 0.3),
])
def test_a_step_of_exactly_gap_seconds_as_written_is_no_gap_with_sub_second_stamps(stamps, gap):
    # docs/streaming.md: "exactly gap_seconds is no gap", read with the times as written.
    # Until 2026-12-07 the float difference of such stamps decided, and some steps of
    # exactly gap_seconds restarted the window
    assert any(b - a > gap for a, b in itertools.pairwise(stamps))  # floats disagree
    st, out = make(window=2, gap_seconds=gap)
    feed(st, out, "a", stamps)
    assert st.gap_restarts == 0
    assert out.end_ts == stamps[1:]
    # one float later than a step of gap_seconds is more than gap_seconds: a gap
    step = float(Fraction(repr(stamps[-1])) + Fraction(repr(gap)))  # the nearest float
    feed(st, out, "a", [math.nextafter(step, math.inf)], start_offset=len(stamps))
    assert st.gap_restarts == 1 and out.end_ts == stamps[1:]


def test_a_row_exactly_the_reorder_tolerance_behind_the_newest_is_released():
    # docs/streaming.md: held rows are released "once an event at least T seconds newer
    # arrived", read as written. Floats put 1767225600.4 after 1767225600.6 - 0.2
    # (1767225600.3999999): until 2026-12-07 it stayed held, and 1767225600.35, later
    # than the last row released but before it, was windowed instead of dropped as late
    st, out = make(window=2, reorder_tolerance_seconds=0.2)
    feed(st, out, "a", [1767225600.4, 1767225600.6, 1767225600.35])
    assert st.late == 1
    feed(st, out, "a", [1767225600.8], start_offset=3)  # releases 1767225600.6
    assert out.end_ts == [1767225600.6]
    # one float later the row is less than 0.2 s behind: still held
    st, out = make(window=2, reorder_tolerance_seconds=0.2)
    feed(st, out, "a", [math.nextafter(1767225600.4, math.inf), 1767225600.6,
                        1767225600.35])
    assert st.late == 0


def test_an_entity_exactly_idle_seconds_behind_still_holds_the_commit():
    # "a" is 0.3 s (as written) behind its partition's recent entities, not more: it is not
    # idle, and the row its next window needs holds the commit. Floats put 1767225600.1
    # before 1767225600.4 - 0.3 (1767225600.1000001), and until 2026-12-07 it was idle
    st, out = make(window=3, gap_seconds=0.3)
    feed(st, out, "a", [1767225600.1], start_offset=0)
    for i, name in enumerate("bcde"):
        feed(st, out, name, [1767225600.3, 1767225600.4], start_offset=1 + 2 * i)
    assert st.commit_offsets({"p0": 9}) == {"p0": 0}
    # one float earlier it is more than idle_seconds behind: idle, it holds nothing
    st, out = make(window=3, gap_seconds=0.3)
    feed(st, out, "a", [math.nextafter(1767225600.1, 0.0)], start_offset=0)
    for i, name in enumerate("bcde"):
        feed(st, out, name, [1767225600.3, 1767225600.4], start_offset=1 + 2 * i)
    assert st.commit_offsets({"p0": 9}) == {"p0": 1}


def test_lru_eviction_caps_entities():
    dropped = []
    st = WindowState(2, 2, gap_seconds=100, max_entities=2, on_drop=dropped.append,
                     initial_capacity=1)
    out = WindowBatch(2, 2)
    st.push("a", 0, [0.0, 0.0], "p", 0, out)
    st.push("b", 0, [0.0, 0.0], "p", 1, out)
    st.push("a", 1, [0.0, 0.0], "p", 2, out)  # a is now the most recent
    st.push("c", 0, [0.0, 0.0], "p", 3, out)
    assert st.evicted == 1 and dropped == ["b"]
    assert len(st) == 2 and "a" in st and "c" in st and "b" not in st


def test_drop_partitions_forgets_their_entities():
    st, out = make(window=2)
    feed(st, out, "a", [0, 1], partition="p0")
    feed(st, out, "b", [0, 1], partition="p1")
    assert st.drop_partitions(["p0"]) == 1
    assert "a" not in st and "b" in st


def test_commit_offsets_keep_what_the_next_window_needs():
    st, out = make(window=3)
    feed(st, out, "a", [0, 1, 2, 3, 4], start_offset=0)  # offsets 0..4 on p0
    # The next window of "a" needs its last two rows (offsets 3 and 4).
    assert st.commit_offsets({"p0": 5}) == {"p0": 3}
    feed(st, out, "b", [0], start_offset=5)  # b warming up: needs its row at offset 5
    assert st.commit_offsets({"p0": 6}) == {"p0": 3}


def test_commit_offsets_ignore_entities_silent_for_longer_than_the_gap():
    st, out = make(window=3, gap_seconds=10.0)
    feed(st, out, "a", [0, 1], start_offset=0)
    for i, name in enumerate("bcde"):
        feed(st, out, name, [50, 51, 52], start_offset=2 + 3 * i)
    # "a" fell silent 50 s before the partition's other entities: it no longer holds p0 back.
    assert st.commit_offsets({"p0": 14}) == {"p0": 3}


def test_an_entity_whose_rows_are_all_held_for_reordering_holds_the_commit_back():
    # Its first row is still held (no newer one by the tolerance yet): nothing released, so
    # until 2026-12-06 its last event time read 0.0 (1970), far behind the partition's
    # other entities, and it held nothing: the commit passed its held row, and a replay
    # from there began its window a row later (test_serve_hop_fuzz.py, seed 3357: the
    # entity's first window was never scored).
    st, out = make(window=3, gap_seconds=30.0, reorder_tolerance_seconds=2.5)
    st.push("a", 1000.0, [0.0, 0.0], "p0", 0, out)
    for i, name in enumerate("bc"):
        feed(st, out, name, [998, 999, 1000, 1001], start_offset=1 + 4 * i)
    assert st.commit_offsets({"p0": 9}) == {"p0": 0}


def test_one_far_future_event_does_not_switch_off_commit_safety():
    st, out = make(window=3, gap_seconds=10.0)
    for i, name in enumerate("abcd"):
        feed(st, out, name, [0, 1, 2], start_offset=3 * i)
    feed(st, out, "rogue", [1e9], start_offset=12)
    # Every entity still holds the offset of its newest W-1 rows; "a" is the oldest (1).
    assert st.commit_offsets({"p0": 13}) == {"p0": 1}


def test_rescore_holds_the_offset_back_for_a_run_in_progress():
    st, out = make(window=3, rescore_history=2)
    feed(st, out, "a", range(10), start_offset=0)  # offsets 0..9
    assert st.commit_offsets({"p0": 10}) == {"p0": 8}
    # Re-scoring the last 2 windows needs 2 more rows; more than rescore_history is capped.
    assert st.commit_offsets({"p0": 10}, rescore=lambda e: 2) == {"p0": 6}
    assert st.commit_offsets({"p0": 10}, rescore=lambda e: 50) == {"p0": 6}


def test_rescore_with_a_hop_holds_back_the_rows_of_the_scored_windows():
    """With serve.windows.hop h the scored windows end h events apart: re-scoring the last
    k of them needs k * h more rows, not k (a replay after a crash in a run of anomalous
    windows re-scored fewer windows than the debounce needs)."""
    st, out = make(window=3, rescore_history=2, hop=3)
    feed(st, out, "a", range(10), start_offset=0)  # offsets 0..9; windows end at 2, 5, 8
    assert [int(o) for o in out.offsets] == [2, 5, 8]
    assert st.commit_offsets({"p0": 10}) == {"p0": 8}
    # the last 2 scored windows (ending at 5 and 8) start at 3; the rule allows for a last
    # window up to hop - 1 events before the newest, so 2 is held (one row to spare)
    assert st.commit_offsets({"p0": 10}, rescore=lambda e: 2) == {"p0": 2}
    assert st.commit_offsets({"p0": 10}, rescore=lambda e: 50) == {"p0": 2}


def test_an_entity_on_a_new_partition_is_counted():
    st, out = make(window=2)
    feed(st, out, "a", [0, 1], partition="p0")
    feed(st, out, "a", [2, 3], start_offset=0, partition="p1")
    assert st.partition_moves == 1 and st.last_moved == "a"
    assert len(out) == 2  # one window per partition stint: the window restarted


def test_an_entity_on_a_new_partition_holds_its_rows_as_a_new_entity_would():
    # Its newest event on the old partition must not release its first one on the new
    # partition at once: a replay of the new partition alone would hold it (found by
    # tests/stream/test_windows_spec_fuzz.py, seed 336)
    st, out = make(window=1, reorder_tolerance_seconds=2.0)
    st.push("a", 10.0, [10.0, 0.0], "p0", 0, out)
    st.push("a", 13.0, [13.0, 0.0], "p0", 1, out)  # releases 10
    st.push("a", 11.0, [11.0, 0.0], "p1", 0, out)  # moved: held until 13 or later arrives
    assert out.end_ts == [10.0]
    st.push("a", 12.0, [12.0, 0.0], "p1", 1, out)
    assert out.end_ts == [10.0]
    st.push("a", 13.0, [13.0, 0.0], "p1", 2, out)
    assert out.end_ts == [10.0, 11.0]


def test_memory_per_entity_matches_the_documented_figure():
    import tracemalloc

    window, features, n = 32, 8, 2000
    out = WindowBatch(window, features, capacity=window * 4)
    row = [1.0] * features
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    big = WindowState(window, features, gap_seconds=60.0, max_entities=n, initial_capacity=n,
                      rescore_history=3)
    for e in range(n):
        name = f"pump-{e:05d}"
        for t in range(window):
            big.push(name, float(t), row, "p0", t, out)
            out.clear()
    per_entity = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    print(f"{per_entity:.0f} bytes per entity")
    # docs/streaming.md and WindowState's docstring give 5.0 KiB for W=32, F=8.
    assert 4.5 * 1024 < per_entity < 5.5 * 1024, per_entity


def test_batch_grows_beyond_its_capacity():
    st, out = make(window=1)
    feed(st, out, "a", range(10))
    assert len(out) == 10 and out.windows().shape == (10, 1, 2)
    out.clear()
    assert len(out) == 0


def test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        WindowState(0, 2, gap_seconds=1, max_entities=1)


def counter_rows(n=12):
    """A gauge and a counter that restarts (to 2) at row 7."""
    total = np.concatenate([100.0 + 3.0 * np.arange(7), 2.0 + 5.0 * np.arange(n - 7)])
    return np.column_stack([np.arange(float(n)), total])


def push_rows(st, out, entity, rows, ts, offsets, partition="p0"):
    for r, t, o in zip(rows, ts, offsets, strict=True):
        st.push(entity, float(t), r.tolist(), partition, int(o), out)


def test_counters_windows_hold_increases_as_offline_with_the_first_event_only_starting_them():
    from anomaly_gan.data.counters import increases

    rows = counter_rows()
    st, out = make(window=3, counters=[1])
    push_rows(st, out, "a", rows, range(12), range(12))
    inc = increases(rows, [1])
    np.testing.assert_array_equal(out.windows(), sliding_windows(inc, 3))
    assert out.end_ts == [float(t) for t in range(3, 12)]  # the first window: rows 1..3
    assert out.start_ts[0] == 1.0
    assert inc[6, 1] == 2.0  # the reset's increase is the new value


def test_counters_start_again_after_a_gap_an_eviction_and_a_partition_move():
    rows = counter_rows()
    st, out = make(window=2, counters=[1], gap_seconds=10.0, max_entities=1)
    push_rows(st, out, "a", rows[:3], [0, 1, 2], [0, 1, 2])
    assert len(out) == 1
    push_rows(st, out, "a", rows[3:5], [100, 101], [3, 4])  # gap: 100 starts, 101 is 1 row
    assert len(out) == 1
    push_rows(st, out, "a", rows[5:6], [102], [5])
    assert len(out) == 2 and out.raw[1, :, 1].tolist() == [3.0, 3.0]
    push_rows(st, out, "b", rows[:1], [0], [6])  # evicts a: its last value is gone
    push_rows(st, out, "a", rows[6:8], [103, 104], [7, 8])
    assert st.evicted >= 1 and len(out) == 2  # 103 starts a again, 104 is its first row
    push_rows(st, out, "a", rows[8:9], [105], [9], partition="p1")  # moved: starts again
    assert len(out) == 2 and st.partition_moves == 1


def test_counters_commit_offsets_keep_the_event_the_increases_start_from():
    rows = counter_rows()
    st, out = make(window=3, counters=[1])
    push_rows(st, out, "a", rows[:6], range(6), range(6))
    # the next window needs rows 4, 5 (increases) and row 3, which row 4's increase is from
    committed = st.commit_offsets({"p0": 6})
    assert committed == {"p0": 3}
    # a restart that resumes there rebuilds the same windows for the rest of the rows
    replay, again = make(window=3, counters=[1])
    push_rows(replay, again, "a", rows[3:], range(3, 12), range(3, 12))
    push_rows(st, out, "a", rows[6:], range(6, 12), range(6, 12))
    first_new = out.end_ts.index(6.0)
    np.testing.assert_array_equal(again.windows(), out.windows()[first_new:])
    assert again.end_ts == out.end_ts[first_new:]


@pytest.mark.parametrize("counters", [(), (1,)])
def test_a_replay_from_the_commit_offset_rebuilds_the_windows_of_reordered_events(counters):
    """With reorder_tolerance_seconds the events of a window are released in time order, so
    their offsets are not: the commit must stay at or below the lowest of them. It was the
    offset of the window's oldest event, so after ts 0 (offset 1) and ts 1 (offset 0) were
    released a replay from offset 1 never read ts 1 again and lost the next windows (with
    data.counters also the increase from it)."""
    n = 30
    rows = np.column_stack([np.arange(float(n)), 10.0 * np.cumsum(np.arange(n) % 4)])
    order = list(range(n))  # arrival: every fifth pair of timestamps swapped
    for i in range(0, n - 1, 5):
        order[i], order[i + 1] = order[i + 1], order[i]

    def run(first, last):
        st, out = make(window=4, reorder_tolerance_seconds=1.5, counters=counters)
        push_rows(st, out, "a", rows[order[first:last]], order[first:last],
                  range(first, last))
        return st, out

    for cut in range(4, n):
        st, out = run(0, cut)
        resume = st.commit_offsets({"p0": cut})["p0"]
        scored = len(out)
        push_rows(st, out, "a", rows[order[cut:]], order[cut:], range(cut, n))
        _, again = run(resume, n)
        # every window after the commit comes again, the same (a replay may add earlier ones)
        for end, window in zip(out.end_ts[scored:], out.windows()[scored:], strict=True):
            assert end in again.end_ts, (cut, resume, end)
            np.testing.assert_array_equal(again.windows()[again.end_ts.index(end)], window)


@pytest.mark.parametrize("tolerance", [0.0, 2.0, 5.0])
def test_a_file_with_swaps_gives_offline_the_windows_serve_gives(tolerance):
    """serve.windows.reorder_tolerance_seconds: offline readers (train, score, evaluate,
    retrain --data) order a file's rows as serve releases the same events (in time order
    within the tolerance, ties in arrival order) and leave out the rows serve drops as late:
    the same windows, the same count of late rows. Before, offline dropped every row stamped
    before an earlier one, so a small swap gave other windows than the stream."""
    from anomaly_gan.data.readers import Table, late_rows, without_late_rows

    rng = np.random.default_rng(7)
    times = np.arange(200, dtype=float) + rng.choice([0.0, 0.0, -1.5, -3.0, -6.5], 200)
    times[50] = times[49]  # a tie: kept in file order
    values = np.column_stack([np.arange(200.0), rng.normal(size=200)])
    st, out = make(window=4, reorder_tolerance_seconds=tolerance, gap_seconds=1e9)
    for i in range(200):
        st.push("a", float(times[i]), values[i].tolist(), "p0", i, out)

    table = Table("f.csv", ("a", "b"), values, tuple(str(t) for t in times))
    in_order, kept = without_late_rows(table, times, tolerance)
    offline = sliding_windows(in_order.values, 4)
    assert st.late == int(late_rows(times, tolerance).sum()) > 0
    # serve still holds the events within the tolerance of the newest: offline scores them
    # too, as serve does once newer events come
    assert 0 < len(out) <= len(offline)
    np.testing.assert_array_equal(out.windows(), offline[:len(out)])
    assert out.end_ts == times[kept][3:3 + len(out)].tolist()
    assert out.offsets == kept[3:3 + len(out)].tolist()
    st.release_held(out)  # the file ends
    np.testing.assert_array_equal(out.windows(), offline)


@pytest.mark.filterwarnings("error")
def test_a_counter_increase_past_the_largest_float_is_inf_in_w_windows_then_gone():
    """-1e308 then 1e308: the increase overflows. It is inf (no warning, no exception that
    would leave the entity's state half moved), in the W windows holding its row only."""
    big = 1.7976931348623157e308
    st = WindowState(window=3, n_features=2, gap_seconds=60, max_entities=10, counters=[0])
    out = WindowBatch(3, 2)
    run = [0.0, 1.0, 2.0, -big, big, big, big, big, big]
    for i, v in enumerate(run):
        st.push("a", float(i), [v, float(i)], "p0", i, out)
    inf = [bool(np.isinf(w).any()) for w in out.raw[:len(out)]]
    assert inf == [False, True, True, True, False, False]
    assert out.raw[len(out) - 1, :, 0].tolist() == [0.0, 0.0, 0.0]
    assert out.raw[len(out) - 1, :, 1].tolist() == [6.0, 7.0, 8.0]


def test_an_error_computing_an_increase_leaves_the_entity_as_it_was(monkeypatch):
    """The increase was computed after the entity's count, offsets and counter values had
    moved on: an error there (the record goes to the DLQ) left a half-updated window whose
    later rows were mixed up. It is computed first now."""
    from anomaly_gan.stream import state as state_module

    st, out = make(window=3, counters=[1])
    feed(st, out, "a", [0, 1, 2])
    before = st.commit_offsets({"p0": 3})

    def broken(before, now):
        raise FloatingPointError("overflow")

    monkeypatch.setattr(state_module, "increase", broken)
    with pytest.raises(FloatingPointError):
        st.push("a", 3.0, [3.0, -3.0], "p0", 3, out)
    monkeypatch.undo()
    assert st.commit_offsets({"p0": 3}) == before
    feed(st, out, "a", [3, 4], start_offset=3)
    whole, ref = make(window=3, counters=[1])
    feed(whole, ref, "a", [0, 1, 2, 3, 4])
    assert out.windows().tolist() == ref.windows().tolist()


def windows_by_end(out: WindowBatch) -> set[tuple]:
    """(entity, end, rows) of every window ``out`` holds."""
    return {(e, end, out.raw[k].tobytes())
            for k, (e, end) in enumerate(zip(out.entities, out.end_ts, strict=True))}


def _swapped_rows(tolerance):
    """a's rows with 11, 10, 9 swapped, interleaved with b's on one partition (entity, ts,
    offset), pushed to a window state that keeps 8 windows to re-score."""
    a = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 10, 9] + list(range(12, 20))
    records = []
    for i, ts in enumerate(a):
        records.append(("a", float(ts), 2 * i))
        records.append(("b", float(i), 2 * i + 1))
    st, out = make(window=4, reorder_tolerance_seconds=tolerance, rescore_history=8)
    for entity, ts, off in records:
        st.push(entity, ts, [ts, -ts], "p0", off, out)
    return records, st, out


def _replays_within(records, st, out, commit, tolerance):
    """A replay of ``records`` from ``commit`` builds no window the run did not."""
    replay, again = make(window=4, reorder_tolerance_seconds=tolerance)
    for entity, ts, off in records:
        if off >= commit:
            replay.push(entity, ts, [ts, -ts], "p0", off, again)
    if tolerance:
        st.release_held(out)
        replay.release_held(again)
    assert windows_by_end(again) <= windows_by_end(out)


# b's windows to re-score: enough to pin the commit after a's row 11 (offset 18) and at or
# before its row 9 (offset 22): b's row at offset 21 (b's newest 3 rows are still held with
# a tolerance, so 2 fewer windows reach back as far, to offset 19)
@pytest.mark.parametrize(("tolerance", "incident"), [(0.0, 7), (2.5, 5)])
def test_a_replay_from_the_commit_builds_no_window_the_run_never_had(tolerance, incident):
    """Another entity pins the commit inside an entity's swapped rows: the replay must not
    re-read a row of it that was released (or dropped as late) before a row it does not
    re-read (docs/streaming.md, Delivery guarantees: a replay "rebuilds every window").
    Until 2026-12-06 the replay re-read the row stamped 9 alone, without 10 and 11
    (tolerance 2.5), or with 11 gone and 9 no longer late (tolerance 0): a window ending
    at 14 of rows 9, 12, 13, 14 that no run without the restart had (test_serve_fuzz seed
    1205: another score, published under the window's alert id)."""
    records, st, out = _swapped_rows(tolerance)
    # b's last windows (an incident of b, re-scored at a replay) pin the commit back
    c = st.commit_offsets({"p0": len(records)},
                          rescore=lambda e: incident if e == "b" else 0)["p0"]
    _replays_within(records, st, out, c, tolerance)


@pytest.mark.parametrize(("tolerance", "incident"), [(0.0, 7), (2.5, 5)])
def test_a_commit_moved_back_below_an_earlier_one_does_not_land_in_a_cut_it_passed(
        tolerance, incident):
    """The records above, committed twice: first with nothing re-scored (the commit passes
    a's swapped rows, offsets 18-22), then with b in an incident whose windows reach back
    into them (an alert's hold-back: the commit moves back below the first one, as Kafka
    allows). The second commit must still not fall between a's rows. Until 2026-12-06 the
    first commit forgot the range it had passed, the second one fell at 21 and the replay
    took a's row stamped 9 into a window no run had (test_serve_hop_fuzz seed 5093: a score
    of 0.885 where score_series gives 3.70)."""
    records, st, out = _swapped_rows(tolerance)
    first = st.commit_offsets({"p0": len(records)})["p0"]
    assert first > 22  # past a's swapped rows
    c = st.commit_offsets({"p0": len(records)},
                          rescore=lambda e: incident if e == "b" else 0)["p0"]
    assert c < first and not 18 < c <= 22, c
    _replays_within(records, st, out, c, tolerance)


def test_a_dormant_entity_does_not_make_the_late_rows_ranges_grow_without_bound():
    """z logs 5 rows and falls silent: the rows its window keeps hold the floor below which
    a late row's range may be dropped (a commit may move back to them if z comes back), so
    every later late row's range was kept for as long as z was (max_entities evicts it, or a
    revoke drops it), one per late row: a serve with a silent host and a few late rows grew
    its ranges, and the time each commit took, without bound (768 kept here). Past MAX_CUTS a partition's oldest ranges merge into one (a commit moved
    back into any of them goes to the oldest's low end: more is read again, no window is
    built that the run did not have), and no commit falls in a range ever made."""
    from anomaly_gan.stream.state import MAX_CUTS

    made = []

    class Spy(WindowState):
        def _cut_inside(self, partition, lo, hi):
            if lo < hi:
                made.append((lo, hi))
            super()._cut_inside(partition, lo, hi)

    # z is idle after 50 s (the commit passes its rows), and kept
    st, out = Spy(4, 2, gap_seconds=50.0, max_entities=100), WindowBatch(4, 2, capacity=2)
    feed(st, out, "z", range(5))
    off, ts = 5, 5.0
    commits = []
    for k in range(3 * MAX_CUTS):
        # a's rows ts+1 read before ts: the second is late (dropped), a range of its own
        st.push("a", ts + 1, [ts, -ts], "p0", off, out)
        st.push("a", ts, [ts, -ts], "p0", off + 1, out)
        st.push("a", ts + 2, [ts, -ts], "p0", off + 2, out)
        off, ts = off + 3, ts + 3
        for b in ("b", "c", "d", "e"):  # the partition's recent time is theirs and a's
            st.push(b, ts, [ts, -ts], "p0", off, out)
            off += 1
        out.clear()
        if k % 7 == 0:
            commits.append(st.commit_offsets({"p0": off})["p0"])
    commits.append(st.commit_offsets({"p0": off})["p0"])
    assert len(made) >= 3 * MAX_CUTS and commits[-1] > 3 * MAX_CUTS  # past most ranges
    assert len(st._cuts["p0"]) <= MAX_CUTS  # merged at each commit
    bad = [(c, lo, hi) for c in commits for lo, hi in made if lo < c <= hi]
    assert not bad, bad[:5]
