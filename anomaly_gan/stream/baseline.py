"""``anomaly_gan_baseline_drift``: how far the live scores sit from the training baseline.

The gauge is the median score of the last 1,024 scored windows minus the median score on the
bundle's held-out normal data, divided by that data's robust spread (IQR / 1.349): about 0
while the stream looks like the data the model was calibrated on, ``+inf`` once most recent
windows are unscorable (their score is ``+inf``). A hot reload changes the baseline and
drops the recent scores (two models' scores are not on one scale): the gauge reads NaN until
the new model has scored windows. Until 2026-12-07 it kept them, and read the old model's
scores against the new model's calibration for about 512 windows: after a retrain onto a new
normal, which the old model scored high, AnomalyGanBaselineDrift fired on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["RECENT_SCORES", "BaselineDrift", "baseline_stats"]

RECENT_SCORES = 1024  # scored windows behind the gauge


def baseline_stats(det: Any) -> tuple[float, float]:
    """Median and robust scale of the combined score on held-out normal data; ``(0, 1)``
    for a model without severity quantiles.

    >>> from types import SimpleNamespace
    >>> cal = SimpleNamespace(severity_quantiles=[0.0, 1.0, 2.0, 3.0, 4.0])
    >>> baseline_stats(SimpleNamespace(calibration=cal))
    (2.0, 1.4825796886582654)
    """
    q = getattr(getattr(det, "calibration", None), "severity_quantiles", None)
    if q is None or len(q) < 5:
        return 0.0, 1.0
    q = np.asarray(q, dtype=np.float64)
    n = len(q) - 1
    median = float(q[n // 2])
    iqr = float(q[(3 * n) // 4] - q[n // 4])
    return median, (iqr / 1.349 if iqr > 0 else 1.0)


class BaselineDrift:
    """A ring of the most recent scores and the gauge computed from it.

    ``gauge`` is anything with ``set(float)`` (``StreamMetrics.baseline_drift``).

    >>> class Gauge:
    ...     value = None
    ...     def set(self, v): self.value = v
    >>> g = Gauge(); d = BaselineDrift(g, size=4)
    >>> d.refresh(); g.value is None  # nothing scored yet: the gauge is left alone
    True
    >>> d.observe(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0])); d.refresh(); g.value  # last 4
    4.5
    >>> d.set_model(object()); d.set_model(object()); g.value  # a reload: the scores go
    nan
    """

    def __init__(self, gauge: Any, size: int = RECENT_SCORES) -> None:
        self.gauge = gauge
        self._recent = np.full(size, np.nan)
        self._i = 0
        self._median, self._scale = 0.0, 1.0
        self._has_model = False

    def set_model(self, det: Any) -> None:
        """Measure against ``det``'s calibration from now on (first model or a reload).

        On a reload the previous model's scores go and the gauge reads NaN until ``det``'s
        own are refreshed in, as the PSI drift starts a new period (stream/drift.py).
        """
        if self._has_model:
            self._recent.fill(np.nan)
            self._i = 0
            self.gauge.set(math.nan)
        self._has_model = True
        self._median, self._scale = baseline_stats(det)

    def observe(self, scores: np.ndarray) -> None:
        """Add a batch's scores (only the newest ``size`` matter)."""
        size = len(self._recent)
        m = min(len(scores), size)
        idx = (self._i + np.arange(m)) % size
        self._recent[idx] = scores[-m:]
        self._i = (self._i + m) % size

    def refresh(self) -> None:
        """Set the gauge from the recent scores (left unchanged while there are none).

        An unscorable window's ``+inf`` counts like any score above the baseline: a stream
        the model mostly cannot score reads ``+inf``, not the median of the few it could.
        """
        recent = self._recent[~np.isnan(self._recent)]  # NaN: a slot not filled yet
        if recent.size:
            self.gauge.set((float(np.median(recent)) - self._median) / self._scale)
