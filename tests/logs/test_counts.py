import math

import numpy as np
import pytest

from anomaly_gan.logs.counts import CountBuckets

K1, K2 = ("known", 1), ("known", 2)


def values(rows):
    return [(r.entity, r.start_ts, r.values.tolist()) for r in rows]


def test_time_buckets_count_per_entity_with_rate_and_error_share():
    b = CountBuckets(4, bucket_seconds=10, lines_per_second=True, error_share=True)
    out = []
    out += b.add("a", 1.0, 0, K1, "ok 1", False)
    out += b.add("a", 2.0, 0, K1, "ok 2", False)
    out += b.add("b", 3.0, 1, K2, "fail", True)
    out += b.add("a", 4.0, 1, K2, "fail", True)
    assert out == []  # nothing closed yet
    out += b.add("a", 12.0, 0, K1, "ok 3", False)  # the watermark passes 10: both close
    assert values(out) == [("a", 0.0, [2.0, 1.0, 0.3, 1 / 3]), ("b", 0.0, [0.0, 1.0, 0.1, 1.0])]
    assert out[0].detail == {K1: [2, ["ok 1", "ok 2"]], K2: [1, ["fail"]]}
    assert out[0].lines == 3 and out[0].end_ts == 10.0


def test_empty_buckets_are_zero_rows_not_gaps():
    b = CountBuckets(2, bucket_seconds=10, gap_seconds=100)
    out = b.add("quiet", 1.0, 0, K1, "x", False)
    # another entity keeps the clock moving (a partition's watermark moves from its third line)
    for t in (5.0, 8.0, 15.0, 25.0, 35.0):
        out += b.add("busy", t, 1, K2, "y", False)
    quiet = [r for r in out if r.entity == "quiet"]
    assert values(quiet) == [("quiet", 0.0, [1.0, 0.0]), ("quiet", 10.0, [0.0, 0.0]),
                             ("quiet", 20.0, [0.0, 0.0])]
    # the entity's own next line also fills the buckets in between with zeros
    b2 = CountBuckets(2, bucket_seconds=10, gap_seconds=100)
    b2.add("a", 1.0, 0, K1, "x", False)
    rows = b2.add("a", 41.0, 0, K1, "x", False)
    assert [r.values.tolist() for r in rows] == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_gap_rule_forgets_a_long_silent_entity():
    b = CountBuckets(1, bucket_seconds=10, gap_seconds=30)
    b.add("a", 1.0, 0, K1, "x", False)
    rows = b.add("a", 95.0, 0, K1, "x", False)  # silent 10..90: longer than the gap
    assert [r.start_ts for r in rows] == [0.0, 10.0, 20.0]  # zeros only while < gap
    assert b.gap_restarts == 1
    rows = b.add("a", 105.0, 0, K1, "x", False)
    assert [r.start_ts for r in rows] == [90.0]  # a new series starts where it came back


def test_late_lines_are_counted_and_dropped():
    b = CountBuckets(1, bucket_seconds=10)
    b.add("a", 15.0, 0, K1, "x", False)
    b.add("a", 25.0, 0, K1, "x", False)
    assert b.add("a", 12.0, 0, K1, "late", False) == [] and b.late == 1
    b.add("b", 5.0, 0, K1, "new entity, closed bucket", False)
    assert b.late == 2


def test_lateness_delays_the_watermark_for_other_entities():
    b = CountBuckets(1, bucket_seconds=10, lateness_seconds=5)
    b.add("a", 9.0, 0, K1, "x", False)
    assert b.add("b", 12.0, 0, K1, "x", False) == []
    assert b.add("a", 8.0, 0, K1, "x", False) == []  # bucket 0 is still open for 'a'
    rows = b.add("b", 15.5, 0, K1, "x", False)
    assert values(rows) == [("a", 0.0, [2.0])] and b.late == 0


def test_a_line_or_two_stamped_far_ahead_close_only_their_own_entitys_buckets():
    """The watermark was the newest line time: one line stamped far ahead (a fresh line among
    a backlog, a host's clock set wrong) closed every entity's buckets up to it, and every
    later line of the others was late. A jump of more than a bucket now needs three of the
    recent lines (CORROBORATING_LINES) to reach it, as a partition back from a silence has."""
    b = CountBuckets(1, bucket_seconds=10, gap_seconds=1e6)
    for t in (1.0, 2.0, 3.0):
        b.add("a", t, 0, K1, "x", False)
    assert b.add("x", 1000.0, 0, K1, "ahead", False) == []
    assert b.add("y", 2000.0, 0, K1, "ahead", False) == []
    rows = b.add("b", 12.0, 0, K1, "x", False)  # the watermark follows the others' lines
    assert values(rows) == [("a", 0.0, [3.0])]
    b.add("a", 14.0, 0, K1, "x", False)
    assert b.late == 0 and sorted(b.entities) == ["a", "b", "x", "y"]
    # a third line that far ahead: the partition's time has moved on (a silence ended)
    rows = b.add("z", 2000.0, 0, K1, "x", False)
    assert [r.entity for r in rows if r.start_ts == 10.0] == ["a", "b"]
    assert b.add("a", 25.0, 0, K1, "now late", False) == [] and b.late == 1


def test_line_buckets():
    b = CountBuckets(3, bucket_lines=3, lines_per_second=True, example_lines=1)
    rows = []
    for i, ts in enumerate([100.0, 101.0, 104.0, 105.0]):
        rows += b.add("g", ts, i % 2, K1 if i % 2 == 0 else K2, f"line {i}", False)
    assert len(rows) == 1
    r = rows[0]
    assert r.values.tolist() == [2.0, 1.0, 0.75] and (r.start_ts, r.end_ts) == (100.0, 104.0)
    assert r.detail[K1] == [2, ["line 0"]]  # at most example_lines examples
    assert [x.lines for x in b.flush()] == [1]


def test_pins_and_marks():
    b = CountBuckets(1, bucket_seconds=10)
    b.add("a", 1.0, 0, K1, "x", False, offset=("p0", 7))
    b.add("a", 2.0, 0, K1, "x", False, offset=("p0", 8), mark=True)
    b.add("b", 3.0, 0, K1, "x", False, offset=("p1", 3))
    assert b.pins() == {"p0": 7, "p1": 3}
    rows = b.add("a", 11.0, 0, K1, "x", False, offset=("p0", 9))
    assert [(r.entity, r.marked, r.first_offset) for r in rows] == [
        ("a", True, ("p0", 7)), ("b", False, ("p1", 3))]
    assert b.pins() == {"p0": 9}


def test_exactly_one_bucket_mode():
    with pytest.raises(ValueError):
        CountBuckets(1, bucket_seconds=10, bucket_lines=5)
    assert np.all(CountBuckets(1, bucket_lines=1).add("a", None, 0, K1, "x", False)[0].values
                  == [1.0])


def test_a_bucket_keeps_a_bounded_number_of_new_templates_and_counts_every_line():
    """Every line its own live template (an unmasked id): a bucket's detail used to keep an
    entry and an example per line, so serve's memory grew with the line rate."""
    from anomaly_gan.logs.counts import NEW_OVERFLOW

    b = CountBuckets(3, bucket_seconds=60, max_detail_keys=4)
    b.add("a", 1.0, 0, K1, "known line", False)
    for i in range(1000):
        b.add("a", 2.0, 2, ("new", i + 1), f"id-{i}", False)
    (row,) = b.flush()
    assert row.lines == 1001 and row.values.tolist() == [1.0, 0.0, 1000.0]
    assert len(row.detail) == 5
    assert row.detail[NEW_OVERFLOW] == [997, ["id-3", "id-4", "id-5"]]
    assert row.detail[("new", 3)] == [1, ["id-2"]]


@pytest.mark.parametrize("seed", range(20))
def test_a_buckets_examples_are_its_earliest_lines_whatever_order_they_came_in(seed):
    """serve adds a bucket's lines as they come, score in time order (stable: ties as
    written): a template's examples were its first lines to come in serve and its earliest
    in score, so an alert's examples differed from score's for lines out of order within a
    bucket. Both keep the earliest by time now, ties in the order added, holding no more
    than example_lines examples."""
    import random

    rng = random.Random(seed)
    lines = [(round(rng.uniform(0, 9.9), 1), f"line {i}") for i in range(30)]  # ties too
    written = lines[:]
    rng.shuffle(written)  # the order the service wrote them: ties stay in it
    in_time_order = sorted(written, key=lambda line: line[0])  # stable, as offline
    detail = []
    for order in (written, in_time_order):
        b = CountBuckets(1, bucket_seconds=10, example_lines=3)
        for ts, text in order:
            b.add("a", ts, 0, K1, text, False)
            assert len(b._open["a"].detail[K1][1]) <= 3
        row = b.add("a", 25.0, 0, K1, "next", False)[0]
        detail.append(row.detail)
    assert detail[0] == detail[1] == {K1: [30, [t for _, t in in_time_order[:3]]]}


def test_consecutive_time_buckets_touch_whatever_the_bucket_size():
    """A row ended at ``b*s + s`` and the next one started at ``(b+1)*s``: with
    ``bucket_seconds: 0.1`` these differ in the last bit (0.5 + 0.1 < 6 * 0.1), so ``score``
    (series_of, no hole allowed) cut an entity's rows into series of one to three buckets
    (found by tests/logs/test_buckets_spec_fuzz.py). A bucket is ``[b*s, (b+1)*s)``."""
    from anomaly_gan.logs.offline import series_of

    b = CountBuckets(1, bucket_seconds=0.1, gap_seconds=1.0)
    rows = []
    for ts in (0.45, 0.55, 0.65, 0.75, 0.85):
        rows += b.add("a", ts, 0, K1, "x", False)
    rows += b.flush()
    assert [r.start_ts for r in rows] == [k * 0.1 for k in range(4, 9)]
    assert [r.end_ts for r in rows] == [k * 0.1 for k in range(5, 10)]
    assert len(series_of(rows, 0.0)) == 1


def test_per_n_lines_the_gap_is_measured_from_the_newest_line_not_the_last():
    """A line stamped back in time (two threads, a clock stepped back) made the next line,
    written a second after the newest, look like a return after the gap: the entity was
    forgotten with its partial bucket and started a new series, and at a commit it expired
    though its newest line was as recent as the others' (found by
    tests/logs/test_buckets_spec_fuzz.py). docs/logs.md: "more than logs.gap_seconds after
    its newest one"; "whose newest line is more than logs.gap_seconds behind"."""
    b = CountBuckets(1, bucket_lines=3, gap_seconds=60)
    b.add("a", 100.0, 0, K1, "x", False)
    b.add("a", 30.0, 0, K1, "stamped back", False)
    b.add("b", 101.0, 0, K1, "y", False)
    assert b.expire() == []
    assert not b.returns_after_gap("a", 101.0)
    (row,) = b.add("a", 101.0, 0, K1, "x", False)
    assert (row.start_ts, row.end_ts, row.lines) == (100.0, 101.0, 3)
    assert b.returns_after_gap("a", 161.5) and b.gap_restarts == 0


def test_a_line_goes_to_the_bucket_that_holds_its_time():
    """Bucket ``b`` holds ``[b*s, (b+1)*s)``, but ``floor(ts / s)`` rounds: with
    ``bucket_seconds: 0.1`` a line at 4.3 (= 43 * 0.1) was counted in bucket 42, which ends
    at 4.3, and one at 1.7 (< 17 * 0.1) in bucket 17, which starts after it (found by
    tests/logs/test_buckets_spec_fuzz.py; bucket sizes that are binary fractions, 0.5 or
    60, never did)."""
    b = CountBuckets(1, bucket_seconds=0.1, gap_seconds=10.0)
    b.add("a", 1.7, 0, K1, "x", False)
    b.add("b", 4.3, 0, K1, "x", False)
    rows = {r.entity: r for r in b.flush()}
    assert rows["a"].start_ts <= 1.7 < rows["a"].end_ts
    assert rows["b"].start_ts <= 4.3 < rows["b"].end_ts


def test_per_n_lines_a_line_exactly_gap_seconds_after_or_behind_is_no_gap_as_written():
    """docs/logs.md: "more than logs.gap_seconds", with the times as written, as the window
    state reads its gap (data/windows.more_than_apart). 1767225600.4 - 1767225600.1 is
    0.3000001907... in floats: until 2026-12-07 a line 0.3 s after the newest, with
    gap_seconds 0.3, was a return after the gap, and an entity 0.3 s behind expired."""
    b = CountBuckets(1, bucket_lines=3, gap_seconds=0.3)
    b.add("a", 1767225600.1, 0, K1, "x", False)
    b.add("b", 1767225600.4, 0, K1, "y", False)
    assert not b.returns_after_gap("a", 1767225600.4)
    assert b.expire() == []
    assert b.returns_after_gap("a", math.nextafter(1767225600.4, math.inf))


def test_time_buckets_gap_rule_counts_buckets_as_written():
    """docs/logs.md: the k-th empty bucket is a zero row while k x bucket_seconds <
    gap_seconds, as written. In floats 3 x 0.3 is 0.8999999999999999: until 2026-12-07
    three empty buckets of 0.3 s were under a gap of 0.9 s, a third zero row."""
    b = CountBuckets(1, bucket_seconds=0.3, gap_seconds=0.9)
    b.add("a", 0.1, 0, K1, "x", False)
    rows = b.add("a", 1.6, 0, K1, "x", False)  # bucket 5: buckets 1 to 4 silent
    assert [r.start_ts for r in rows] == [0.0, 0.3, 0.6] and b.gap_restarts == 1


def test_a_line_bucket_seconds_past_the_watermark_as_written_moves_it():
    """"At most bucket_seconds past it", as written: 1767225600.1 + 0.3 is under
    1767225600.4 in floats, so until 2026-12-07 such a line waited for two more to move
    the watermark, and the other entities' buckets stayed open."""
    b = CountBuckets(1, bucket_seconds=0.3)
    for _ in range(3):  # the watermark moves from the third line
        b.add("a", 1767225600.1, 0, K1, "x", False)
    rows = b.add("b", 1767225600.4, 0, K1, "y", False)
    assert [(r.entity, r.end_ts) for r in rows] == [("a", 5890752001 * 0.3)]


def test_a_bucket_closes_when_the_watermark_is_lateness_past_its_end_as_written():
    """Bucket 33432 of 0.1 s ends at 3343.3; a watermark of 3343.35 is the lateness 0.05
    past it, where the float 3343.35 - 0.05 is 3343.2999999999997, in the bucket: until
    2026-12-07 it stayed open a line longer (and a line for it was counted, not late)."""
    b = CountBuckets(1, bucket_seconds=0.1, lateness_seconds=0.05)
    for _ in range(3):
        b.add("a", 3343.25, 0, K1, "x", False)
    rows = b.add("b", 3343.35, 0, K1, "y", False)
    assert [(r.entity, r.end_ts) for r in rows] == [("a", 3343.3)]


def test_a_run_of_late_lines_gets_the_holds_the_full_search_gives():
    """CountBuckets._hold_late takes a short way for a run of late lines (a host whose clock
    lags: every other line late cost 43 us a line, 30 times an in-order one); over random
    streams of in-order and late lines it notes the same holds as the search from the
    oldest line kept."""
    import random

    class FullSearch(CountBuckets):
        def _hold_late(self, bucket, offset):
            self._last_late = None
            super()._hold_late(bucket, offset)

    for seed in range(60):
        rng = random.Random(seed)
        a, b = CountBuckets(3, bucket_seconds=10.0), FullSearch(3, bucket_seconds=10.0)
        t = 1_700_000_000.0
        for i in range(400):
            t += rng.choice([0.1, 0.5, 2.0, 7.0])
            late = rng.random() < rng.choice([0.05, 0.3, 0.6])
            ts = t - rng.choice([15.0, 40.0, 3600.0]) if late else t
            entity = f"lag{rng.randrange(3)}" if late else "web"
            for buckets in (a, b):
                buckets.add(entity, ts, 0, ("known", 1), "x", False, offset=("p", i),
                            now=t + 1.0)
        assert a.late == b.late and a.late > 0, seed
        assert [list(h) for h in a.late_holds] == [list(h) for h in b.late_holds], seed
