"""Seeded test of cumulative counters (``data.counters``) against a reference written from
the docs alone: README.md's *Cumulative counters* (Configuration) and *Data files*,
docs/streaming.md's *Counters* (windows) and *A monotonic cumulative sum*, and
docs/CONTRACTS.md's ``det.counters``.

Three pieces of the product apply counters, and the differential tests between commands
share them, so they cannot find a fault in them: the offline path of ``train``, ``score``,
``evaluate`` and ``plot`` (:func:`~anomaly_gan.data.readers.apply_nan_policy`, then
:func:`~anomaly_gan.data.counters.increases`), ``retrain``'s
(:func:`~anomaly_gan.retrain.source.with_increases`, which takes them in place) and
``serve``'s, per entity (:class:`~anomaly_gan.stream.state.WindowState` with ``counters``).
Each seed's series goes through all three and must give the reference's rows. The rules
:func:`reference` restates:

- fill first (``data.nan_policy``): ``reject`` refuses a file with a missing or non-finite
  cell; ``ffill`` carries the last reading over a gap (the total is kept: the gap's
  increase comes with the next reading), a leading gap takes the column's first reading;
  ``zero`` reads a missing reading as 0 (a reset to 0, and the next reading's whole value
  its increase);
- the first row of a series has no increase and only starts them: it is no row of the
  model's (no counters: every row kept, values as they are);
- a counter's increase is ``v[t] - v[t-1]`` (floats as they are: past -1e308 to 1e308 it
  is infinite), and where ``v[t] < v[t-1]`` (a reset, to 0 or to a negative reading too)
  ``v[t]``; equal readings are an increase of 0;
- a row whose series start time (an OTLP cumulative sum's ``startTimeUnixNano``) is later
  than the row before's is a reset too, whatever the values; a row without one, or after
  a row without one, keeps the fall rule; other features' start times are not read;
- other features (gauges) are read as they are.

``serve`` gets the filled rows of two entities interleaved, and each entity's windows must
hold the increases of its own rows (the entity rules of a gap, a partition move, an
eviction are ``tests/stream/test_windows_spec_fuzz.py``'s).

Left out because the docs do not say, or no reader makes it: a column with no finite value
at all, start times beside missing cells (an OTLP metric file has no missing cells: a slot
without every feature is left out), ``-0.0``.

``COUNTERS_SPEC_FUZZ_SEEDS`` (default 3000) seeds from ``COUNTERS_SPEC_FUZZ_SEED_START``
(default 0): ``COUNTERS_SPEC_FUZZ_SEED_START=17 COUNTERS_SPEC_FUZZ_SEEDS=1`` runs seed 17
alone.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from anomaly_gan.data.counters import increases
from anomaly_gan.data.readers import Table, apply_nan_policy
from anomaly_gan.errors import DataError
from anomaly_gan.retrain.source import Rows, Segment, with_increases
from anomaly_gan.stream.state import WindowBatch, WindowState
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)

SEEDS = int(os.environ.get("COUNTERS_SPEC_FUZZ_SEEDS", "3000"))
SEED_START = int(os.environ.get("COUNTERS_SPEC_FUZZ_SEED_START", "0"))

RULES: Counter[str] = Counter()  # the rules the reference took, for the coverage test

Cell = float | None  # None: a missing cell (an empty CSV cell, NA, null)


@dataclass(frozen=True)
class Case:
    values: list[list[Cell]]  # rows of one series, as read (NaN and inf may appear too)
    counters: tuple[int, ...]
    policy: str  # data.nan_policy
    starts: list[list[float | None]] | None  # each value's series start time; None: none

    @property
    def n_features(self) -> int:
        return len(self.values[0])


# -- the reference, from the docs --------------------------------------------------------


def _missing(v: Cell) -> bool:
    return v is None or not math.isfinite(v)


def _filled(case: Case, notes: Counter[str]) -> list[list[float]] | None:
    """The rows after ``data.nan_policy``; None where ``reject`` refuses them."""
    rows = [list(r) for r in case.values]
    gaps = [(t, j) for t, r in enumerate(rows) for j, v in enumerate(r) if _missing(v)]
    if not gaps:
        return rows  # type: ignore[return-value]
    if any(v is not None and math.isinf(v) for r in rows for v in r):
        notes["fill.inf_cell"] += 1
    if case.policy == "reject":
        notes["fill.reject"] += 1
        return None
    for j in range(case.n_features):
        column = [r[j] for r in rows]
        if case.policy == "zero":
            if any(_missing(v) for v in column):
                notes["fill.zero"] += 1
            column = [0.0 if _missing(v) else v for v in column]
        else:
            first = next(v for v in column if not _missing(v))
            last = None
            for t, v in enumerate(column):
                if _missing(v):
                    notes["fill.ffill_leading" if last is None else "fill.ffill_gap"] += 1
                    column[t] = first if last is None else last
                else:
                    last = v
        for t, v in enumerate(column):
            rows[t][j] = v
    return rows  # type: ignore[return-value]


def reference(case: Case, notes: Counter[str] | None = None) -> list[list[float]] | None:
    """The rows the model reads (``None``: refused by ``reject``), from the docs alone."""
    notes = RULES if notes is None else notes
    rows = _filled(case, notes)
    if rows is None:
        return None
    if not case.counters:
        notes["no_counters"] += 1
        return rows
    notes["first_row"] += 1
    if len(rows) == 1:
        notes["single_row"] += 1
    out = []
    for t in range(1, len(rows)):
        row = []
        for j, now in enumerate(rows[t]):
            if j not in case.counters:
                notes["gauge"] += 1
                row.append(now)
                continue
            before = rows[t - 1][j]
            began = None if case.starts is None else case.starts[t][j]
            began_before = None if case.starts is None else case.starts[t - 1][j]
            if case.starts is not None and (began is None or began_before is None):
                notes["start.none"] += 1
            if began is not None and began_before is not None and began > began_before:
                notes["start.later_and_grew" if now >= before else "start.later_and_fell"] += 1
                row.append(now)
            elif now < before:
                notes["reset.to_zero" if now == 0 else
                      "reset.to_negative" if now < 0 else "reset.fall"] += 1
                row.append(now)
            else:
                d = now - before
                notes["increase.equal" if d == 0 else
                      "increase.infinite" if math.isinf(d) else
                      "increase.past_2**53" if now > 2.0**53 else "increase"] += 1
                if began is not None and began == began_before:
                    notes["start.same"] += 1
                row.append(d)
        out.append(row)
    return out


# -- the product: the three paths --------------------------------------------------------


def _table(case: Case) -> Table:
    values = np.array([[np.nan if v is None else v for v in r] for r in case.values],
                      dtype=np.float64)
    starts = None if case.starts is None else np.array(
        [[np.nan if s is None else s for s in r] for r in case.starts], dtype=np.float64)
    names = tuple(f"f{j}" for j in range(case.n_features))
    return Table("c.csv", names, values, starts=starts)


def offline(case: Case) -> np.ndarray | None:
    """``train``/``score``/``evaluate``/``plot``: fill, then the increases."""
    table = _table(case)
    try:
        values = apply_nan_policy(table, case.policy)
    except DataError:
        return None
    return increases(values, case.counters, table.starts)


def retrain(case: Case, filled: np.ndarray, read_only: bool) -> np.ndarray:
    """``retrain``'s segments: the increases taken in place (or on a copy where the rows
    cannot be written)."""
    table = _table(case)
    values = np.array(filled, dtype=np.float64)
    values.flags.writeable = not read_only
    segment = Segment("e", np.arange(len(values), dtype=np.float64), values, table.starts)
    got = with_increases(Rows([segment], {}), case.counters).segments
    if not got:
        return np.empty((0, case.n_features))
    assert len(got) == 1
    return got[0].values


def serve(cases: list[tuple[Case, np.ndarray]], rng: random.Random) -> list[list[list[float]]]:
    """``serve``: each case's filled rows as one entity's events, interleaved at random;
    each entity's windows (of one row) in order."""
    counters = cases[0][0].counters
    n = cases[0][0].n_features
    state = WindowState(1, n, gap_seconds=1e9, max_entities=len(cases), counters=counters,
                        initial_capacity=1)
    out = WindowBatch(1, n, capacity=1)
    queue = [i for i, (_, rows) in enumerate(cases) for _ in range(len(rows))]
    rng.shuffle(queue)
    taken = [0] * len(cases)
    got: list[list[list[float]]] = [[] for _ in cases]
    for offset, i in enumerate(queue):
        case, rows = cases[i]
        t = taken[i]
        taken[i] += 1
        starts = None if case.starts is None else {
            j: s for j, s in enumerate(case.starts[t]) if s is not None}
        before = len(out)
        state.push(f"e{i}", float(t), rows[t].tolist(), 0, offset, out, starts=starts)
        got[i].extend(out.raw[k][0].tolist() for k in range(before, len(out)))
    return got


# -- the cases ---------------------------------------------------------------------------


def _total(rng: random.Random, rows: int, starts: bool) -> tuple[list[Cell], list[float | None]]:
    """A running total: grows (by fractions of many digits, integers, nothing), resets
    (to a fraction of itself, to 0, to a negative reading), restarts (a new start time,
    its total past the old one or not), huge (past 2**53) or at the float's ends."""
    kind = rng.random()
    value = (rng.uniform(2.0**53, 2.0**62) if kind < 0.15 else
             rng.choice([-1e308, 1e308, 1.7e308]) if kind < 0.2 else
             rng.uniform(-50, 1e6))
    start = rng.uniform(1.7e9, 1.8e9)
    values: list[Cell] = []
    began: list[float | None] = []
    for _ in range(rows):
        r = rng.random()
        if r < 0.35:
            value += rng.uniform(0, 1000) * rng.choice([1, 1e-7, 1e6])
        elif r < 0.5:
            value += rng.randint(1, 5)
        elif r < 0.6:
            pass  # equal readings
        elif r < 0.65:
            value = 0.0
        elif r < 0.72:
            value = value * rng.random()
        elif r < 0.76:
            value = -rng.uniform(0, 100)
        elif r < 0.8:
            value = rng.choice([-1e308, 1e308, -1.5e308, 1.7e308])
        elif r < 0.9 and starts:
            start += rng.choice([1.0, 0.5, 3600.0])  # the process restarted
            value = value + rng.uniform(0, 100) if rng.random() < 0.5 else rng.uniform(0, 50)
        else:
            value += rng.uniform(0, 10)
        values.append(value)
        began.append(None if rng.random() < 0.1 else start)
    return values, began


def gen_case(rng: random.Random, like: Case | None = None) -> Case:
    """A series; ``like``: another entity's of the same features and counters, as ``serve``
    gets it (no gaps: serve dead-letters an event with a missing value)."""
    rows = rng.choice([1, 2, 3, rng.randint(2, 12), rng.randint(5, 30)])
    n = rng.randint(1, 4) if like is None else like.n_features
    counters = (like.counters if like is not None else
                tuple(j for j in range(n) if rng.random() < 0.6) if rng.random() < 0.9 else ())
    policy = rng.choice(["reject", "ffill", "zero", "ffill"])
    with_starts = bool(counters) and rng.random() < 0.35
    columns: list[list[Cell]] = []
    starts: list[list[float | None]] = []
    for j in range(n):
        if j in counters:
            col, began = _total(rng, rows, with_starts)
        else:
            col = [rng.uniform(-100, 100) for _ in range(rows)]
            began = [rng.uniform(0, 1e9) if rng.random() < 0.5 else None for _ in range(rows)]
        columns.append(col)
        starts.append(began)
    if not with_starts and like is None and rng.random() < 0.5:  # gaps: none with start times (no reader)
        for col in columns:
            for t in range(rows):
                if rng.random() < 0.15:
                    col[t] = rng.choice([None, None, math.nan, math.inf, -math.inf])
            if all(_missing(v) for v in col):
                col[rng.randrange(rows)] = rng.uniform(0, 100)
    values = [[columns[j][t] for j in range(n)] for t in range(rows)]
    return Case(values, counters, policy,
                [[starts[j][t] for j in range(n)] for t in range(rows)] if with_starts else None)


# -- the comparison ----------------------------------------------------------------------


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _same_row(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(map(_same, a, b))


def _compare(what: str, want: list[list[float]], got: list[list[float]], case: Case) -> None:
    a, b = [tuple(r) for r in want], [tuple(r) for r in got]
    if len(a) != len(b) or not all(map(_same_row, a, b)):
        i, lines = first_difference(a, b, _same_row)
        raise AssertionError(f"{what}: rows differ at {i}\n" + "\n".join(lines) + f"\n{case}")


def check_seed(seed: int) -> None:
    rng = random.Random(seed)
    case = gen_case(rng)
    want = reference(case)
    got = offline(case)
    if want is None:
        assert got is None, f"docs refuse it (reject, a missing cell), the product reads it\n{case}"
        return
    assert got is not None, f"docs read it, the product refuses it\n{case}"
    _compare("offline", want, got.tolist(), case)
    filled = apply_nan_policy(_table(case), case.policy)
    if case.counters:
        read_only = rng.random() < 0.3
        if read_only:
            RULES["retrain.read_only"] += 1
        _compare("retrain", want, retrain(case, filled, read_only).tolist(), case)
        # serve: this entity beside another of the same features and counters
        other = gen_case(random.Random(f"{seed}-other"), like=case)
        other_filled = apply_nan_policy(_table(other), other.policy)
        mine, theirs = serve([(case, filled), (other, other_filled)], rng)
        _compare("serve", want, mine, case)
        _compare("serve (other entity)", reference(other, Counter()) or [], theirs, other)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_counters_follow_the_docs(seeds: range) -> None:
    each_seed(seeds, check_seed)


def test_every_rule_is_reached() -> None:
    """The default seeds reach every rule of the reference, so a rule no series takes
    cannot hide a disagreement."""
    rules = {"fill.reject", "fill.zero", "fill.ffill_gap", "fill.ffill_leading",
             "fill.inf_cell", "no_counters", "first_row", "single_row", "gauge",
             "increase", "increase.equal", "increase.infinite", "increase.past_2**53",
             "reset.fall", "reset.to_zero", "reset.to_negative", "start.later_and_grew",
             "start.later_and_fell", "start.same", "start.none", "retrain.read_only"}
    assert_every_rule_reached(rules, check_seed, range(3000), RULES)


def test_a_difference_is_caught() -> None:
    """The comparison fails where a path disagrees with the docs (a reset read as a fall
    of the total, a restart's start time ignored)."""
    case = Case([[50.0], [40.0], [45.0]], (0,), "reject", None)
    assert reference(case, Counter()) == [[40.0], [5.0]]
    with pytest.raises(AssertionError, match="rows differ at 0"):
        _compare("offline", [[40.0], [5.0]], [[-10.0], [5.0]], case)
    restarted = Case([[50.0], [60.0]], (0,), "reject", [[5.0], [9.0]])
    assert reference(restarted, Counter()) == [[60.0]]
    got = offline(restarted)
    assert got is not None and got.tolist() == [[60.0]]
