"""Shadow scoring: a candidate model scores every window next to the current one.

The shadow never alerts and never produces records; it only exports metrics, so a person can
compare the two models on live data before promoting (the dashboard's "Shadow" row):

- ``anomaly_gan_shadow_score`` histogram (same buckets as ``anomaly_gan_score``);
- ``anomaly_gan_shadow_windows_scored_total`` and ``anomaly_gan_shadow_anomalies_total``
  (their ratio is the shadow's anomaly rate);
- ``anomaly_gan_shadow_agreement_total{outcome}``: per window, ``both`` over threshold,
  ``neither``, ``current_only`` or ``shadow_only`` (agreement = both + neither);
- ``anomaly_gan_shadow_model_info{version,kind}`` and ``anomaly_gan_shadow_errors_total``;
- ``anomaly_gan_shadow_active``: 1 while the shadow scores the served model's windows, 0 when
  it could not be loaded or was switched off (read at scrape time). The error a shadow that
  did not load counts comes before the first scrape, where rate() and increase() cannot see
  it, and a switched-off shadow counts nothing and keeps its model_info: without the gauge
  the dashboard showed neither.

It runs on the inference thread right after the current model's call, on the same windows.
A failing shadow is counted and logged, never allowed to stop the scorer: a call that fails
is logged once per distinct error (until a call succeeds again), not at every batch, and a
shadow bundle that cannot be loaded at start leaves the scorer serving without one
(``detector=None``: one error counted, no ``anomaly_gan_shadow_model_info``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from anomaly_gan.stream.metrics import INFER_BUCKETS, observe_many

__all__ = ["OUTCOMES", "ShadowScorer"]

log = logging.getLogger(__name__)

OUTCOMES = ("both", "neither", "current_only", "shadow_only")


class ShadowScorer:
    def __init__(self, registry: CollectorRegistry, detector: Any | None,
                 buckets: tuple[float, ...]) -> None:
        self.det: Any = detector  # None: not loaded, never active
        self.score = Histogram("anomaly_gan_shadow_score", "Anomaly score of each window by the "
                               "shadow model", buckets=buckets, registry=registry)
        self.windows = Counter("anomaly_gan_shadow_windows_scored", "Windows scored by the "
                               "shadow model", registry=registry)
        self.anomalies = Counter("anomaly_gan_shadow_anomalies", "Windows the shadow model "
                                 "scored above its threshold", registry=registry)
        self.agreement = Counter("anomaly_gan_shadow_agreement", "Windows by what the current "
                                 "and the shadow model decided", ["outcome"], registry=registry)
        self.errors = Counter("anomaly_gan_shadow_errors", "Shadow model calls that failed",
                              registry=registry)
        # the shadow's calls run in the scoring loop after the current model's, and are not
        # in anomaly_gan_inference_seconds: a shadow that slows the loop shows here
        self.inference = Histogram("anomaly_gan_shadow_inference_seconds", "Duration of one "
                                   "shadow model call", buckets=INFER_BUCKETS,
                                   registry=registry)
        self.info = Gauge("anomaly_gan_shadow_model_info", "The shadow model (value 1)",
                          ["version", "kind"], registry=registry)
        self.threshold = Gauge("anomaly_gan_shadow_threshold", "Threshold of the shadow model",
                               registry=registry)
        self.scoring = Gauge("anomaly_gan_shadow_active", "1 while the shadow model scores "
                             "the served model's windows; 0 when it could not be loaded or "
                             "was switched off", registry=registry)
        for outcome in OUTCOMES:
            self.agreement.labels(outcome)
        self.active = detector is not None
        self.scoring.set_function(lambda: 1.0 if self.active else 0.0)
        self._failing: str | None = None  # the error last logged, until a call succeeds
        if detector is None:  # not loaded (serve logged why): the metrics say it is off
            self.errors.inc()
            self.threshold.set(float("nan"))
            return
        self.info.labels(detector.version, detector.kind).set(1)
        self.threshold.set(float(detector.threshold))

    def check(self, current: Any) -> None:
        """Switch the shadow off if it cannot score the current model's windows."""
        from anomaly_gan.stream.reload import check_compatible

        if self.det is None:
            return
        why = check_compatible(current, self.det, reload=False)
        if why is not None and self.active:
            log.error("shadow model %s switched off: it cannot score the served model's "
                      "windows: %s", self.det.version, why)
        self.active = why is None

    def compare(self, windows: np.ndarray, current: Any) -> None:
        """Score ``windows`` with the shadow and compare with the current model's result."""
        if not self.active or not len(windows):
            return
        start = time.perf_counter()
        try:
            res = self.det.score_windows(windows)
        except Exception as exc:
            self.inference.observe(time.perf_counter() - start)
            self.errors.inc()
            key = f"{type(exc).__name__}: {exc}"
            if key != self._failing:  # once, not at every batch while it keeps failing
                self._failing = key
                log.exception("shadow model %s failed (logged once until it scores again; "
                              "counted in anomaly_gan_shadow_errors_total)", self.det.version)
            return
        self.inference.observe(time.perf_counter() - start)
        self._failing = None
        cur = np.asarray(current.is_anomaly, dtype=bool)
        sh = np.asarray(res.is_anomaly, dtype=bool)
        n = len(sh)
        self.windows.inc(n)
        flagged = int(sh.sum())
        if flagged:
            self.anomalies.inc(flagged)
        observe_many(self.score, res.score)
        both = int((cur & sh).sum())
        cur_only = int((cur & ~sh).sum())
        sh_only = flagged - both
        for outcome, k in (("both", both), ("current_only", cur_only), ("shadow_only", sh_only),
                           ("neither", n - both - cur_only - sh_only)):
            if k:
                self.agreement.labels(outcome).inc(k)
