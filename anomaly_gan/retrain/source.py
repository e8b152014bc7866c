"""Where a retrain's rows come from: a time range of the events topic, or files.

Events are rebuilt into per-entity rows exactly as ``serve`` sees them: the same
:class:`~anomaly_gan.stream.events.EventParser` (invalid events are counted, never trained
on) and the same :class:`~anomaly_gan.stream.state.WindowState` (late events dropped, a
silence longer than ``gap_seconds`` or a partition move starts a new segment, the same
reorder tolerance and entity limit). The state is run with a window of two rows, so each
pair it emits says "this row follows that one with no restart between them"; consecutive
pairs chain into :class:`Segment` s, and the model's windows over a segment are exactly the
windows ``serve`` scored. A range is closed: the rows the state holds for reordering when it
ends are released (those stamped before ``to``), as the next events would release them.

Range reading: every partition is sought with ``offsets_for_times(from)`` (a lower bound:
records before ``from`` are skipped) and read until its first record stamped at or after
``to + serve.windows.max_future_skew_seconds`` (records stamped from ``to`` on are skipped:
a producer whose clock runs ahead puts them before records of the range), or its end. Records are selected by their Kafka timestamp (CreateTime: producers
should stamp records with the event time or the send time); alerts, produced after the
events they cover, are read from ``from - margin`` to the end of the alert topic and
selected by their window times.

A record stamped more than ``serve.windows.max_future_skew_seconds`` ahead of the wall clock
(a producer with a stray clock) lies in no range that can be read now: it is skipped, and
does not end its partition's read (one such record before or inside the range ended it,
and the range read nothing, or nothing after it, from that partition). A range that ends
after the read begins (``--to`` in the future, or the alert topic's "to the end") is read up
to the moment the read began: a partition still being written is otherwise read for as long
as its producers keep writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly_gan.config import Config, KafkaConfig, ServeConfig
from anomaly_gan.errors import DataError, clip
from anomaly_gan.files import file_entity
from anomaly_gan.stream.alerts import iso_utc

if TYPE_CHECKING:
    from anomaly_gan.data.readers import Reading

__all__ = [
    "Alerted",
    "Rows",
    "Segment",
    "SegmentBuilder",
    "alerted_of",
    "read_alerts",
    "read_event_range",
    "read_files",
    "read_labels_file",
    "read_topic_range",
    "reading_progress",
    "with_increases",
]

Progress = Callable[[str], None]
# a file's path -> how far reading it has got (anomaly_gan.data.readers.Reading), or None
Readings = Callable[[str], "Reading | None"]
#: Told of a record batch skipped: (partition, first offset, first offset after it, error).
Unreadable = Callable[[Any, int, int, str], None]
_PAIRS_FLUSH = 8192  # windows of two rows gathered before they are chained into segments
_PROGRESS_EVERY_S = 5.0  # a long read's "[read] N events" line, at most this often
_GROW_ROWS = 8  # a full open segment's buffers grow by half their rows and this many


@dataclass
class Segment:
    """One entity's rows with no restart between them (time-ordered)."""

    entity: str
    ts: np.ndarray  # (n,) epoch seconds
    values: np.ndarray  # (n, F) raw values, model feature order
    # (n, F) each value's series start time, NaN where none (an OTLP cumulative sum's
    # startTimeUnixNano: with_increases reads a later one as a reset); None: none at all
    starts: np.ndarray | None = None
    # (n, F) the rows as the current version reads them, where they differ from ``values``
    # (a logs model's volume_drop, from each version's own lines per bucket); None: values
    current: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass(frozen=True)
class Alerted:
    """A window the current model alerted on (or a labelled incident)."""

    entity: str
    start_ts: float
    end_ts: float
    line: int = field(default=0, compare=False)  # a labelled incident's line in its file


@dataclass
class Rows:
    """What a source produced, with the counts the report shows."""

    segments: list[Segment]
    source: dict[str, Any]
    events_read: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    late: int = 0
    # serve.assemble_seconds: slots dropped before every feature came (serve's
    # anomaly_gan_events_incomplete_total)
    incomplete: int = 0
    # logs per N lines: lines of partial buckets left out, as serve scores a bucket only
    # once it holds N (an entity's last one, and one cut by a silence)
    partial: int = 0
    seconds: float = 0.0
    # False when a row's time is its index in its file or entity (a CSV without timestamps,
    # log lines without times): such times are not comparable across segments.
    timed: bool = True
    # Log lines with the buckets left to train, where neither the time buckets nor a bucket
    # per N lines gave a run to train on: what was tried, as train's refusal names it
    # (" in 60 s buckets (the default), and 10 per 1 line (...)"), for the refusal.
    tried: str = ""

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self.segments)


class _OpenSegment:
    """An entity's rows since its last restart, in two buffers that grow by about half when
    full (``ndarray.resize``: a realloc, which keeps the rows where they are and, for a large
    buffer, usually moves no byte) and are cut to the rows at the end. Each row was its own
    small array and its time a Python float, stacked again at the end: 3.1 times the rows'
    bytes (tracemalloc) while 200,000 events of 8 features were read."""

    __slots__ = ("last", "n", "partition", "ts", "values")

    def __init__(self, partition: Any, start: float, end: float, pair: np.ndarray) -> None:
        self.partition = partition
        self.last = end  # the last row's time
        self.n = 2
        self.ts = np.array([start, end], dtype=np.float64)
        self.values = np.array(pair, dtype=np.float64)  # a copy of the batch's window

    def continues(self, partition: Any, start: float) -> bool:
        """A pair that starts at this segment's last row (same partition, same time)."""
        return self.partition == partition and self.last == start

    def append(self, ts: float, row: np.ndarray) -> None:
        n = self.n
        if n == len(self.ts):
            # No view of either buffer exists before segment(): refcheck can be skipped
            # (it refuses a buffer that a tracer or debugger holds a reference to).
            grown = n + n // 2 + _GROW_ROWS
            self.ts.resize(grown, refcheck=False)
            self.values.resize((grown, self.values.shape[1]), refcheck=False)
        self.ts[n] = self.last = ts
        self.values[n] = row
        self.n = n + 1

    def segment(self, entity: str) -> Segment:
        """The rows as a :class:`Segment` owning buffers of its rows alone."""
        self.ts.resize(self.n, refcheck=False)
        self.values.resize((self.n, self.values.shape[1]), refcheck=False)
        return Segment(entity, self.ts, self.values)


class SegmentBuilder:
    """Feed events in log order; get the segments ``serve``'s window state would see (its
    parser too: ``serve.event_fields`` and ``serve.unknown_features``, and its assembler of
    records with some of the features: ``serve.assemble_seconds``)."""

    def __init__(self, feature_names: Sequence[str], serve: ServeConfig) -> None:
        from anomaly_gan.config import is_otlp
        from anomaly_gan.stream.assemble import assembler_from_config
        from anomaly_gan.stream.events import parser_from_config
        from anomaly_gan.stream.state import WindowBatch, WindowState

        n = self.n_features = len(feature_names)
        windows = serve.windows
        self.parser = parser_from_config(tuple(feature_names), serve)
        self.assembler = assembler_from_config(n, serve)
        # OTLP: each row's start times (Event.starts, NaN where none) ride along as n more
        # columns, split off into Segment.starts when a segment closes
        self.timed = is_otlp(serve.event_format)
        if self.timed:
            n *= 2
        self.state = WindowState(2, n, gap_seconds=windows.gap_seconds,
                                 max_entities=windows.max_entities,
                                 reorder_tolerance_seconds=windows.reorder_tolerance_seconds,
                                 on_drop=self._restarted)
        if self.assembler is not None:  # as serve's intake: an evicted entity starts afresh
            self.assembler.on_evict = self.state.evict
        self.pairs = WindowBatch(2, n, capacity=_PAIRS_FLUSH)
        self.invalid: dict[str, int] = {}
        self.events = 0
        self._open: dict[str, _OpenSegment] = {}
        self._done: list[Segment] = []

    def add(self, raw: bytes | None, partition: Any, offset: int) -> None:
        """One record: its event, or with ``serve.event_format: otlp_json`` each of its data
        points (each counted as an event, an invalid one by its reason, as a retrain counts
        log records)."""
        from anomaly_gan.stream.events import InvalidEvent

        for ev in self.parser.parse_many(raw):
            self.events += 1
            if type(ev) is InvalidEvent:
                self.invalid[ev.reason] = self.invalid.get(ev.reason, 0) + 1
                continue
            at = offset
            if self.assembler is not None:
                done = self.assembler.add(ev, partition, offset)  # type: ignore[arg-type]
                if done is None:
                    continue
                ev, at = done
            values = ev.values  # type: ignore[union-attr]
            if self.timed:
                began = ev.starts or {}  # type: ignore[union-attr]
                values = [*values, *(began.get(i, math.nan)  # type: ignore[misc]
                                     for i in range(self.n_features))]
            moves = self.state.partition_moves
            self.state.push(ev.entity, ev.ts, values, partition, at, self.pairs)  # type: ignore[union-attr, arg-type]
            if self.state.partition_moves != moves:  # (a push that moves emits no pair)
                self._restarted(ev.entity)  # type: ignore[union-attr]
            if self.pairs.n >= _PAIRS_FLUSH:
                self._chain()

    def _restarted(self, entity: str) -> None:
        """``entity``'s window starts again (evicted, or moved partition): its segment ends
        with the pairs emitted so far. A pair does not tell a restart apart where the row it
        starts at is stamped as the segment's last one (a producer's retry after the
        eviction, or back on the segment's partition after a move): until 2026-12-07 such a
        pair was chained on, giving windows across the restart that serve never scored
        (tests/retrain/test_segment_fuzz.py)."""
        self._chain()
        if entity in self._open:
            self._close(entity)

    def _chain(self) -> None:
        p = self.pairs
        raw = p.windows()
        for k in range(p.n):
            entity, part = p.entities[k], p.partitions[k]
            start, end = p.start_ts[k], p.end_ts[k]
            seg = self._open.get(entity)
            if seg is not None and seg.continues(part, start):
                seg.append(end, raw[k, 1])
                continue
            if seg is not None:
                self._close(entity)
            self._open[entity] = _OpenSegment(part, start, end, raw[k])
        p.clear()

    def _close(self, entity: str) -> None:
        seg = self._open.pop(entity).segment(entity)
        if self.timed:
            n = self.n_features
            starts = seg.values[:, n:]
            seg = Segment(entity, seg.ts, seg.values[:, :n].copy(),
                          None if np.isnan(starts).all() else starts.copy())
        self._done.append(seg)

    def finish(self, end: float = math.inf) -> list[Segment]:
        """The segments of the events added. The events have ended: the rows the window
        state still holds for reordering (``serve.windows.reorder_tolerance_seconds``) are
        released, those stamped before ``end`` (a range's ``--to``); until 2026-12-06 each
        entity's last rows of a range were never released, and left out."""
        self.state.release_held(self.pairs, end)
        self._chain()
        for entity in list(self._open):
            self._close(entity)
        return sorted(self._done, key=lambda s: (s.entity, float(s.ts[0])))

    @property
    def late(self) -> int:
        return self.state.late + (self.assembler.late if self.assembler is not None else 0)

    @property
    def incomplete(self) -> int:
        return self.assembler.incomplete if self.assembler is not None else 0


# ---------------------------------------------------------------------- Kafka


@contextlib.contextmanager
def _broker(k: KafkaConfig, topic: str) -> Iterator[None]:
    """A client error while reading ``topic`` (no broker reachable within the bootstrap
    timeout, a request timing out) as one :class:`DataError` naming the broker and topic."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as exc:
        raise DataError(f"serve.kafka.bootstrap_servers {k.bootstrap_servers}: cannot read "
                        f"topic {topic!r}: {clip(str(exc), 160)}; expected a reachable Kafka "
                        f"broker") from None


def _consumer(k: KafkaConfig) -> Any:
    from kafka import KafkaConsumer

    from anomaly_gan.stream.kafka_io import client_kwargs

    # A misspelt topic is "does not exist", not a topic that a broker with
    # auto.create.topics.enable (Kafka's default) creates on the metadata request, empty
    # (serve's consumer does the same). A position that retention deleted while the range
    # was read (OFFSET_OUT_OF_RANGE: --last 7d on a topic kept 7 days) goes on from the
    # partition's first record left: with kafka-python's default, latest, the read jumped
    # to the partition's end and the rest of the range was lost in silence (until 2026-12-07).
    return KafkaConsumer(**client_kwargs(k), group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", fetch_max_wait_ms=k.fetch_max_wait_ms,
                         max_poll_records=k.max_poll_records, allow_auto_create_topics=False)


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    parts = consumer.partitions_for_topic(topic)
    if not parts:
        # kafka-python refreshes metadata lazily: ask once more after a forced refresh.
        consumer.topics()
        parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise DataError(f"topic {topic!r}: does not exist on {consumer.config['bootstrap_servers']}")
    return [TopicPartition(topic, p) for p in sorted(parts)]


def _skip_unreadable(consumer: Any, todo: set[Any], exc: Exception,
                     corrupt_error: type[Exception]) -> tuple[Any, int, int]:
    """Move past a record batch that kafka-python cannot parse (``CorruptRecordError``: a
    header key that is not UTF-8, which Java clients write; a CRC mismatch) as ``serve``
    does (:func:`~anomaly_gan.stream.kafka_io.skip_unreadable`): ``(partition, first
    offset skipped, first offset read again)``. Where the partition, its position or the
    batch's end cannot be told, one :class:`DataError` naming what is known. Until
    2026-12-05 such a batch ended every retrain whose range held it (a CronJob's ``--last
    7d`` for a week)."""
    from anomaly_gan.stream.kafka_io import SKIP_SEARCH_S, skip_unreadable, unreadable_at

    tp, first = unreadable_at(consumer, todo)
    after = None
    if tp is not None and first is not None:
        after = skip_unreadable(consumer, tp, first, SKIP_SEARCH_S,
                                lambda: set(consumer.assignment()), corrupt_error)
    if tp is None or first is None or after is None:
        where = "a partition" if tp is None else f"partition {tp.partition}"
        if first is not None:
            where += f" at offset {first}"
        topic = tp.topic if tp is not None else next(iter(todo)).topic
        raise DataError(f"topic {topic!r}: {where}: a record batch the client cannot read "
                        f"({clip(str(exc) or type(exc).__name__, 160)}), and where it ends "
                        f"could not be found; expected a range that leaves it out")
    return tp, first, after


def _read_range(consumer: Any, tps: list[Any], start_ms: int, end_ms: int | None,
                on_record: Callable[[Any, Any], None],
                on_progress: Callable[[int], None] | None = None, *,
                max_future_skew_ms: int = 300_000,
                clock: Callable[[], float] = time.time,
                on_unreadable: Unreadable | None = None,
                on_note: Progress | None = None) -> int:
    """Every record of ``tps`` stamped in [start_ms, end_ms) (``None``: up to the end), as
    of when the read begins (see the module's docstring). A record batch the client cannot
    read is skipped and told to ``on_unreadable`` (without one, a :class:`DataError`).
    Records left out in silence until 2026-12-07 are told to ``on_note`` as a warning line:
    those without a timestamp (-1), and those retention deleted while the range was read."""
    from kafka.errors import CorruptRecordError

    now_ms = int(clock() * 1000)
    stop_ms = now_ms if end_ms is None else min(end_ms, now_ms)
    ahead_ms = now_ms + max_future_skew_ms  # stamped later: a stray clock
    # A producer's clock may run up to the skew ahead of another's on the same partition:
    # a record stamped after the range can come before records stamped inside it, which are
    # read up to the first record stamped that much after the range (never past the moment
    # the read began: a live topic is not followed). Until 2026-12-07 the first record stamped
    # at or after --to ended the read, and every record of the range after it was lost.
    past_ms = now_ms if end_ms is None else min(end_ms + max_future_skew_ms, now_ms)
    seek = consumer.offsets_for_times({tp: start_ms for tp in tps})
    # nothing stamped at or after start: not assigned (never sought, an assigned partition
    # is fetched from where auto_offset_reset puts it, its first record)
    found = {tp: seek[tp].offset for tp in tps if seek.get(tp) is not None}
    consumer.assign(list(found))
    for tp, offset in found.items():
        consumer.seek(tp, offset)
    todo = set(found)
    # each partition's offset of the next record, as the read has it: a record after a gap
    # (or a position past it) was reached by a jump, retention's where the partition now
    # begins after it (compaction and transaction markers leave gaps too)
    expect = dict(found)
    untimed = 0  # timestamp -1: a message format before Kafka 0.10 has none
    n = 0
    while todo:
        try:
            got = consumer.poll(timeout_ms=500)
        except CorruptRecordError as exc:
            if on_unreadable is None:  # the alert topic: this service's own records
                raise DataError(f"topic {next(iter(todo)).topic!r}: a record batch the "
                                f"client cannot read ({clip(str(exc), 160)})") from None
            tp, first, after = _skip_unreadable(consumer, todo, exc, CorruptRecordError)
            on_unreadable(tp, first, after, clip(str(exc) or type(exc).__name__, 160))
            expect[tp] = after
            continue
        quiet = set(todo)
        jumped: dict[Any, tuple[int, int]] = {}  # partition -> (offset expected, reached)
        for tp, msgs in got.items():
            if tp not in todo:
                continue
            quiet.discard(tp)
            if msgs and msgs[0].offset > expect[tp]:
                jumped[tp] = (expect[tp], msgs[0].offset)
            if msgs:
                expect[tp] = msgs[-1].offset + 1
            for m in msgs:
                if m.timestamp > ahead_ms:
                    continue
                # before the range's start: a --from after the read began is read up to then
                # too (a stray record stamped at or after it made offsets_for_times land on
                # it, and the read followed a live topic, its records all before --from)
                if m.timestamp >= past_ms:
                    todo.discard(tp)
                    consumer.pause(tp)
                    break
                if m.timestamp < 0:
                    untimed += 1
                    continue
                if m.timestamp < start_ms or m.timestamp >= stop_ms:
                    continue
                on_record(tp, m)
                n += 1
        if on_progress is not None:
            on_progress(n)
        if quiet:
            ends = consumer.end_offsets(list(quiet))
            for tp in quiet:
                # Some brokers under-report the end offset of a multi-record batch; the fetch
                # high watermark is the second opinion.
                end = max(int(ends.get(tp) or 0), int(consumer.highwater(tp) or 0))
                position = consumer.position(tp)
                if position > expect[tp]:  # every record left deleted: reset to the end
                    jumped[tp] = (expect[tp], position)
                    expect[tp] = position
                if position >= end:
                    todo.discard(tp)
        if jumped and on_note is not None:
            _say_deleted(consumer, jumped, on_note)
    if untimed and on_note is not None:
        on_note(f"[read] warning: topic {tps[0].topic!r}: {untimed} records without a "
                f"timestamp (-1: written in a message format before Kafka 0.10) left out: a "
                f"range selects records by their timestamp")
    return n


def _say_deleted(consumer: Any, jumped: dict[Any, tuple[int, int]], say: Progress) -> None:
    """A warning line for each partition whose read jumped past records that retention
    deleted: those before where the partition now begins. A jump that lands where the
    partition still has records before it is compaction's or a transaction marker's."""
    begins = consumer.beginning_offsets(list(jumped))
    for tp, (expected, reached) in sorted(jumped.items(), key=lambda j: j[0].partition):
        first_left = begins.get(tp)
        if first_left is None or first_left <= expected:
            continue
        lost = min(reached, int(first_left)) - expected
        say(f"[read] warning: {tp.topic}/{tp.partition} offsets {expected}..{expected + lost - 1} "
            f"({lost} records) were deleted by retention while the range was read: left out")


def read_topic_range(k: KafkaConfig, topic: str, start_ms: int, end_ms: int | None,
                     on_record: Callable[[Any, Any], None],
                     on_progress: Callable[[int], None] | None = None, *,
                     max_future_skew_s: float = 300.0,
                     on_unreadable: Unreadable | None = None,
                     on_note: Progress | None = None) -> int:
    """Hand every record of ``topic`` stamped in [start_ms, end_ms) (``None``: up to the
    end), as of when the read begins, to ``on_record(partition, record)``; the records read.
    A partition's read ends at its first record stamped ``max_future_skew_s`` or more after
    ``end_ms``: a record of the range after it is not read (see the module's docstring).
    Records stamped more than ``max_future_skew_s`` ahead of the wall clock are skipped
    (``serve.windows.max_future_skew_seconds``: see the module's docstring). A client error
    is one :class:`DataError` naming the broker and the topic. A record batch the client
    cannot read is skipped, as ``serve`` skips it, and told to ``on_unreadable(partition,
    first offset, first offset after it, error)`` (:func:`skip_notice`); without one it is
    a :class:`DataError`. Records without a timestamp (-1) and records retention deleted
    while the range was read are left out and said to ``on_note`` (a warning line each)."""
    with _broker(k, topic):
        consumer = _consumer(k)
        try:
            return _read_range(consumer, _partitions(consumer, topic), start_ms, end_ms,
                               on_record, on_progress,
                               max_future_skew_ms=int(max_future_skew_s * 1000),
                               on_unreadable=on_unreadable, on_note=on_note)
        finally:
            consumer.close(autocommit=False)


def skip_notice(say: Progress, invalid: dict[str, int]) -> Unreadable:
    """An ``on_unreadable`` for :func:`read_topic_range`: the skipped records counted as
    ``corrupt_record`` in ``invalid`` (one per record offset) and a warning line."""

    def on_unreadable(tp: Any, first: int, after: int, error: str) -> None:
        invalid["corrupt_record"] = invalid.get("corrupt_record", 0) + after - first
        say(f"[read] warning: {tp.topic}/{tp.partition} offsets {first}..{after - 1} "
            f"({after - first} records: a record batch the client cannot read and the rest "
            f"of it) skipped, as serve skips them: {error}")

    return on_unreadable


def reading_progress(say: Progress, what: str = "events") -> Callable[[int], None]:
    """An ``on_progress`` for :func:`read_topic_range` that says ``[read] N <what> (R/s)``
    at most every ``_PROGRESS_EVERY_S`` (a logs range, and the alert topic, showed nothing
    until the read ended)."""
    from anomaly_gan.runtime import now_and_then

    due = now_and_then(_PROGRESS_EVERY_S)

    def on_progress(n: int) -> None:
        elapsed = due()
        if elapsed is not None:
            say(f"[read] {n} {what} ({n / max(elapsed, 1e-9):,.0f}/s)")

    return on_progress


def read_event_range(cfg: Config, feature_names: Sequence[str], start: float, end: float,
                     progress: Progress | None = None) -> Rows:
    """Rebuild the rows of ``serve.kafka.input_topic`` between two epoch times."""
    say = progress or (lambda _m: None)
    k = cfg.serve.kafka
    builder = SegmentBuilder(feature_names, cfg.serve)
    # as serve: an event stamped ahead of the wall clock is invalid (future_timestamp), not
    # pushed into the window state, where it made every later event of its entity late
    skew = cfg.serve.windows.max_future_skew_seconds
    builder.parser.not_after = time.time() + skew
    limit = cfg.retrain.max_events
    t0 = time.monotonic()

    def on_record(tp: Any, m: Any) -> None:
        if builder.events >= limit:
            raise DataError(f"topic {k.input_topic!r}: more than retrain.max_events={limit} "
                            f"events in the range; choose a shorter range")
        builder.add(m.value, tp, m.offset)

    # the events read so far, as the last line counts them: with serve.event_format otlp_*
    # a record holds many (the records read were said until 2026-12-07)
    tell = reading_progress(say)
    read_topic_range(k, k.input_topic, int(start * 1000), int(end * 1000), on_record,
                     lambda _records: tell(builder.events), max_future_skew_s=skew,
                     on_unreadable=skip_notice(say, builder.invalid), on_note=say)
    segments = builder.finish(end)
    seconds = time.monotonic() - t0
    return Rows(segments, {"kind": "kafka", "topic": k.input_topic, "from": iso_utc(start),
                           "to": iso_utc(end)},
                events_read=builder.events, invalid=dict(builder.invalid), late=builder.late,
                incomplete=builder.incomplete, seconds=seconds)


def alerted_of(value: bytes) -> Alerted | None:
    """The span of an alert-topic record: an alert's window, or a resolution's whole incident
    (``anomalous_since_ts`` .. ``resolved_at_ts``, ``serve.alerts.resolve_windows``), which
    also covers the anomalous windows its cooldown kept quiet; None for anything else.

    >>> a = alerted_of(b'{"status": "resolved", "entity": "p", "anomalous_since_ts": 60.0, '
    ...                b'"resolved_at_ts": 130.0, "alert_id": "2f0c"}')
    >>> a.entity, a.start_ts, a.end_ts
    ('p', 60.0, 130.0)
    """
    try:
        rec = json.loads(value)
        if rec.get("status") == "resolved":
            return Alerted(str(rec["entity"]), float(rec["anomalous_since_ts"]),
                           float(rec["resolved_at_ts"]))
        return Alerted(str(rec["entity"]), float(rec["window_start_ts"]),
                       float(rec["window_end_ts"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not an alert record of ours


def read_alerts(k: KafkaConfig, start: float, end: float, margin: float,
                progress: Progress | None = None,
                max_future_skew_s: float = 300.0) -> list[Alerted]:
    """Alerts (and resolved incidents) of the alert topic that overlap
    [start - margin, end + margin] (:func:`alerted_of`)."""
    lo, hi = start - margin, end + margin
    out: list[Alerted] = []

    def on_record(_tp: Any, m: Any) -> None:
        a = alerted_of(m.value)
        if a is None:
            return
        if a.end_ts >= lo and a.start_ts <= hi:
            out.append(a)

    say = progress or (lambda _m: None)
    read_topic_range(k, k.alert_topic, max(int(lo * 1000), 0), None, on_record,
                     reading_progress(say, "alert-topic records"),
                     max_future_skew_s=max_future_skew_s, on_note=say)
    return out


# ---------------------------------------------------------------------- files


def read_files(cfg: Config, paths: Sequence[str], feature_names: Sequence[str] | None,
               say: Progress = lambda _m: None, reading: Readings | None = None,
               counters: Callable[[tuple[str, ...]], Sequence[int]] = lambda _names: ()
               ) -> tuple[Rows, tuple[str, ...]]:
    """One segment per file (entity: :func:`~anomaly_gan.files.file_entity`), or per entity of an OTLP metric
    file. Timestamps come from the file's
    timestamp column when it has one, else the row index stands in for time. ``say`` gets
    ``train``'s notes on the times (late rows left out, repeated stamps, gaps), and, once
    every file is read and filled (a column with no value refused before a note of a
    fill), on the missing cells ``data.nan_policy`` fills and on a counter past 2**53
    (:func:`~anomaly_gan.data.readers.coarse_counter_notes`); ``counters(names)``: the
    columns of ``data.counters`` among the features read (the retrain's, which refuses a
    name that is none of them); ``reading(path)``, where given, how far reading that file
    has got (a :class:`~anomaly_gan.data.readers.Reading`, or None)."""
    from anomaly_gan.data import (
        apply_nan_policy,
        coarse_counter_notes,
        fill_note,
        table_times,
        time_notes,
        without_late_rows,
    )
    from anomaly_gan.data.otlp_files import read_data_file

    t0 = time.monotonic()
    segments = []
    table_has_times = []
    names: tuple[str, ...] | None = tuple(feature_names) if feature_names else None
    read = late = 0
    notes: list[str] = []  # of fills, said once every file is filled (as train does)
    coarse: list[str] = []
    columns: Sequence[int] | None = None
    # an OTLP metric file holds a segment per entity (data/otlp_files.py)
    # (the first file's features are the later files': names is set in the loop)
    tables = ((p, t) for p in paths
              for t in read_data_file(p, cfg, names, say, check_counters=True,
                                      reading=reading(p) if reading else None))
    for p, table in tables:
        table_has_times.append(table.timestamps is not None)
        # The holdout split and the labelled incidents read the rows as a time series.
        tolerance = cfg.serve.windows.reorder_tolerance_seconds
        times = table_times(table, tolerance)
        for line in time_notes(table, times, tolerance=tolerance):
            say(line)
        if names is None:
            names = tuple(table.feature_names)
        if columns is None:  # the features are known
            columns = counters(names)
        table = table.with_features(names, cfg.serve.unknown_features, say)
        read += table.rows
        # in serve's order: rows out of order within serve.windows.reorder_tolerance_seconds
        # in time order, later ones (late) left out, as serve drops them
        in_order, kept = without_late_rows(table, times, tolerance)
        late += table.rows - len(kept)
        values = apply_nan_policy(in_order, cfg.data.nan_policy)
        note = fill_note(in_order, cfg.data.nan_policy)
        if note is not None:
            notes.append(note)
        coarse += coarse_counter_notes(in_order, values, columns)
        times = None if times is None else times[kept]
        ts = times if times is not None else np.arange(len(values), dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        # a segment per run of rows between evictions (serve.windows.max_entities): serve
        # starts the entity's window afresh there, as a topic range's segments break
        cuts = ([] if in_order.evictions is None
                else (np.flatnonzero(np.diff(in_order.evictions)) + 1).tolist())
        for a, b in itertools.pairwise([0, *cuts, len(values)]):
            segments.append(Segment(table.entity or file_entity(p), ts[a:b], values[a:b],
                                    None if in_order.starts is None else in_order.starts[a:b]))
    assert names is not None
    for note in notes + coarse:
        say(note)
    # read and late as a topic range counts them: the report's "[read] N events ... L late"
    rows = Rows(segments, {"kind": "files", "files": [str(p) for p in paths]},
                timed=all(table_has_times), events_read=read, late=late,
                seconds=time.monotonic() - t0)
    return rows, names


def range_counter_notes(rows: Rows, topic: str, feature_names: Sequence[str],
                        columns: Sequence[int]) -> list[str]:
    """``train``'s ``note:`` on a counter past 2**53
    (:func:`~anomaly_gan.data.readers.coarse_counter_note`) for a topic range's ``rows``
    (read, not yet :func:`with_increases`): one per field of ``data.counters`` (``columns``
    of ``feature_names``), naming the topic, the entity whose event passed 2**53 first and
    how many others did, and that event's time (a file names its line).

    >>> seg = Segment("pump-1", np.array([0.0, 10.0]), np.array([[1.0, 9e15], [2.0, 1e18]]))
    >>> print(range_counter_notes(Rows([seg], {}), "metrics", ("cpu", "bytes"), [1])[0])
    note: topic 'metrics', entity 'pump-1': field 'bytes' of data.counters is past 2**53 from its event at 1970-01-01T00:00:10.000Z (up to 1e+18), where a float64 holds only multiples of 128: its increases are read to that step (smaller ones as 0), here and in serve
    """
    from anomaly_gan.data.counters import coarse_counters
    from anomaly_gan.data.readers import coarse_counter_note
    from anomaly_gan.errors import brief

    first: dict[int, tuple[float, str]] = {}  # a column's first event past 2**53: time, entity
    entities: dict[int, set[str]] = {}
    tops: dict[int, float] = {}
    for s in rows.segments:
        for col, row, top, _step in coarse_counters(s.values, columns):
            at = float(s.ts[row])
            if col not in first or at < first[col][0]:
                first[col] = (at, s.entity)
            entities.setdefault(col, set()).add(s.entity)
            tops[col] = max(tops.get(col, 0.0), top)
    notes = []
    for col in sorted(first):
        at, entity = first[col]
        others = len(entities[col]) - 1
        more = f" (and {others} more entit{'y' if others == 1 else 'ies'})" if others else ""
        notes.append(coarse_counter_note(f"topic {brief(topic)}, entity {brief(entity)}{more}",
                                         f"field {brief(feature_names[col])}",
                                         f"its event at {iso_utc(at)}", tops[col],
                                         float(np.spacing(tops[col]))))
    return notes


def with_increases(rows: Rows, columns: Sequence[int]) -> Rows:
    """``rows`` as the model reads them with ``data.counters`` (``columns``): each segment
    without its first row, which starts the increases, as ``serve`` does when an entity's
    window starts (a segment of one row is gone; ``anomaly_gan/data/counters.py``); a later
    start time (:attr:`Segment.starts`) is a reset, as a fall is.

    The increases replace the readings in the segments' own arrays, which the new segments
    view: ``rows`` is consumed (the rows of a range are held once, not twice).
    """
    if not len(columns):
        return rows
    from anomaly_gan.data.counters import increase, increases, restarts

    cols = list(columns)
    segments = []
    for s in rows.segments:
        if len(s) < 2:
            continue
        v = s.values
        if v.dtype == np.float64 and v.flags.writeable:
            restarted = (None if s.starts is None else
                         restarts(s.starts[:-1, cols], s.starts[1:, cols]))
            # the right side is computed (fancy indexing copies) before it is written
            v[1:, cols] = increase(v[:-1, cols], v[1:, cols], restarted)
            segments.append(Segment(s.entity, s.ts[1:], v[1:]))
        else:
            segments.append(Segment(s.entity, s.ts[1:], increases(v, columns, s.starts)))
    return dataclasses.replace(rows, segments=segments)


def read_labels_file(path: str) -> list[Alerted]:
    """Labelled incidents: a CSV with a header ``entity,start,end`` (RFC 3339 or epoch).
    Read as data files are (a byte-order mark ignored, bad bytes or quoting named by line)."""
    from pathlib import Path

    from anomaly_gan.data.readers import csv_rows
    from anomaly_gan.stream.events import parse_timestamp_text

    rows, lines = csv_rows(Path(path))
    if not rows or [c.strip() for c in rows[0]] != ["entity", "start", "end"]:
        raise DataError(f"{path}: line {lines[0] if lines else 1}: expected the header "
                        f"'entity,start,end'")
    out = []
    for row, i in zip(rows[1:], lines[1:], strict=True):
        if len(row) != 3:
            raise DataError(f"{path}: line {i}: expected 3 fields (entity,start,end), got {len(row)}")
        if not row[0].strip():
            raise DataError(f"{path}: line {i}: expected an entity name in the first field, "
                            f"got an empty one")
        start, end = (parse_timestamp_text(c) for c in row[1:])
        if start is None or end is None or end < start:
            raise DataError(f"{path}: line {i}: expected start <= end as RFC 3339 or epoch "
                            f"seconds, got {row[1]!r}, {row[2]!r}")
        out.append(Alerted(row[0].strip(), start, end, line=i))
    return out


def feed(builder: SegmentBuilder, records: Iterable[tuple[Any, int, bytes]]) -> list[Segment]:
    """Feed ``(partition, offset, value)`` records and return the segments (tests, bench)."""
    for part, offset, value in records:
        builder.add(value, part, offset)
    return builder.finish()
