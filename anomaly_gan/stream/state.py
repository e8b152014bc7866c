"""Per-entity sliding windows for the streaming scorer: pure numpy, no Kafka, no clock.

Each entity owns a ring buffer of the model's window length ``W``. Once an entity has ``W``
rows, every further row completes one window (stride 1): the window *ending* at that row,
exactly the window that ``Detector.score_series`` scores for the same row offline.

Policies (docs/streaming.md explains why):

- **Order.** An event older than the entity's last accepted event is *late*: counted and
  dropped. With ``reorder_tolerance_seconds > 0`` events are held per entity and released
  in timestamp order once an event at least that much newer (as written:
  :func:`~anomaly_gan.data.windows.at_least_apart`) has arrived; only events older
  than the last released one are late. Where the events end (retrain's topic range),
  :meth:`WindowState.release_held` releases the rows still held.
- **Gaps.** If an event comes more than ``gap_seconds`` after the entity's previous one, the
  window restarts (counted): no window ever spans a gap. "More than" with the times as
  written (:func:`~anomaly_gan.data.windows.more_than_apart`): a step of exactly
  ``gap_seconds`` is no gap, also where floats make ``1767225600.4 - 1767225600.1`` more
  than 0.3.
- **Hop.** With ``hop = h > 1`` only every h-th window of an entity is emitted: the first
  complete window, then the windows ending h, 2h, ... rows later. The count starts again
  with the window (after a gap, a partition move, an eviction or a restart), so which rows
  are scored depends on where the entity's window started; between two scored windows of
  an entity there are never more than h rows, also across a restart.
- **Memory.** At most ``max_entities`` entities are held; the least recently seen one is
  evicted (counted) to make room.
- **Offsets.** Every row remembers its (partition, offset). :meth:`WindowState.commit_offsets`
  gives, per partition, the oldest offset still needed to rebuild the windows in memory, so a
  restart that resumes there loses no window (duplicates only in the replayed range). An
  entity in a run of anomalous windows (or an open incident, with resolutions) holds it back
  further, so that the replay re-scores
  the run and the debounce decisions come out the same (``rescore``).
- **Unkeyed records.** An entity seen on a new partition restarts its window (counted in
  :attr:`WindowState.partition_moves`, the latest such entity in ``last_moved``).
- **Counters.** With ``counters`` (the columns of ``data.counters``) a row of the window holds
  those features' increase since the entity's event before (a fall is a reset: the increase
  is the new value; ``anomaly_gan/data/counters.py``). The first event of a window (an
  entity's first, or its first after a gap, a partition move, an eviction or a restart)
  only gives the values the next increase starts from, as a file's first row does offline;
  its offset is held like a window row's, so a replay rebuilds the same increases. An event's
  counter values may come with their series' start times (``starts``: an OTLP cumulative
  sum's, since 2026-12-06): a later one than the entity's event before is a reset too. They
  are kept with the values the next increase starts from, and rebuilt with them by a
  replay: a restart of ``serve`` invents no reset (its first event only starts them).

>>> st = WindowState(window=3, n_features=1, gap_seconds=60, max_entities=10)
>>> out = WindowBatch(3, 1)
>>> for i, ts in enumerate([0, 1, 2, 3]):
...     st.push("a", float(ts), [float(i)], "p0", i, out)
>>> len(out), out.end_ts, out.raw[1, :, 0].tolist()
(2, [2.0, 3.0], [1.0, 2.0, 3.0])
>>> st.commit_offsets({"p0": 4})   # rows 2 and 3 are needed for the next window
{'p0': 2}
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from anomaly_gan.data.counters import increase, restarts
from anomaly_gan.data.windows import more_than_apart, release_in_time_order

# A partition's ranges a commit must not fall in (WindowState._cut_inside) kept at most:
# past it the oldest merge into one (see commit_offsets)
MAX_CUTS = 256

__all__ = ["WindowBatch", "WindowState"]


class WindowBatch:
    """Windows that became ready, waiting for one model call. Grows as needed."""

    __slots__ = (
        "end_ts",
        "entities",
        "first_ready",
        "forgets",
        "n",
        "n_features",
        "offsets",
        "partitions",
        "raw",
        "repeats",
        "replay_from",
        "start_ts",
        "tags",
        "window",
    )

    def __init__(self, window: int, n_features: int, capacity: int = 256) -> None:
        self.window = window
        self.n_features = n_features
        self.raw = np.empty((max(capacity, 1), window, n_features), dtype=np.float64)
        self.first_ready: float | None = None  # the app's clock when the first window arrived
        self.clear()

    def clear(self) -> None:
        self.entities: list[str] = []
        self.start_ts: list[float] = []
        self.end_ts: list[float] = []
        self.partitions: list[Hashable] = []
        self.offsets: list[int] = []
        # the offset a replay of its partition must start from to rebuild the window
        self.replay_from: list[int] = []
        # window -> how many of its rows share its end time, for windows with more than one
        self.repeats: dict[int, int] = {}
        # window -> the ``tag`` its last row was pushed with (a logs model's bucket row)
        self.tags: dict[int, Any] = {}
        # (n, entity): the entity was dropped (evicted, revoked) once the batch held n
        # windows; its debounce state goes just before the batch's window n is decided
        self.forgets: list[tuple[int, str]] = []
        self.n = 0
        self.first_ready = None

    def __len__(self) -> int:
        return self.n

    def reserve(self) -> int:
        """Index of the next free window row, growing the buffer when full."""
        if self.n == self.raw.shape[0]:
            grown = np.empty((self.n * 2,) + self.raw.shape[1:], dtype=np.float64)
            grown[: self.n] = self.raw
            self.raw = grown
        k = self.n
        self.n += 1
        return k

    def windows(self) -> np.ndarray:
        """The ready windows, (n, W, F) unscaled."""
        return self.raw[: self.n]

    def repeat(self, i: int) -> str:
        """What tells window ``i`` apart from the entity's other windows with the same end
        time: "" when its last row is the only one at that time (the usual case), else how
        many of its rows are at that time and a digest of its values. A function of the
        window alone, so a replay (or ``score --alerts``) that rebuilds the window gives the
        same; :func:`~anomaly_gan.stream.alerts.alert_id` puts it in the alert's id.

        >>> st = WindowState(window=2, n_features=1, gap_seconds=60, max_entities=10)
        >>> out = WindowBatch(2, 1)
        >>> for i, (ts, v) in enumerate([(0, 1.0), (1, 2.0), (1, 3.0)]):
        ...     st.push("a", float(ts), [v], "p0", i, out)
        >>> out.end_ts, out.repeat(0), out.repeat(1)
        ([1.0, 1.0], '', '2/cdf3a570f8111852')
        """
        k = self.repeats.get(i)
        if k is None:
            return ""
        # + 0.0: -0.0 is 0.0, as a JSON event's "-0" is read
        digest = hashlib.sha256((self.raw[i] + 0.0).tobytes()).hexdigest()[:16]
        return f"{k}/{digest}"


class WindowState:
    """Ring buffers for many entities; see the module docstring for the policies.

    Memory: each entity holds a doubled ring (``2 * W`` rows of ``F`` float64, so that any
    window is one contiguous slice and is copied without gathering), ``W`` timestamps and
    ``W + rescore_history * hop`` offsets in numpy arrays, about ``16 * W * (F + 1)`` bytes plus
    ~0.5 KiB of bookkeeping: 5.0 KiB for W=32, F=8 (tests/stream/test_state.py measures it
    with tracemalloc).
    """

    def __init__(self, window: int, n_features: int, *, gap_seconds: float,
                 max_entities: int, reorder_tolerance_seconds: float = 0.0,
                 rescore_history: int = 0,
                 on_drop: Callable[[str], None] | None = None,
                 initial_capacity: int = 256, hop: int = 1,
                 counters: Iterable[int] = (), replay_offsets: bool = False,
                 idle_seconds: float | None = None) -> None:
        if window < 1 or n_features < 1 or max_entities < 1 or hop < 1:
            raise ValueError("window, n_features, max_entities and hop must be >= 1")
        self.counters = [int(c) for c in counters]
        # rows before an entity's first window row: the one that starts the increases
        self._lead = 1 if self.counters else 0
        self.hop = int(hop)
        self.window = int(window)
        self.n_features = int(n_features)
        self.gap_seconds = float(gap_seconds)
        # how far behind its partition's recent entities an entity stops holding the commit
        # (commit_offsets): gap_seconds unless its rows may trail by more than that
        self.idle_seconds = self.gap_seconds if idle_seconds is None else float(idle_seconds)
        self.tolerance = float(reorder_tolerance_seconds)
        self.max_entities = int(max_entities)
        self.history = max(int(rescore_history), 0)  # windows a replay may re-score
        # fill WindowBatch.replay_from (an alert's cooldown holds the commit to it: only with
        # Debouncer.tracks_cooldown; with a reorder tolerance it is a minimum per window)
        self.replay_offsets = bool(replay_offsets)
        # offsets kept per entity: a window's rows, the row its first increase starts from,
        # and the rows of the last `history` scored windows, `hop` rows apart
        self._n_offs = self.window + self.history * self.hop + self._lead
        self.on_drop = on_drop
        # told of each entity whose window restarts after a gap in its rows, before the row
        # that starts the new one is appended (a logs model: its series ended, and its alert
        # state with it; sensor data keeps its alert state across a gap, as score --alerts)
        self.on_gap: Callable[[str], None] | None = None
        # Counters read (as running totals) by the app and exported as metrics.
        self.late = 0
        self.gap_restarts = 0
        self.evicted = 0
        self.partition_moves = 0
        self.last_moved: str | None = None

        cap = max(1, min(initial_capacity, self.max_entities))
        self._rows = np.zeros((cap, 2 * self.window, self.n_features), dtype=np.float64)
        self._slots: OrderedDict[str, int] = OrderedDict()  # entity -> slot, LRU order
        self._free: list[int] = list(range(cap - 1, -1, -1))
        self._entity: list[str | None] = [None] * cap
        self._count: list[int] = [0] * cap  # events since the window (re)started
        # per slot, the counters' values of its last event (the next increase's start)
        self._before = np.zeros((cap, len(self.counters)), dtype=np.float64)
        # and their series' start times (NaN: none; Event.starts)
        self._start = np.full((cap, len(self.counters)), np.nan)
        self._last_ts: list[float] = [0.0] * cap
        self._part: list[Hashable] = [None] * cap
        self._ts = np.zeros((cap, self.window), dtype=np.float64)
        self._offs = np.zeros((cap, self._n_offs), dtype=np.int64)
        self._views, self._pairs = self._make_views(self._rows)
        # per slot, the rows held for reordering: (ts, offset, arrival, values, tag); the
        # arrival number breaks ties of time and offset (the log records of one OTLP batch
        # share its offset), so values (arrays) are never compared
        self._pending: dict[int, list[tuple[float, int, int, Any, Any]]] = {}
        self._arrivals = 0
        self._max_seen: dict[int, float] = {}
        # per slot, the highest offset released and the offset of the last row released
        # (-1: none yet); per partition, the commit offsets a replay may not start from,
        # as (lo, hi] ranges (:meth:`_cut_inside`)
        self._max_off: list[int] = [-1] * cap
        self._last_off: list[int] = [-1] * cap
        self._cuts: dict[Hashable, list[tuple[int, int]]] = {}

    # ------------------------------------------------------------------ entities

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, entity: str) -> bool:
        return entity in self._slots

    def _grow(self) -> None:
        old = self._rows.shape[0]
        new = min(old * 2, self.max_entities)
        extra = new - old
        rows = np.zeros((new,) + self._rows.shape[1:], dtype=np.float64)
        rows[:old] = self._rows
        self._rows = rows
        self._views, self._pairs = self._make_views(rows)
        self._entity += [None] * extra
        self._count += [0] * extra
        self._last_ts += [0.0] * extra
        self._max_off += [-1] * extra
        self._last_off += [-1] * extra
        self._part += [None] * extra
        self._ts = np.concatenate([self._ts, np.zeros((extra, self.window))])
        self._before = np.concatenate([self._before,
                                       np.zeros((extra, len(self.counters)))])
        self._start = np.concatenate([self._start,
                                      np.full((extra, len(self.counters)), np.nan)])
        self._offs = np.concatenate([self._offs, np.zeros((extra, self._n_offs), np.int64)])
        self._free.extend(range(new - 1, old - 1, -1))

    def _make_views(self, rows: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per slot: the (2W, F) ring, and a (W, 2, F) view of it whose ``[j]`` is rows j and
        j + W together, so one assignment writes a row into both halves."""
        w, f = self.window, self.n_features
        s0, s1, s2 = rows.strides
        pairs = np.lib.stride_tricks.as_strided(rows, shape=(rows.shape[0], w, 2, f),
                                                strides=(s0, s1, w * s1, s2))
        return list(rows), list(pairs)

    def _new_slot(self, entity: str, partition: Hashable) -> int:
        if not self._free:
            if self._rows.shape[0] < self.max_entities:
                self._grow()
            else:
                victim = next(iter(self._slots))
                self._remove(victim)
                self.evicted += 1
        slot = self._free.pop()
        self._slots[entity] = slot
        self._entity[slot] = entity
        self._count[slot] = 0
        self._part[slot] = partition
        return slot

    def _remove(self, entity: str, tell: bool = True) -> None:
        slot = self._slots.pop(entity)
        self._entity[slot] = None
        self._count[slot] = 0
        self._part[slot] = None
        self._pending.pop(slot, None)
        self._max_seen.pop(slot, None)
        self._max_off[slot] = self._last_off[slot] = -1
        self._free.append(slot)
        if tell and self.on_drop is not None:
            self.on_drop(entity)

    def forget(self, entity: str, tell: bool = True) -> None:
        """A gap (decided by the caller: a logs model's gap rule) ends ``entity``'s series:
        it is forgotten, counted as a gap restart. ``tell=False`` (it
        is back, as after a gap in time) leaves ``on_drop`` untold: its other state stays."""
        if entity in self._slots:
            self.gap_restarts += 1
            self._remove(entity, tell)

    def evict(self, entity: str) -> None:
        """``entity`` was evicted elsewhere to respect ``max_entities`` (a logs model's line
        feed, which holds entities with no row yet): counted as an eviction, and its window
        goes (it starts fresh if it returns)."""
        self.evicted += 1
        if entity in self._slots:
            self._remove(entity)

    def drop_partitions(self, partitions: Iterable[Hashable]) -> int:
        """Forget every entity last seen on one of ``partitions`` (on revoke); returns how many."""
        gone = set(partitions)
        victims = [e for e, s in self._slots.items() if self._part[s] in gone]
        for entity in victims:
            self._remove(entity)
        for p in gone:  # read again from the commit, if ever, their ranges come again
            self._cuts.pop(p, None)
        return len(victims)

    def clear(self) -> None:
        for entity in list(self._slots):
            self._remove(entity)
        self._cuts.clear()

    # ------------------------------------------------------------------ events

    def push(self, entity: str, ts: float, values: list[float], partition: Hashable,
             offset: int, out: WindowBatch, tag: Any = None,
             starts: dict[int, float] | None = None) -> None:
        """Add one event; a window it completes is appended to ``out``. ``tag`` (not None)
        is what ``out.tags`` holds for each window that ends at this event. ``starts``: the
        start times of its values' series (:attr:`~anomaly_gan.stream.events.Event.starts`),
        read for ``counters``."""
        slot = self._slots.get(entity)
        if slot is None:
            slot = self._new_slot(entity, partition)
        else:
            self._slots.move_to_end(entity)
            if self._part[slot] != partition:
                # The entity moved partition (records not keyed by entity): its offsets no
                # longer describe one log, so start its window again. Its rows held for
                # reordering go, and so does the newest time it was seen at: until
                # 2026-12-07 that stayed, and released at once a row on the new partition
                # that a new entity (a replay of that partition) would hold.
                self._count[slot] = 0
                self._part[slot] = partition
                self._pending.pop(slot, None)
                self._max_seen.pop(slot, None)
                self._max_off[slot] = self._last_off[slot] = -1
                self.partition_moves += 1
                self.last_moved = entity
        if self._count[slot] and ts < self._last_ts[slot]:
            self.late += 1
            # a replay that re-reads this row but not the one released before it would
            # take it (:meth:`_cut_inside`)
            last = self._last_off[slot]
            self._cut_inside(partition, last if last >= 0 else offset, offset)
            return
        if self.tolerance > 0.0:
            self._push_reordered(slot, ts, values, offset, out, tag, starts)
        else:
            self._append(slot, ts, values, offset, out, tag, starts)

    def _push_reordered(self, slot: int, ts: float, values: list[float], offset: int,
                        out: WindowBatch, tag: Any,
                        starts: dict[int, float] | None = None) -> None:
        heap = self._pending.setdefault(slot, [])
        seen = max(self._max_seen.get(slot, ts), ts)
        self._max_seen[slot] = seen
        self._arrivals += 1
        for t, off, _, (vals, held_starts), held_tag in release_in_time_order(
                heap, (ts, offset, self._arrivals, (values, starts), tag),
                seen, self.tolerance):
            self._append(slot, t, vals, off, out, held_tag, held_starts)

    def release_held(self, out: WindowBatch, before: float = math.inf) -> None:
        """Release every entity's rows held for reordering that are stamped before
        ``before``, in time order, as newer events would have: the events have ended (a
        closed range). Rows stamped at or after ``before`` stay held."""
        for slot, heap in self._pending.items():
            while heap and heap[0][0] < before:
                ts, offset, _, (values, starts), tag = heapq.heappop(heap)
                self._append(slot, ts, values, offset, out, tag, starts)

    def _append(self, slot: int, ts: float, values: list[float], offset: int,
                out: WindowBatch, tag: Any = None,
                starts: dict[int, float] | None = None) -> None:
        n = self._count[slot]
        # as written: until 2026-12-07 the float difference made some steps of exactly
        # gap_seconds gaps (1767225600.1 -> .4 with 0.3; tests/stream/test_state.py)
        gap = bool(n and more_than_apart(ts, self._last_ts[slot], self.gap_seconds))
        if gap:
            n = 0
        if self.counters:  # before the entity's state changes: an error leaves it as it was
            now = np.asarray(values, dtype=np.float64)
            counts = now[self.counters]
            began = (np.array([starts.get(c, np.nan) for c in self.counters])
                     if starts else None)
            if n:
                before = self._before[slot]
                now[self.counters] = (increase(before, counts) if began is None else
                                      increase(before, counts,
                                               restarts(self._start[slot], began)))
        if gap:
            self.gap_restarts += 1
            if self.on_gap is not None:
                self.on_gap(self._entity[slot])  # type: ignore[arg-type]
        self._offs[slot, n % self._n_offs] = offset
        highest = self._max_off[slot]
        if offset < highest:  # released after a row read later (:meth:`_cut_inside`)
            self._cut_inside(self._part[slot], offset, highest)
        else:
            self._max_off[slot] = offset
        self._last_off[slot] = offset
        repeated = bool(n) and self._last_ts[slot] == ts
        self._last_ts[slot] = ts
        self._count[slot] = n + 1
        if self.counters:
            self._before[slot] = counts
            self._start[slot] = np.nan if began is None else began
            if n == 0:  # no increase yet: this event only starts them
                return
            values = now  # type: ignore[assignment]
            n -= 1  # the window's rows: events after the first
        w = self.window
        j = n % w
        self._pairs[slot][j] = values
        ring = self._views[slot]
        self._ts[slot, j] = ts
        n += 1
        if n >= w and (self.hop == 1 or (n - w) % self.hop == 0):
            k = out.reserve()
            out.raw[k] = ring[j + 1: j + 1 + w]
            out.entities.append(self._entity[slot])  # type: ignore[arg-type]
            out.start_ts.append(float(self._ts[slot, (j + 1) % w]))
            out.end_ts.append(ts)
            out.partitions.append(self._part[slot])
            out.offsets.append(offset)
            if self.replay_offsets:
                first = self._pin(slot, 1)
                out.replay_from.append(offset if first is None else first)
            if tag is not None:
                out.tags[k] = tag
            if repeated and w > 1:  # the rows before it at the same time tell it apart
                times = self._ts[slot]
                same = 1
                while same < w and times[(j - same) % w] == ts:
                    same += 1
                out.repeats[k] = same

    # ------------------------------------------------------------------ offsets

    def _cut_inside(self, partition: Hashable, lo: int, hi: int) -> None:
        """A commit at an offset in ``(lo, hi]`` would make a replay re-read a row of an
        entity (at ``hi``) that was released, or dropped as late, before or after a row it
        would not re-read (at ``lo``, read earlier): the replay would window it with other
        rows, a window no run without the restart had (docs/streaming.md, Delivery
        guarantees). :meth:`commit_offsets` commits ``lo`` instead."""
        if lo >= hi:
            return
        cuts = self._cuts.setdefault(partition, [])
        if cuts and lo <= cuts[-1][1] and hi >= cuts[-1][0]:  # overlaps the newest: merge
            cuts[-1] = (min(lo, cuts[-1][0]), max(hi, cuts[-1][1]))
        else:
            cuts.append((lo, hi))

    def _pin(self, slot: int, rescore: int = 0) -> int | None:
        """Oldest offset the entity's next window still needs, or that re-scoring its last
        ``rescore`` windows needs (None: nothing held)."""
        n, w = self._count[slot], self.window
        # events to re-read: the window's rows, the one the first increase starts from, and
        # `hop` per scored window to re-score (the last one scored ends at most hop - 1
        # events before the newest, each earlier one hop events before the next)
        back = w - 1 + self._lead + min(max(rescore, 0), self.history) * self.hop
        pin = None
        if n and back > 0:
            oldest = max(n - back, 0)
            if self.tolerance > 0.0:
                # released in time order, so their offsets are not: the lowest of them (the
                # ring's slots oldest..n-1, one slice or two where it wraps)
                offs, size = self._offs[slot], self._n_offs
                start, count = oldest % size, n - oldest
                if start + count <= size:
                    pin = int(offs[start:start + count].min())
                else:
                    pin = int(min(offs[start:].min(), offs[:start + count - size].min()))
            else:
                pin = int(self._offs[slot, oldest % self._n_offs])
        heap = self._pending.get(slot)
        if heap:
            held = min(item[1] for item in heap)
            pin = held if pin is None else min(pin, held)
        return pin

    def _last_event(self, slot: int) -> float:
        """The time of the entity's newest event, released or still held for reordering.
        Not ``_last_ts`` alone: with every row held it is 0.0 (or a former occupant's), and
        until 2026-12-06 such an entity read as idle, so its held rows did not hold the
        commit back and a replay began its window later (tests/stream/test_state.py)."""
        released = self._last_ts[slot] if self._count[slot] else -math.inf
        return max(released, self._max_seen.get(slot, -math.inf))

    def commit_offsets(self, next_offsets: Mapping[Hashable, int],
                       rescore: Callable[[str], int] | None = None,
                       holds: Mapping[str, tuple[Hashable, int, float]] | None = None,
                       waiting: Mapping[str, float] | None = None,
                       pins: Mapping[Hashable, int] | None = None
                       ) -> dict[Hashable, int]:
        """Offsets safe to commit: ``next_offsets[p]`` (the next record to read) lowered to the
        oldest record still needed by an entity's window on ``p``, or, with ``rescore``
        (entity -> windows to re-score, at most ``rescore_history``), by its last windows.
        ``holds``: entity -> (partition, offset, until): lowered to ``offset`` too while the
        partition's recent entities (below) are before ``until`` in event time (an alert's
        cooldown: :attr:`~anomaly_gan.stream.alerts.Debouncer.cooling`).

        An entity whose last event is more than ``idle_seconds`` (by default
        ``gap_seconds``) behind its partition's *recent* entities (the 90th percentile of
        last event times, not the newest one, so that no single event can switch this off)
        does not hold the offset back: its window would restart anyway unless its own clock
        lags, and then a restart costs it one warm-up. ``waiting``: entity -> the time of its
        newest data not pushed yet (an open slot of the assembler), read as an event of it:
        until 2026-12-06 an entity whose next reading was still being assembled read as idle
        from its last pushed one, and a replay began its window at that reading
        (tests/stream/test_assemble.py). ``pins``: partition -> an offset the commit is
        lowered to as well (what is read but not pushed yet: the assembler's open slots, a
        logs model's open buckets), before a range a commit must not fall in moves it back
        (:meth:`_cut_inside`): until 2026-12-06 the caller lowered the commit after, and an
        open slot's first record could put it inside such a range
        (tests/stream/test_assemble.py).
        """
        result = {p: int(o) for p, o in next_offsets.items()}
        for p, low in (pins or {}).items():
            if p in result and low < result[p]:
                result[p] = int(low)
        if not self._slots:
            return result
        times: dict[Hashable, list[float]] = {}
        last = {slot: self._last_event(slot) for slot in self._slots.values()}
        for entity, ts in (waiting or {}).items():
            slot = self._slots.get(entity)
            if slot is not None and ts > last[slot]:
                last[slot] = ts
        for slot, ts in last.items():
            times.setdefault(self._part[slot], []).append(ts)
        recent = {p: sorted(t)[int(0.9 * (len(t) - 1))] for p, t in times.items()}
        for entity, slot in self._slots.items():
            p = self._part[slot]
            # idle: more than idle_seconds behind as written (until 2026-12-07 in floats, and
            # an entity exactly that far behind could read as idle)
            if p not in result or more_than_apart(recent[p], last[slot], self.idle_seconds):
                continue
            pin = self._pin(slot, rescore(entity) if rescore is not None else 0)
            hold = holds.get(entity) if holds else None
            if hold is not None and hold[0] == p and recent[p] < hold[2] and (
                    pin is None or hold[1] < pin):
                pin = hold[1]
            if pin is not None and pin < result[p]:
                result[p] = pin
        floors: dict[Hashable, int] | None = None
        for p, cuts in self._cuts.items():
            if p not in result:
                continue
            # newest first: moved below one range, the offset may fall into an older one
            for lo, hi in sorted(cuts, reverse=True):
                if lo < result[p] <= hi:
                    result[p] = lo
            # a range the commit is past is not needed again once no later commit can fall
            # in it: one may move back below this one (an entity's run or incident to
            # re-score, a cooldown's hold, an idle entity back), but not below the oldest
            # offset an entity on the partition may still pin (_floors) or a hold names. Until
            # 2026-12-06 a range was forgotten once the commit passed it, and a later commit
            # moved back into it (test_serve_hop_fuzz seed 5093)
            if any(hi < result[p] for _, hi in cuts):
                if floors is None:
                    floors = self._floors(holds)
                floor = min(result[p], floors.get(p, result[p]))
                self._cuts[p] = cuts = [(lo, hi) for lo, hi in cuts if hi >= floor]
            if len(cuts) > MAX_CUTS:
                # A silent entity's kept rows hold the floor for as long as it is kept, and
                # every late row's range after them was kept as well: one per late row, and
                # each commit sorted them all (until 2026-12-06, the day they were first
                # kept). The oldest merge into one: a commit moved back into any of them
                # goes to the oldest one's low end, below all of them, so a replay reads
                # more again and builds no window that the run did not
                cuts.sort()
                n = len(cuts) - MAX_CUTS + 1
                self._cuts[p] = [(cuts[0][0], max(hi for _, hi in cuts[:n])), *cuts[n:]]
        return result

    def _floors(self, holds: Mapping[str, tuple[Hashable, int, float]] | None
                ) -> dict[Hashable, int]:
        """Per partition, the oldest offset that a commit may still be held back to: the
        lowest an entity on it may pin (:meth:`_pin` re-scoring all the windows it keeps,
        its rows held for reordering too; idle or not), or that a hold names. Rows read
        later only move an entity's pin on, and a window's hold is taken from its rows."""
        floors: dict[Hashable, int] = {}
        for slot in self._slots.values():
            low = self._pin(slot, self.history)
            p = self._part[slot]
            if low is not None and low < floors.get(p, low + 1):
                floors[p] = low
        for p, offset, _ in (holds or {}).values():
            if offset < floors.get(p, offset + 1):
                floors[p] = offset
        return floors
