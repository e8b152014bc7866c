"""Seeded test of the count buckets against a reference written from their prose contract.

``serve`` (:class:`~anomaly_gan.logs.live.LogFeed`) and the offline log path
(:func:`~anomaly_gan.logs.offline.count_series`) count lines through the same
:class:`~anomaly_gan.logs.counts.CountBuckets`, so their differential fuzz tests cannot find
a bug in it. Here :func:`reference` restates docs/logs.md (*Count buckets and features*:
time buckets, watermark, gap rule, per N lines) and the module docstring of
``anomaly_gan/logs/counts.py`` without the product's code:

- **Time buckets** of ``s`` seconds: bucket ``b`` holds ``[b*s, (b+1)*s)`` (in float
  arithmetic, as written); its row runs from ``b*s`` to ``(b+1)*s`` (the row time is its
  end). A bucket closes when the watermark is the lateness or more past its end (the
  watermark, the end and the lateness as written: decimals), for every entity, or when its entity's own line falls in a later bucket. An empty bucket is a row of
  zeros while the entity's silence is shorter than ``gap_seconds``: its ``k``-th empty bucket
  in a row (the silence then spans ``k*s`` seconds of buckets) is a zero row while
  ``k*s < gap_seconds`` (as written: decimals, where the float ``3 * 0.3`` is under 0.9);
  the first that is not forgets the entity, and its next line starts a
  new series. Rows within a series are exactly one bucket apart: the product's rows are cut
  into series where one does not start at the previous one's end (as ``score`` reads them).
- **Watermark** (``serve``): the newest line time, as long as each line is at most ``s`` past
  it (as written) or past the 3rd newest of the last 64 line times; a line further ahead moves it only to
  that 3rd newest, and the first two lines not at all. Offline the lines are counted in time
  order, the watermark ends at the last line, and every open bucket with a line is a row.
- **Per N lines:** every ``N`` lines of an entity make a bucket, no empty buckets. A row's
  start is its first line's time, its time the entity's newest line time so far (within its
  series), or the bucket's number in the series for lines without a time. The gap rule on
  line times: a line more than ``gap_seconds`` after its entity's newest starts a new series,
  the partial bucket left out ("more than" with the times and ``gap_seconds`` as written,
  decimals, not their float difference); at a commit (``serve``), an entity whose newest line is more
  than ``gap_seconds`` behind the 90th percentile (rounded up) of the held entities' newest
  lines is forgotten the same way. At the end of a file (``flush``) a partial bucket is a row.
- Counts: one column per line's column; a row is marked when one of its lines is.

Each seed draws 1-5 entities, time buckets (0.1 to 60 s, the offline or the serve driver,
lateness 0 to 2 buckets) or N of 1-5 (lines in file order, some stamped back in time, all
without a time in some seeds, commits with ``expire`` in about half), ``gap_seconds`` a
multiple of the bucket or not, bursts of equal stamps, lines on bucket boundaries and just
before them, silences shorter than, equal to and longer than the gap (per N lines also on
a grid of tenths after an epoch time: steps of exactly ``gap_seconds`` as written whose
float difference is more).
``BUCKETS_SPEC_FUZZ_SEEDS`` (default 500, a few seconds) seeds from
``BUCKETS_SPEC_FUZZ_SEED_START`` (default 0): ``BUCKETS_SPEC_FUZZ_SEED_START=17
BUCKETS_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from anomaly_gan.logs.counts import CountBuckets
from anomaly_gan.logs.offline import series_of
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("BUCKETS_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("BUCKETS_SPEC_FUZZ_SEED_START", "0"))

COLUMNS = 4  # two template columns, other, unseen

Row = tuple[float, float, tuple[float, ...], int, bool]  # start, time (end), counts, lines, marked
Runs = dict[str, list[list[Row]]]


@dataclass
class Line:
    entity: str
    ts: float | None
    column: int
    mark: bool = False


@dataclass
class Case:
    bucket_seconds: float | None
    bucket_lines: int | None
    gap: float
    driver: str  # "offline" (count_series) or "serve" (LogFeed)
    lateness: float
    steps: list[Line | str]  # a str is a commit (serve, per N lines: expire)


# -- the reference ------------------------------------------------------------------------


def _bucket(ts: float, s: float) -> int:
    """The b with b*s <= ts < (b+1)*s, as the docs write it."""
    b = math.floor(ts / s)
    while b * s > ts:
        b -= 1
    while (b + 1) * s <= ts:
        b += 1
    return b


@dataclass
class _TimeEntity:
    open: int  # the open bucket
    last: int  # the last bucket with a line
    counts: list[int] = field(default_factory=lambda: [0] * COLUMNS)
    marked: bool = False


def _nonempty(runs: Runs) -> Runs:
    out = {e: [r for r in rs if r] for e, rs in runs.items()}
    return {e: rs for e, rs in out.items() if rs}


def _reference_time(case: Case, notes: Counter[str]) -> tuple[Runs, int]:
    s, gap = case.bucket_seconds, case.gap
    assert s is not None

    def past(later: float, earlier: float) -> Decimal:
        """How far ``later`` is past ``earlier``, as written."""
        return Decimal(repr(later)) - Decimal(repr(earlier))

    runs: Runs = {}
    state: dict[str, _TimeEntity] = {}
    forgotten = 0

    def row_of(e: str, k: int, st: _TimeEntity) -> None:
        n = sum(st.counts)
        runs[e][-1].append((k * s, (k + 1) * s, tuple(float(c) for c in st.counts), n,
                            st.marked))

    def close(e: str, below: int | None, end_ts: float | None) -> None:
        """Close e's buckets below bucket ``below``, or those that end at or before ``end_ts``."""
        nonlocal forgotten
        st = state[e]
        while (st.open < below) if below is not None else (
                past(end_ts, (st.open + 1) * s) >= Decimal(repr(case.lateness))):
            k = st.open
            if below is None and case.lateness:
                after = past(end_ts, (k + 1) * s)
                notes["closed_at_lateness_exactly"] += after == Decimal(repr(case.lateness))
                notes["closed_float_disagrees"] += end_ts - case.lateness < (k + 1) * s
            if sum(st.counts):
                row_of(e, k, st)
                st.last = k
            else:
                # of empty buckets, this one's included
                silence = (k - st.last) * Decimal(repr(s))
                if silence >= Decimal(repr(gap)):
                    notes["gap_exact"] += silence == Decimal(repr(gap))
                    notes["gap_exact_float_under"] += (k - st.last) * s < gap
                    notes["gap_forgot"] += 1
                    del state[e]
                    forgotten += 1
                    return
                notes["zero_row"] += 1
                notes["zero_row_just_under_gap"] += silence + Decimal(repr(s)) >= Decimal(repr(gap))
                row_of(e, k, st)
            st.open, st.counts, st.marked = k + 1, [0] * COLUMNS, False

    lines = [x for x in case.steps if isinstance(x, Line)]
    if case.driver == "offline":
        lines.sort(key=lambda x: x.ts)  # a file is counted in time order (stable)
    recent: list[float] = []
    wm: float | None = None
    for x in lines:
        assert x.ts is not None
        b = _bucket(x.ts, s)
        notes["on_boundary"] += b * s == x.ts
        if case.driver == "serve":
            recent = (recent + [x.ts])[-64:]
            if wm is not None and past(x.ts, wm) <= Decimal(repr(s)):
                wm = max(wm, x.ts)
            elif len(recent) >= 3:
                third = sorted(recent)[-3]
                target = x.ts if past(x.ts, third) <= Decimal(repr(s)) else third
                notes["watermark_held_back"] += target != x.ts
                wm = target if wm is None else max(wm, target)
            else:
                notes["watermark_first_lines"] += 1
            if wm is not None:
                for e in list(state):
                    close(e, None, wm)
        if x.entity in state:
            close(x.entity, b, None)
        if x.entity not in state:
            notes["new_series"] += x.entity in runs
            runs.setdefault(x.entity, []).append([])
            state[x.entity] = _TimeEntity(b, b)
        st = state[x.entity]
        st.counts[x.column] += 1
        st.marked |= x.mark
    if case.driver == "offline" and lines:
        end = lines[-1].ts
        assert end is not None
        for e in list(state):
            close(e, None, end)  # the lateness is 0 offline
        for e, st in state.items():  # the end of the file: open buckets with a line
            if sum(st.counts):
                row_of(e, st.open, st)
    return _nonempty(runs), forgotten


@dataclass
class _LinesEntity:
    newest: float | None = None
    bucket: list[Line] = field(default_factory=list)
    number: int = 0  # of the open bucket in the series


def _reference_lines(case: Case, notes: Counter[str]) -> tuple[Runs, int, int]:
    n, gap = case.bucket_lines, case.gap
    assert n is not None

    def more_apart(later: float, earlier: float, seconds: float) -> bool:
        """"more than gap_seconds" with the times as written (decimals)"""
        step = Decimal(repr(later)) - Decimal(repr(earlier))
        if step == Decimal(repr(seconds)):
            notes["gap_exactly"] += 1
            notes["gap_exactly_float_more"] += later - earlier > seconds
        return step > Decimal(repr(seconds))
    runs: Runs = {}
    state: dict[str, _LinesEntity] = {}
    forgotten = partial = 0

    def forget(e: str) -> None:
        nonlocal forgotten, partial
        st = state.pop(e)
        forgotten += 1
        partial += bool(st.bucket)
        notes["partial_dropped"] += bool(st.bucket)

    def row_of(e: str, st: _LinesEntity) -> None:
        counts = [0] * COLUMNS
        for x in st.bucket:
            counts[x.column] += 1
        first = st.bucket[0].ts
        start = first if first is not None else float(st.number)
        end = st.newest if st.newest is not None else float(st.number)
        notes["row_time_not_last_line"] += st.bucket[-1].ts != st.newest
        notes["no_time"] += st.newest is None
        runs[e][-1].append((start, end, tuple(float(c) for c in counts), len(st.bucket),
                            any(x.mark for x in st.bucket)))

    for x in case.steps:
        if isinstance(x, str):  # a commit: expire
            times = sorted(st.newest for st in state.values() if st.newest is not None)
            if times:
                recent = times[math.ceil(0.9 * (len(times) - 1))]
                for e in [e for e, st in state.items()
                          if st.newest is not None and more_apart(recent, st.newest, gap)]:
                    notes["expired"] += 1
                    forget(e)
            continue
        st_ = state.get(x.entity)
        if (st_ is not None and x.ts is not None and st_.newest is not None
                and more_apart(x.ts, st_.newest, gap)):
            notes["returned_after_gap"] += 1
            forget(x.entity)
        if x.entity not in state:
            notes["new_series"] += x.entity in runs
            runs.setdefault(x.entity, []).append([])
            state[x.entity] = _LinesEntity()
        st = state[x.entity]
        notes["stamped_back"] += (x.ts is not None and st.newest is not None
                                  and x.ts < st.newest)
        st.bucket.append(x)
        if x.ts is not None and (st.newest is None or x.ts > st.newest):
            st.newest = x.ts
        if len(st.bucket) == n:
            row_of(x.entity, st)
            st.bucket, st.number = [], st.number + 1
    if case.driver == "offline":
        for e, st in state.items():
            if st.bucket:
                notes["flushed_partial"] += 1
                row_of(e, st)
    return _nonempty(runs), forgotten, partial


def reference(case: Case, notes: Counter[str] | None = None) -> tuple[Runs, int, int]:
    """Per entity its series of rows, the entities the gap rule forgot and (per N lines)
    the partial buckets it left out. ``notes`` counts the rules that decided something."""
    notes = Counter() if notes is None else notes
    if case.bucket_seconds is not None:
        runs, forgotten = _reference_time(case, notes)
        return runs, forgotten, 0
    return _reference_lines(case, notes)


# -- the product, driven as count_series and LogFeed drive it --------------------------------


def _row(r) -> Row:
    return (r.start_ts, r.end_ts, tuple(r.values.tolist()), r.lines, r.marked)


def product(case: Case) -> tuple[Runs, int, int]:
    b = CountBuckets(COLUMNS, bucket_seconds=case.bucket_seconds,
                     bucket_lines=case.bucket_lines, gap_seconds=case.gap,
                     lateness_seconds=case.lateness)
    lines_mode = case.bucket_lines is not None
    rows: dict[str, list[list]] = {}

    def keep(closed) -> None:
        for r in closed:
            rows.setdefault(r.entity, [[]])[-1].append(r)

    def new_series(entity: str) -> None:
        if rows.get(entity, [[]])[-1]:
            rows[entity].append([])

    steps = case.steps
    if case.driver == "offline" and not lines_mode:
        steps = sorted((x for x in steps if isinstance(x, Line)), key=lambda x: x.ts)
    for offset, x in enumerate(steps):
        if isinstance(x, str):
            for entity in b.expire():  # LogFeed.expire at a commit
                new_series(entity)
            continue
        if lines_mode and b.returns_after_gap(x.entity, x.ts):
            b.drop(x.entity)
            new_series(x.entity)
        keep(b.add(x.entity, x.ts, x.column, ("known", x.column + 1), f"line {offset}", False,
                   offset=("p0", offset), mark=x.mark))
    assert b.late == 0, "the cases give time buckets their lines in time order"
    if case.driver == "offline":
        if not lines_mode and steps:
            keep(b.advance(float(steps[-1].ts)))
        keep(b.flush())
    out: Runs = {}
    for entity, series in rows.items():
        for run in series:
            # time buckets: score cuts an entity's rows where one does not follow the last
            cut = series_of(run, 0.0) if not lines_mode else [run]
            out.setdefault(entity, []).extend([_row(r) for r in c] for c in cut if c)
    return out, b.gap_restarts, b.partial_dropped


# -- the cases ------------------------------------------------------------------------------


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    names = ["web", "db", "cache", "auth", "queue"][:rng.randint(1, 5)]
    time_mode = rng.random() < 0.5
    base = rng.choice([0.0, 1767225600.0, 1767225600.25])
    if time_mode:
        s = rng.choice([1.0, 10.0, 60.0, 0.5, 7.0, 0.1, 0.3, 2.5])
        unit = s
        # as written (3 x 0.3 s is 0.9, where the float product is under it)
        gap = float(Decimal(repr(rng.choice([2, 3, 5, 2.5, 6.3]))) * Decimal(repr(s)))
        driver = rng.choice(["offline", "serve"])
        lateness = rng.choice([0.0, 0.0, s / 2, 2 * s]) if driver == "serve" else 0.0
        n = None
    else:
        s = None
        unit = rng.choice([1.0, 10.0, 0.5, 0.1, 0.1])
        gap = float(rng.choice([3, 5, 10]) * Decimal(repr(unit)))  # 0.3, not 3 * 0.1
        driver = rng.choice(["offline", "serve"])
        lateness = 0.0
        n = rng.randint(1, 5)
    timeless = not time_mode and rng.random() < 0.1
    t = base + rng.uniform(0, 3) * unit
    quiet: set[str] = set()  # entities silent for now
    steps: list[Line | str] = []
    for _ in range(rng.randint(5, 120)):
        r = rng.random()
        if r < 0.25:
            pass  # an equal stamp: a burst
        elif r < 0.55:
            t += rng.uniform(0, 1.5) * unit
        elif r < 0.65 and s is not None:
            t = (_bucket(t, s) + 1) * s  # on a bucket boundary
        elif r < 0.70 and s is not None:  # just before one (time never goes back here)
            t = max(t, math.nextafter((_bucket(t, s) + 1) * s, -math.inf))
        elif r < 0.80:
            t += rng.choice([gap - unit, gap, gap + unit, gap + 0.5 * unit, 2 * gap, 0.5 * gap])
        if rng.random() < 0.1 and len(names) > 1:  # an entity goes quiet, or comes back
            quiet ^= {rng.choice(names)}
        live = [e for e in names if e not in quiet] or names
        if driver == "serve" and not time_mode and rng.random() < 0.1:
            steps.append("commit")
        ts: float | None = t
        if not time_mode and rng.random() < 0.08:
            ts = t - rng.choice([0.5, 1.0, 1.2, 2.0]) * gap  # stamped back in time
        if ts is not None and unit == 0.1:  # tenths as written: steps of exactly the gap
            ts = float(Decimal(repr(ts)).quantize(Decimal("0.1")))
        steps.append(Line(rng.choice(live), None if timeless else ts, rng.randrange(COLUMNS),
                          rng.random() < 0.05))
    return Case(s, n, gap, driver, lateness, steps)


def _explain(case: Case, want: Runs, got: Runs) -> str:
    lines = [(f"bucket_seconds={case.bucket_seconds} bucket_lines={case.bucket_lines} "
              f"gap={case.gap} driver={case.driver} lateness={case.lateness}")]
    for i, x in enumerate(case.steps):
        lines.append(f"  {i:3d} {x}")
    for e in sorted(set(want) | set(got)):
        if want.get(e) != got.get(e):
            w, g = want.get(e, []), got.get(e, [])
            lines.append(f"entity {e}: docs {len(w)} series, product {len(g)}")
            for i in range(max(len(w), len(g))):
                lines.append(f"  docs    {w[i] if i < len(w) else None}")
                lines.append(f"  product {g[i] if i < len(g) else None}")
    return "\n".join(lines)


def check_seed(seed):
    case = make_case(seed)
    want, want_forgotten, want_partial = reference(case)
    got, got_forgotten, got_partial = product(case)
    assert got == want, _explain(case, want, got)
    assert (got_forgotten, got_partial) == (want_forgotten, want_partial), _explain(
        case, want, got)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_buckets_keep_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The generator makes what the contract speaks of, each many times in 300 seeds: zero
    rows (the last just under the gap), the gap reached exactly and passed, new series,
    lines on bucket boundaries, a watermark held back by the third newest line and by the
    first lines; per N lines a return after the gap, expiry at a commit, partial buckets
    left out and flushed, rows whose time is not their last line's, lines without a time.
    A test of nothing would pass too."""
    notes: Counter[str] = Counter()
    for seed in range(300):
        reference(make_case(seed), notes)
    rules = ("zero_row", "zero_row_just_under_gap", "gap_exact", "gap_exact_float_under",
             "closed_at_lateness_exactly", "closed_float_disagrees", "gap_forgot", "new_series",
             "on_boundary", "watermark_held_back", "watermark_first_lines",
             "returned_after_gap", "expired", "gap_exactly", "gap_exactly_float_more", "partial_dropped", "flushed_partial",
             "row_time_not_last_line", "stamped_back", "no_time")
    assert all(notes[rule] >= 5 for rule in rules), {r: notes[r] for r in rules}
