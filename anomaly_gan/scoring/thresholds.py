"""Thresholds calibrated once, offline, on held-out normal scores.

A threshold is fitted state saved with the model; it is never recomputed from the data
being scored. Two methods:

- ``quantile``: the q-quantile of the normal scores.
- ``pot``: peaks over threshold (Siffer et al., KDD 2017): fit a generalized Pareto
  distribution to the excesses over an initial high quantile ``t`` and solve for the score
  whose exceedance probability is ``risk``::

      z = t + sigma/gamma * ((risk * n / n_peaks) ** -gamma - 1)     (gamma != 0)
      z = t - sigma * log(risk * n / n_peaks)                        (gamma == 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Threshold", "fit_pot_threshold", "fit_quantile_threshold", "fit_threshold"]


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


def fit_quantile_threshold(scores: np.ndarray, quantile: float) -> Threshold:
    """The q-quantile of the normal scores.

    >>> fit_quantile_threshold(np.arange(101.0), 0.9).value
    90.0
    """
    s = _finite(scores)
    return Threshold(float(np.quantile(s, quantile)), "quantile", {"quantile": quantile, "n": int(s.size)})


def _gpd_fit(excess: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood generalized Pareto (shape gamma, scale sigma), location 0."""
    from scipy import stats

    if excess.size < 3 or np.allclose(excess, excess[0]):
        return 0.0, float(max(excess.mean(), 1e-12))
    gamma, _, sigma = stats.genpareto.fit(excess, floc=0.0)
    # Keep the tail estimate sane on small samples: very heavy (gamma > 1) or very short
    # (gamma < -0.5) tails are not identifiable from a few dozen peaks.
    if not (math.isfinite(gamma) and math.isfinite(sigma)) or sigma <= 0:
        return 0.0, float(excess.mean())
    gamma = float(np.clip(gamma, -0.5, 1.0))
    return gamma, float(sigma)


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
    """Dispatch on ``method`` (``quantile`` or ``pot``), the keys of ThresholdConfig."""
    if method == "quantile":
        return fit_quantile_threshold(scores, quantile)
    if method == "pot":
        return fit_pot_threshold(scores, pot_initial_quantile, pot_risk)
    raise ValueError(f"unknown threshold method {method!r}")
