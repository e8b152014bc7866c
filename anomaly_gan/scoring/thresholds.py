"""Thresholds calibrated once, offline, on held-out normal scores.

A threshold is fitted state saved with the model; it is never recomputed from the data
being scored. Two methods:

- ``quantile``: the q-quantile of the normal scores. With fewer than ``1 / (1 - q)`` of
  them (200 for 0.995) the sample quantile is about their largest score, which normal data
  exceeds about ``1 / (n + 1)`` of the time (3.3% on 29 scores, where 0.5% was asked).
  Then the quantile is extrapolated from an exponential tail fitted to the
  :data:`TAIL_PEAKS` largest scores (see :func:`fit_quantile_threshold`).
- ``pot``: peaks over threshold (Siffer et al., KDD 2017): fit a generalized Pareto
  distribution to the excesses over an initial high quantile ``t`` and solve for the score
  whose exceedance probability is ``risk``::

      z = t + sigma/gamma * ((risk * n / n_peaks) ** -gamma - 1)     (gamma != 0)
      z = t - sigma * log(risk * n / n_peaks)                        (gamma == 0)

  The fit is the most likely one with the shape within :data:`SHAPE_RANGE` (-0.5 to 1).

Where every normal score is the same (a series that never moved in training: the model
reproduces each window alike), either method gives that score, and a window that differs
from the normal ones by the network's float round-off alone (another batch composition or
device) would lie over it: the threshold is that score plus :data:`NO_SPREAD_MARGIN`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NO_SPREAD_MARGIN", "TAIL_PEAKS", "Threshold", "fit_pot_threshold",
           "fit_quantile_threshold", "fit_threshold", "scores_needed", "tail_fit_possible"]

TAIL_PEAKS = 10
"""Largest normal scores (at most a third of them) that a short sample's tail is fitted to."""

NO_SPREAD_MARGIN = 0.01
"""Added to the threshold over normal scores that are all the same. Their components had
no spread either, so their statistics' scale is 1 on the log of the errors
(:func:`~anomaly_gan.scoring.fit_robust_stats`), and a score of 0.01 is errors about 1% over
the normal ones: far above the network's float32 round-off (the same windows scored in
another batch differ in the last bits, ~1e-7), below any real change of a value the model
only ever saw constant (a 5% step scored 2.2 with f-AnoGAN, 23 with GANomaly)."""

SHAPE_RANGE = (-0.5, 1.0)
"""The generalized Pareto shapes :func:`fit_pot_threshold` fits within: a very heavy
(gamma > 1) or very short (gamma < -0.5) tail is not identifiable from a few dozen peaks."""


@dataclass(frozen=True)
class Threshold:
    """A fixed decision value plus how it was obtained (for the bundle's metadata)."""

    value: float
    method: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "method": self.method, "details": self.details}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Threshold:
        return cls(float(raw["value"]), str(raw["method"]), dict(raw.get("details", {})))


def _finite(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        raise ValueError("no finite calibration scores")
    return scores


def scores_needed(quantile: float) -> int:
    """Normal scores a sample ``quantile`` needs before it is more than their largest:
    ``1 / (1 - q)``; with fewer, :func:`fit_quantile_threshold` extrapolates.

    >>> scores_needed(0.995), scores_needed(0.99)
    (200, 100)
    """
    return math.ceil(1.0 / (1.0 - quantile) - 1e-9)


def tail_fit_possible(n: int) -> bool:
    """Whether :func:`fit_quantile_threshold` can fit a tail to ``n`` scores (6 or more).

    >>> tail_fit_possible(5), tail_fit_possible(6)
    (False, True)
    """
    return min(TAIL_PEAKS, n // 3) >= 2


def fit_quantile_threshold(scores: np.ndarray, quantile: float) -> Threshold:
    """The q-quantile of the normal scores, extrapolated when they are too few for it.

    With ``n`` < :func:`scores_needed` the sample quantile cannot reach beyond the largest score, and
    normal data exceeds the largest of ``n`` scores with probability about ``1 / (n + 1)``:
    3.3% for 29 held-out windows where 0.5% was asked. Then the tail above ``u``, the
    ``(m + 1)``-th largest score (``m`` = :data:`TAIL_PEAKS`, at most ``n // 3``), is taken
    as exponential, ``P(S > u + x) = (m / n) * exp(-x / mean excess)``, and solved for
    ``1 - q``: ``u + mean_excess * log(m / (n * (1 - q)))``, never below the sample
    quantile. Exact for an exponential tail, conservative for a lighter one (normal), as
    a tail fit must be when it rests on ten points. Below 6 scores there is no tail to
    fit and the sample quantile stands.

    >>> fit_quantile_threshold(np.arange(101.0), 0.9).value
    90.0
    >>> t = fit_quantile_threshold(np.arange(30.0), 0.995)  # u = 19, mean excess 5.5
    >>> round(t.value, 2), t.details["empirical"]
    (42.1, 28.855)
    """
    s = _finite(scores)
    n = s.size
    empirical = float(np.quantile(s, quantile))
    details: dict[str, Any] = {"quantile": quantile, "n": int(n)}
    peaks = min(TAIL_PEAKS, n // 3)
    if n >= scores_needed(quantile) or not tail_fit_possible(n):
        return Threshold(empirical, "quantile", details)
    top = np.sort(s)[n - peaks - 1:]
    u, mean_excess = float(top[0]), float(np.mean(top[1:] - top[0]))
    value = max(u + mean_excess * math.log(peaks / (n * (1.0 - quantile))), empirical)
    details.update(extrapolated=True, empirical=empirical, tail_peaks=int(peaks),
                   tail_mean_excess=mean_excess)
    return Threshold(float(value), "quantile", details)


def _gpd_scale_at(peaks: np.ndarray, gamma: float) -> float | None:
    """The most likely generalized Pareto scale of ``peaks`` (> 0, the largest 1) at the
    fixed shape ``gamma`` within :data:`SHAPE_RANGE`; None where there is none (peaks that
    underflowed to 0). At gamma = 0 (the exponential tail) it is the peaks' mean.

    Times sigma, the log-likelihood's derivative in the scale sigma is
    ``(1 + gamma) * sum(x / (sigma + gamma x)) - n``. It falls as sigma grows: from over 0
    where sigma is below every peak (gamma > 0) or just over ``-gamma`` times the largest
    (gamma < 0: the peaks' bound ``sigma / -gamma`` must lie over them), to under 0 at
    sigma = 2. Its one zero, found in log sigma so that tiny scales keep their digits,
    is the maximum."""
    from scipy import optimize

    n = peaks.size
    if gamma == 0.0:
        return float(peaks.mean())

    def slope(log_sigma: float) -> float:
        sigma = math.exp(log_sigma)
        return float((1.0 + gamma) * np.sum(peaks / (sigma + gamma * peaks)) - n)

    low = float(peaks.min()) / 2 if gamma > 0 else -gamma * (1.0 + 1.0 / (4 * n))
    if not (low > 0 and slope(math.log(low)) > 0 > slope(math.log(2.0))):
        return None
    return math.exp(optimize.brentq(slope, math.log(low), math.log(2.0), xtol=1e-14))


def _gpd_loglik(peaks: np.ndarray, gamma: float, sigma: float) -> float:
    """The generalized Pareto log-likelihood (location 0) of ``peaks``, -inf outside its
    support; gamma = 0 is the exponential tail."""
    if gamma == 0.0:
        return float(-peaks.size * math.log(sigma) - peaks.sum() / sigma)
    z = gamma * peaks / sigma
    if z.min() <= -1.0:
        return -math.inf
    return float(-peaks.size * math.log(sigma) - (1.0 + 1.0 / gamma) * np.log1p(z).sum())


def _gpd_profile(peaks: np.ndarray, gamma: float) -> tuple[float, float, float]:
    """(log-likelihood, gamma, sigma) at the most likely scale for the shape ``gamma``;
    -inf where there is none."""
    sigma = _gpd_scale_at(peaks, gamma)
    if sigma is None:
        return -math.inf, gamma, math.nan
    return _gpd_loglik(peaks, gamma, sigma), gamma, sigma


def _gpd_fit(excess: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood generalized Pareto (shape gamma, scale sigma), location 0, with the
    shape within :data:`SHAPE_RANGE`. Where no fit is possible (fewer than 3 peaks, all
    alike, scipy's fit failing), the exponential tail of the mean excess.

    The most likely scale at a given shape is one root (:func:`_gpd_scale_at`), so the
    fit maximises that profile likelihood over the shapes of the range: at every tenth
    from -0.5 to 1 (the ends and the exponential's 0 among them), then between the best
    one's neighbours (``minimize_scalar``, bounded), and at scipy's unconstrained shape
    where it lies within the range; the most likely of these. The profile need not have
    one peak on a few peaks, hence the grid. Scipy's shape clipped to the range's nearer
    end is not the most likely fit within it: on 5 peaks (spec fuzz, seed 23) scipy's 3.35
    held at 1 was less likely than the exponential tail; -0.48 is the most likely there.

    The fit is scale-free (peaks times c: the same gamma, sigma times c), so it runs on the
    peaks over their largest: scipy starts from their variance, which overflowed to inf
    for peaks near 1e300 and left a scale hundreds of orders below them, and peaks of 1e-30
    were all alike to ``allclose``'s absolute tolerance of 1e-8.

    >>> peaks = np.random.default_rng(0).uniform(size=50)  # gamma -1: -0.5 within the range
    >>> gamma, sigma = _gpd_fit(peaks)
    >>> gamma, round(sigma, 4), _gpd_fit(peaks * 2.0**20) == (gamma, sigma * 2.0**20)
    (-0.5, 0.6441, True)
    """
    from scipy import optimize, stats

    unit = float(excess.max())  # > 0: every peak lies over t
    peaks = excess / unit
    exponential = 0.0, float(peaks.mean()) * unit
    if excess.size < 3 or np.allclose(peaks, peaks[0]):
        return exponential
    try:
        unclipped, _, _ = stats.genpareto.fit(peaks, floc=0.0)
    except (RuntimeError, ValueError):  # scipy's FitError is a RuntimeError
        return exponential
    low, high = SHAPE_RANGE
    grid = [_gpd_profile(peaks, gamma) for gamma in np.arange(10 * low, 10 * high + 1) / 10]
    best = max(range(len(grid)), key=lambda i: grid[i][0])
    between = optimize.minimize_scalar(
        lambda gamma: -_gpd_profile(peaks, float(gamma))[0], method="bounded",
        bounds=(grid[max(best - 1, 0)][1], grid[min(best + 1, len(grid) - 1)][1]),
        options={"xatol": 1e-10})
    candidates = [*grid, _gpd_profile(peaks, float(between.x))]
    if math.isfinite(unclipped) and low < unclipped < high:
        candidates.append(_gpd_profile(peaks, float(unclipped)))
    loglik, gamma, sigma = max(candidates, key=lambda c: c[0])
    if not math.isfinite(loglik):
        return exponential
    return float(gamma), float(sigma) * unit


def fit_pot_threshold(scores: np.ndarray, initial_quantile: float, risk: float) -> Threshold:
    """Peaks-over-threshold with a GPD tail; ``risk`` is the target exceedance probability."""
    s = _finite(scores)
    t = float(np.quantile(s, initial_quantile))
    excess = s[s > t] - t
    n, n_peaks = s.size, excess.size
    if n_peaks == 0:
        return Threshold(t, "pot", {"initial": t, "peaks": 0, "note": "no peaks: used t"})
    gamma, sigma = _gpd_fit(excess)
    r = risk * n / n_peaks
    if abs(gamma) < 1e-8:
        z = t - sigma * math.log(r)
    else:
        z = t + sigma / gamma * (r ** (-gamma) - 1.0)
    z = max(z, t)
    details = {
        "initial_quantile": initial_quantile,
        "initial": t,
        "risk": risk,
        "peaks": int(n_peaks),
        "n": int(n),
        "gamma": gamma,
        "sigma": sigma,
    }
    return Threshold(float(z), "pot", details)


def fit_threshold(scores: np.ndarray, method: str, quantile: float = 0.995,
                  pot_initial_quantile: float = 0.98, pot_risk: float = 1e-3) -> Threshold:
    """Dispatch on ``method`` (``quantile`` or ``pot``), the keys of ThresholdConfig; over
    normal scores that are all the same, :data:`NO_SPREAD_MARGIN` above them.

    >>> fit_threshold(np.zeros(185), "quantile").value
    0.01
    """
    if method == "quantile":
        threshold = fit_quantile_threshold(scores, quantile)
    elif method == "pot":
        threshold = fit_pot_threshold(scores, pot_initial_quantile, pot_risk)
    else:
        raise ValueError(f"unknown threshold method {method!r}")
    s = _finite(scores)
    if s.min() < s.max():
        return threshold
    return Threshold(threshold.value + NO_SPREAD_MARGIN, threshold.method,
                     {**threshold.details, "no_spread_margin": NO_SPREAD_MARGIN})
