"""Seeded test of the threshold calibration and the severity against a reference written from
the docs.

``train`` fits the threshold (:func:`~anomaly_gan.scoring.fit_threshold`) and the 201 stored
severity quantiles (:func:`~anomaly_gan.scoring.fit_severity_quantiles`) on the held-out
normal scores, and every window's severity is read off those quantiles
(:func:`~anomaly_gan.scoring.severity`); the unit tests check a few hand-picked samples.
Here the reference restates README *Scores* (**Threshold**, **Severity 0-100**), the
``threshold.*`` keys of configs/default.yaml and ``ThresholdConfig``'s ranges, docs/CONTRACTS.md
(``score_windows``: an unscorable window scores +inf, severity 100; never NaN for a scored
window) and the module docstring of ``scoring/thresholds.py``, without the product's code:

- **Which scores.** Calibration uses the finite held-out scores; an unscorable window's +inf
  says nothing about where normal scores lie, and a quantile over it would be +inf (a
  threshold nothing crosses, a bundle that does not load). The docs are silent on the
  quantile's interpolation: the product takes numpy's default, the linear one (Hyndman and
  Fan's type 7: ``x[h] + (h - floor h) (x[h+1] - x[h])`` at ``h = (n - 1) q``), which is
  sound (continuous in q, exact at the sample points, the usual choice) and is what the
  reference computes, in exact fractions.
- **quantile.** The q-quantile of the ``n`` scores. With ``n < 1 / (1 - q)`` (q as written:
  200 for 0.995, 334 for 0.997) and a tail to fit (``m = min(10, n // 3)`` of at least 2:
  6 scores or more), ``u`` is the ``(m + 1)``-th largest score and the threshold is
  ``u + mean excess * ln(m / (n (1 - q)))``, never below the sample quantile, with
  ``details.extrapolated``. The docs say "the scores above u ... with m of them": where
  scores tie with ``u`` the product takes the ``m`` largest order statistics, ties at ``u``
  with an excess of 0, the usual order-statistic estimator (so ``m`` stays the count in the
  log's ratio); the reference does the same, noted as ``tail_ties_u``.
- **pot.** Not re-implemented (scipy's maximum-likelihood search): its documented properties
  are checked instead. ``t`` is the ``pot_initial_quantile`` sample quantile, the peaks the
  scores above it; with none the threshold is ``t``; else the threshold is the docstring's
  formula at the fitted shape and scale (``details``), never below ``t``, finite, and
  the fit (the docstring: the most likely with the shape within -0.5..1) has its shape
  there and, on the peaks over their largest, a likelihood at least that of the
  exponential tail (the generalized Pareto family's gamma = 0), of 0.5 to 2 times its
  scale at its shape, and of the best point of a grid within the range (gamma every 0.05,
  sigma every 2**(1/8)); a lower ``pot_risk`` never lowers it; and, a maximum-likelihood
  fit being scale-free, the scores times a power of two (exact in floats, scaled to about
  1) give the same shape and the scale and the threshold times that power.
- **No spread.** Over normal scores that are all the same, either method gives their score
  plus 0.01, ``details.no_spread_margin``.
- **Severity.** The stored quantiles are the scores at the 201 levels 0, 0.5%, ..., 100%.
  A score's severity is its position among them, 0-100: equal to a quantile held by the
  levels ``a..b`` (ties), ``(a + b) / 2``; strictly between two stored values it rises
  linearly from the top level of the lower value to the bottom level of the higher one
  (the docs say "position in the distribution": a score above 99.5% of the normal scores
  is at 99.5 or more, whatever the middle of their levels); below the smallest 0, above the
  largest (+inf too) 100; NaN stays NaN.

Comparisons are exact where the arithmetic is: a sample quantile is compared within ``n + 4``
ulps of its neighbours (numpy rounds ``h = (n - 1) q`` to a float, so its fraction is off by
up to ``n`` ulps, then the difference, product and sum each round), the
extrapolated threshold within 1e-12 of the magnitudes it adds (a mean, a logarithm of a
ratio whose ``1 - q`` is the float's), a severity within 1e-9 (a float slope on the 0-100
scale).

Each seed draws a method (``pot`` in a fifth), q from the default and other values the
schema allows (0.5 to under 1, as a user writes them), n at the edges (1, 2, 5, 6, ``1 / (1 -
q)`` and its neighbours) or up to 3,000, scores from normal, exponential, Student-t,
integer (ties), few-valued, all-equal draws, shifted negative and scaled by 1e-300 to
1e300, some +inf, and new scores to rate: the stored quantiles themselves, between them,
beyond them, +inf and NaN. ``THRESHOLDS_SPEC_FUZZ_SEEDS`` (default 300) seeds from
``THRESHOLDS_SPEC_FUZZ_SEED_START`` (default 0): ``THRESHOLDS_SPEC_FUZZ_SEED_START=17
THRESHOLDS_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.

It found (2026-12-07) severities between tied quantiles drawn from the middle of the tie
(a score above 99.5% of the normal scores at 74.9; 24 of 400 seeds, first 33), stored
quantiles of +inf and NaN from an unscorable held-out window (30 of 400, first 25) and
pot's exponential scale floored at 1e-12 (2 of 1,000, first 607: scores near 1e-300), and
pot's fit depending on the scores' scale (the scale-free check: 16 of the first 400 seeds,
52 of 1,000 from 600,000, the threshold off by over 1% in 6 and 22; found by the overflow
scipy warned of at 600092 and 600761, scores near 1e300, whose shape was clipped and so
went unchecked: a scale 280 orders below the peaks, the threshold at ``t``), and a
clipped shape's scale not fitted again at the held shape (every held shape: 5 of the first
300 seeds, first 23; 22 of 1,000 from 600,000; at 600567 the threshold 17.5 where 5.5),
and a shape beyond the range clipped to its nearer end, not the most likely fit within it
(the exponential tail was more likely: seeds 23 and 1600 of 0-3999, none of 1,000 from
600,000; at 1600 the threshold 5406 where 27.1). It fails with the product broken on purpose (failing seeds of 400): extrapolating at n = 1 /
(1 - q) too (18), 9 tail peaks (22), no floor at the sample quantile (3), n + 1 in the
tail's log (67), no no-spread margin (114), +inf kept for the threshold (29), pot's formula
with +gamma (15), a tied score at the top of its levels (189), a score below them all at 50
(400), stored quantiles by numpy's ``lower`` method (267).
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from anomaly_gan.scoring import fit_severity_quantiles, fit_threshold, severity
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)

SEEDS = int(os.environ.get("THRESHOLDS_SPEC_FUZZ_SEEDS", "300"))
SEED_START = int(os.environ.get("THRESHOLDS_SPEC_FUZZ_SEED_START", "0"))

RULES: Counter[str] = Counter()

#: README: "201 stored quantiles"; the threshold docs' constants
LEVELS = 201
TAIL_PEAKS = 10
NO_SPREAD_MARGIN = 0.01
#: q as a user writes it (ThresholdConfig: 0.5 <= q < 1)
QUANTILES = ("0.995", "0.995", "0.99", "0.999", "0.9", "0.95", "0.98", "0.997", "0.5", "0.75",
             "0.9999", "0.993")


@dataclass(frozen=True)
class Case:
    method: str
    quantile: str  # as written
    initial_quantile: str
    risk: str
    scores: np.ndarray
    new: np.ndarray


# -- the reference ------------------------------------------------------------------------


def exact(x: str | float) -> Fraction:
    return Fraction(Decimal(x)) if isinstance(x, str) else Fraction(x)


def sample_quantile(ordered: list[float], q: Fraction) -> Fraction:
    """The linear (type 7) sample quantile, exactly."""
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    if lo >= len(ordered) - 1:
        return Fraction(ordered[-1])
    return Fraction(ordered[lo]) + (h - lo) * (Fraction(ordered[lo + 1]) - Fraction(ordered[lo]))


def ulps(n: int) -> float:
    """The float error of a sample quantile of ``n`` scores relative to its neighbours:
    ``h = (n - 1) q`` is rounded to a float, whose fractional part is then off by up to
    ``n`` ulps of 1, and the difference, product and sum each add one."""
    return (n + 4) * 2.0 ** -52


def close(want: Fraction | float, got: float, scale: float, rel: float) -> bool:
    """``got`` within ``rel`` of ``scale`` (the magnitudes the arithmetic went through)."""
    if not math.isfinite(got):
        return False
    return abs(Fraction(got) - Fraction(want)) <= Fraction(rel) * Fraction(scale)


def finite_sorted(scores: np.ndarray, notes: Counter[str]) -> list[float]:
    kept = sorted(float(s) for s in scores if math.isfinite(s))
    if len(kept) < len(scores):
        notes["inf_dropped"] += 1
    return kept


def ref_quantile_threshold(case: Case, notes: Counter[str]) -> dict:
    s = finite_sorted(case.scores, notes)
    n, q = len(s), exact(case.quantile)
    empirical = sample_quantile(s, q)
    peaks = min(TAIL_PEAKS, n // 3)
    scale = max(abs(s[0]), abs(s[-1]))
    want = {"empirical": empirical, "extrapolated": False, "value": empirical, "scale": scale,
            "rel": ulps(n)}
    needed = Fraction(1) / (1 - q)
    notes["n_1" if n == 1 else "n_2" if n == 2 else "n_other"] += 1
    if n == math.ceil(needed) - 1 or n + 1 == needed:
        notes["n_just_under_needed"] += 1
    elif n == math.ceil(needed):
        notes["n_needed"] += 1
    elif n == math.ceil(needed) + 1:
        notes["n_just_over_needed"] += 1
    if n >= needed:
        notes["sample_quantile"] += 1
    elif peaks < 2:
        notes["too_few_for_tail"] += 1
    else:
        u = Fraction(s[n - peaks - 1])
        if s[n - peaks] == s[n - peaks - 1]:
            notes["tail_ties_u"] += 1
        mean_excess = sum(Fraction(x) - u for x in s[n - peaks:]) / peaks
        log = math.log(Fraction(peaks) / (n * (1 - q)))
        tail = u + mean_excess * Fraction(log)
        notes["extrapolated_below_sample" if tail < empirical else "extrapolated"] += 1
        want.update(extrapolated=True, value=max(tail, empirical),
                    scale=scale + abs(float(mean_excess) * log), rel=1e-12)
    return want


def ref_severity_quantiles(case: Case, notes: Counter[str]) -> list[Fraction]:
    s = finite_sorted(case.scores, notes)
    return [sample_quantile(s, Fraction(k, LEVELS - 1)) for k in range(LEVELS)]


def ref_severity(x: float, stored: list[float], notes: Counter[str]) -> float:
    """Position of ``x`` among the stored quantiles, 0-100 (levels ``100 k / 200``)."""
    if math.isnan(x):
        notes["severity_nan"] += 1
        return math.nan
    if x < stored[0]:
        notes["severity_below"] += 1
        return 0.0
    if x > stored[-1]:
        notes["severity_inf" if x == math.inf else "severity_above"] += 1
        return 100.0
    level = [Fraction(100 * k, LEVELS - 1) for k in range(LEVELS)]
    first = {v: k for k, v in reversed(list(enumerate(stored)))}
    last = {v: k for k, v in enumerate(stored)}
    if x in first:
        a, b = first[x], last[x]
        notes["severity_tied_value" if b > a else "severity_at_quantile"] += 1
        return float((level[a] + level[b]) / 2)
    hi = next(k for k, v in enumerate(stored) if v > x)  # the lower value's top level is hi - 1
    lo_v, hi_v = stored[hi - 1], stored[hi]
    if first[lo_v] < hi - 1 or last[hi_v] > hi:
        notes["severity_next_to_tie"] += 1
    notes["severity_between"] += 1
    share = (Fraction(x) - Fraction(lo_v)) / (Fraction(hi_v) - Fraction(lo_v))
    return float(level[hi - 1] + share * (level[hi] - level[hi - 1]))


# -- the cases ----------------------------------------------------------------------------


def _draw_scores(rng: random.Random, n: int) -> np.ndarray:
    gen = np.random.default_rng(rng.getrandbits(32))
    kind = rng.choice(["normal", "exponential", "student", "integers", "few", "equal",
                       "lognormal"])
    if kind == "normal":
        x = gen.normal(size=n)
    elif kind == "exponential":
        x = gen.exponential(size=n)
    elif kind == "student":
        x = gen.standard_t(2.5, size=n)
    elif kind == "integers":
        x = gen.integers(0, rng.choice([3, 10, 100]), size=n).astype(float)
    elif kind == "few":  # a channel that sat still, and a few windows that moved
        x = np.zeros(n)
        x[gen.random(n) < rng.choice([0.002, 0.01, 0.1, 0.5])] = rng.choice([0.5, 1.0, 3.0])
    elif kind == "equal":
        x = np.full(n, rng.choice([0.0, 1.0, -2.5, 0.1, 7.3]))
    else:
        x = gen.lognormal(0.0, 1.0, size=n)
    if rng.random() < 0.3:
        x = x - rng.choice([1.0, 5.0, 1000.0])
    if rng.random() < 0.2:
        x = x * 10.0 ** rng.choice([-300, -30, -8, 8, 30, 300])
    if rng.random() < 0.15 and n > 1:
        x[gen.random(n) < 0.1] = np.inf
        x[0] = x[0] if math.isfinite(x[0]) else 0.0  # one finite score at least
    return x


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    quantile = rng.choice(QUANTILES)
    if rng.random() < 0.15:  # a q a user writes with 1-4 decimals
        quantile = f"{rng.randint(5000, 9999) / 10000:.4f}".rstrip("0")
    method = "pot" if rng.random() < 0.2 else "quantile"
    needed = math.ceil(Fraction(1) / (1 - exact(quantile)))
    n = rng.choice([1, 2, 5, 6, 7, needed - 1, needed, needed + 1, rng.randint(1, 300),
                    rng.randint(1, 3000)])
    n = max(1, min(n, 3000))
    scores = _draw_scores(rng, n)
    return Case(method, quantile, rng.choice(["0.98", "0.9", "0.95", "0.5"]),
                rng.choice(["0.001", "0.01", "0.0001", "1e-5"]), scores, np.array([]))


def with_new_scores(case: Case, stored: np.ndarray, seed: int) -> Case:
    """New scores to rate: stored quantiles (tied ones too), points between them, beyond
    them, +inf and NaN."""
    rng = random.Random(seed + 10**6)
    new = [float(v) for v in rng.sample(list(stored), 10)]
    for _ in range(20):
        k = rng.randrange(LEVELS - 1)
        lo, hi = float(stored[k]), float(stored[k + 1])
        new.append(lo + (hi - lo) * rng.random() if hi > lo else lo)
    lo, hi = float(stored[0]), float(stored[-1])
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    new += [lo - span * rng.random(), hi + span * rng.random(), math.inf, math.nan, -math.inf,
            float(np.nextafter(hi, math.inf)), float(np.nextafter(lo, -math.inf))]
    return Case(case.method, case.quantile, case.initial_quantile, case.risk, case.scores,
                np.array(new))


# -- product and comparison ---------------------------------------------------------------


def gpd_loglik(excess: list[float], gamma: float, sigma: float) -> float:
    """The generalized Pareto log-likelihood (location 0) from its density."""
    total = 0.0
    for x in excess:
        if abs(gamma) < 1e-12:
            total += -math.log(sigma) - x / sigma
            continue
        z = 1 + gamma * x / sigma
        if z <= 0:
            return -math.inf
        total += -math.log(sigma) - (1 + 1 / gamma) * math.log(z)
    return total


def check_pot(case: Case, got, notes: Counter[str]) -> list[str]:
    s = finite_sorted(case.scores, notes)
    d = got.details
    t_want = sample_quantile(s, exact(case.initial_quantile))
    t = d["initial"]
    problems = []
    if not close(t_want, t, max(abs(s[0]), abs(s[-1])), ulps(len(s))):
        problems.append(f"initial threshold t: docs {float(t_want)!r}, product {t!r}")
    peaks = [x - t for x in s if x > t]
    if d["peaks"] != len(peaks):
        problems.append(f"peaks over t: docs {len(peaks)}, product {d['peaks']}")
    margin = NO_SPREAD_MARGIN if s[0] == s[-1] else 0.0
    if not peaks:
        notes["pot_no_peaks"] += 1
        if got.value != t + margin:
            problems.append(f"no peaks: docs threshold t (+ {margin}) = {t + margin!r}, "
                            f"product {got.value!r}")
        return problems
    base = got.value
    notes["pot_fitted"] += 1
    gamma, sigma = d["gamma"], d["sigma"]
    if not (math.isfinite(gamma) and math.isfinite(sigma) and sigma > 0):
        return [*problems, f"unusable fit gamma={gamma!r} sigma={sigma!r}"]
    r = exact(case.risk) * len(s) / len(peaks)
    if abs(gamma) < 1e-8:
        z = t - sigma * math.log(r)
    else:
        z = t + sigma / gamma * (float(r) ** -gamma - 1.0)
    want = max(z, t)
    if not (math.isfinite(got.value) and math.isclose(base, want, rel_tol=1e-9, abs_tol=1e-12 * (
            abs(t) + abs(z)))):
        problems.append(f"threshold: docs formula {want!r} at gamma={gamma} sigma={sigma}, "
                        f"product {got.value!r}")
    # A maximum-likelihood fit is scale-free: the scores times a power of two (exact in
    # floats), scaled to about 1, give the same shape, the scale and the threshold scaled.
    k = -math.frexp(max(abs(s[0]), abs(s[-1])))[1]
    unit = fit_threshold(np.ldexp(case.scores, k), "pot",
                         pot_initial_quantile=float(case.initial_quantile),
                         pot_risk=float(case.risk))
    if not (math.isclose(unit.details["gamma"], gamma, abs_tol=1e-9)
            and math.isclose(math.ldexp(sigma, k), unit.details["sigma"], rel_tol=1e-9)
            and math.isclose(math.ldexp(base, k), unit.value, rel_tol=1e-9)):
        problems.append(f"not scale-free: gamma={gamma} sigma={sigma} threshold={base!r}, "
                        f"times 2**{k}: gamma={unit.details['gamma']} "
                        f"sigma={unit.details['sigma']} threshold={unit.value!r}")
    if len(peaks) >= 3 and peaks[0] != peaks[-1]:
        if not -0.5 <= gamma <= 1.0:
            return [*problems, f"shape {gamma} outside -0.5..1"]
        notes["pot_held_shape_checked" if gamma in (-0.5, 1.0) else "pot_mle_checked"] += 1
        # on the peaks over their largest, as the likelihood of a tail is scale-free
        largest = max(peaks)
        unit_peaks = [x / largest for x in peaks]
        fitted = gpd_loglik(unit_peaks, gamma, sigma / largest)
        mean = sum(unit_peaks) / len(unit_peaks)
        others = [("the exponential tail", gpd_loglik(unit_peaks, 0.0, mean))]
        others += [(f"{factor} times its scale", gpd_loglik(unit_peaks, gamma,
                                                             sigma / largest * factor))
                   for factor in (0.5, 0.9, 0.99, 0.999, 1.001, 1.01, 1.1, 2.0)]
        others.append(("the best of a grid within -0.5..1", *grid_loglik(unit_peaks)))
        for name, other, *at in others:
            if fitted < other - 1e-9 * abs(other) - 1e-9:
                problems.append(f"not the most likely fit with the shape in -0.5..1: {fitted!r} "
                                f"at gamma={gamma} sigma={sigma} (peaks over their largest), "
                                f"{other!r} for {name} {at}")
                break
    return problems


def grid_loglik(peaks: list[float]) -> tuple[float, float, float]:
    """The most likely (log-likelihood, gamma, sigma) of a grid within the shape range: gamma
    every 0.05 from -0.5 to 1, sigma every 2**(1/8) from 2**-20 to 2 (peaks at most 1)."""
    x = np.array(peaks)[:, None, None]
    gammas = (np.arange(-10, 21) / 20)[:, None]
    sigmas = 2.0 ** (np.arange(-160, 9) / 8)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 1 + gammas * x / sigmas
        shaped = -np.log(sigmas) - (1 + 1 / gammas) * np.log(z)
        exponential = -np.log(sigmas) - x / sigmas
        each = np.where(gammas == 0, exponential, np.where(z > 0, shaped, -np.inf))
    total = each.sum(axis=0)
    g, s = np.unravel_index(np.argmax(total), total.shape)
    return float(total[g, s]), float(gammas[g, 0]), float(sigmas[s])


def check_seed(seed: int) -> None:
    case = make_case(seed)
    notes = RULES
    if case.method == "pot":
        got = fit_threshold(case.scores, "pot", pot_initial_quantile=float(case.initial_quantile),
                            pot_risk=float(case.risk))
        problems = check_pot(case, got, notes)
        lower = fit_threshold(case.scores, "pot", pot_initial_quantile=float(case.initial_quantile),
                              pot_risk=float(case.risk) / 10)
        if lower.value < got.value:
            problems.append(f"pot_risk / 10 lowered the threshold: {lower.value!r} < {got.value!r}")
    else:
        got = fit_threshold(case.scores, "quantile", float(case.quantile))
        want = ref_quantile_threshold(case, notes)
        problems = []
        if got.details.get("extrapolated", False) != want["extrapolated"]:
            problems.append(f"details.extrapolated: docs {want['extrapolated']}, product "
                            f"{got.details.get('extrapolated', False)}")
        s = finite_sorted(case.scores, notes)
        if s[0] == s[-1]:  # the score itself (exactly, whatever the method) plus the margin
            if got.value != s[0] + NO_SPREAD_MARGIN:
                problems.append(f"no spread: docs {s[0] + NO_SPREAD_MARGIN!r}, product "
                                f"{got.value!r}")
        elif not close(want["value"], got.value, want["scale"], want["rel"]):
            problems.append(f"threshold: docs {float(want['value'])!r} (sample quantile "
                            f"{float(want['empirical'])!r}), product {got.value!r}")
    s = finite_sorted(case.scores, notes)
    if s[0] == s[-1]:
        notes["no_spread"] += 1
        if got.details.get("no_spread_margin") != NO_SPREAD_MARGIN:
            problems.append(f"details.no_spread_margin missing: {got.details}")
    elif "no_spread_margin" in got.details:
        problems.append(f"no_spread_margin over scores with a spread: {got.details}")
    if not math.isfinite(got.value):
        problems.append(f"threshold not finite: {got.value!r}")
    assert not problems, _explain(case, problems)

    stored = fit_severity_quantiles(case.scores)
    want_stored = ref_severity_quantiles(case, notes)
    scale = max(abs(s[0]), abs(s[-1]))
    if (stored.shape != (LEVELS,) or not np.isfinite(stored).all()
            or np.any(np.diff(stored) < 0)):
        raise AssertionError(_explain(case, [(f"stored quantiles not {LEVELS} finite, ordered "
                                             f"numbers: {stored}")]))
    first, shown = first_difference(
        [float(w) for w in want_stored], [float(g) for g in stored],
        lambda w, g: close(Fraction(w), g, scale, ulps(len(s))))
    assert first == LEVELS, _explain(case, [f"stored quantile {first} differs:", *shown])

    case = with_new_scores(case, stored, seed)
    want_sev = [ref_severity(float(x), [float(v) for v in stored], notes) for x in case.new]
    got_sev = [float(v) for v in severity(case.new, stored)]
    first, shown = first_difference(
        want_sev, got_sev, lambda w, g: (math.isnan(w) and math.isnan(g))
        or (not math.isnan(g) and abs(w - g) <= 1e-9))
    assert first == len(want_sev), _explain(
        case, [f"severity of new score {first} ({case.new[first]!r}) differs:", *shown])


def _explain(case: Case, problems: list[str]) -> str:
    finite = case.scores[np.isfinite(case.scores)]
    return "\n".join([
        (f"method {case.method} q={case.quantile} initial={case.initial_quantile} "
        f"risk={case.risk} n={len(case.scores)} ({len(finite)} finite)"),
        f"scores (largest 12): {np.sort(finite)[-12:].tolist()}",
        f"stored quantiles tied: {len(np.unique(fit_severity_quantiles(case.scores)))} distinct",
        "differences:", *problems])


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_thresholds_and_severity_keep_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The default seeds make what the docs speak of: n of 1 and 2, just under, at and just
    over ``1 / (1 - q)``, the sample quantile, the extrapolation (and where it stays at the
    sample quantile), too few scores for a tail, ties at ``u``, unscorable scores left out,
    scores without spread, POT with and without peaks and with its shape at an end of its
    range, and severities of every kind. A test of nothing would pass too. The shape is at
    an end on about 2% of the seeds (5 of the first 300, none of 600000-600149), hence 300
    of them."""
    rules = {"n_1", "n_2", "n_just_under_needed", "n_needed", "n_just_over_needed",
             "sample_quantile", "extrapolated", "extrapolated_below_sample", "too_few_for_tail",
             "tail_ties_u", "inf_dropped", "no_spread", "pot_no_peaks", "pot_fitted",
             "pot_mle_checked", "pot_held_shape_checked", "severity_nan", "severity_below",
             "severity_above", "severity_inf", "severity_tied_value", "severity_at_quantile",
             "severity_between", "severity_next_to_tie"}
    assert_every_rule_reached(rules, check_seed, range(SEED_START, SEED_START + min(SEEDS, 300)),
                              RULES)

