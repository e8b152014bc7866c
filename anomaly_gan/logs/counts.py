"""Per-entity count buckets: classified log lines -> one numeric row per bucket (pure).

A row counts, for one entity and one bucket, the lines of each of the top-K templates, then
``other`` (known templates outside the top K) and ``unseen`` (lines no known template
matches), optionally followed by ``lines_per_second`` and ``error_share`` (share of lines
whose level is in ``logs.error_levels``). Rows then go through the same scaling -> windows
-> model path as metric rows; a window is ``W`` consecutive buckets.

Buckets (docs/logs.md):

- **Time** (``bucket_seconds``): bucket ``b`` holds ``[b*s, (b+1)*s)`` (in floats as
  written: :meth:`CountBuckets._bucket`), its row ends at ``(b+1)*s``. Buckets close when
  the *watermark* is ``lateness`` or more past their end (as written:
  :meth:`CountBuckets._closed_below`), so an entity that goes quiet still
  gets rows: **empty buckets are real zeros**, which is how a silent component shows. A
  line for an already closed bucket is *late* (counted, dropped). ``lateness`` holds
  buckets open for lines of entities that lag behind the newest one; each entity has one
  open bucket, so its own lines must come in bucket order (its own next bucket's line
  closes it at once, whatever the watermark).
- **Watermark:** the newest line time (live no later than the clock), as long as each line
  is at most ``bucket_seconds`` past it or past the :data:`CORROBORATING_LINES`-th newest
  of the last :data:`RECENT_LINES` lines; a line further ahead moves it only to that
  line time (and the first lines not at all, until there are that many). So a line or
  two stamped far ahead (a fresh line in a backlog being caught up, a host whose clock is
  off) close their own entity's buckets, not every other entity's, while a time-ordered
  stream moves it with each line.
  Before 2026-12-06 one such line closed every bucket up to it: 1,000 of 1,201 lines of a
  week-old backlog late after one line stamped now.
  A line dropped as late notes the latest offset from which a replay's watermark, rebuilt
  by this rule, drops it too (:attr:`CountBuckets.late_holds`: ``serve`` commits no later
  than that while a replay would read the line).
- **Gap rule:** zero rows are emitted for less than ``gap_seconds`` of silence, counted in
  buckets (the ``k``-th empty bucket in a row is a zero row while ``k * bucket_seconds <
  gap_seconds``, as written: :func:`~anomaly_gan.data.windows.steps_reach`); an entity
  silent for that long or longer is forgotten and starts a new series (a new window) when
  it returns.
  Rows of one entity are then exactly one bucket apart within a series, and any hole between
  two rows is a series break (no window spans it).
- **Lines** (``bucket_lines``): every ``N`` lines of an entity make a bucket; no zeros. The
  row's time is the newest line time of the entity so far, its last line's in time order
  (or the bucket's sequence number without times): a line written out of order never ends
  a bucket before the one ahead of it, whose row ``serve`` would then drop as late. The
  gap rule applies to line times: an entity whose newest line is more than ``gap_seconds``
  behind its partition's recent entities (:meth:`expire`), or whose next line comes more
  than ``gap_seconds`` after it (:meth:`returns_after_gap`), is forgotten with its partial
  bucket (counted in :attr:`partial_dropped`) and starts afresh.
- **Detail** (templates and example lines, for explanations): a bucket keeps at most
  ``max_detail_keys`` templates; lines of further *new* templates (every line its own
  template, e.g. an unmasked id) share one :data:`NEW_OVERFLOW` entry, so a bucket's memory
  does not grow with its line count. Counts are not affected. In time buckets a template's
  ``example_lines`` examples are its earliest lines by time, ties in the order added, so
  lines added out of time order within a bucket (``serve``) give the examples of the same
  lines added in time order (``score``); per N lines, its first lines added.

>>> b = CountBuckets(n_features=3, bucket_seconds=10, gap_seconds=60)
>>> rows = b.add("web", 1.0, 0, ("known", 1), "GET /", False)
>>> rows = b.add("web", 31.0, 1, ("known", 2), "disk full", True)   # closes 0-10, 10-20, 20-30
>>> [(r.start_ts, r.values.tolist()) for r in rows]
[(0.0, [1.0, 0.0, 0.0]), (10.0, [0.0, 0.0, 0.0]), (20.0, [0.0, 0.0, 0.0])]
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from anomaly_gan.data.windows import at_least_apart, more_than_apart, steps_reach

__all__ = ["CORROBORATING_LINES", "NEW_OVERFLOW", "RECENT_LINES", "REPLAY_HISTORY", "BucketRow",
           "CountBuckets"]

Key = tuple[str, int]  # ("known", template id) or ("new", live template id)
NEW_OVERFLOW: Key = ("new", 0)  # new templates beyond max_detail_keys (drain3 ids start at 1)
#: The watermark jumps further than ``bucket_seconds`` only to a time that this many of the
#: last RECENT_LINES lines have reached: up to two lines stamped far ahead close nothing.
CORROBORATING_LINES = 3
RECENT_LINES = 64
#: Line times (and offsets) kept per CountBuckets to find, for a line dropped as late, the
#: latest offset a replay can start from and still drop it (:meth:`CountBuckets._hold_late`).
REPLAY_HISTORY = 4 * RECENT_LINES


def _watermark_target(recent: deque[float], ts: float, wm: float | None,
                      bucket_seconds: float) -> float | None:
    """Where a line at ``ts``, the newest of ``recent``, moves watermark ``wm`` (None: not
    at all): :meth:`CountBuckets._follow`'s rule, also run by a replay's rebuild
    (:meth:`CountBuckets._hold_late`). From a later start (fewer of the same lines) the
    watermark it gives is never ahead of the one from an earlier start."""
    if wm is not None and not more_than_apart(ts, wm, bucket_seconds):
        return ts
    if len(recent) < CORROBORATING_LINES:
        return None
    reached = heapq.nlargest(CORROBORATING_LINES, recent)[-1]
    return ts if not more_than_apart(ts, reached, bucket_seconds) else reached


@dataclass
class BucketRow:
    """One closed bucket of one entity."""

    entity: str
    start_ts: float
    end_ts: float
    values: np.ndarray  # (F,) counts (+ rate, error share)
    detail: dict[Key, list] = field(default_factory=dict)  # key -> [count, example lines]
    # oldest input record in the bucket (per N lines, or the earlier line its time is that of:
    # _Open.replay_point); for an empty bucket, that of the entity's last bucket with lines (a
    # replay from it rebuilds that bucket and the empty ones after it exactly)
    first_offset: tuple[Hashable, int] | None = None
    lines: int = 0
    marked: bool = False  # holds a line added with mark=True (e.g. a labelled line)
    last_line_offset: tuple[Hashable, int] | None = None  # newest input record in the bucket


class _Open:
    __slots__ = ("counts", "detail", "errors", "example_at", "first_offset", "first_ts", "index",
                 "last_line", "last_line_offset", "last_offset", "lines", "marked", "newest",
                 "newest_offset")

    def __init__(self, n_counts: int, index: int, last_line: int | None = None,
                 last_offset: tuple[Hashable, int] | None = None) -> None:
        self.index = index  # bucket number (time mode) or sequence number (lines mode)
        self.last_line = index if last_line is None else last_line  # last bucket with a line
        self.last_offset = last_offset  # first input record of that bucket (a replay point)
        self.counts = [0.0] * n_counts
        self.detail: dict[Key, list] = {}
        # time buckets: per key, the (time, line number in the bucket) of each example kept,
        # in that order (the examples' order in ``detail``)
        self.example_at: dict[Key, list[tuple[float, int]]] = {}
        self.lines = 0
        self.errors = 0
        self.first_ts: float | None = None
        self.first_offset: tuple[Hashable, int] | None = None
        self.last_line_offset: tuple[Hashable, int] | None = None
        self.marked = False
        self.newest: float | None = None  # lines mode: the entity's newest line time so far
        self.newest_offset: tuple[Hashable, int] | None = None  # the input record of that line

    def replay_point(self) -> tuple[Hashable, int] | None:
        """The input record a replay rebuilds this bucket (with lines) from: its first line,
        or per N lines the earlier line whose time it ends at (newest so far), where all of
        its own lines are stamped before that one: a replay from its first line would end it
        at its own newest line instead (until 2026-12-06 it did)."""
        first, newest = self.first_offset, self.newest_offset
        if (first is not None and newest is not None and newest[0] == first[0]
                and newest[1] < first[1]):
            return newest
        return first


class CountBuckets:
    """Open buckets of many entities; ``add`` and ``advance`` return the rows they close."""

    def __init__(self, n_features: int, *, bucket_seconds: float | None = None,
                 bucket_lines: int | None = None, gap_seconds: float = 1800.0,
                 lines_per_second: bool = False, error_share: bool = False,
                 example_lines: int = 3, lateness_seconds: float = 0.0,
                 max_detail_keys: int = 256) -> None:
        if (bucket_seconds is None) == (bucket_lines is None):
            raise ValueError("exactly one of bucket_seconds and bucket_lines")
        self.bucket_seconds = bucket_seconds
        self.bucket_lines = bucket_lines
        self.gap_seconds = float(gap_seconds)
        self.rate = lines_per_second
        self.share = error_share
        self.n_counts = n_features - int(lines_per_second) - int(error_share)
        self.n_features = n_features
        self.example_lines = int(example_lines)
        self.max_detail_keys = int(max_detail_keys)
        self.lateness = float(lateness_seconds)
        self._open: dict[str, _Open] = {}
        self._watermark: float | None = None  # a line time (lateness not taken off)
        self._watermark_bucket: int | None = None
        self._recent_ts: deque[float] = deque(maxlen=RECENT_LINES)  # line times, capped
        # the last REPLAY_HISTORY lines' (input offset, capped time), and per run of lines
        # dropped late by the watermark, [replay start, newest late line] (offsets)
        self._history: deque[tuple[int | None, float]] = deque(maxlen=REPLAY_HISTORY)
        self.late_holds: deque[list[int]] = deque()
        self._last_late: tuple[int, int] | None = None  # (offset, bucket) of the last held
        self.late = 0
        self.gap_restarts = 0
        self.partial_dropped = 0  # lines mode: partial buckets of entities the gap forgot
        self.partial_dropped_lines = 0  # ... and their lines
        self.on_gap: Callable[[str], None] | None = None  # told of each entity the gap forgets

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, entity: object) -> bool:
        return entity in self._open

    @property
    def entities(self) -> list[str]:
        return list(self._open)

    # ------------------------------------------------------------------ rows

    def _row(self, entity: str, ob: _Open) -> BucketRow:
        values = np.zeros(self.n_features)
        values[: self.n_counts] = ob.counts
        j = self.n_counts
        if self.bucket_seconds is not None:
            # (b+1)*s, not b*s + s: with s = 0.1 those differ in the last bit, and the next
            # row, starting at (b+1)*s, did not follow this one (score cut the series there)
            start = ob.index * self.bucket_seconds
            end = (ob.index + 1) * self.bucket_seconds
            span = self.bucket_seconds
        else:
            start = ob.first_ts if ob.first_ts is not None else float(ob.index)
            end = ob.newest if ob.newest is not None else float(ob.index)
            span = max(end - start, 1.0)
        if self.rate:
            values[j] = ob.lines / span
            j += 1
        if self.share:
            values[j] = ob.errors / ob.lines if ob.lines else 0.0
        return BucketRow(entity, float(start), float(end), values, ob.detail,
                         ob.replay_point() if ob.lines else ob.last_offset, ob.lines, ob.marked,
                         ob.last_line_offset)

    def _zero_row(self, entity: str, index: int,
                  offset: tuple[Hashable, int] | None) -> BucketRow:
        assert self.bucket_seconds is not None
        return BucketRow(entity, float(index * self.bucket_seconds),
                         float((index + 1) * self.bucket_seconds), np.zeros(self.n_features),
                         first_offset=offset)

    def _close_until(self, entity: str, ob: _Open, upto: int, out: list[BucketRow]) -> _Open | None:
        """Close ``ob`` and emit zero rows up to bucket ``upto`` (exclusive). Returns the new
        open bucket, or None when the silence passed the gap (the entity is forgotten)."""
        bs = self.bucket_seconds
        assert bs is not None
        last = ob.last_line
        replay_from = ob.first_offset if ob.lines else ob.last_offset
        for i in range(ob.index, upto):
            if steps_reach(i - last, bs, self.gap_seconds):
                del self._open[entity]
                self.gap_restarts += 1
                if self.on_gap is not None:
                    self.on_gap(entity)
                return None
            out.append(self._row(entity, ob) if i == ob.index
                       else self._zero_row(entity, i, replay_from))
        nb = _Open(self.n_counts, upto, last, replay_from)
        self._open[entity] = nb
        return nb

    def _bucket(self, ts: float) -> int:
        """The bucket ``b`` with ``b*s <= ts < (b+1)*s``: ``floor(ts / s)`` rounds, and with
        ``s = 0.1`` it put a line at 4.3 (= 43 * 0.1) in bucket 42."""
        s = self.bucket_seconds
        assert s is not None
        b = math.floor(ts / s)
        if b * s > ts:
            return b - 1
        if (b + 1) * s <= ts:
            return b + 1
        return b

    def _closed_below(self, wm: float) -> int:
        """The first bucket still open at watermark ``wm``: each bucket below it ended at
        least ``lateness`` before ``wm``, as written (:func:`at_least_apart`; the float
        ``wm - lateness`` is off by up to an ulp of ``wm``: a bucket of 10 s at an epoch time
        closed one line late or early)."""
        s = self.bucket_seconds
        assert s is not None
        wb = self._bucket(wm - self.lateness)
        if not self.lateness:
            return wb
        if not at_least_apart(wm, wb * s, self.lateness):  # bucket wb - 1 ends too late
            return wb - 1
        if at_least_apart(wm, (wb + 1) * s, self.lateness):  # bucket wb ended long enough
            return wb + 1
        return wb

    # ------------------------------------------------------------------ lines

    def add(self, entity: str, ts: float | None, feature: int, key: Key,
            line: str | Callable[[], str], is_error: bool,
            offset: tuple[Hashable, int] | None = None, mark: bool = False,
            now: float | None = None) -> list[BucketRow]:
        """Count one classified line (``feature``: its column; ``key``: its template).
        ``line`` is its example text, or a function that makes it: called only when the
        bucket keeps the example (``example_lines`` a template, none of a late line).
        ``now`` (live: the wall clock) caps the watermark: a line stamped ahead of it closes
        its own entity's buckets, not every other entity's; so does a line stamped far ahead
        of the others (:meth:`_follow`)."""
        out: list[BucketRow] = []
        if self.bucket_seconds is not None:
            assert ts is not None
            b = self._bucket(ts)
            out.extend(self._follow(ts if now is None else min(ts, now),
                                    None if offset is None else offset[1]))
            ob = self._open.get(entity)
            if ob is None:
                if self._watermark_bucket is not None and b < self._watermark_bucket:
                    self.late += 1  # its bucket already closed for everyone
                    self._hold_late(b, offset)
                    return out
                ob = self._open[entity] = _Open(self.n_counts, b)
            elif b < ob.index:
                self.late += 1
                return out
            elif b > ob.index:
                ob = self._close_until(entity, ob, b, out) or self._open.setdefault(
                    entity, _Open(self.n_counts, b))
        else:
            ob = self._open.get(entity)
            if ob is None:
                ob = self._open[entity] = _Open(self.n_counts, 0)
        self._count(ob, ts, feature, key, line, is_error, offset)
        ob.marked |= mark
        if self.bucket_lines is not None and ob.lines >= self.bucket_lines:
            out.append(self._row(entity, ob))
            nb = self._open[entity] = _Open(self.n_counts, ob.index + 1)
            nb.newest, nb.newest_offset = ob.newest, ob.newest_offset
        return out

    def _count(self, ob: _Open, ts: float | None, feature: int, key: Key,
               line: str | Callable[[], str], is_error: bool,
               offset: tuple[Hashable, int] | None) -> None:
        ob.counts[feature] += 1.0
        ob.lines += 1
        if is_error:
            ob.errors += 1
        ob.last_line = ob.index
        if ts is not None:
            if ob.first_ts is None:
                ob.first_ts = ts
            if ob.newest is None or ts > ob.newest:
                ob.newest, ob.newest_offset = ts, offset
        if ob.first_offset is None:
            ob.first_offset = offset
        if offset is not None:
            ob.last_line_offset = offset
        d = ob.detail.get(key)
        if d is None and key[0] == "new" and len(ob.detail) >= self.max_detail_keys:
            key = NEW_OVERFLOW
            d = ob.detail.get(key)
        if d is None:
            d = ob.detail[key] = [0, []]
        d[0] += 1
        if self.bucket_seconds is None or ts is None:
            if len(d[1]) < self.example_lines:
                d[1].append(line if isinstance(line, str) else line())
            return
        # The earliest lines by time, ties in the order added: serve adds a bucket's lines
        # as they come, score in time order, and both keep the same examples (until
        # 2026-12-06 serve kept the first to come). At most example_lines are held.
        examples = d[1]
        if len(examples) >= self.example_lines:
            if not examples:
                return
            at = ob.example_at[key]
            if ts >= at[-1][0]:  # added after them: it comes after them (a tie too)
                return
            del at[-1], examples[-1]
        else:
            at = ob.example_at.setdefault(key, [])
        here = (ts, ob.lines)
        i = bisect.bisect(at, here)
        at.insert(i, here)
        examples.insert(i, line if isinstance(line, str) else line())

    def _follow(self, ts: float, offset: int | None = None) -> list[BucketRow]:
        """Move the watermark for a line at ``ts`` (capped by the clock): to ``ts`` when it is
        at most ``bucket_seconds`` past the watermark (a time-ordered stream: no delay) or
        past the CORROBORATING_LINES-th newest of the last RECENT_LINES line times; further
        only to that line time, so that a line or two far ahead (a clock set wrong, a fresh
        line among a backlog) do not close every other entity's buckets and make their lines
        late. The first lines move it only once there are that many, so neither does such a
        line read first (a replay starts at the first line of its open bucket)."""
        assert self.bucket_seconds is not None
        self._recent_ts.append(ts)
        self._history.append((offset, ts))
        target = _watermark_target(self._recent_ts, ts, self._watermark, self.bucket_seconds)
        return [] if target is None else self.advance(target)

    def _hold_late(self, bucket: int, offset: tuple[Hashable, int] | None) -> None:
        """A line of bucket ``bucket`` (the newest in :attr:`_history`) is dropped as late by
        the watermark: note the latest offset a replay can start from and still drop it, its
        watermark rebuilt from there (the rule of :meth:`_follow`) past that bucket by then.
        A replay from after that offset, up to the line, would start its watermark too late
        and count the line (until 2026-12-07: a line of a new entity stamped 208.5 s read
        after web's line at 210 s, and a replay from that 210 s line: the watermark moves
        from a replay's third line). A replay from further back reads more lines and its
        watermark is never behind (:func:`_watermark_target`): the starts that drop the line
        are the offsets up to that one. Where none of the lines kept does (the watermark
        came from the clock, :meth:`advance`, or from lines older than REPLAY_HISTORY), the
        oldest kept is the best there is."""
        if offset is None:
            return
        bs = self.bucket_seconds
        assert bs is not None
        holds = self.late_holds
        last = self._last_late
        self._last_late = (offset[1], bucket)
        lo = 0  # the latest start that drops it is at or after kept[lo]
        if holds and last is not None and bucket <= last[1] and holds[-1][1] == last[0]:
            # A run of late lines (a host whose clock lags): the last one's hold starts
            # where a replay drops it, so drops this one too (the watermark only moves on);
            # if a replay from just after the last one counts this one, no later start
            # drops it, and the hold is that one's, made longer (what the search below
            # finds, as the holds merge); else the search starts there. A lagging host's
            # lines, every other line late, cost 3.2 us a line where they cost 43.
            after: list[tuple[int | None, float]] = []
            for o, ts in reversed(self._history):
                if o is not None and o <= last[0]:
                    break
                after.append((o, ts))
            closed = self._closed_below_from(after[::-1], bs)
            if closed is None or closed <= bucket:
                holds[-1][1] = offset[1]
                return
            lo = len(self._history) - len(after)  # a start after the last one drops it
        kept = list(self._history)
        hi = len(kept) - 1  # the latest start that drops it: in [lo, hi]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            closed = self._closed_below_from(kept[mid:], bs)
            if closed is not None and closed > bucket:
                lo = mid
            else:
                hi = mid - 1
        start = next((o for o, _ in kept[lo:] if o is not None), offset[1])
        if holds and start <= holds[-1][1]:  # overlaps the last: one hold for both
            holds[-1] = [min(start, holds[-1][0]), offset[1]]
        else:
            holds.append([start, offset[1]])

    def _closed_below_from(self, lines: list[tuple[int | None, float]],
                           bs: float) -> int | None:
        """The first bucket still open after a replay of ``lines`` (capped times) from a fresh
        watermark; None if its watermark never moved."""
        recent: deque[float] = deque(maxlen=RECENT_LINES)
        wm: float | None = None
        for _, ts in lines:
            recent.append(ts)
            target = _watermark_target(recent, ts, wm, bs)
            if target is not None and (wm is None or target > wm):
                wm = target
        return None if wm is None else self._closed_below(wm)

    def prune_late_holds(self, offset: int) -> None:
        """A commit at ``offset``: a replay from it reads none of the late lines before it."""
        while self.late_holds and self.late_holds[0][1] < offset:
            self.late_holds.popleft()

    def advance(self, ts: float) -> list[BucketRow]:
        """Move the watermark to ``ts`` (time mode): every bucket that ended more than
        ``lateness`` before it closes, for every entity, with zeros for silent ones."""
        out: list[BucketRow] = []
        if self.bucket_seconds is None:
            return out
        if self._watermark is None or ts > self._watermark:
            self._watermark = ts
        wb = self._closed_below(ts)
        if self._watermark_bucket is not None and wb <= self._watermark_bucket:
            return out
        self._watermark_bucket = wb
        for entity, ob in list(self._open.items()):
            if ob.index < wb:
                self._close_until(entity, ob, wb, out)
        return out

    def returns_after_gap(self, entity: str, ts: float | None) -> bool:
        """Lines mode: ``entity``'s line at ``ts`` comes more than ``gap_seconds`` after its
        newest one (it starts afresh: :meth:`drop`). Lines without a time never do."""
        ob = self._open.get(entity)
        return (self.bucket_lines is not None and ob is not None and ts is not None
                and ob.newest is not None and more_than_apart(ts, ob.newest, self.gap_seconds))

    def expire(self) -> list[str]:
        """Lines mode: forget (:meth:`drop`) every entity whose newest line is more than
        ``gap_seconds`` behind the recent entities' (the 90th percentile of their newest line
        times, rounded up: with ten entities or fewer that is the newest line, so of two the
        newer one; with eleven or more no single line can switch this on); returns them.
        With lines in time order such an entity's next line comes after the gap anyway
        (:meth:`returns_after_gap`), so a replay from past its partial bucket starts it afresh
        just as the run without a replay does. Entities without line times never expire."""
        if self.bucket_lines is None:
            return []
        times = sorted(ob.newest for ob in self._open.values() if ob.newest is not None)
        if not times:
            return []
        # rounded up: of two entities, the newer one (rounded down, the silent one held on)
        # "more than gap_seconds behind" as written: the float horizon recent - gap put an
        # entity exactly gap_seconds behind it (1767225600.1 with .4 and 0.3) until 2026-12-07
        recent = times[math.ceil(0.9 * (len(times) - 1))]
        gone = [e for e, ob in self._open.items()
                if ob.newest is not None and more_than_apart(recent, ob.newest, self.gap_seconds)]
        for entity in gone:
            self.drop(entity)
        return gone

    def drop(self, entity: str) -> None:
        """The gap rule forgets ``entity`` (counted): its partial bucket is left out."""
        ob = self._open.pop(entity, None)
        if ob is None:
            return
        self.gap_restarts += 1
        if ob.lines:
            self.partial_dropped += 1
            self.partial_dropped_lines += ob.lines
        if self.on_gap is not None:
            self.on_gap(entity)

    def flush(self) -> list[BucketRow]:
        """Close every open bucket that holds a line (end of a file). Per N lines each holds
        fewer than N: ``score`` and ``train`` leave them out, as ``serve`` never closes one
        (:func:`~anomaly_gan.logs.offline.count_series`)."""
        out = [self._row(e, ob) for e, ob in self._open.items() if ob.lines]
        self._open.clear()
        return out

    def forget(self, entity: str) -> None:
        self._open.pop(entity, None)

    def open_origin(self, entity: str) -> tuple[float, tuple[Hashable, int] | None,
                                                tuple[Hashable, int] | None] | None:
        """Time mode: the start of ``entity``'s open bucket, the input record a replay
        rebuilds it from (for an empty one, the first line of its last bucket with lines)
        and its newest line's record (None for an empty one)."""
        ob = self._open.get(entity)
        if ob is None or self.bucket_seconds is None:
            return None
        return (ob.index * self.bucket_seconds, ob.first_offset if ob.lines else ob.last_offset,
                ob.last_line_offset if ob.lines else None)

    def pins(self) -> dict[Hashable, int]:
        """Per partition, the oldest input offset an open bucket still needs."""
        out: dict[Hashable, int] = {}
        for ob in self._open.values():
            point = ob.replay_point()
            if point is not None:
                p, o = point
                if o < out.get(p, o + 1):
                    out[p] = o
        return out
