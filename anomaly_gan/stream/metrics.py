"""Prometheus metrics of the scorer (names and labels: docs/CONTRACTS.md).

The registry is passed in, so tests build a fresh ``CollectorRegistry`` and read values with
``registry.get_sample_value``. Label values are bounded: reasons and results are fixed
sets, partitions are those assigned to this replica; ``anomaly_gan_model_info`` carries the
loaded version only (the previous one is removed on reload), while
``anomaly_gan_alerts_total{model_version}`` keeps a series for each version this process
has served (a counter's past must stay readable). Per-entity labels exist only on
``anomaly_gan_entity_score`` and only for the top ``entity_labels_top_n`` entities.

>>> from prometheus_client import CollectorRegistry
>>> reg = CollectorRegistry()
>>> m = StreamMetrics(reg)
>>> m.invalid("bad_json")
>>> reg.get_sample_value("anomaly_gan_events_invalid_total", {"reason": "bad_json"})
1.0
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from anomaly_gan.stream.events import INVALID_REASONS, LOG_REASONS

__all__ = ["HTTP_DROP_REASONS", "RELOAD_RESULTS", "REPLAY_REASONS", "RESTART_REASONS",
           "SCORE_BUCKETS", "StreamMetrics", "observe_many"]

RELOAD_RESULTS = ("success", "failure")
RESTART_REASONS = ("gap", "partition_change")
REPLAY_REASONS = ("delivery", "error", "input")
HTTP_DROP_REASONS = ("limit", "timeout", "too_large")  # http.py's HealthServer(on_dropped=)

SCORE_BUCKETS = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 50.0,
                 100.0)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                3600.0)
INFER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def observe_many(hist: Histogram, values: np.ndarray) -> None:
    """``hist.observe(v)`` for every finite ``v``, one bucket update per bucket.

    Uses prometheus_client's Histogram internals (``_upper_bounds``, ``_buckets``, ``_sum``)
    when present: observing thousands of windows per second one by one costs more than
    scoring them. Falls back to ``observe`` otherwise.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return
    try:
        bounds, buckets, total = hist._upper_bounds, hist._buckets, hist._sum  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - other prometheus_client versions
        for v in values.tolist():
            hist.observe(v)
        return
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for i in np.flatnonzero(counts).tolist():
        buckets[i].inc(int(counts[i]))
    total.inc(float(values.sum()))


class StreamMetrics:
    """Every metric the scorer exports, created in ``registry``."""

    def __init__(self, registry: CollectorRegistry, entity_labels_top_n: int = 0) -> None:
        self.registry = registry
        self.top_n = int(entity_labels_top_n)
        r = registry
        self.events_consumed = Counter("anomaly_gan_events_consumed", "Records read from the "
                                       "input topic", registry=r)
        self.events_invalid = Counter("anomaly_gan_events_invalid", "Invalid events by reason "
                                      "(sent to the DLQ)", ["reason"], registry=r)
        self.events_late = Counter("anomaly_gan_events_late", "Events older than the entity's "
                                   "last event, dropped", registry=r)
        self.events_incomplete = Counter(
            "anomaly_gan_events_incomplete", "Slots of records with some of the features "
            "(serve.assemble_seconds) dropped before every feature came", registry=r)
        self.window_restarts = Counter("anomaly_gan_window_restarts", "Entity windows restarted",
                                       ["reason"], registry=r)
        self.entities_evicted = Counter("anomaly_gan_entities_evicted", "Entities evicted "
                                        "(least recently seen) to respect max_entities",
                                        registry=r)
        self.windows_scored = Counter("anomaly_gan_windows_scored", "Windows scored", registry=r)
        self.windows_unscorable = Counter(
            "anomaly_gan_windows_unscorable", "Windows the network could not compute (a "
            "reading past float32 inside the model): scored +inf and flagged", registry=r)
        self.anomalies = Counter("anomaly_gan_anomalies", "Windows scored above the threshold",
                                 registry=r)
        self.alerts = Counter("anomaly_gan_alerts", "Alerts emitted (after debounce)",
                              ["model_version"], registry=r)
        self.alerts_resolved = Counter(
            "anomaly_gan_alerts_resolved", "Incidents resolved (serve.alerts.resolve_windows "
            "normal windows in a row after an alert)", ["model_version"], registry=r)
        self.alerts_silenced = Counter(
            "anomaly_gan_alerts_silenced", "Alerts not sent: their window lay in a silence "
            "(serve.alerts.silences_path)", ["model_version"], registry=r)
        self.silence_reloads = Counter("anomaly_gan_silence_reloads", "Re-reads of a changed "
                                       "silences file (serve.alerts.silences_path)", ["result"],
                                       registry=r)
        self.silences_refused = Gauge(
            "anomaly_gan_silences_refused", "1 while the silences file on disk is one the "
            "scorer refused: it keeps the silences it had, or none after a refused start",
            registry=r)
        self.score = Histogram("anomaly_gan_score", "Anomaly score of each window",
                               buckets=SCORE_BUCKETS, registry=r)
        self.threshold = Gauge("anomaly_gan_threshold", "Alert threshold of the loaded model",
                               registry=r)
        self.baseline_drift = Gauge("anomaly_gan_baseline_drift", "Median score of recent "
                                    "windows minus the calibration median (robust units)",
                                    registry=r)
        self.event_lag = Histogram("anomaly_gan_event_lag_seconds", "Event timestamp to scored",
                                   buckets=_LAG_BUCKETS, registry=r)
        self.inference = Histogram("anomaly_gan_inference_seconds", "Duration of one model call",
                                   buckets=INFER_BUCKETS, registry=r)
        self.batch_size = Histogram("anomaly_gan_batch_size", "Windows per model call",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.consumer_lag = Gauge("anomaly_gan_consumer_lag", "Records behind the partition end",
                                  ["topic", "partition"], registry=r)
        self.entities = Gauge("anomaly_gan_entities", "Entities held in memory", registry=r)
        self.model_info = Gauge("anomaly_gan_model_info", "The loaded model (value 1)",
                                ["version", "kind"], registry=r)
        self.model_reloads = Counter("anomaly_gan_model_reloads", "Hot reload attempts",
                                     ["result"], registry=r)
        self.broker_up = Gauge("anomaly_gan_broker_up", "1 when connected to a broker and "
                               "output is acknowledged", registry=r)
        self.ready = Gauge("anomaly_gan_ready", "1 when /readyz answers 200", registry=r)
        self.assigned_partitions = Gauge("anomaly_gan_assigned_partitions", "Input partitions "
                                         "assigned to this replica", registry=r)
        self.delivery_stalled = Gauge("anomaly_gan_delivery_stalled_seconds", "Seconds that "
                                      "pending output has gone without an acknowledgement, "
                                      "or since the first of a run of failed deliveries "
                                      "(0 when neither)", registry=r)
        self.input_stalled = Gauge("anomaly_gan_input_stalled_seconds", "Seconds that input "
                                   "has waited on an assigned partition with nothing read "
                                   "(0 when none is waiting)", registry=r)
        self.error_replays = Gauge("anomaly_gan_error_replays_without_progress", "Error "
                                   "replays from the last commit since the loop last made "
                                   "progress (committed offsets advanced, records read past "
                                   "where the error came, or no error for "
                                   "input_stall_seconds); 0 when none", registry=r)
        self.replays = Counter("anomaly_gan_replays", "Replays from the last commit, by cause",
                               ["reason"], registry=r)
        self.offset_resets = Counter("anomaly_gan_offset_resets", "Input partitions whose "
                                     "position lay past their end, moved by "
                                     "serve.kafka.auto_offset_reset", ["topic", "partition"],
                                     registry=r)
        self.model_watch_last_check = Gauge(
            "anomaly_gan_model_watch_last_check_timestamp_seconds", "When the hot-reload "
            "watcher last checked the model path without an error (Unix time)", registry=r)
        self.model_watch_interval = Gauge(
            "anomaly_gan_model_watch_interval_seconds", "Seconds between two checks of the "
            "hot-reload watcher (serve.reload_interval_seconds)", registry=r)
        self.http_dropped = Counter(
            "anomaly_gan_http_connections_dropped", "Connections to /metrics, /healthz and "
            "/readyz closed by the server: past the limit of open ones (the oldest), "
            "without a whole request in time, or answered 414/431 for a request head past "
            "64 KiB", ["reason"], registry=r)
        self.dlq = Counter("anomaly_gan_dlq", "Records sent to the dead-letter topic",
                           ["reason"], registry=r)
        # Logs models only (they stay 0 otherwise).
        self.log_lines = Counter("anomaly_gan_log_lines", "Log lines counted into buckets",
                                 registry=r)
        self.log_lines_unseen = Counter("anomaly_gan_log_lines_unseen", "Log lines that match "
                                        "no known template", registry=r)
        self.log_lines_late = Counter("anomaly_gan_log_lines_late", "Log lines whose bucket "
                                      "had already closed, dropped", registry=r)
        self.log_templates_dropped = Counter("anomaly_gan_log_templates_dropped", "Live "
                                             "templates dropped by the cap logs.max_clusters",
                                             registry=r)
        self.entity_score = (
            Gauge("anomaly_gan_entity_score", "Latest score of the top-N entities by score "
                  "(only with serve.http.entity_labels_top_n > 0)", ["entity"], registry=r)
            if self.top_n > 0 else None
        )
        # Pre-create the bounded label sets so dashboards see zeros, not gaps.
        for reason in INVALID_REASONS + LOG_REASONS:
            self.events_invalid.labels(reason)
            self.dlq.labels(reason)
        for reason in RESTART_REASONS:
            self.window_restarts.labels(reason)
        for reason in REPLAY_REASONS:
            self.replays.labels(reason)
        for reason in HTTP_DROP_REASONS:
            self.http_dropped.labels(reason)
        for result in RELOAD_RESULTS:
            self.model_reloads.labels(result)
            self.silence_reloads.labels(result)
        self._model: tuple[str, str] | None = None
        self._lag_labels: set[tuple[str, str]] = set()
        self._top: dict[str, float] = {}
        self._shown: set[str] = set()
        self._state_seen = (0, 0, 0, 0)  # window state counts already exported
        self._logs_seen = (0, 0, 0, 0)  # log lines, unseen, late, templates dropped
        self._assembly_seen = (0, 0)  # late records, incomplete slots

    # ------------------------------------------------------------------ helpers

    def watch_health(self, health: Any) -> None:
        """Read readiness, broker and delivery state from ``health`` (an
        :class:`~anomaly_gan.stream.http.Health`) at scrape time: right even while the
        scoring loop is blocked."""
        self.ready.set_function(lambda: 1.0 if health.ready()[0] else 0.0)
        self.broker_up.set_function(lambda: 1.0 if health.broker_ok() else 0.0)
        self.assigned_partitions.set_function(lambda: float(health.assigned))
        self.delivery_stalled.set_function(health.delivery_stalled_s)
        self.input_stalled.set_function(health.input_stalled_s)
        self.error_replays.set_function(lambda: float(health.error_replays[0]))

    def watch_silences(self, watcher: Any) -> None:
        """Read whether ``watcher`` (a :class:`~anomaly_gan.stream.silences.SilenceWatcher`)
        refused the file at scrape time. A gauge, not the failure counter: a refused start
        counts its failure before the first scrape, where increase() cannot see it, and a
        refused file stays refused after the counter stops moving."""
        self.silences_refused.set_function(lambda: 1.0 if watcher.refused else 0.0)

    def invalid(self, reason: str) -> None:
        self.events_invalid.labels(reason).inc()

    def set_model(self, version: str, kind: str, threshold: float) -> None:
        if self._model is not None and self._model != (version, kind):
            self.model_info.remove(*self._model)
        self._model = (version, kind)
        self.model_info.labels(version, kind).set(1)
        self.threshold.set(threshold)
        self.alerts.labels(version)
        self.alerts_resolved.labels(version)
        self.alerts_silenced.labels(version)

    def observe_batch(self, scores: np.ndarray, lags: np.ndarray, seconds: float) -> None:
        """One model call: its size and duration, every score and event lag. A +inf score
        (a window the network could not compute) is counted apart: the score histogram
        holds finite scores only."""
        n = int(scores.shape[0])
        self.windows_scored.inc(n)
        unscorable = int(np.count_nonzero(np.isposinf(scores)))
        if unscorable:
            self.windows_unscorable.inc(unscorable)
        self.batch_size.observe(n)
        self.inference.observe(seconds)
        observe_many(self.score, scores)
        observe_many(self.event_lag, lags)

    def count_state(self, state: Any) -> int:
        """Add what ``state`` (a :class:`~anomaly_gan.stream.state.WindowState`) counted since
        the last call: late events, window restarts, evicted entities. Returns how many
        entities moved to another partition meanwhile."""
        late, gaps, evicted, moves = self._state_seen
        if state.late != late:
            self.events_late.inc(state.late - late)
        if state.gap_restarts != gaps:
            self.window_restarts.labels("gap").inc(state.gap_restarts - gaps)
        if state.evicted != evicted:
            self.entities_evicted.inc(state.evicted - evicted)
        if state.partition_moves != moves:
            self.window_restarts.labels("partition_change").inc(state.partition_moves - moves)
        self._state_seen = (state.late, state.gap_restarts, state.evicted,
                            state.partition_moves)
        return int(state.partition_moves - moves)

    def count_assembly(self, assembler: Any) -> None:
        """Add what ``assembler`` (an :class:`~anomaly_gan.stream.assemble.Assembler`)
        counted since the last call: late records (to the late events) and incomplete
        slots."""
        late, incomplete = self._assembly_seen
        self.events_late.inc(assembler.late - late)
        self.events_incomplete.inc(assembler.incomplete - incomplete)
        self._assembly_seen = (assembler.late, assembler.incomplete)

    def count_log_lines(self, feed: Any) -> None:
        """Add what ``feed`` (a :class:`~anomaly_gan.logs.live.LogFeed`) counted since the
        last call: lines, lines of unseen templates, late lines, templates dropped."""
        lines, unseen, late, dropped = self._logs_seen
        self.log_lines.inc(feed.lines - lines)
        self.log_lines_unseen.inc(feed.unseen - unseen)
        self.log_lines_late.inc(feed.late - late)
        self.log_templates_dropped.inc(feed.dropped - dropped)
        self._logs_seen = (feed.lines, feed.unseen, feed.late, feed.dropped)

    def partitions_assigned(self, partitions: Iterable[Any]) -> None:
        """Start each assigned partition's offset-reset counter at 0. Prometheus' increase()
        sees no increase in a series whose first sample is already 1, so a counter created
        by its first reset would hide that reset from AnomalyGanOffsetReset; a counter keeps
        its past, so the series stay after the partition moves (bounded by the partitions)."""
        for tp in partitions:
            self.offset_resets.labels(tp.topic, str(tp.partition))

    def set_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the per-partition lag series with ``{(topic, partition): lag}``."""
        now = {(t, str(p)) for t, p in lags}
        for gone in self._lag_labels - now:
            self.consumer_lag.remove(*gone)
        for (t, p), lag in lags.items():
            self.consumer_lag.labels(t, str(p)).set(lag)
        self._lag_labels = now

    def update_entity_scores(self, entities: list[str], scores: np.ndarray) -> None:
        """Keep ``anomaly_gan_entity_score`` to the top-N entities by latest score."""
        if self.entity_score is None:
            return
        top = self._top
        for e, s in zip(entities, scores.tolist()):
            top[e] = s
        if len(top) > 4 * self.top_n + 64:
            for e, _ in sorted(top.items(), key=lambda kv: kv[1])[: len(top) - 2 * self.top_n]:
                del top[e]
        best = dict(sorted(top.items(), key=lambda kv: -kv[1])[: self.top_n])
        for e in self._shown - best.keys():
            self.entity_score.remove(e)
        for e, s in best.items():
            self.entity_score.labels(e).set(s)
        self._shown = set(best)

    def forget_entity(self, entity: Hashable) -> None:
        if self.entity_score is None:
            return
        self._top.pop(entity, None)  # type: ignore[call-overload]
        if entity in self._shown:
            self.entity_score.remove(entity)
            self._shown.discard(entity)  # type: ignore[arg-type]
