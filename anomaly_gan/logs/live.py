"""The log side of the streaming scorer: records -> parsed lines -> count rows for the
window state, plus what alerts need to name templates (no Kafka; the clock, passed in, only
refuses lines stamped too far ahead of it).

The scorer pushes each closed bucket as one row of its entity, stamped with the bucket's end
time; a bucket's rows carry the (partition, offset) of their first line so that committed
offsets never pass a line an open bucket or a window still needs (a zero row carries the
first line of the entity's last bucket with lines: a replay from there rebuilds that bucket
and the empty ones after it).

Each input partition has its own buckets and watermark: partitions are read at different
paces (a poll may return seconds of one partition before the next), so one partition's
newest line must not close the buckets of entities on another. Records keyed by entity
keep an entity on one partition.

A partition read to its end that gets no line for longer than
``serve.windows.idle_close_seconds`` closes its buckets on the clock (:meth:`LogFeed.idle`):
its watermark moves to its newest line's time plus the wall-clock time since a line last
came, less that hold. Without it a service alone on its partition that stopped logging
closed no bucket, so its silence was never scored (until 2026-12-07).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from anomaly_gan.config import ServeConfig
from anomaly_gan.detector import Detector
from anomaly_gan.logs.counts import BucketRow, CountBuckets
from anomaly_gan.logs.events import LogEvent, parser_from_config
from anomaly_gan.logs.offline import load_log_model
from anomaly_gan.stream.events import FailureKinds, InvalidEvent

__all__ = ["LogFeed"]

log = logging.getLogger("anomaly_gan.stream")

# Rows kept per entity for explanations beyond the window: alerts are published a batch
# or two after their rows were pushed. An entity that gains half as many rows again before
# the scorer has published everything it pushed makes :attr:`LogFeed.crowded` true, and the
# scorer then scores and publishes at once, so an alert's rows are still here when it is
# explained (at replay speed one entity can gain hundreds of rows while a batch is scored).
_SLACK_ROWS = 64

# A bucket's replay span, kept after its row left LogFeed._recent (:meth:`LogFeed.aligned`):
# [start time, first line's offset, newest line's offset, start of the last of the empty
# buckets after it (None if none; their replay point is the same first line)]
_Span = list[Any]
# The most such spans kept, all partitions together (about 185 bytes each: 18 MB). Only a
# commit held back over a long backlog (a line stamped far ahead pinning it while days of
# lines are caught up) fills it; past it the partition that grew it keeps none, as before
# 2026-12-06 (a replay after a kill may then rebuild an older bucket from part of its
# lines), rather than memory growing with the backlog.
MAX_OLDER_SPANS = 100_000


class LogFeed:
    """Turns log records into count rows; explains alerts in template terms."""

    def __init__(self, det: Detector, serve: ServeConfig,
                 clock: Callable[[], float] = time.time) -> None:
        assert det.config.logs is not None
        self.model = load_log_model(det)
        self.window = det.window
        self.parser = parser_from_config(det.config.logs, serve.windows.max_event_bytes,
                                         serve.windows.max_entity_bytes)
        self.lateness = serve.windows.reorder_tolerance_seconds
        self.clock = clock
        self.parser.clock = clock  # a year-less timestamp takes the year from the same clock
        self.max_future_skew = serve.windows.max_future_skew_seconds
        self.idle_close = serve.windows.idle_close_seconds
        # per partition: the newest line time read there (no later than the clock), and the
        # clock when a line last came (:meth:`idle`)
        self._line_seen: dict[Hashable, tuple[float, float]] = {}
        self._failures = FailureKinds()
        self._buckets: dict[Hashable, CountBuckets] = {}  # per input partition
        self._late_gone = 0  # late lines of partitions no longer held
        self._partial_gone = 0  # partial buckets dropped on partitions no longer held
        self.max_entities = serve.windows.max_entities
        self._recent: dict[str, deque[BucketRow]] = {}
        # Per partition and entity, the replay spans of buckets whose rows left _recent (or
        # whose entity was forgotten) and whose lines a replay from the partition's last
        # aligned offset (_floor) still reads: what :meth:`aligned` needs beyond _recent.
        self._older: dict[Hashable, dict[str, deque[_Span]]] = {}
        self._floor: dict[Hashable, int] = {}
        self._older_spans = 0  # spans in _older, all partitions
        self.older_overflows = 0  # times a partition's spans were let go at the cap
        self._where: dict[str, tuple[Hashable, int]] = {}
        self._pending: dict[str, int] = {}  # rows pushed since everything was last published
        # Entities the gap rule forgot: their rows are dropped once published (a pod that
        # logged once and went away held window + 64 rows until max_entities evicted it).
        self._gone: set[str] = set()
        # The rows of evicted entities with rows not yet published, kept until they are
        # (:meth:`published`) to explain their alerts: until 2026-12-06 an eviction between
        # pushing a row and publishing its alert sent the alert with no templates.
        self._evicted_rows: list[deque[BucketRow]] = []
        self.crowded = False
        self.lines = 0
        self.unseen = 0
        self.evicted = 0
        # told of each entity evicted to respect max_entities (the scorer's intake: its
        # window goes too, and the eviction is counted with the windows' own)
        self.on_evict: Callable[[str], None] | None = None
        # told of each entity the gap rule let go of, once its rows are published (the
        # scorer's intake: its window goes too, counted as a gap restart, not an eviction)
        self.on_gone: Callable[[str], None] | None = None
        self._dropped_before = 0  # drops of models replaced by a reload

    def install(self, det: Detector) -> None:
        """A reloaded bundle with the same columns: classify with its templates from now on
        (open buckets and recent rows are kept). The live templates of unseen lines go
        on: rows and open buckets name them by their live ids, and a miner of its own
        numbered them from 1 again, so lines of two templates either side of the reload
        were counted and named as one (their cap, ``logs.max_clusters``, cannot change in
        a reload)."""
        was = self.model
        old = was.miner
        self._dropped_before += old.dropped
        self.model = load_log_model(det)
        self.model.miner.new = old.new
        # ... and the known templates the new bundle lacks (two bundles of the same columns
        # may differ in those counted in 'other'): until 2026-12-07 a row counted with one
        # raised a KeyError when its alert was explained
        self.model.retired = {tid: text for tid, text in {**was.retired, **old.known_texts()}
                              .items() if not self.model.miner.knows(tid)}

    @property
    def dropped(self) -> int:
        """Live templates dropped by the cap (``logs.max_clusters``), all models together."""
        return self._dropped_before + self.model.miner.dropped

    @property
    def late(self) -> int:
        return self._late_gone + sum(b.late for b in self._buckets.values())

    @property
    def partial_dropped(self) -> int:
        """Per N lines: partial buckets left out by the gap rule (the lines are counted)."""
        return self._partial_gone + sum(b.partial_dropped for b in self._buckets.values())

    def returns_after_gap(self, ev: LogEvent, partition: Hashable) -> bool:
        """Per N lines: ``ev``'s entity comes back more than ``logs.gap_seconds`` after its
        newest line on ``partition``: it must start afresh (:meth:`drop`)."""
        buckets = self._buckets.get(partition)
        return buckets is not None and buckets.returns_after_gap(ev.entity, ev.ts)

    def drop(self, entity: str) -> None:
        """The gap rule forgets ``entity``'s open bucket (a partial one counted); its rows go
        once published (:meth:`published`), as with time buckets: an alert of its windows
        still in the batch (a backlog replay with the gap inside one batch) is explained."""
        where = self._where.get(entity)
        if where is not None and where[0] in self._buckets:
            self._buckets[where[0]].drop(entity)  # on_gap: into self._gone

    def expire(self) -> list[str]:
        """Per N lines: forget the entities more than ``logs.gap_seconds`` behind their
        partition's recent ones (:meth:`CountBuckets.expire`); returns them. Their partial
        buckets pinned the commit for ever (a decommissioned host)."""
        gone = [e for buckets in self._buckets.values() for e in buckets.expire()]
        for entity in gone:
            self.forget(entity)
        return gone

    def parse(self, raw: bytes | None) -> LogEvent | InvalidEvent:
        """One record's line (the json and regex formats: one event per record), or why it
        goes to the dead-letter topic (never an exception)."""
        return self.parse_many(raw)[0]

    def parse_many(self, raw: bytes | None) -> list[LogEvent | InvalidEvent]:
        """Every event of one record (one, or in ``otlp_json`` one per log record of its
        batch), or why it goes to the dead-letter topic (never an exception: one record must
        not stop the service)."""
        self.parser.not_after = self.clock() + self.max_future_skew
        try:
            return self.parser.parse_record_many(raw)
        except Exception as exc:  # a bug in parsing: report it (once), but read on
            if self._failures.first(exc):
                log.exception("a log record could not be parsed; sent to the DLQ (later records "
                              "failing the same way are only counted: anomaly_gan_dlq_total)")
            return [InvalidEvent("unprocessable", f"{type(exc).__name__}: {exc}"[:300])]

    def add(self, ev: LogEvent, partition: Hashable, offset: int) -> list[BucketRow]:
        """Count one line; returns the rows (of any entity) whose bucket it closed."""
        col, key = self.model.classify(ev.message)
        self.lines += 1
        if col == self.model.unseen:
            self.unseen += 1
        where = self._where.get(ev.entity)
        if where is None and len(self._where) >= self.max_entities:
            victim = next(iter(self._where))  # the least recently seen
            if self._pending.get(victim) and self._recent.get(victim):
                self._evicted_rows.append(self._recent[victim])
            self.forget(victim)
            self.evicted += 1
            if self.on_evict is not None:
                self.on_evict(victim)
        elif where is not None and where[0] != partition:
            self.forget(ev.entity)  # moved partition: start again there
        elif where is not None:
            # to the end: _where is in the order of each entity's newest line (until
            # 2026-12-06 of its first, so the entity seen first was evicted, logging or not)
            del self._where[ev.entity]
        self._where[ev.entity] = (partition, offset)
        buckets = self._buckets.get(partition)
        if buckets is None:
            buckets = self._buckets[partition] = self.model.buckets(self.lateness)
            buckets.on_gap = self._gone.add
        # the example (message and trace, up to 2,000 characters) only if the bucket keeps it
        # A line stamped ahead of the wall clock (a host whose clock runs fast, within
        # max_future_skew_seconds) moves the watermark only up to the clock: it used to close
        # the buckets of every other entity of its partition and drop their lines as late.
        now = self.clock()
        rows = buckets.add(ev.entity, ev.ts, col, key, ev.example,
                           self.model.is_error(ev.level), offset=(partition, offset), now=now)
        if ev.ts is not None:
            ts = min(ev.ts, now)  # no later than the clock, as the watermark
            seen = self._line_seen.get(partition)
            self._line_seen[partition] = (ts if seen is None else max(seen[0], ts), now)
        return self._took(rows)

    def idle(self, partition: Hashable) -> list[BucketRow]:
        """The rows whose buckets close on the clock on ``partition``, read to its end (the
        caller knows: the consumer's lag there is 0): once no line has come there for longer
        than ``serve.windows.idle_close_seconds``, the watermark moves to the newest line's
        time plus the time since a line last came, less that hold. So a line that reaches
        the topic up to the hold after its own time is never late, and entities that all
        stopped logging get their empty buckets (zero rows up to ``logs.gap_seconds``, then
        the gap rule lets them go) as they would beside a partition-mate still logging.
        Counting on from the newest line's time, not the clock's, keeps a replay of old logs
        at its own pace; a replay faster than real time only closes buckets later."""
        seen = self._line_seen.get(partition)
        buckets = self._buckets.get(partition)
        if self.idle_close is None or seen is None or buckets is None:
            return []
        newest, came = seen
        quiet = self.clock() - came
        if quiet <= self.idle_close:
            return []
        return self._took(buckets.advance(newest + quiet - self.idle_close))

    def _took(self, rows: list[BucketRow]) -> list[BucketRow]:
        """Keep the rows just closed for explanations; returns them."""
        for row in rows:
            recent = self._recent.get(row.entity)
            if recent is None:
                recent = self._recent[row.entity] = deque(maxlen=self.window + _SLACK_ROWS)
            if len(recent) == recent.maxlen:
                self._keep_span(recent[0])
            recent.append(row)
            pending = self._pending[row.entity] = self._pending.get(row.entity, 0) + 1
            if pending >= _SLACK_ROWS // 2:
                self.crowded = True
        return rows

    def published(self) -> None:
        """Every row pushed so far has been scored and its alerts explained: the rows of
        entities the gap rule forgot (and that have not come back) are no longer needed,
        nor their places among ``max_entities`` (:attr:`on_gone` is told: until 2026-12-06
        the windows kept such an entity, and evicted it, counted, for a new one)."""
        self._pending.clear()
        self._evicted_rows.clear()
        self.crowded = False
        for entity in self._gone:
            where = self._where.get(entity)
            if where is not None and entity not in self._buckets.get(where[0], ()):
                self.forget(entity)
                if self.on_gone is not None:
                    self.on_gone(entity)
        self._gone.clear()

    def origin(self, row: BucketRow) -> tuple[Hashable, int]:
        """(partition, offset) a row is pushed with."""
        if row.first_offset is not None:
            return row.first_offset
        return self._where[row.entity]

    def explain(self, last: BucketRow | None, limit: int) -> list[dict[str, Any]]:
        """The templates behind the window whose newest row is ``last`` (the row it was
        pushed with, ``WindowBatch.tags``): that row and the ones pushed before it. Not by
        end time: per N lines, buckets of one second all end at that second, and the rows
        up to a window's end time took in the later buckets read before it was published.
        An empty list if the row is no longer held."""
        if last is None:
            return []
        held = [self._recent.get(last.entity, ())]
        held += [rows for rows in self._evicted_rows if rows[0].entity == last.entity]
        for recent in held:
            for i in range(len(recent) - 1, -1, -1):
                if recent[i] is last:
                    start = max(i + 1 - self.window, 0)
                    return self.model.explain([recent[j] for j in range(start, i + 1)], limit)
        return []

    def pins(self) -> dict[Hashable, int]:
        """Per partition, the oldest offset an open bucket still needs."""
        out: dict[Hashable, int] = {}
        for buckets in self._buckets.values():
            for p, o in buckets.pins().items():
                out[p] = min(o, out.get(p, o))
        return out

    def aligned(self, safe: dict[Hashable, int]) -> dict[Hashable, int]:
        """Lower each partition's commit offset to one where no entity's bucket is cut in
        two (time buckets). A commit may fall on the first line of one entity's bucket
        while another entity's bucket began before it; the replay would rebuild that bucket
        from part of its lines and score the windows that hold it again with a wrong count.
        So, per partition: ``start`` is the oldest bucket that gets a line from the replay
        (a line at or after the offset, or for an empty bucket its replay point), and the
        offset moves back to the oldest first line (a replay point) of any entity's buckets
        from ``start`` on, until neither moves. Every bucket from ``start`` on is then
        rebuilt whole. (Until 2026-12-06 ``start`` was the oldest bucket whose first line
        the replay reads: with a line stamped far ahead, whose open bucket holds the commit
        back to it, the older buckets of the lines read after it were rebuilt from part of
        their lines.)

        The buckets come from the rows kept per entity (:attr:`_recent`, ``window`` +
        :data:`_SLACK_ROWS`), the open ones, and the spans of older buckets (:attr:`_older`):
        a row that leaves ``_recent``, or whose entity is forgotten, leaves its span there as
        long as its newest line is at or after the partition's offset that ``aligned`` last
        returned (a replay from that commit or a later one reads it). Until 2026-12-06 only
        ``_recent`` was looked at, so a commit held back longer than it keeps rows (a line
        stamped far ahead, whose bucket stays open) fell inside buckets it no longer held,
        and a replay rebuilt them from part of their lines. Memory: one span per bucket
        with lines that a replay from the last commit would read again, and only for those
        that left ``_recent`` (empty buckets fold into the span before them).

        An entity the gap rule forgot (or evicted) holds the offset back only while a
        replay from it reads a line of the entity: it has no rows to come and its windows
        were all scored, so a replay that does not know it loses nothing. Until 2026-12-07
        its empty buckets from ``start`` on held it too, so the holds of entities going
        quiet one after another (a pod a minute, each logging a line) chained back without
        end and the commit stood still (docs/logs.md, Live).

        Per N lines (``bucket_lines``) a replay counts an entity's lines in N's again from
        the offset, so one that starts inside a bucket shifts every later bucket of that
        entity: the offset moves back to the first line of each bucket whose lines it cuts
        (first line before it, newest line at or after it), until none does; a bucket's
        first line is its replay point there (``BucketRow.first_offset``: the earlier line
        its time is that of, where all its lines are stamped before that one)."""
        out = dict(safe)
        if self.model.cfg.bucket_seconds is None:
            out = self._aligned_lines(out)
            self._prune(out)
            return out
        # per bucket: its start, its replay point, the newest record a replay reads into it
        per_entity: dict[Hashable, dict[str, list[tuple[float, int, int]]]] = {
            p: {} for p in self._buckets if p in out}  # (late lines hold it too)
        for partition, older in self._older.items():
            if partition in out:
                for entity, spans in older.items():
                    rows = per_entity.setdefault(partition, {}).setdefault(entity, [])
                    for start, first, last, empty in spans:
                        rows.append((start, first, last))
                        if empty is not None:  # the last of the empty buckets after it
                            rows.append((empty, first, first))
        for entity, (partition, _) in self._where.items():
            if partition not in out:
                continue
            buckets = self._buckets.get(partition)
            rows = per_entity.setdefault(partition, {}).setdefault(entity, [])
            rows.extend((r.start_ts, r.first_offset[1],
                         (r.last_line_offset or r.first_offset)[1])
                        for r in self._recent.get(entity, ()) if r.first_offset is not None)
            now = buckets.open_origin(entity) if buckets is not None else None
            if now is not None and now[1] is not None:
                rows.append((now[0], now[1][1], (now[2] or now[1])[1]))
        for partition, entities in per_entity.items():
            # (rows, held, reach): an entity still known holds the commit back to a replay
            # point of its buckets from ``start`` on; one forgotten only while a replay
            # reads a line of it, up to its newest (reach): it has no rows to come, and its
            # windows were all scored
            series = [(rows, self._where.get(e, (None,))[0] == partition,
                       max(last for _, _, last in rows))
                      for e, rows in entities.items() if rows]
            offset = out[partition]
            while True:
                start = min((t for rows, _, _ in series for t, _, last in rows
                             if last >= offset), default=None)
                back = offset if start is None else min(
                    (next(o for t, o, _ in rows if t >= start)
                     for rows, held, reach in series if rows[-1][0] >= start
                     and (held or reach >= offset)),
                    default=offset)
                back = min(back, self._late_hold(partition, back))
                if back >= offset:
                    break
                offset = back
            out[partition] = offset
        self._prune(out)
        return out

    def _late_hold(self, partition: Hashable, offset: int) -> int:
        """``offset``, or where a replay must start from to drop again a line this run
        dropped as late at or after it (:meth:`CountBuckets._hold_late`)."""
        buckets = self._buckets.get(partition)
        holds = () if buckets is None else buckets.late_holds
        return min((start for start, late in holds if start < offset <= late), default=offset)

    def _keep_span(self, row: BucketRow) -> None:
        """``row`` leaves :attr:`_recent`: keep its replay span in :attr:`_older` while a
        replay from the partition's last aligned offset reads a line of it."""
        if row.first_offset is None:
            return
        partition, first = row.first_offset
        last = (row.last_line_offset or row.first_offset)[1]
        if last < self._floor.get(partition, last):
            return
        spans = self._older.setdefault(partition, {}).setdefault(row.entity, deque())
        if row.last_line_offset is None and spans and spans[-1][1] == first:
            spans[-1][3] = row.start_ts  # an empty bucket: same replay point as the one before
            return
        spans.append([row.start_ts, first, last, None])
        self._older_spans += 1
        if self._older_spans > MAX_OLDER_SPANS:
            self._let_go(partition)
            self.older_overflows += 1
            log.warning("the commit of partition %s has been held back over more than %d "
                        "buckets no longer kept (a line stamped far ahead: docs/logs.md); "
                        "their spans are let go, so a replay after a kill may rebuild an "
                        "older bucket from part of its lines", partition, MAX_OLDER_SPANS)

    def _let_go(self, partition: Hashable) -> None:
        """Forget the kept spans of ``partition``."""
        for spans in self._older.pop(partition, {}).values():
            self._older_spans -= len(spans)

    def _prune(self, out: dict[Hashable, int]) -> None:
        """Drop the kept spans that a replay from the offsets ``out`` (about to be committed)
        reads no line of."""
        for partition, offset in out.items():
            self._floor[partition] = offset
            if partition in self._buckets:
                self._buckets[partition].prune_late_holds(offset)
            older = self._older.get(partition, {})
            for entity, spans in list(older.items()):
                while spans and spans[0][2] < offset:
                    spans.popleft()
                    self._older_spans -= 1
                if not spans:
                    del older[entity]

    def _aligned_lines(self, out: dict[Hashable, int]) -> dict[Hashable, int]:
        spans: dict[Hashable, list[tuple[int, int]]] = {}
        for partition, older in self._older.items():
            for kept in older.values():
                spans.setdefault(partition, []).extend((s[1], s[2]) for s in kept)
        for rows in self._recent.values():
            for r in rows:
                if r.first_offset is not None and r.last_line_offset is not None:
                    spans.setdefault(r.first_offset[0], []).append(
                        (r.first_offset[1], r.last_line_offset[1]))
        for partition, cut in spans.items():
            if partition not in out:
                continue
            offset = out[partition]
            while True:
                back = min((f for f, last in cut if f < offset <= last), default=offset)
                if back >= offset:
                    break
                offset = back
            out[partition] = offset
        return out

    def forget(self, entity: str) -> None:
        where = self._where.pop(entity, None)
        if where is not None and where[0] in self._buckets:
            self._buckets[where[0]].forget(entity)
        for row in self._recent.pop(entity, ()):
            self._keep_span(row)  # a replay may still read its lines
        self._pending.pop(entity, None)

    def drop_partitions(self, partitions: set[Hashable]) -> None:
        """Forget the entities whose latest line came from one of ``partitions``."""
        for entity in [e for e, (p, _) in self._where.items() if p in partitions]:
            self.forget(entity)
        for p in partitions:
            self._let_go(p)
            self._floor.pop(p, None)
            self._line_seen.pop(p, None)
            gone = self._buckets.pop(p, None)
            if gone is not None:
                self._late_gone += gone.late
                self._partial_gone += gone.partial_dropped

    def clear(self) -> None:
        """Forget everything (the scorer rewinds to its last commit and reads again)."""
        self.drop_partitions(set(self._buckets))
        self._where.clear()
        self._recent.clear()
        self._older.clear()
        self._older_spans = 0
        self._floor.clear()
        self.published()
