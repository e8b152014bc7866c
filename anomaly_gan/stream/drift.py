"""Live drift of features and scores against the model's reference histograms (PSI).

Each bundle stores reference histograms (``metadata.json`` -> ``reference``, see
:mod:`anomaly_gan.scoring.drift`). The monitor counts, over a sliding period of
``serve.drift.period_seconds`` (kept as 12 sub-periods, the oldest dropped as time moves
on), which bin every scored event's feature values and every window's score fall in, and
exports the population stability index (an unscorable window's ``+inf`` score counts in the
top score bin):

- ``anomaly_gan_feature_drift_psi{feature}``: one series per model feature, at most
  ``serve.drift.max_feature_labels`` of them (the most drifted ones when the model has more),
  so the label set is bounded by the configuration, never by the data;
- ``anomaly_gan_score_drift_psi``: the combined score.

Values are exported while the period holds at least ``MIN_SAMPLES`` scored windows; until
then, once they have left it (the input stopped, or this replica lost its partitions), and under a
model without a reference, the score gauge reads NaN and no feature series is exported (a
reload starts a new period, so no value of the previous model lingers to keep a drift alert
firing). The event counted
for a window is its newest row: with ``serve.windows.hop`` 1 every accepted event completes
exactly one scored window after warm-up, so each event is counted once; with a hop of ``h``
one event in ``h`` is (the newest of each scored window), and ``MIN_SAMPLES`` counts scored
windows, not events.

Cost: :meth:`DriftMonitor.observe` only copies a batch's rows and scores into a buffer; they
are binned in bulk (one ``searchsorted`` per feature over up to 4096 events) when the buffer
fills and at
each :meth:`refresh`, so the per-batch overhead of a dozen numpy calls is paid about once a
second, not once per micro-batch (``bench/stream.py --drift-only``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Gauge

from anomaly_gan.config import DriftConfig
from anomaly_gan.scoring.drift import psi

__all__ = ["MIN_SAMPLES", "DriftMonitor"]

log = logging.getLogger(__name__)

MIN_SAMPLES = 100
_SUB_PERIODS = 12
_BUFFER = 4096  # events buffered between binning passes (cache-friendly chunks)


class DriftMonitor:
    def __init__(self, registry: CollectorRegistry, cfg: DriftConfig,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.mono = monotonic
        self.feature_psi = Gauge("anomaly_gan_feature_drift_psi", "Population stability index "
                                 "of a feature over the drift period vs the model's reference",
                                 ["feature"], registry=registry)
        self.score_psi = Gauge("anomaly_gan_score_drift_psi", "Population stability index of "
                               "the score over the drift period vs held-out normal scores",
                               registry=registry)
        self.score_psi.set(math.nan)  # no value until the period holds MIN_SAMPLES events
        self._sub = cfg.period_seconds / _SUB_PERIODS
        self._enabled = False
        self._shown: set[str] = set()

    def set_model(self, det: Any) -> None:
        """Use ``det``'s reference (a new model starts a new period)."""
        ref = (getattr(det, "metadata", None) or {}).get("reference")
        self._clear_labels()
        self.score_psi.set(math.nan)
        if not ref or not ref.get("features"):
            self._enabled = False
            log.warning("model %s has no drift reference: drift gauges are off",
                        getattr(det, "version", "?"))
            return
        names = list(det.feature_names)
        hists = [ref["features"][n] for n in names]
        n_edges = max(1, max(len(h["edges"]) for h in hists))
        self.names = names
        self.bins = n_edges + 1
        self._edges = [np.asarray(h["edges"], dtype=np.float64) for h in hists]
        self.ref = np.zeros((len(names), self.bins))
        self.n_bins = np.array([len(h["edges"]) + 1 for h in hists])
        for i, h in enumerate(hists):
            self.ref[i, :len(h["fractions"])] = h["fractions"]
        self.offsets = np.arange(len(names)) * self.bins
        self.score_edges = np.asarray(ref["score"]["edges"], dtype=np.float64)
        self.score_ref = np.asarray(ref["score"]["fractions"], dtype=np.float64)
        self._counts = np.zeros((_SUB_PERIODS, len(names) * self.bins), dtype=np.int64)
        self._score_counts = np.zeros((_SUB_PERIODS, len(self.score_ref)), dtype=np.int64)
        self._ids = np.full(_SUB_PERIODS, -1, dtype=np.int64)
        self._rows = np.empty((_BUFFER, len(names)))
        self._scores = np.empty(_BUFFER)
        self._held = 0
        self._enabled = True

    def _slot(self) -> int:
        sid = int(self.mono() // self._sub)
        slot = sid % _SUB_PERIODS
        if self._ids[slot] != sid:
            self._ids[slot] = sid
            self._counts[slot] = 0
            self._score_counts[slot] = 0
        return slot

    def observe(self, rows: np.ndarray, scores: np.ndarray) -> None:
        """Count ``rows`` (n, F) raw event values and the ``scores`` (n,) of their windows."""
        n = len(rows)
        if not self._enabled or not n:
            return
        if self._held + n > _BUFFER:
            self._bin()
            if n > _BUFFER:  # larger than the whole buffer: bin it directly
                self._bin(rows, scores)
                return
        self._rows[self._held:self._held + n] = rows
        self._scores[self._held:self._held + n] = scores
        self._held += n

    def _bin(self, rows: np.ndarray | None = None, scores: np.ndarray | None = None) -> None:
        """Add the buffered (or the given) events to the current sub-period's counts."""
        if rows is None or scores is None:
            rows, scores = self._rows[:self._held], self._scores[:self._held]
            self._held = 0
        if not len(rows):
            return
        slot = self._slot()
        idx = np.empty(rows.shape, dtype=np.int64)
        for f, edges in enumerate(self._edges):
            idx[:, f] = np.searchsorted(edges, rows[:, f])
        idx += self.offsets
        self._counts[slot] += np.bincount(idx.ravel(), minlength=self._counts.shape[1])
        # An unscorable window's +inf score lands in the top bin, like any score above the
        # reference range: a stream the model cannot score has drifted, and every event
        # counts once in the score as in the features (MIN_SAMPLES alike).
        self._score_counts[slot] += np.bincount(np.searchsorted(self.score_edges, scores),
                                                minlength=len(self.score_ref))

    def refresh(self) -> None:
        """Recompute the gauges (called from housekeeping, about once a second)."""
        if not self._enabled:
            return
        self._bin()
        live = self._ids > int(self.mono() // self._sub) - _SUB_PERIODS
        counts = self._counts[live].sum(axis=0).reshape(len(self.names), self.bins)
        # Under MIN_SAMPLES events in the period (none yet, or none lately: the input
        # stopped, or a rebalance left this replica without partitions) there is no value:
        # a period's value kept after its events left it would hold a drift alert for good.
        keep: list[str] = []
        if counts[0].sum() >= MIN_SAMPLES:
            values = {n: psi(self.ref[i, :self.n_bins[i]], counts[i, :self.n_bins[i]])
                      for i, n in enumerate(self.names)}
            keep = sorted(values, key=lambda n: -values[n])[: self.cfg.max_feature_labels]
            for n in keep:
                self.feature_psi.labels(n).set(values[n])
        for gone in self._shown - set(keep):
            self.feature_psi.remove(gone)
        self._shown = set(keep)
        scores = self._score_counts[live].sum(axis=0)
        self.score_psi.set(psi(self.score_ref, scores) if scores.sum() >= MIN_SAMPLES
                           else math.nan)

    def _clear_labels(self) -> None:
        for n in self._shown:
            self.feature_psi.remove(n)
        self._shown = set()
