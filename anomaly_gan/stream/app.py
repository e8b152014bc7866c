"""The scoring loop: poll -> parse -> windows -> one model call per micro-batch -> alerts,
scores and dead letters -> acks -> commit.

At-least-once: offsets are committed only after the producer has flushed (acks=all) every
alert/score/DLQ record of the events before them, and only up to the oldest event that a
window still held in memory needs (:meth:`WindowState.commit_offsets`), so a crash or a
rebalance replays enough to rebuild every window: nothing is skipped (but a record batch
the consumer cannot read, dead-lettered as one range: :meth:`Scorer._skip_unreadable`),
some windows may be scored twice (same alert id). SIGTERM/SIGINT: stop polling, score
what is buffered, flush, commit, leave the group, exit 0 within ``serve.grace_seconds``.

The loop delegates the input side to :class:`~anomaly_gan.stream.intake.Intake` (records ->
windows), the output side to :class:`~anomaly_gan.stream.publisher.Publisher` (alerts,
scores, dead letters) and the ``anomaly_gan_baseline_drift`` gauge to
:class:`~anomaly_gan.stream.baseline.BaselineDrift`; it keeps the micro-batches, the model
thread, offsets, commits, replays and rebalances. :func:`anomaly_gan.stream.service.connect`
puts it on Kafka, :func:`anomaly_gan.stream.service.serve` runs it as a process.

Everything external (detector, Kafka adapter, metrics, health, clocks) is passed in; tests
drive :class:`Scorer` with the real broker or with doubles.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np

from anomaly_gan.config import ServeConfig
from anomaly_gan.runtime import SignalSafeEvent
from anomaly_gan.stream.baseline import BaselineDrift
from anomaly_gan.stream.events import InvalidEvent
from anomaly_gan.stream.http import Health
from anomaly_gan.stream.intake import Intake
from anomaly_gan.stream.kafka_io import (
    AUTH_FAILURES,
    SKIP_SEARCH_S,
    AuthFailures,
    Backoff,
    UnreadableInput,
)
from anomaly_gan.stream.metrics import StreamMetrics
from anomaly_gan.stream.publisher import Publisher
from anomaly_gan.stream.state import WindowBatch

__all__ = ["Scorer"]

log = logging.getLogger("anomaly_gan.stream")

_COMMIT_INTERVAL_S = 1.0  # most often offsets are committed while records keep coming
_HOUSEKEEPING_S = 1.0  # consumer lag, broker connectivity, gauges
_INPUT_PROBE_IDLE_S = 1.0  # nothing read this long: ask whether input is waiting
_INPUT_PROBE_TIMEOUT_MS = 1000  # at most this long per question (the loop waits meanwhile)
_TOPIC_CHECK_AFTER_S = 30.0  # no partitions this long: ask whether the input topic exists
_TOPIC_CHECK_EVERY_S = 60.0  # and then at most this often


class Scorer:
    """One replica's loop. Call :meth:`run` (blocks) and :meth:`request_stop` (any thread)."""

    def __init__(self, cfg: ServeConfig, detector: Any, io: Any, metrics: StreamMetrics,
                 health: Health | None = None, *, watcher: Any = None,
                 shadow: Any = None, drift: Any = None, silences: Any = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 auth_failures: AuthFailures = AUTH_FAILURES) -> None:
        self.cfg = cfg
        # Refused logins counted while a broker was last up: more since then while none is
        # up say why (kafka_io.AuthFailures).
        self.auth_failures = auth_failures
        self._refusals_when_up = auth_failures.count
        self.io = io
        detector.warm_up(cfg.batching.max_batch)
        self.metrics = metrics
        self.health = health or Health()
        self.publisher = Publisher(cfg, io, metrics)  # alerts, scores, dead letters
        self.debouncer = self.publisher.debouncer
        self.health.watch_delivery(self.publisher.delivery, cfg.kafka.delivery_stall_seconds)
        self.health.watch_input(self.input_stalled_for, cfg.kafka.input_stall_seconds)
        self.health.watch_errors(cfg.kafka.input_stall_seconds)
        metrics.watch_health(self.health)
        self.watcher = watcher
        # serve.alerts.silences_path: a SilenceWatcher (serve builds it before connecting,
        # so a bad file stops it at once), re-read at housekeeping
        if silences is None and cfg.alerts.silences_path:
            from anomaly_gan.stream.silences import SilenceWatcher

            silences = SilenceWatcher(cfg.alerts.silences_path, cfg.reload_interval_seconds,
                                      on_result=lambda r: metrics.silence_reloads.labels(r).inc(),
                                      clock=monotonic)
        self.silence_watch = silences
        if silences is not None:
            self.publisher.silences = silences.silences
            metrics.watch_silences(silences)
        self.clock = clock
        self.mono = monotonic
        k = cfg.kafka
        self._stop = SignalSafeEvent()  # request_stop() runs in a signal handler
        self._rebalance_lock = threading.Lock()
        self._revoked: set[Any] = set()
        self._assigned_log: list[Any] = []
        # partition -> the offset committed for it on revoke, where its dropped windows are
        # rebuilt from if it comes straight back (on_assigned)
        self._revoke_offsets: dict[Any, int] = {}
        self._loop_lock = threading.RLock()
        self._revoke_wait_s = min(5.0, cfg.kafka.session_timeout_ms / 2000.0)
        self.revoke_commits = 0
        self._next: dict[Any, int] = {}  # partition -> next offset to read
        self._committed: dict[Any, int] = {}
        # Partitions moved past their end (_reset_past_end) whose new position is not
        # committed yet: a rewind seeks there, not to the group's offset past the end.
        self._reset_to: dict[Any, int] = {}
        # Moved there by _resume_reset in this poll's rebalance: its records, read from the
        # group's offset before the move, are not consumed.
        self._resumed: set[Any] = set()
        self._last_commit = self.mono()
        self._last_housekeeping = 0.0
        # records behind each input partition's end, (topic, partition) -> n, from the last
        # housekeeping: a logs model's partitions read to their end close buckets on the clock
        self._lags: dict[tuple[str, int], int] = {}
        self._last_read = self.mono()  # records last came from a poll (or a fresh start)
        self._waiting_since: float | None = None  # input waiting unread since (see _check_input)
        # The first answer of a stall whose consumer was replaced: the input still waits
        # until a record is read, whichever consumer asks (see input_stalled_for).
        self._stuck_since: float | None = None
        self._next_end_probe = self.mono()  # while records flow: see _check_input
        self._move_warned = False
        self._unassigned_since: float | None = self.mono()  # the consumer just subscribed
        self._next_topic_check = 0.0
        self._topic_missing = False
        # Waits between replays (after a failed delivery or a loop error): never longer than
        # half the poll interval, so the group keeps this member.
        self._backoff = Backoff(min(k.reconnect_backoff_max_ms / 1000.0,
                                    k.max_poll_interval_ms / 2000.0))
        self._resume_at = 0.0  # monotonic time before which the loop does not read
        self._must_rewind = False
        # A run of error replays with no progress (see error_replays): when its first came,
        # the furthest offset each partition was read to when one came, the partition and
        # end of the records being handled (so an error while handling them marks past
        # them), and when the loop last resumed reading after one.
        self._errors_since: float | None = None
        self._error_marks: dict[Any, int] = {}
        # Assigned with nothing read when one came: a record read from them is progress.
        self._unread_at_error: set[Any] = set()
        self._handling: tuple[Any, int] | None = None
        self._resumed_after_error: float | None = None
        self._flush_timeout_s = min(k.delivery_stall_seconds, 30.0,
                                    k.max_poll_interval_ms / 2000.0)
        self.baseline = BaselineDrift(metrics.baseline_drift)
        self.windows_scored = 0
        self.deadline: float | None = None  # end of the grace period, once stopping
        # Model calls run on one worker thread (TensorFlow releases the GIL), so the loop
        # parses and windows the next records while a batch is scored: one batch in flight.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="anomaly-gan-infer")
        self._inflight: tuple[WindowBatch, Future, Any] | None = None
        self.shadow = shadow  # stream/shadow.py: a second model scored for comparison
        self.drift = drift  # stream/drift.py: PSI of features and scores
        self.intake = Intake(detector, cfg, self.publisher.dead_letter, self._forget_entity, clock)
        self.state = self.intake.state
        self.publisher.logs = self.intake.logs  # alerts of a logs model name their templates
        self._max_batch = cfg.batching.max_batch
        shape = (detector.window, len(detector.feature_names))
        self.batch = WindowBatch(*shape, capacity=self._max_batch)
        self._spare = WindowBatch(*shape, capacity=self._max_batch)
        self._install(detector)

    # ------------------------------------------------------------------ model

    def _install(self, det: Any) -> None:
        """Use ``det`` from the next batch on (first model, or a hot reload)."""
        self.det = det
        self.baseline.set_model(det)
        if self.drift is not None:
            self.drift.set_model(det)
        if self.shadow is not None:
            self.shadow.check(det)
        self.metrics.set_model(det.version, det.kind, float(det.threshold))
        self.health.model_loaded = True

    def _forget_entity(self, entity: str) -> None:
        """An entity's window was dropped (evicted, revoked): its debounce state goes once
        the windows it completed before are decided, which may wait in the filling batch or
        the one in flight (forgetting it at once decided them as a new run: an alert of the
        last windows before an eviction was lost). Its per-entity metrics go then too
        (:meth:`_forgotten`): removed at once, they were set again by those windows, for an
        entity no longer held, and never removed."""
        if len(self.batch) or self._inflight is not None:
            self.batch.forgets.append((len(self.batch), entity))
        else:
            self.debouncer.forget(entity)
            self.metrics.forget_entity(entity)

    def _forgotten(self, forgets: list[tuple[int, str]]) -> None:
        """The per-entity metrics of the entities dropped in a batch just published (its
        ``forgets``), unless an entity came back since and is held again."""
        for _, entity in forgets:
            if entity not in self.state:
                self.metrics.forget_entity(entity)

    # ------------------------------------------------------------------ rebalance

    # kafka-python runs rebalance callbacks on its IO thread, where blocking consumer calls
    # are not allowed. The loop releases its lock while it waits in poll/commit, so the revoke
    # callback can take it, score and flush what was read, compute the revoked partitions'
    # safe offsets and drop their state; KafkaIO commits those offsets asynchronously before
    # the group re-joins. If the lock is not free in time, nothing is committed on revoke and
    # the new owner resumes from the last periodic commit (about a second older): duplicates,
    # never gaps.

    def on_revoked(self, partitions: list[Any]) -> dict[Any, int] | None:
        """Kafka's IO thread: score and flush what was read from ``partitions``, drop their
        state and return the offsets to commit for them (None: commit nothing)."""
        with self._rebalance_lock:
            self._revoked.update(partitions)
        if not partitions or self._stop.is_set():
            return None  # closing: drain() has already committed
        if not self._loop_lock.acquire(timeout=self._revoke_wait_s):
            log.warning("revoke: the loop is busy; the new owner resumes from the last commit")
            return None
        try:
            if self._must_rewind:
                # A replay is due (see _prepare_commit): nothing is committed, and the rewind
                # must not seek a partition that comes back before it to this scorer's own
                # last commit: the next owner may commit past it meanwhile.
                for tp in partitions:
                    self._committed.pop(tp, None)
                return None
            self._score_batch()
            self.io.flush(self._revoke_wait_s)
            if self.publisher.error is not None:
                return None  # the loop rewinds at its next commit
            mine = {tp: self._next[tp] for tp in partitions if tp in self._next}
            offsets: dict[Any, int] = self._safe_offsets(mine) if mine else {}
            self._apply_rebalance(in_callback=True)
            self._revoke_offsets = dict(offsets)
            if offsets:
                self.revoke_commits += 1
                log.info("committing on revoke", extra={"fields": {
                    "offsets": {f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()}}})
            return offsets
        except Exception:
            log.exception("revoke: finishing the revoked partitions failed")
            return None
        finally:
            self.health.assigned = len(self._next_assignment())
            self._loop_lock.release()

    def on_assigned(self, partitions: list[Any]) -> None:
        # Windows start empty: the first W-1 events of each entity after an assignment only
        # fill its window (warm-up); the replay from the committed offset covers that span.
        # A partition this member keeps through an eager rebalance keeps its position in
        # kafka-python 3 (and the Java client), though its windows were dropped on revoke:
        # it is sought back to the offset committed then, or its entities' next W-1 events
        # went unscored. The others went to other members, whose commits rule from now on.
        offsets, self._revoke_offsets = self._revoke_offsets, {}
        for tp in partitions:
            if tp in offsets:
                try:
                    self.io.seek(tp, offsets[tp])  # sets the position only: a callback may
                except Exception as exc:  # noqa: BLE001 - read on from where it stood
                    log.warning("cannot move input partition %s/%s back to its revoke commit "
                                "%d", tp.topic, tp.partition, offsets[tp],
                                extra={"fields": {"error": str(exc)}})
        with self._rebalance_lock:
            self._revoked.difference_update(partitions)
            self._assigned_log.extend(partitions)
        self.health.assigned = len(self._next_assignment())

    def _apply_rebalance(self, in_callback: bool = False) -> None:
        """On the loop thread (or in the revoke callback, ``in_callback``: no blocking
        consumer call): forget revoked partitions, reset newly assigned ones."""
        with self._rebalance_lock:
            revoked, assigned = set(self._revoked), list(self._assigned_log)
            self._assigned_log.clear()
        gone = [tp for tp in revoked if tp in self._next or tp in self._committed]
        again = [tp for tp in assigned if tp in self._next]  # re-assigned: start fresh
        gone += again
        for tp in again:
            # Its state outlived a revoke that committed nothing (the loop was busy), and the
            # consumer may have kept its position (a partition kept through an eager
            # rebalance, on_assigned): read it again from the commit, as its new owner would.
            try:
                if tp in self._committed:
                    self.io.seek(tp, self._committed[tp])
                elif not in_callback:  # None: nothing committed, from the start (_rewind)
                    self.io.seek(tp, self.io.committed(tp))
                else:
                    continue
                self._resumed.add(tp)  # what the poll read from where it stood is read again
            except Exception as exc:  # noqa: BLE001 - read on from where it stood
                log.warning("cannot move input partition %s/%s back to its commit", tp.topic,
                            tp.partition, extra={"fields": {"error": str(exc)}})
        for tp in revoked:  # another member may own it, and commit past the reset, meanwhile
            self._reset_to.pop(tp, None)
        if not gone and not assigned:
            return
        if gone:
            self._score_batch()  # alerts of what we already read still go out
            dropped = self.intake.drop_partitions(gone)
            for tp in gone:
                self._next.pop(tp, None)
                self._committed.pop(tp, None)
            log.info("partitions revoked", extra={"fields": {
                "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in gone),
                "entities_dropped": dropped}})
        for tp in assigned:
            if tp in self._reset_to and tp not in revoked:
                self._resume_reset(tp)
        if assigned:
            # Give them time to fetch; a stall a replaced consumer left stands until a record
            # is read: its successor joins the group and is assigned the partitions again,
            # and until 2026-12-07 that started the count again, so readiness came back at
            # every replacement while nothing was read.
            self._last_read, self._waiting_since = self.mono(), None
            self.metrics.partitions_assigned(assigned)
            log.info("partitions assigned", extra={"fields": {
                "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)}})

    def _resume_reset(self, tp: Any) -> None:
        """``tp`` was assigned (again) while its reset past the end (:meth:`_reset_past_end`)
        is not committed: a new consumer that replaced a stuck one joins at the group's
        offset, still past the end, so it is moved to the reset's position instead. Until
        2026-12-07 it waited there another ``input_stall_seconds`` and was reset again."""
        offset = self._reset_to[tp]
        try:
            self.io.seek(tp, offset)  # sets the position only: allowed in a callback too
        except Exception as exc:  # noqa: BLE001 - it is found past the end again, and reset
            log.warning("cannot move input partition %s/%s to its reset offset %d yet",
                        tp.topic, tp.partition, offset, extra={"fields": {"error": str(exc)}})
            return
        self._next[tp] = offset
        self._resumed.add(tp)

    def _next_assignment(self) -> set[Any]:
        try:
            return self.io.assignment()
        except Exception:  # noqa: BLE001 - consumer closing; pragma: no cover
            return set()

    # ------------------------------------------------------------------ the loop

    def request_stop(self) -> None:
        """Stop after the turn under way (SIGTERM: any thread, a signal handler too).
        ``/readyz`` answers 503 ``shutting down`` from here on: until 2026-12-07 only once
        the drain began, so a loop waiting in a flush (up to ``delivery_stall_seconds``) or
        a model call answered 200 after SIGTERM."""
        self._stop.set()
        self.health.stopping = True

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def settled(self) -> bool:
        """No window waits for the model or to be published (the filling batch is empty,
        none in flight): what was read is scored and handed to the producer. Any thread;
        it takes the loop's lock, which the loop lets go while it waits in a consumer call.
        A caller that stopped producing input waits on it, then flushes ``io``, before it
        reads the output topics to their end (the demos' summaries)."""
        with self._loop_lock:
            return not len(self.batch) and self._inflight is None

    def run(self) -> int:
        """Loop until :meth:`request_stop`; then drain, commit and return an exit code."""
        k = self.cfg.kafka
        log.info("scorer started", extra={"fields": {
            "model_version": self.det.version, "window": self.det.window,
            "features": len(self.det.feature_names), "input_topic": k.input_topic}})
        while not self._stop.is_set():
            self.turn()
        return self.drain()

    def turn(self) -> None:
        """:meth:`step`, and a replay from the last commit if it raises."""
        try:
            self.step()
        except Exception as exc:  # the service stays up; the input is replayed
            log.exception("scoring loop error; replaying from the last commit")
            with self._loop_lock:
                self._replay("error", exc)

    def step(self) -> None:
        """One poll and everything it makes ready.

        The loop holds ``_loop_lock`` except while it waits in a consumer call (poll, commit,
        position): kafka-python's IO thread may run the revoke callback meanwhile, and that
        callback takes the lock to finish the work of the revoked partitions.
        """
        if self._resume_at:
            wait = self._resume_at - self.mono()
            if wait > 0:  # backing off after a failure: keep the probes fresh, read nothing
                self.health.beat()
                self._stop.wait(min(wait, 0.25))
                if self.mono() - self._last_housekeeping >= _HOUSEKEEPING_S:
                    self._housekeeping()
                return
            self._resume_at = 0.0
        with self._loop_lock:
            if self._must_rewind and not self._rewind():
                return
            self.health.beat()
            self._collect(wait=False)
            b = self.cfg.batching
            timeout = self.cfg.kafka.poll_timeout_ms
            if self._inflight is not None:
                timeout = min(timeout, 2)  # come back soon to publish its results
            elif self.batch.first_ready is not None:
                left_ms = b.max_latency_ms - (self.mono() - self.batch.first_ready) * 1000.0
                timeout = int(max(0.0, min(timeout, left_ms)))
        try:
            records = self.io.poll(timeout, self.cfg.kafka.max_poll_records)
        except UnreadableInput as bad:
            self._skip_unreadable(bad)
            return
        if records:
            self._input_read()
        with self._loop_lock:
            if self._revoked or self._assigned_log:
                self._apply_rebalance()
            revoked, resumed, self._resumed = self._revoked, self._resumed, set()
            consumed = [tp for tp in records if tp not in revoked and tp not in resumed]
            for tp in consumed:
                self._consume(tp, records[tp])
            if self.intake.logs is not None and self._lags:
                # partitions read to their end (at the last housekeeping) and empty in this
                # poll: their buckets close on the clock once idle long enough
                self.intake.close_idle(
                    [(tp, o - 1) for tp, o in self._next.items() if not records.get(tp)
                     and tp not in revoked and self._lags.get((tp.topic, tp.partition)) == 0],
                    self.batch, self._fill)
            if (self._error_marks and any(o > self._error_marks.get(tp, o)
                                          for tp, o in self._next.items())
                    or any(records[tp] and tp in self._unread_at_error for tp in consumed)):
                self._progressed("read past the offset where the last error came")
            self._collect(wait=False)
            # The model is idle: score what is ready now (after max_latency_ms, 0 by default).
            # While it is busy, windows gather into the next batch, so batches grow with load
            # and a window waits at most one model call at low rates.
            if len(self.batch) and self._inflight is None and (
                    self.batch.first_ready is None
                    or (self.mono() - self.batch.first_ready) * 1000.0 >= b.max_latency_ms):
                self._submit()
            self._sync_counters()
            if self.watcher is not None:
                new = self.watcher.take()
                if new is not None:
                    self._score_batch()  # everything read so far is scored by the old model
                    self.intake.install(new)
                    self._install(new)
                    log.info("model swapped", extra={"fields": {
                        "model_version": new.version, "threshold": float(new.threshold)}})
        now = self.mono()
        if now - self._last_commit >= _COMMIT_INTERVAL_S:
            self._commit()
        if now - self._last_housekeeping >= _HOUSEKEEPING_S:
            self._housekeeping()

    def _consume(self, tp: Any, msgs: list[Any]) -> None:
        self._handling = (tp, msgs[-1].offset + 1) if msgs else None
        self.intake.consume(tp, msgs, self.batch, self._fill)
        self._handling = None
        self.metrics.events_consumed.inc(len(msgs))
        if msgs:
            self._next[tp] = msgs[-1].offset + 1

    def _fill(self, tp: Any, offset: int, batch: WindowBatch, flush: bool) -> WindowBatch:
        """After a record that added windows: start the latency clock, or submit a full batch
        (reading resumes after ``offset``), or with ``flush`` score and publish everything
        read so far; returns the batch to keep filling."""
        if flush:
            self._next[tp] = offset + 1
            self._score_batch()
            return self.batch
        if batch.first_ready is None:
            batch.first_ready = self.mono()
        elif batch.n >= self._max_batch:
            self._next[tp] = offset + 1
            self._submit()
            batch = self.batch
        return batch

    def _safe_offsets(self, next_offsets: dict[Any, int]) -> dict[Any, int]:
        return self.intake.safe_offsets(next_offsets, rescore=self.debouncer.held_windows,
                                        holds=self.debouncer.cooling)

    def _score_batch(self) -> None:
        """Score everything read so far and publish the results (waits for the model)."""
        self._submit()
        self._collect(wait=True)
        if self.intake.logs is not None:
            self.intake.logs.published()  # the rows behind those alerts may go

    def _submit(self) -> None:
        """Hand the filling batch to the model thread (after publishing the one before)."""
        if not len(self.batch):
            if self.batch.forgets:  # entities dropped after the windows in flight
                self._collect(wait=True)
                for _, entity in self.batch.forgets:
                    self.debouncer.forget(entity)
                self._forgotten(self.batch.forgets)
                self.batch.forgets.clear()
            return
        self._collect(wait=True)
        batch, self.batch, self._spare = self.batch, self._spare, self.batch
        det = self.det
        self._inflight = (batch, self._pool.submit(self._infer, det, batch.windows()), det)

    def _infer(self, det: Any, windows: np.ndarray) -> tuple[Any, float]:
        t0 = time.perf_counter()
        res = det.score_windows(windows)
        dt = time.perf_counter() - t0
        if self.shadow is not None:
            self.shadow.compare(windows, res)
        return res, dt

    def _collect(self, wait: bool) -> None:
        """Publish the in-flight batch's results if it is done (or wait for it)."""
        if self._inflight is None:
            return
        batch, fut, det = self._inflight
        if not wait and not fut.done():
            return
        self._inflight = None
        res, dt = fut.result()
        try:
            self._publish(batch, det, res, dt)
        finally:
            batch.clear()

    def _publish(self, batch: WindowBatch, det: Any, res: Any, dt: float) -> None:
        """Count a scored batch in the metrics and the drift gauges, then hand it to the
        publisher for its alerts and score records."""
        self.metrics.observe_batch(res.score, self.clock() - np.asarray(batch.end_ts), dt)
        self.windows_scored += len(batch)
        n_anom = int(np.count_nonzero(res.is_anomaly))
        if n_anom:
            self.metrics.anomalies.inc(n_anom)
        self.baseline.observe(res.score)
        if self.drift is not None:
            self.drift.observe(batch.windows()[:, -1, :], res.score)
        self.metrics.update_entity_scores(batch.entities, res.score)
        self.publisher.publish(batch, det, res)
        self._forgotten(batch.forgets)

    def _sync_counters(self) -> None:
        """Export what the window state (and the log feed, or the assembler) counted since
        the last call."""
        if self.metrics.count_state(self.state) and not self._move_warned:
            self._move_warned = True
            log.warning("entity %r arrived on a new partition, so its window restarted: "
                        "key the input records by entity (counted as "
                        "anomaly_gan_window_restarts_total{reason=\"partition_change\"}; "
                        "logged once)", self.state.last_moved)
        if self.intake.logs is not None:
            self.metrics.count_log_lines(self.intake.logs)
        if self.intake.assembler is not None:
            self.metrics.count_assembly(self.intake.assembler)

    # ------------------------------------------------------------------ delivery

    def _commit(self, force: bool = False, flush_timeout_s: float | None = None,
                drained: bool = False) -> bool:
        """Score what was read, flush the producer, then commit what is safe.
        False when nothing could be committed (it is retried later). ``drained``: the input
        is known to be all read, so the flush happens even with nothing read to commit."""
        with self._loop_lock:
            todo = self._prepare_commit(force, flush_timeout_s, drained)
        if todo is None:
            return False
        if not todo:
            return True
        try:
            self.io.commit(todo)  # blocking: outside the loop lock
        except Exception as exc:  # noqa: BLE001 - retried at the next commit
            log.warning("offset commit failed; " + (
                "what was read since the last commit is read again at the next start"
                if self._stop.is_set() else "will retry"), extra={"fields": {"error": str(exc)}})
            return False
        with self._loop_lock:
            # Only past an offset this scorer committed: a partition assigned (again) has
            # none yet, and its first commit may be the group's offset once more, no
            # progress (until 2026-12-07 it ended a run of error replays at every rebalance).
            if any(tp in self._committed and o > self._committed[tp] for tp, o in todo.items()):
                self._progressed("committed offsets advanced")
            self._committed.update({tp: o for tp, o in todo.items() if tp not in self._revoked})
            for tp in todo:
                self._reset_to.pop(tp, None)
            self._backoff.reset()
        return True

    def _prepare_commit(self, force: bool, flush_timeout_s: float | None,
                        drained: bool = False) -> dict[Any, int] | None:
        self._last_commit = self.mono()
        if self._must_rewind:
            # A replay is due (a record was not delivered, or the loop failed): what was read
            # since the last commit holds output that never reached the broker, and its error
            # has been taken, so a flush would look clean. Nothing read may be committed before
            # it is read again: a stop or a revoke during the replay's backoff committed past
            # it, and the alert or dead letter was lost.
            return None
        self._score_batch()
        if not self._next and not drained:
            return {}
        try:
            self.io.flush(flush_timeout_s if flush_timeout_s is not None
                          else self._flush_timeout_s)
        except Exception as exc:  # noqa: BLE001 - any flush failure means: do not commit
            log.error("producer flush failed; not committing", extra={"fields": {
                "error": str(exc) or type(exc).__name__}})
            # The producer keeps its records and retries; housekeeping replaces it if a
            # broker answers and still nothing is acknowledged.
            self._resume_at = self.mono() + self._backoff.next()
            return None
        failed = self.publisher.take_error()
        if failed is not None:
            log.error("a record was not delivered; replaying from the last commit",
                      extra={"fields": {"topic": self.publisher.error_topic,
                                        "error": str(failed) or type(failed).__name__}})
            self.publisher.replace_producer()
            self._replay("delivery")
            return None
        self.publisher.delivered()
        assigned = self._next_assignment()
        safe = self._safe_offsets({tp: o for tp, o in self._next.items()
                                   if tp in assigned and tp not in self._revoked})
        return {tp: o for tp, o in safe.items() if force or self._committed.get(tp) != o}

    def _check_delivery(self, broker_reachable: bool) -> None:
        """Connected, yet nothing acknowledged for ``delivery_stall_seconds``: the producer
        itself is stuck (e.g. it never gets a producer id from a restarted broker)."""
        stalled = self.publisher.stalled_for()
        if not broker_reachable or stalled < self.cfg.kafka.delivery_stall_seconds:
            return
        log.error("no output acknowledged for %.0f s while a broker answers: recreating the "
                  "producer and replaying from the last commit", stalled)
        self.publisher.replace_producer()
        self._replay("delivery")

    def input_stalled_for(self) -> float:
        """Seconds that input has waited on an assigned partition with nothing read (0 while
        none is known to wait): ``anomaly_gan_input_stalled_seconds``, and past
        ``input_stall_seconds`` a reason for /readyz to fail. Counted from the first answer
        that input waits until a record is read (or none waits): a new consumer that reads
        nothing either does not start it again, nor does a moment with no broker connection
        up after it was created. Until 2026-12-07 it did, so a replica whose
        consumers all stayed stuck answered 200 for ever, nothing read."""
        since = self._stuck_since if self._stuck_since is not None else self._waiting_since
        return 0.0 if since is None else max(self.mono() - since, 0.0)

    def _input_read(self) -> None:
        """Records were read (or skipped, or moved past the partition's end): no input waits
        unread."""
        self._last_read, self._waiting_since, self._stuck_since = self.mono(), None, None

    def _check_input(self, broker_reachable: bool) -> None:
        """A broker answers, partitions are assigned, records wait on them (or their
        offsets cannot be read), yet no poll has returned any for ``input_stall_seconds``:
        the consumer itself is stuck (kafka-python after a broker restart that recreated the
        topic), so it is replaced and the input replayed from the last commit. Asked only
        once nothing has been read for a second; outside the loop lock, since it waits."""
        now = self.mono()
        timeout_ms = int(min(_INPUT_PROBE_TIMEOUT_MS, self.cfg.kafka.input_stall_seconds * 250))
        if not broker_reachable:
            # The stall of a replaced consumer stands (until a record is read): its successor's
            # connection may not be up at the first pass, and until 2026-12-07 that started
            # the count again, so a replica stuck for real came back ready.
            self._waiting_since = None
            return
        if self._resume_at or self._must_rewind:
            self._waiting_since = None
            return
        if now - self._last_read < _INPUT_PROBE_IDLE_S:
            self._waiting_since = None
            # Records flow, so no stall is ever due; yet one partition may stand past its end
            # beside others that flow (Tansu answers it with nothing, for ever). Asked every
            # input_stall_seconds, with the same two opinions as below (KafkaIO.past_end).
            if now >= self._next_end_probe:
                self._next_end_probe = now + self.cfg.kafka.input_stall_seconds
                past = self.io.past_end(max(timeout_ms, 1))
                if past:
                    self._reset_past_end(past)
            return
        if not self.io.waiting(max(timeout_ms, 1)):
            self._waiting_since = self._stuck_since = None
            if not self._next and self.publisher.failing():
                # A replay after a failed delivery found nothing to read again (a restarted
                # broker lost the topic; the partitions went elsewhere): no commit comes to
                # flush and end the run of failures, so readiness stayed failed until new
                # input. The input is all read now: a clean flush ends it.
                self._commit(drained=True)
            return
        if self._waiting_since is None:
            self._waiting_since = now
            return
        stalled = self.mono() - self._waiting_since
        if stalled < self.cfg.kafka.input_stall_seconds:
            return
        # A position past the partition's end is no stuck consumer: a new one would resume
        # from the same committed offset and wait there again, for ever (Tansu sends no
        # OFFSET_OUT_OF_RANGE, which would make kafka-python reset by itself). It is moved
        # instead, and only once three things agree: nothing has been read from any partition
        # for input_stall_seconds while waiting() kept saying input waits; the broker's end
        # offset lies below the position; and so does the high watermark of a fetch answered
        # at that position (KafkaIO.past_end). The last one is what keeps a healthy partition
        # from being reset under Tansu's under-reported end offsets: after multi-record
        # batches its ListOffsets answer lies below a position read to the true end, but the
        # fetch's high watermark is the true end, so position <= high watermark. A high
        # watermark that is stale (a consumer that stopped fetching) only ever lies at or above
        # a position reached by reading, so it cannot make a verdict either; such a consumer
        # is replaced below, and its successor's first answered fetch decides.
        past = self.io.past_end(timeout_ms)
        if past:
            self._reset_past_end(past)
            return
        log.error("input waiting and nothing read for %.0f s while a broker answers: "
                  "recreating the consumer and replaying from the last commit", stalled)
        with self._loop_lock:
            self._replay("input")
        if self._stuck_since is None:
            self._stuck_since = self._waiting_since
        self._last_read, self._waiting_since = self.mono(), None  # the new one's own count
        try:
            self.io.reset_consumer()
        except Exception as exc:  # noqa: BLE001 - the next poll creates it (see KafkaIO.poll)
            log.warning("cannot create a new consumer yet; will retry",
                        extra={"fields": {"error": str(exc) or type(exc).__name__}})

    def _check_input_topic(self, broker_reachable: bool) -> None:
        """No partitions for ``_TOPIC_CHECK_AFTER_S`` while a broker answers: ask the
        brokers' metadata (at most every ``_TOPIC_CHECK_EVERY_S``) whether the input topic
        exists. A missing one is the usual cause on a first deploy, and only kafka-python's
        own log said so; now /readyz and one warning name it. The consumer's metadata cache
        answers (:meth:`KafkaIO.topic_exists`): no request, no wait."""
        now = self.mono()
        if self.health.assigned:
            self._unassigned_since = None
            self._input_topic_missing(False)
            return
        if self._unassigned_since is None:
            self._unassigned_since = now
        if (not broker_reachable or now - self._unassigned_since < _TOPIC_CHECK_AFTER_S
                or now < self._next_topic_check):
            return
        self._next_topic_check = now + _TOPIC_CHECK_EVERY_S
        try:
            exists = self.io.topic_exists(self.cfg.kafka.input_topic)
        except Exception:  # no answer, no verdict: the next check asks again
            log.debug("cannot read the input topic's metadata", exc_info=True)
            return
        if exists is not None:
            self._input_topic_missing(not exists)

    def _input_topic_missing(self, missing: bool) -> None:
        if missing == self._topic_missing:
            return
        self._topic_missing = missing
        k = self.cfg.kafka
        if missing:
            self.health.unassigned_reason = (
                f"input topic {k.input_topic!r} not found on the brokers (the scorer creates none)")
            log.warning("input topic %r not found on the brokers %s; the scorer creates no "
                        "topic: create it", k.input_topic, k.bootstrap_servers)
        else:
            self.health.unassigned_reason = ""
            log.info("input topic %r found on the brokers", k.input_topic)

    def _reset_past_end(self, past: dict[Any, tuple[int, int]]) -> None:
        """Move partitions whose position lies past their end as ``auto_offset_reset`` says,
        drop what was read from them (their offsets are no longer in the log) and commit the
        new position: a restart or a replay then starts there, not past the end again.
        Nothing between the old position and the end exists, so nothing there is skipped;
        ``latest`` leaves the records the partition holds unread, ``earliest`` reads them."""
        policy = self.cfg.kafka.auto_offset_reset
        moved: dict[Any, int] = {}
        for tp, (position, end) in sorted(past.items(), key=lambda kv: str(kv[0])):
            try:
                offset, first = self.io.reset_offset(tp, end)
            except Exception as exc:  # noqa: BLE001 - e.g. revoked meanwhile: asked again
                log.warning("cannot move input partition %s/%s past its end yet; will retry",
                            tp.topic, tp.partition, extra={"fields": {"error": str(exc)}})
                continue
            held = max(end - first, 0)
            what = (f"the {held} records it holds are read (they may have been scored "
                    f"before, under other offsets)" if policy == "earliest"
                    else f"the {held} records it holds are left unread")
            log.error("input partition %s/%s: position %d (the committed offset) lies past "
                      "the partition's end %d (topic recreated or truncated, or offsets "
                      "committed against another cluster); serve.kafka.auto_offset_reset=%s: "
                      "reading from offset %d; no record is skipped past the end, and %s",
                      tp.topic, tp.partition, position, end, policy, offset, what,
                      extra={"fields": {"topic": tp.topic, "partition": tp.partition,
                                        "position": position, "end": end, "policy": policy,
                                        "new_offset": offset,
                                        "records_unread": 0 if policy == "earliest" else held}})
            self.metrics.offset_resets.labels(tp.topic, str(tp.partition)).inc()
            moved[tp] = offset
        if not moved:
            return
        with self._loop_lock:
            self._score_batch()  # alerts of what was read before still go out
            self.intake.drop_partitions(list(moved))
            for tp, offset in moved.items():
                self._next[tp] = self._reset_to[tp] = offset
                self._committed.pop(tp, None)  # the group's commit lies past the end
        self._input_read()
        self._commit()

    def _skip_unreadable(self, bad: UnreadableInput) -> None:
        """Move a partition past a record batch the consumer cannot read. kafka-python raises
        for the whole batch at its first bad record (a header key that is not UTF-8, which
        Java clients accept; a CRC mismatch), so reading it again fails again: a replay
        after it rewound to the same batch for ever. Like :meth:`_reset_past_end`, the loop
        moves on instead: from the bad record to the end of its batch is skipped, one DLQ
        record (``corrupt_record``, empty value) names the range, one ERROR line says so, and
        the commit passes the range once that record is acknowledged. Where the partition,
        the offset or the end of the batch cannot be told, the input is replayed as before."""
        tp, first = bad.tp, bad.offset
        after = (None if tp is None or first is None
                 else self.io.skip_unreadable(tp, first, SKIP_SEARCH_S))  # waits: no lock
        if tp is None or first is None or after is None:
            log.error("%s; cannot tell where readable records resume: replaying from the "
                      "last commit", bad)
            with self._loop_lock:
                self._replay("error", bad)
            return
        with self._loop_lock:
            # The poll that raised may have run the rebalance callbacks (a join assigns the
            # partitions again): applied first, as after any poll. Applied at the next step,
            # after the skip, they dropped where the partition stood as "re-assigned", and
            # with nothing read after the batch the commit never passed it (until 2026-12-07).
            if self._revoked or self._assigned_log:
                self._apply_rebalance()
            if tp not in self._next_assignment() or tp in self._revoked:
                return  # revoked meanwhile: its new owner meets the batch and skips it
            skipped = after - first
            detail = (f"offsets {first}..{after - 1} ({skipped} records) cannot be read: "
                      f"{bad.error}")
            log.error("input partition %s/%s: offsets %d..%d (%d records: the unreadable "
                      "record and the rest of its batch, which kafka-python cannot read past) "
                      "skipped, reading from offset %d; one record sent to the DLQ "
                      "(corrupt_record): %s", tp.topic, tp.partition, first, after - 1, skipped,
                      after, bad.error, extra={"fields": {
                          "topic": tp.topic, "partition": tp.partition, "first": first,
                          "last": after - 1, "records_skipped": skipped, "error": bad.error}})
            record = SimpleNamespace(offset=first, key=None, value=b"")
            self.publisher.dead_letter(tp, record, InvalidEvent("corrupt_record", detail),
                                       logged=True)
            self._next[tp] = after
        self._input_read()

    def _replay(self, reason: str, error: BaseException | None = None) -> None:
        """Drop what was read since the last commit and read it again after a backoff."""
        self.metrics.replays.labels(reason).inc()
        if reason == "error":
            self._error_replayed(error)
        self.publisher.take_error()
        self._must_rewind = True
        self._resume_at = self.mono() + self._backoff.next()

    def _rewind(self) -> bool:
        """Forget everything since the last commit and seek back to it. False when the
        consumer could not seek (retried after a backoff; nothing new is read meanwhile)."""
        if self._inflight is not None:
            # Its buffer is the next to fill (the two alternate): until 2026-12-07 it kept its
            # windows, which were published again two submits later, under a model swapped in
            # since. Its result, if the model thread still computes it, is never read.
            self._inflight[0].clear()
        self._inflight = None
        self.batch.clear()
        self.intake.clear()
        self.debouncer.clear()
        self._next.clear()
        try:
            for tp in self.io.assignment():
                # until 2026-12-07 a replay before a reset's commit sought past the end again
                offset = (self._committed[tp] if tp in self._committed
                          else self._reset_to[tp] if tp in self._reset_to
                          else self.io.committed(tp))
                self.io.seek(tp, offset)
                if tp not in self._committed and tp in self._reset_to:
                    # its commit is still due: until 2026-12-07 only a partition read since
                    # was committed, so an idle one kept the group's offset past the end
                    self._next[tp] = offset
        except Exception as exc:  # noqa: BLE001 - e.g. the coordinator is away
            log.warning("cannot seek back yet; will retry", extra={"fields": {"error": str(exc)}})
            self._resume_at = self.mono() + self._backoff.next()
            return False
        self._must_rewind = False
        if self._errors_since is not None:
            self._resumed_after_error = self.mono()
        return True

    # ------------------------------------------------------------------ error replays

    def error_replays(self) -> int:
        """Error replays (``anomaly_gan_replays_total{reason="error"}``) since the loop last
        made progress: ``anomaly_gan_error_replays_without_progress``; from
        :data:`~anomaly_gan.stream.http.ERROR_REPLAYS_NOT_READY` on, once they span
        ``serve.kafka.input_stall_seconds`` from the first to the last, ``/readyz`` fails
        naming the last error.

        An error that comes back at every replay (a record batch kafka-python raises on at
        each poll that reaches it, a bug tripped by the same record) kept the scorer ready
        for ever: each replay reads the records before the bad spot again, so polls return
        records and the input-stall check never fires, and output is acknowledged, so the
        delivery check never fires either, while nothing after the bad spot is ever read.

        Progress, which ends a run (the count is 0 again), is any of:

        - a commit that moved a partition's committed offset forward (records before the
          bad spot, committed again at each replay, commit the same offsets: no progress);
        - a poll cycle that handled records past the furthest offset a partition had been
          read to when one of the run's errors came (for an error raised while records
          were handled, past the end of those records; for a partition assigned but not
          read yet when it came, any record read from it), so the spot that failed has been
          passed; the position alone cannot tell, since polls return the records before a
          bad batch and only the poll that reaches it raises;
        - ``serve.kafka.input_stall_seconds`` of reading with no error after the last
          replay resumed: the error did not recur (a transient one, then an idle topic,
          which neither commits nor reads anything new).
        """
        return self.health.error_replays[0]

    def _error_replayed(self, error: BaseException | None) -> None:
        now = self.mono()
        marks = dict(self._next)
        if self._handling is not None:
            tp, end = self._handling
            marks[tp] = max(marks.get(tp, end), end)
            self._handling = None
        for tp, offset in marks.items():
            self._error_marks[tp] = max(self._error_marks.get(tp, offset), offset)
        # Not read since the rewind, or ever: where they stand is not known here (a consumer
        # call), and any record read from them lies past it. Until 2026-12-07 they had no
        # mark, so reading them was no progress, and the marks of partitions read before
        # outlived the run the docs end there: a partition revoked then, assigned again and
        # read past its old mark ended a later run while another stayed stuck (seed 700333
        # of tests/stream/test_scorer_progress_fuzz.py).
        self._unread_at_error.update(tp for tp in self._next_assignment()
                                     if tp not in self._error_marks)
        if self._errors_since is None:
            self._errors_since = now
        self._resumed_after_error = None
        if error is None:
            what = "unknown error"
        else:
            message = (str(error).strip().splitlines() or [""])[0]
            if len(message) > 160:
                message = message[:157] + "..."
            what = f"{type(error).__name__}: {message}" if message else type(error).__name__
        replays = self.health.error_replays[0] + 1
        self.health.error_replays = (replays, now - self._errors_since, what)

    def _progressed(self, how: str) -> None:
        """End a run of error replays (see :meth:`error_replays`)."""
        if self._errors_since is None:
            return
        replays = self.health.error_replays[0]
        if replays > 1:
            log.info("the loop made progress after %d error replays (%s)", replays, how)
        self._errors_since = self._resumed_after_error = None
        self._error_marks.clear()
        self._unread_at_error.clear()
        self.health.error_replays = (0, 0.0, "")

    def _check_errors(self) -> None:
        """End a run of error replays once the loop has read for ``input_stall_seconds``
        after the last one with no error: it did not recur."""
        since = self._resumed_after_error
        if (since is not None and not self._must_rewind and not self._resume_at
                and self.mono() - since >= self.cfg.kafka.input_stall_seconds):
            self._progressed(f"no error for {self.cfg.kafka.input_stall_seconds:g} s")

    def _housekeeping(self) -> None:
        self._last_housekeeping = self.mono()
        up = False
        try:
            up = bool(self.io.connected())
            with self._loop_lock:
                next_offsets = dict(self._next)
            self._lags = self.io.lag(next_offsets)  # may block: no lock
            self.metrics.set_consumer_lag(self._lags)
        except Exception:
            log.debug("housekeeping failed", exc_info=True)
        with self._loop_lock:
            if self.silence_watch is not None and self.silence_watch.poll():
                self.publisher.silences = self.silence_watch.silences
            self._refresh_gauges(up)
            self._check_delivery(up)
            self._check_errors()
        self._check_input(up)
        self._check_input_topic(up)

    def _refresh_gauges(self, up: bool) -> None:
        if up:
            self._refusals_when_up, why = self.auth_failures.count, ""
        else:
            why = self.auth_failures.reason_since(self._refusals_when_up, self.cfg.kafka) or ""
        if up != self.health.broker_up or why != self.health.broker_reason:
            if up:
                log.info("broker reachable")
            else:
                log.warning(why or "broker unreachable", extra={"fields": {
                    "error": self.auth_failures.last_error} if why else {}})
        self.health.broker_up, self.health.broker_reason = up, why
        self.health.assigned = len(self._next_assignment())
        self.metrics.entities.set(len(self.state))
        # Keep the debouncer to the entities that still have a window, or whose windows
        # wait to be decided (dropped since: Scorer._forget_entity).
        waiting = {e for _, e in self.batch.forgets}
        if self._inflight is not None:
            waiting.update(e for _, e in self._inflight[0].forgets)
        self.debouncer.retain(lambda e: e in self.state or e in waiting)
        self.baseline.refresh()
        if self.drift is not None:
            self.drift.refresh()

    def drain(self) -> int:
        """Finish the batch, flush, commit; 0 when everything consumed was committed."""
        deadline = self.deadline = self.mono() + self.cfg.grace_seconds
        log.info("stopping: scoring what was read, flushing, committing")
        self.health.stopping = True
        if self._must_rewind:
            log.warning("stopping with a replay due (a record was not delivered, or the loop "
                        "failed): nothing more is committed; what was read since the last "
                        "commit is read again at the next start")
        else:
            self._score_batch()
        self._sync_counters()
        # drained: nothing more is read, so the flush comes even with nothing to commit
        # (a replay dropped what was read): until 2026-12-07 it did not, and a stop exited 0,
        # "clean", with output sent before the replay never acknowledged
        ok = self._commit(force=True, flush_timeout_s=max(deadline - self.mono() - 0.5, 0.1),
                          drained=True)
        self._pool.shutdown(wait=False)
        log.info("scorer stopped", extra={"fields": {
            "committed": {f"{tp.topic}/{tp.partition}": o for tp, o in self._committed.items()},
            "clean": ok}})
        return 0 if ok else 1
