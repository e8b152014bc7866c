"""The input side of the scorer: records -> per-entity windows, ready to score.

:class:`Intake` parses each input record (a JSON event, or a log line that is counted into
the buckets of a logs model), pushes the values into the
:class:`~anomaly_gan.stream.state.WindowState` and appends the windows that become ready to
the loop's batch. With ``serve.assemble_seconds`` a record may carry some of the features:
the :class:`~anomaly_gan.stream.assemble.Assembler` gathers them into whole events first. A
record that cannot be used goes to the dead-letter callback and never stops the loop. It
also answers which offsets are safe to commit: none past a record that a window, an open
slot of the assembler or an open log bucket still needs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from anomaly_gan.config import LOGS_ASSEMBLE, LOGS_EVENT_FORMAT, AlertConfig, ServeConfig
from anomaly_gan.errors import ConfigError
from anomaly_gan.stream.alerts import holds_cooldown
from anomaly_gan.stream.assemble import assembler_from_config
from anomaly_gan.stream.events import FailureKinds, InvalidEvent, dead_letter_of, parser_from_config
from anomaly_gan.stream.state import WindowBatch, WindowState

__all__ = ["Intake", "rescore_history"]

log = logging.getLogger("anomaly_gan.stream")

# fill(tp, offset, batch, flush): after a record that added windows; flush: score and
# publish everything pushed so far before reading on. Returns the batch to keep filling.
Fill = Callable[[Any, int, WindowBatch, bool], WindowBatch]


def rescore_history(alerts: AlertConfig) -> int:
    """Most windows of an entity whose offsets a commit holds back so that a replay rebuilds
    its debounce state: ``2 x consecutive``, plus ``2 x resolve_windows`` with resolutions
    (an open incident spanning at most that many windows is rebuilt exactly;
    docs/streaming.md, *Debounce across a restart*)."""
    return 2 * (alerts.consecutive + alerts.resolve_windows)


class Intake:
    """Windows of ``det``'s shape from the records of the assigned partitions.

    ``dead_letter(tp, record, InvalidEvent)`` receives the records that cannot be used;
    ``on_drop(entity)`` is told when an entity's window is dropped (evicted, its partition
    revoked, or let go by a logs model's gap rule, also when it is back by then: its series
    restarts), so that other per-entity state can follow.
    """

    def __init__(self, det: Any, cfg: ServeConfig,
                 dead_letter: Callable[[Any, Any, InvalidEvent], None],
                 on_drop: Callable[[str], None], clock: Callable[[], float]) -> None:
        w = cfg.windows
        gap_seconds = idle_seconds = w.gap_seconds
        self.logs: Any = None
        if "logs" in getattr(det, "extras", {}):  # a logs model: lines -> count rows
            from anomaly_gan.logs.live import LogFeed

            # the serve config of a logs bundle has no logs section: checked here
            if cfg.event_format != "json":
                raise ConfigError(f"serve.event_format: {LOGS_EVENT_FORMAT}, got "
                                  f"{cfg.event_format!r}")
            if cfg.assemble_seconds:
                raise ConfigError(f"serve.assemble_seconds: {LOGS_ASSEMBLE}, got "
                                  f"{cfg.assemble_seconds}")
            self.logs = LogFeed(det, cfg, clock=clock)
            gap_seconds = self.logs.model.row_gap_seconds
            # No entity is idle to the windows' commit rule: the logs gap rule
            # (logs.gap_seconds) forgets a silent one (and its window), and until then it
            # must hold the commit at its last bucket with lines (a replay from past it would
            # not know the entity, and lose its empty rows and its window's history). Until
            # 2026-12-06 an entity more than a bucket and a half (and the tolerance) behind
            # its partition's 90th percentile of row times read as idle: an entity that
            # comes back after a silence closes its empty buckets with its own line, up to
            # the gap, ahead of the watermark, and with a few doing so at once the others,
            # logging on, read as idle and a replay lost their windows' history
            # (tests/logs/test_serve_equals_score_fuzz.py, json time seed 598).
            idle_seconds = math.inf
        self.parser = self.logs or parser_from_config(det.feature_names, cfg)
        self.assembler = assembler_from_config(len(det.feature_names), cfg)
        # A logs model's buckets already wait reorder_tolerance_seconds (CountBuckets'
        # lateness) and close in time order per entity, so their rows are not held again:
        # held, each window waited for the entity's next bucket too, ceil(T / bucket_seconds)
        # buckets (per N lines, T seconds of line time) more before it was scored.
        tolerance = 0.0 if self.logs is not None else w.reorder_tolerance_seconds
        self.state = WindowState(
            det.window, len(det.feature_names), gap_seconds=gap_seconds,
            max_entities=w.max_entities, reorder_tolerance_seconds=tolerance,
            hop=w.hop, rescore_history=rescore_history(cfg.alerts), on_drop=self._dropped,
            counters=getattr(det, "counters", ()),
            replay_offsets=holds_cooldown(cfg.alerts.resolve_windows, cfg.alerts.cooldown_seconds),
            idle_seconds=idle_seconds)
        if self.assembler is not None:
            # one eviction order, the assembler's (it sees every record; the windows hold
            # no entity it does not, so they never evict on their own): an evicted entity
            # starts afresh in both, counted once (state.evict)
            self.assembler.on_evict = self.state.evict
        if self.logs is not None:
            self.logs.on_evict = self.state.evict
            # time buckets: the gap rule let go of it (per N lines: safe_offsets, below). Its
            # rows are all published by then, and no more come (it starts afresh if it comes
            # back), so its window holds nothing a replay from past it would rebuild.
            self.logs.on_gone = self.state.forget
            # A series ends at a gap, and so does the entity's alert state (a cooldown, an
            # open incident: docs/logs.md, Gap rule), also when it comes back before its rows
            # are published (on_gone then leaves it, as it is back): until 2026-12-06 it kept
            # that state then, and lost it otherwise, so its next alert depended on batches.
            # With time buckets its window restarts at its first row after the gap (the
            # windows' own 1.5-bucket rule on row times); per N lines, below.
            self.state.on_gap = on_drop
        self.dead_letter = dead_letter
        self.on_drop = on_drop
        self.clock = clock
        self.max_future_skew_s = w.max_future_skew_seconds
        self._failures = FailureKinds()

    def install(self, det: Any) -> None:
        """A hot-reloaded model of the same shape (a logs model brings its templates)."""
        if self.logs is not None:
            self.logs.install(det)

    def consume(self, tp: Any, msgs: list[Any], batch: WindowBatch, fill: Fill) -> None:
        """The records ``msgs`` of partition ``tp``, in offset order."""
        if self.logs is not None:
            self._consume_logs(tp, msgs, batch, fill)
            return
        if self.assembler is not None:
            self._consume_parts(tp, msgs, batch, fill)
            return
        parser, dead_letter = self.parser, self.dead_letter
        parse, push = parser.parse, self.state.push
        parser.not_after = self.clock() + self.max_future_skew_s
        for m in msgs:
            try:
                ev = parse(m.value)
                if type(ev) is InvalidEvent:
                    dead_letter(tp, m, ev)
                    continue
                push(ev.entity, ev.ts, ev.values, tp, m.offset, batch)  # type: ignore[union-attr, arg-type]
            except Exception as exc:  # noqa: BLE001 - one record must never stop the service
                self._unprocessable(tp, m, exc, "record")
                continue
            if batch.n:
                batch = fill(tp, m.offset, batch, False)

    def _consume_parts(self, tp: Any, msgs: list[Any], batch: WindowBatch,
                       fill: Fill) -> None:
        """Records with some of the features: each slot that completes is one event, pushed
        with the offset of its earliest record. A record of ``serve.event_format:
        otlp_json`` is a batch of data points, each some of the features: the valid ones are
        assembled with the record's offset, and where some are invalid the record goes to the
        dead-letter topic once (:func:`~anomaly_gan.stream.events.dead_letter_of`)."""
        assert self.assembler is not None
        parse_many, push, add = self.parser.parse_many, self.state.push, self.assembler.add
        self.parser.not_after = self.clock() + self.max_future_skew_s
        for m in msgs:
            try:
                events = parse_many(m.value)
                for ev in events:
                    if type(ev) is InvalidEvent:
                        continue
                    done = add(ev, tp, m.offset)  # type: ignore[arg-type]
                    if done is not None:
                        whole, offset = done
                        push(whole.entity, whole.ts, whole.values, tp, offset, batch,
                             None, whole.starts)
                bad = dead_letter_of(events, "data points")  # a json record: its one event
                if bad is not None:
                    self.dead_letter(tp, m, bad)
                    if len(events) == 1:  # it added nothing
                        continue
            except Exception as exc:  # noqa: BLE001 - one record must never stop the service
                self._unprocessable(tp, m, exc, "record")
                continue
            if batch.n:
                batch = fill(tp, m.offset, batch, False)

    def _consume_logs(self, tp: Any, msgs: list[Any], batch: WindowBatch, fill: Fill) -> None:
        """Log records: each line is counted; the buckets it closes become window rows. A
        record of ``otlp_json`` holds many log records: each valid one is counted with the
        record's offset, and where some are invalid the record goes to the dead-letter topic
        once (:func:`~anomaly_gan.stream.events.dead_letter_of`)."""
        logs, dead_letter = self.logs, self.dead_letter
        for m in msgs:
            try:
                events = logs.parse_many(m.value)
                for ev in events:
                    if type(ev) is InvalidEvent:
                        continue
                    if logs.returns_after_gap(ev, tp):  # per N lines: a new series
                        logs.drop(ev.entity)  # its rows go once published: alerts of
                        self.state.forget(ev.entity, tell=False)  # the batch are explained
                        self.on_drop(ev.entity)  # its alert state goes (as state.on_gap)
                    rows = logs.add(ev, tp, m.offset)
                    if rows:
                        self._push_log_rows(rows, batch)
                bad = dead_letter_of(events, "log records")
                if bad is not None:
                    dead_letter(tp, m, bad)
                    if len(events) == 1:
                        continue
            except Exception as exc:  # noqa: BLE001 - one record must never stop the service
                self._unprocessable(tp, m, exc, "log record")
                continue
            if batch.n:
                batch = fill(tp, m.offset, batch, logs.crowded)

    def _push_log_rows(self, rows: list[Any], batch: WindowBatch) -> None:
        """Closed log buckets into their entities' windows, each with its replay point."""
        logs, push = self.logs, self.state.push
        assert logs is not None
        values = logs.model.features(rows)
        for row, x in zip(rows, values, strict=True):
            partition, offset = logs.origin(row)
            push(row.entity, row.end_ts, x, partition, offset, batch, row)

    def close_idle(self, read_to_end: list[tuple[Any, int]], batch: WindowBatch,
                   fill: Fill) -> None:
        """Log models: the buckets of partitions read to their end that close on the clock
        (:meth:`~anomaly_gan.logs.live.LogFeed.idle`) become window rows, as a line's do;
        ``read_to_end`` holds (partition, offset of the last record read there)."""
        logs = self.logs
        if logs is None:
            return
        for tp, offset in read_to_end:
            rows = logs.idle(tp)
            if rows:
                self._push_log_rows(rows, batch)
                batch = fill(tp, offset, batch, logs.crowded)

    def _unprocessable(self, tp: Any, m: Any, exc: Exception, what: str) -> None:
        """A record whose handling raised (a bug): to the DLQ, and logged with its traceback
        if it is the first to fail that way."""
        if self._failures.first(exc):
            log.exception("%s %s/%s/%s could not be handled; sent to the DLQ (later records "
                          "failing the same way are only counted: anomaly_gan_dlq_total)",
                          what, tp.topic, tp.partition, m.offset)
        self.dead_letter(tp, m, InvalidEvent("unprocessable",
                                             f"{type(exc).__name__}: {exc}"[:300]))

    def safe_offsets(self, next_offsets: dict[Any, int],
                     rescore: Callable[[str], int],
                     holds: Mapping[str, tuple[Any, int, float]] | None = None
                     ) -> dict[Any, int]:
        """Offsets safe to commit: none past a record that a window, or an open log bucket,
        still needs, nor inside a log bucket that the replay would rebuild.
        ``rescore(entity)`` windows of an entity (its run of anomalous windows, or its open
        incident) are held back too, up to :func:`rescore_history`, so that a replay re-scores
        them and rebuilds the debounce state (same alert and resolution ids); ``holds``
        (an alert's cooldown) as :meth:`WindowState.commit_offsets` says."""
        if self.logs is not None:
            # per N lines, an entity silent for logs.gap_seconds pins nothing: its partial
            # bucket and its window go (it would start afresh anyway when it comes back)
            for entity in self.logs.expire():
                self.state.forget(entity)
        waiting = pins = None
        if self.logs is not None:
            pins = self.logs.pins()
        elif self.assembler is not None:
            self.assembler.expire()  # a slot whose last records never come pins nothing
            # an entity whose next reading is being assembled is not idle (commit_offsets)
            waiting = self.assembler.newest_open()
            pins = self.assembler.pins()
        # the pins lower the commit before the windows keep it out of a late row's range:
        # until 2026-12-06 they lowered it after, and an open slot's first record could put
        # it inside one (the assembler, evicting by its own LRU, forgets that an entity the
        # windows keep emitted a slot, and passes its late resend on; test_assemble.py)
        safe = self.state.commit_offsets(next_offsets, rescore=rescore, holds=holds,
                                         waiting=waiting, pins=pins)
        if self.logs is not None:
            # a replay rebuilds no bucket from part of it. No range of a late row is
            # stepped into here: a logs model's rows reach the windows in time order, with
            # offsets that never go down per entity (tolerance 0), so it makes none
            safe = self.logs.aligned(safe)
        return safe

    def drop_partitions(self, partitions: list[Any]) -> int:
        """Forget what was read from ``partitions``; returns the entities dropped."""
        if self.assembler is not None:  # first: the windows' drops below count nothing then
            self.assembler.drop_partitions(partitions)
        dropped = self.state.drop_partitions(partitions)
        if self.logs is not None:
            self.logs.drop_partitions(set(partitions))
        return int(dropped)

    def clear(self) -> None:
        """Forget everything read (the loop rewinds to its last commit)."""
        if self.assembler is not None:
            self.assembler.clear()
        self.state.clear()
        if self.logs is not None:
            self.logs.clear()

    def _dropped(self, entity: str) -> None:
        if self.logs is not None:
            self.logs.forget(entity)
        elif self.assembler is not None:
            self.assembler.forget(entity)
        self.on_drop(entity)
