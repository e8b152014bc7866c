"""Seeded test of the drift gauges against a reference written from their prose contract.

:func:`reference` restates the module docstrings of :mod:`anomaly_gan.scoring.drift` and
:mod:`anomaly_gan.stream.drift` and docs/streaming.md (*Shadow scoring and drift*) without
the product's code:

- Bins of a reference histogram with interior edges ``e0 < e1 < ...`` are
  ``(-inf, e0], (e0, e1], ..., (e_last, +inf)``: a value's bin is the number of edges
  strictly below it, so a value on an edge counts in the bin it closes and values outside
  the reference range (``±inf`` and an unscorable window's ``+inf`` score too) in the outer
  bins.
- ``PSI = sum_i (a_i - r_i) ln(a_i / r_i)`` with live shares ``a`` and reference shares
  ``r`` both floored at ``PSI_FLOOR`` (1e-4).
- The period is ``serve.drift.period_seconds`` kept as 12 sub-periods of the monitor's
  clock (sub-period ``floor(t / (period / 12))``); at a refresh the current sub-period and
  the 11 before it count, the older ones are dropped.
- :meth:`observe` only buffers; the buffered events are binned, so counted in the
  sub-period of that moment, at each :meth:`refresh` and when a batch would overflow the
  4096-event buffer (a batch larger than the buffer is binned at once).
- Gauges change at a refresh (and a reload) only. While the period holds at least
  ``MIN_SAMPLES`` (100) events the score gauge reads the score's PSI and one
  ``anomaly_gan_feature_drift_psi{feature}`` series is exported for each of the
  ``min(features, max_feature_labels)`` most drifted features; otherwise, and under a model
  without a reference, the score gauge reads NaN with no feature series. A reload starts a
  new period (what was buffered or counted under the previous model is gone).

Each seed draws a period (1 s to an hour), 1-30 features (some over
``max_feature_labels``, which can be 0), hand-made reference histograms (1-10 interior
edges, empty bins, a single edge, none at all, identical features so that PSIs tie), and a
run of batches whose values sit on edges, next to them, inside, outside the range (±1e308,
±inf) and whose scores include ``+inf``; the clock moves on by fractions of a sub-period,
by whole ones, jumps past the period, stands still or steps slightly back; refreshes come
at random, and reloads to models with and without a reference. After every step the
gauges are read from the step's registry. ``DRIFT_SPEC_FUZZ_SEEDS`` (default 100, about 3
seconds) seeds from ``DRIFT_SPEC_FUZZ_SEED_START`` (default 0):
``DRIFT_SPEC_FUZZ_SEED_START=17 DRIFT_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import math
import os
import random
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import DriftConfig
from anomaly_gan.stream.drift import DriftMonitor
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("DRIFT_SPEC_FUZZ_SEEDS", "100"))
SEED_START = int(os.environ.get("DRIFT_SPEC_FUZZ_SEED_START", "0"))

# The documented constants, restated (not imported from the product).
MIN_SAMPLES = 100
SUB_PERIODS = 12
BUFFER = 4096
FLOOR = 1e-4


@dataclass
class Hist:
    edges: list[float]
    fractions: list[float]


@dataclass
class Model:
    version: str
    names: list[str]
    features: dict[str, Hist] | None  # None: a bundle without a drift reference
    score: Hist | None


@dataclass
class Observe:
    rows: np.ndarray  # (events, features)
    scores: np.ndarray


@dataclass
class Tick:
    dt: float


@dataclass
class Refresh:
    pass


@dataclass
class Reload:
    model: Model


Step = Observe | Tick | Refresh | Reload


@dataclass
class Case:
    period: float
    max_labels: int
    start: float
    first: Model
    steps: list[Step]


# -- the reference --------------------------------------------------------------------------


def _bin(value: float, edges: list[float]) -> int:
    """The bin ``(e_{i-1}, e_i]`` of ``value``: ``i`` edges lie strictly below it."""
    return bisect_left(edges, value)


def _psi(fractions: list[float], counts: list[int]) -> float:
    total = sum(counts)
    out = 0.0
    for r, c in zip(fractions, counts, strict=True):
        a, r = max(c / total, FLOOR), max(r, FLOOR)
        out += (a - r) * math.log(a / r)
    return out


@dataclass
class _Group:
    """Events binned at one moment: their sub-period and per-bin counts."""

    sub: int
    n: int
    features: list[list[int]]
    score: list[int]


@dataclass
class _State:
    model: Model | None = None
    pending: list[tuple[list[float], float]] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)
    score: float = math.nan
    features: dict[str, float] = field(default_factory=dict)


Gauges = tuple[float, dict[str, float]]


def reference(case: Case, notes: Counter[str] | None = None) -> list[Gauges]:
    """The (score gauge, feature series) the docs promise after each step. ``notes``
    counts the rules that decided something (:func:`test_the_cases_reach_every_rule`)."""
    notes = Counter() if notes is None else notes
    sub_len = case.period / SUB_PERIODS
    now = case.start
    st = _State()

    def enabled() -> bool:
        return st.model is not None and st.model.features is not None

    def stamp(events: list[tuple[list[float], float]]) -> None:
        if not events:
            return
        m = st.model
        assert m is not None and m.features is not None and m.score is not None
        feats = [[0] * len(m.features[n].fractions) for n in m.names]
        score = [0] * len(m.score.fractions)
        for row, s in events:
            for i, name in enumerate(m.names):
                edges = m.features[name].edges
                b = _bin(row[i], edges)
                feats[i][b] += 1
                notes["value_on_edge"] += row[i] in edges
                notes["outside_range"] += bool(edges) and not edges[0] <= row[i] <= edges[-1]
            score[_bin(s, m.score.edges)] += 1
            notes["inf_score"] += s == math.inf
        st.groups.append(_Group(int(now // sub_len), len(events), feats, score))

    def reset(model: Model) -> None:
        st.model, st.pending, st.groups = model, [], []
        st.score, st.features = math.nan, {}

    reset(case.first)
    out: list[Gauges] = []
    for step in case.steps:
        if isinstance(step, Tick):
            notes["stand_still"] += step.dt == 0
            notes["back_step"] += step.dt < 0
            notes["jump_past_period"] += step.dt > case.period
            now += step.dt
        elif isinstance(step, Reload):
            notes["reload_with_value"] += not math.isnan(st.score)
            reset(step.model)
            notes["reload_to_no_reference"] += step.model.features is None
        elif isinstance(step, Observe) and enabled():
            events = list(zip(step.rows.tolist(), step.scores.tolist(), strict=True))
            if len(st.pending) + len(events) > BUFFER:
                notes["buffer_full"] += 1
                stamp(st.pending)
                st.pending = []
                if len(events) > BUFFER:
                    notes["batch_over_buffer"] += 1
                    stamp(events)
                    events = []
            st.pending += events
        elif isinstance(step, Refresh) and enabled():
            assert st.model is not None and st.model.features is not None
            assert st.model.score is not None
            stamp(st.pending)
            st.pending = []
            cur = int(now // sub_len)
            live = [g for g in st.groups if g.sub > cur - SUB_PERIODS]
            n = sum(g.n for g in live)
            notes["oldest_sub_period_counts"] += any(g.sub == cur - SUB_PERIODS + 1
                                                     for g in live)
            notes["sub_period_just_dropped"] += any(g.sub == cur - SUB_PERIODS
                                                    for g in st.groups)
            notes["exactly_min_samples"] += n == MIN_SAMPLES
            notes["one_below_min_samples"] += n == MIN_SAMPLES - 1
            had_value = not math.isnan(st.score)
            if n >= MIN_SAMPLES:
                m = st.model
                values = {}
                for i, name in enumerate(m.names):
                    counts = [sum(g.features[i][b] for g in live)
                              for b in range(len(m.features[name].fractions))]
                    values[name] = _psi(m.features[name].fractions, counts)
                score = [sum(g.score[b] for g in live) for b in range(len(m.score.fractions))]
                st.score = _psi(m.score.fractions, score)
                k = min(len(values), case.max_labels)
                ranked = sorted(values.values(), reverse=True)
                notes["labels_capped"] += k < len(values) and k > 0
                notes["no_labels_allowed"] += case.max_labels == 0
                notes["tie_at_cap"] += 0 < k < len(values) and ranked[k - 1] == ranked[k]
                # ties at the cap: any of the tied features may be shown (compare checks)
                st.features = {name: v for name, v in values.items() if v >= ranked[k - 1]} \
                    if k else {}
            else:
                notes["value_gone_after_events_left"] += had_value
                st.score, st.features = math.nan, {}
        out.append((st.score, dict(st.features)))
    return out


# -- the product ----------------------------------------------------------------------------


def _bundle(m: Model) -> SimpleNamespace:
    meta: dict[str, Any] = {}
    if m.features is not None:
        assert m.score is not None
        meta["reference"] = {
            "bins": 10,
            "features": {n: {"edges": h.edges, "fractions": h.fractions}
                         for n, h in m.features.items()},
            "score": {"edges": m.score.edges, "fractions": m.score.fractions}}
    return SimpleNamespace(version=m.version, feature_names=tuple(m.names), metadata=meta)


def product(case: Case) -> list[Gauges]:
    reg = CollectorRegistry()
    clock = SimpleNamespace(t=case.start)
    mon = DriftMonitor(reg, DriftConfig(period_seconds=case.period,
                                        max_feature_labels=case.max_labels), lambda: clock.t)
    mon.set_model(_bundle(case.first))
    out: list[Gauges] = []
    for step in case.steps:
        if isinstance(step, Tick):
            clock.t += step.dt
        elif isinstance(step, Reload):
            mon.set_model(_bundle(step.model))
        elif isinstance(step, Observe):
            mon.observe(step.rows.copy(), step.scores.copy())
        else:
            mon.refresh()
        feats = {s.labels["feature"]: s.value for m in reg.collect() for s in m.samples
                 if s.name == "anomaly_gan_feature_drift_psi"}
        score = reg.get_sample_value("anomaly_gan_score_drift_psi")
        out.append((math.nan if score is None else score, feats))
    return out


def _agree(case: Case, want: Gauges, got: Gauges) -> str | None:
    """None when ``got`` is what the docs allow: the same score (NaN alike) and, for the
    features, as many series as the cap allows, each of one the reference ranks there
    (ties at the cap go either way), with the same values."""
    def close(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9,
                                                                 abs_tol=1e-12)
    if not close(want[0], got[0]):
        return f"score gauge: docs {want[0]!r}, product {got[0]!r}"
    ranked = sorted(want[1].values(), reverse=True)
    k = min(len(case.first.names), case.max_labels) if want[1] else 0
    if len(got[1]) != k:
        return f"{len(got[1])} feature series, docs want {k}: {sorted(got[1])}"
    for name, v in got[1].items():
        if name not in want[1] or not close(v, want[1][name]):
            return f"feature {name}: docs {want[1].get(name)!r}, product {v!r}"
    if k and min(got[1].values()) < ranked[k - 1] * (1 - 1e-9) - 1e-12:
        return f"series not the {k} most drifted: {got[1]} vs {want[1]}"
    return None


# -- the cases --------------------------------------------------------------------------------


def _hist(rng: random.Random, identical: Hist | None) -> Hist:
    if identical is not None:
        return identical
    kind = rng.random()
    if kind < 0.05:
        return Hist([], [1.0])  # a reference with no finite value
    n_edges = 1 if kind < 0.12 else rng.randint(2, 9)
    edges = sorted({round(rng.uniform(-3, 3), rng.choice([1, 2, 6])) for _ in range(n_edges)})
    w = [rng.choice([0.0, rng.random(), 1.0]) for _ in range(len(edges) + 1)]
    if not any(w):
        w[0] = 1.0
    total = sum(w)
    return Hist(edges, [x / total for x in w])


def _model(rng: random.Random, version: str, names: list[str], with_ref: bool) -> Model:
    if not with_ref:
        return Model(version, names, None, None)
    feats: dict[str, Hist] = {}
    for name in names:
        twin = feats[rng.choice(list(feats))] if feats and rng.random() < 0.25 else None
        feats[name] = _hist(rng, twin)
    return Model(version, names, feats, _hist(rng, None))


def _values(gen: np.random.Generator, n: int, edges: list[float], shift: float) -> np.ndarray:
    """``n`` values: a quarter on an edge, a tenth next to one, a few of ±1e308 and ±inf,
    the rest around ``shift``."""
    out = gen.normal(shift, 1.5, n)
    kind = gen.random(n)
    if edges:
        e = np.asarray(edges)[gen.integers(0, len(edges), n)]
        out = np.where(kind < 0.25, e, out)
        near = np.nextafter(e, np.where(gen.random(n) < 0.5, -np.inf, np.inf))
        out = np.where((kind >= 0.25) & (kind < 0.35), near, out)
    far = np.array([1e308, -1e308, np.inf, -np.inf])[gen.integers(0, 4, n)]
    return np.where((kind >= 0.35) & (kind < 0.38), far, out)


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    period = rng.choice([1.0, 12.0, 60.0, 90.5, 3600.0])
    sub = period / SUB_PERIODS
    n_feat = rng.choice([1, 2, 3, 5, 8, 8, 30])
    names = [f"f{i}" for i in range(n_feat)]
    max_labels = rng.choice([0, 1, 2, 3, 50, n_feat, max(0, n_feat - 1)])
    models = [_model(rng, f"v{i}", names, rng.random() < 0.85) for i in range(4)]
    models[0] = _model(rng, "v0", names, True) if rng.random() < 0.9 else models[0]
    current = models[0]
    rate = rng.choice([2, 3, 5, 12, 30, 60, 150])  # mean events per batch
    shift = {n: 0.0 for n in names}
    steps: list[Step] = []
    start = rng.choice([0.0, 1000.0, 12345.678, 1e6 + 0.3])
    now = start
    for _ in range(rng.randint(20, 120) if rate > 3 else 240):
        r = rng.random()
        if r < 0.45:
            n = max(0, int(rng.expovariate(1 / rate)))
            if rng.random() < 0.015 and n_feat < 30:
                n = rng.choice([BUFFER - 50, BUFFER + 1, 5000])
            if rng.random() < 0.1:
                shift = {k: rng.choice([0.0, 0.0, 1.0, -2.0]) for k in names}
            edges = {k: (current.features[k].edges if current.features else []) for k in names}
            rows = np.column_stack([_values(gen, n, edges[k], shift[k]) for k in names])
            s_edges = current.score.edges if current.score else []
            scores = np.maximum(_values(gen, n, s_edges, 0.0), -1e308)  # no score is -inf
            scores[gen.random(n) < 0.03] = np.inf  # an unscorable window
            steps.append(Observe(rows, scores))
        elif r < 0.75:
            t = rng.random()
            if t < 0.1:
                dt = 0.0
            elif t < 0.2:
                # slightly back, within the sub-period: the monitor's clock is
                # time.monotonic, which never goes back over a sub-period's start
                dt = -rng.uniform(0.0, 1.0) * (now - (now // sub) * sub)
            elif t < 0.3:
                dt = rng.choice([1, 2, 11, 12, 13]) * sub  # whole sub-periods: boundaries
            elif t < 0.36:
                dt = period * rng.uniform(1.0, 3.0)  # past the whole period
            else:
                dt = rng.uniform(0.0, 1.5) * sub
            now += dt
            steps.append(Tick(dt))
        elif r < 0.96:
            steps.append(Refresh())
        else:
            current = rng.choice(models)
            steps.append(Reload(current))
    return Case(period, max_labels, start, models[0], steps)


def _explain(case: Case, at: int, why: str) -> str:
    lines = [f"period={case.period} max_labels={case.max_labels} start={case.start}",
             f"first model {case.first.version}: reference={case.first.features is not None}"]
    for i, s in enumerate(case.steps[:at + 1]):
        text = (f"Observe({len(s.scores)} events)" if isinstance(s, Observe) else
                f"Reload({s.model.version}, reference={s.model.features is not None})"
                if isinstance(s, Reload) else str(s))
        lines.append(f"  {i:3d} {text}")
    lines.append(f"after step {at}: {why}")
    return "\n".join(lines)


def check_seed(seed):
    case = make_case(seed)
    want = reference(case)
    got = product(case)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        why = _agree(case, w, g)
        assert why is None, _explain(case, i, why)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_drift_gauges_keep_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The generator makes what the contract speaks of, each several times in 120 seeds:
    values on edges and outside the range, unscorable (+inf) scores, a buffer that fills and
    a batch larger than it, exactly MIN_SAMPLES events and one fewer, the oldest sub-period
    that still counts and one just dropped, clocks that stand still, step back and jump past
    the period, values that end once the events left, reloads (to a model without a
    reference too), capped labels, ties at the cap and a cap of 0. A test of nothing would
    pass too."""
    notes: Counter[str] = Counter()
    for seed in range(120):
        reference(make_case(seed), notes)
    rules = ("value_on_edge", "outside_range", "inf_score", "buffer_full", "batch_over_buffer",
             "exactly_min_samples", "one_below_min_samples", "oldest_sub_period_counts",
             "sub_period_just_dropped", "stand_still",
             "back_step", "jump_past_period", "value_gone_after_events_left",
             "reload_with_value", "reload_to_no_reference", "labels_capped", "tie_at_cap",
             "no_labels_allowed")
    assert all(notes[rule] >= 3 for rule in rules), {r: notes[r] for r in rules}
