"""Which rows may enter the new baseline (pure numpy, no I/O).

Left out, in this order (a row is counted under the first reason that applies):

- ``alerted``: rows within ``margin`` seconds of a window the current model alerted on
  (or of an incident it resolved: ``serve.alerts.resolve_windows``);
- ``silenced``: rows of an entity in one of its silences (``serve.alerts.silences_path``:
  maintenance, whose alerts ``serve`` never sent) or within ``margin`` seconds of one: a
  row at ``ts`` goes when ``start - margin <= ts < end + margin`` (with ``margin`` 0, the
  rows on which the windows end whose alerts ``serve`` mutes: :meth:`Silence.covers`; the
  pieces kept are runs of kept rows, so no window trained on holds a silenced row);
- ``labelled``: rows inside an incident of ``--labels`` (known faults: the gate checks that
  the candidate flags them, so it must not learn them as normal; until 2026-12-04 they were
  trained on wherever no current model had alerted on them);
- ``over_threshold``: the row on which a window the current model scores over its threshold
  ends (a spike at row t flags the windows ending at t .. t+W-1: rows t .. t+W-1 go);
- ``too_short``: what remains of a segment in pieces too short to train on (fewer than
  ``2 * window`` rows: two windows' worth, not two overlapping windows); the retrain adds
  the side of a piece that :func:`split_holdout` drops as too short for its part.

``windows_excluded`` counts the windows ending on a row left out, under that row's reason
(the windows the current model alerted on or scored over its threshold are named by
their end; those of ``too_short`` pieces are not counted).

The kept rows are then split in time: the newest ``holdout_fraction`` of the time the data
covers (gaps with no data do not count) is held out for the gate, the rest trains the
candidate.

>>> import numpy as np
>>> s = Segment("a", np.arange(10.0), np.zeros((10, 1)))
>>> keep, why = exclusion_mask(s, [Alerted("a", 4.0, 5.0)], margin=1.0, window=2, over=None)
>>> keep.astype(int).tolist()
[1, 1, 1, 0, 0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anomaly_gan.data.readers import GAP_FACTOR
from anomaly_gan.retrain.source import Alerted, Segment
from anomaly_gan.stream.alerts import iso_utc
from anomaly_gan.stream.silences import Silence, Silences

__all__ = ["Selection", "exclusion_mask", "in_silence", "newest_share_start", "runs",
           "select_rows", "split_holdout"]

REASONS = ("alerted", "silenced", "labelled", "over_threshold", "too_short")
_KEPT, _ALERTED, _OVER, _LABELLED, _SILENCED = range(5)  # exclusion_mask's reason codes
MAX_SILENCES_REPORTED = 100  # of those applied, in the report (a file may hold 10,000)


@dataclass
class Selection:
    """Kept pieces and what was left out, and why."""

    pieces: list[Segment]
    rows_total: int = 0
    rows_excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    windows_total: int = 0
    windows_excluded: dict[str, int] = field(default_factory=lambda: {
        "alerted": 0, "silenced": 0, "labelled": 0, "over_threshold": 0})
    alerts: int = 0
    # rows each silence left out (not those an alert left out first; a row in two
    # overlapping silences counts for both)
    silenced: dict[Silence, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        kept = sum(len(p) for p in self.pieces)
        return {"rows": self.rows_total, "rows_kept": kept,
                "rows_excluded": dict(self.rows_excluded), "windows": self.windows_total,
                "windows_excluded": dict(self.windows_excluded), "alerts_in_range": self.alerts,
                "segments_kept": len(self.pieces)}

    def silences_applied(self) -> list[dict[str, Any]]:
        """The silences that left rows out (the first :data:`MAX_SILENCES_REPORTED`, by
        start), each with its rows."""
        applied = sorted(self.silenced.items(), key=lambda kv: (
            -np.inf if kv[0].start is None else kv[0].start, kv[0].end, kv[0].entity))
        return [{"entity": s.entity, "start": None if s.start is None else iso_utc(s.start),
                 "end": iso_utc(s.end), "comment": s.comment, "rows": n}
                for s, n in applied[:MAX_SILENCES_REPORTED]]


def _window_ends(n: int, window: int) -> np.ndarray:
    return np.arange(window - 1, n)


def in_silence(ts: np.ndarray, silence: Silence, margin: float) -> np.ndarray:
    """Rows at ``ts`` in ``silence`` widened by ``margin`` on each side: ``start - margin
    <= ts < end + margin`` (no start: every row before the end).

    >>> in_silence(np.arange(6.0), Silence("a", 2.0, 4.0), 0.0).astype(int).tolist()
    [0, 0, 1, 1, 0, 0]
    """
    lo = -np.inf if silence.start is None else silence.start - margin
    return (ts >= lo) & (ts < silence.end + margin)


def exclusion_mask(seg: Segment, alerted: Sequence[Alerted], margin: float, window: int,
                   over: np.ndarray | None, labelled: Sequence[Alerted] = (),
                   silenced: Sequence[Silence] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, reason)`` per row; ``reason`` is 0 kept, 1 alerted, 2 over threshold,
    3 labelled, 4 silenced.

    ``over`` flags, per window (ending at rows ``window-1 .. n-1``), a score over the
    current threshold; ``None`` skips that rule. ``silenced``: the silences of the
    segment's entity (:meth:`Silences.of_entity`), each widened by ``margin``.
    """
    n = len(seg)
    reason = np.zeros(n, dtype=np.int8)
    for a in alerted:
        hit = (seg.ts >= a.start_ts - margin) & (seg.ts <= a.end_ts + margin)
        reason[hit & (reason == 0)] = _ALERTED
    for s in silenced:
        reason[in_silence(seg.ts, s, margin) & (reason == 0)] = _SILENCED
    for a in labelled:
        hit = (seg.ts >= a.start_ts) & (seg.ts <= a.end_ts)
        reason[hit & (reason == 0)] = _LABELLED
    if over is not None and n >= window:
        # A window is flagged from the row on which it ends: the run of flagged windows
        # starts at the row that brought the anomaly in and lasts while it stays in view.
        ends = _window_ends(n, window)[np.asarray(over, dtype=bool)]
        hit = np.zeros(n, dtype=bool)
        hit[ends] = True
        reason[hit & (reason == 0)] = _OVER
    return reason == _KEPT, reason


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` index ranges where ``mask`` is true.

    >>> runs(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool))
    [(0, 2), (3, 4), (6, 7)]
    """
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def select_rows(segments: Sequence[Segment], alerted: Sequence[Alerted], *, margin: float,
                window: int, over: Sequence[np.ndarray | None],
                labelled: Sequence[Alerted] = (), silences: Silences | None = None
                ) -> Selection:
    """Apply the rules to every segment; ``over[i]`` belongs to ``segments[i]``.
    ``silences``: matched to each segment's entity as ``serve`` matches an alert's."""
    by_entity: dict[str, list[Alerted]] = {}
    for a in alerted:
        by_entity.setdefault(a.entity, []).append(a)
    labels_of: dict[str, list[Alerted]] = {}
    for a in labelled:
        labels_of.setdefault(a.entity, []).append(a)
    from anomaly_gan.train import long_enough

    sel = Selection(pieces=[], alerts=len(alerted))
    for seg, flags in zip(segments, over):
        n = len(seg)
        sel.rows_total += n
        ends = _window_ends(n, window)
        sel.windows_total += len(ends)
        silenced = silences.of_entity(seg.entity) if silences is not None else []
        keep, reason = exclusion_mask(seg, by_entity.get(seg.entity, ()), margin, window, flags,
                                      labels_of.get(seg.entity, ()), silenced)
        if len(ends):
            end_reason = reason[ends]
            sel.windows_excluded["alerted"] += int((end_reason == _ALERTED).sum())
            sel.windows_excluded["silenced"] += int((end_reason == _SILENCED).sum())
            sel.windows_excluded["labelled"] += int((end_reason == _LABELLED).sum())
            if flags is not None:  # those no other reason left out
                sel.windows_excluded["over_threshold"] += int(
                    (np.asarray(flags, dtype=bool) & np.isin(end_reason, (_KEPT, _OVER))).sum())
        sel.rows_excluded["alerted"] += int((reason == _ALERTED).sum())
        sel.rows_excluded["silenced"] += int((reason == _SILENCED).sum())
        sel.rows_excluded["labelled"] += int((reason == _LABELLED).sum())
        sel.rows_excluded["over_threshold"] += int((reason == _OVER).sum())
        for s in silenced:
            rows = int((in_silence(seg.ts, s, margin) & (reason == _SILENCED)).sum())
            if rows:
                sel.silenced[s] = sel.silenced.get(s, 0) + rows
        for lo, hi in runs(keep):
            if not long_enough(hi - lo, window):
                sel.rows_excluded["too_short"] += hi - lo
                continue
            sel.pieces.append(Segment(seg.entity, seg.ts[lo:hi], seg.values[lo:hi]))
    return sel


def newest_share_start(spans: Sequence[tuple[float, float]], fraction: float) -> float:
    """The time from which the newest ``fraction`` of the time covered by ``spans`` (``(first,
    last)`` times of the segments read) begins. Gaps with no data do not count: two days
    of data ten days apart hold out the newest 20% of the two days, not the newest 20% of
    twelve, which is the whole of the second day (half the rows).

    >>> newest_share_start([(0.0, 100.0)], 0.2)
    80.0
    >>> newest_share_start([(0.0, 100.0), (1000.0, 1100.0), (50.0, 60.0)], 0.2)
    1060.0
    """
    merged: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if not merged:
        return float("nan")
    want = fraction * sum(b - a for a, b in merged)
    for a, b in reversed(merged):
        if b - a >= want:
            return b - want
        want -= b - a
    return merged[0][0]


def _covered_spans(ts: np.ndarray) -> list[tuple[float, float]]:
    """The ``(first, last)`` times of a segment's runs of rows between its gaps (steps over
    :data:`~anomaly_gan.data.readers.GAP_FACTOR` times its median step): a file spans an
    outage in one segment, and the outage counted as time covered (an export of two days
    ten days apart held out the whole second day).

    >>> _covered_spans(np.array([0.0, 10, 20, 30, 1000, 1010, 1020]))
    [(0.0, 30.0), (1000.0, 1020.0)]
    """
    steps = np.diff(ts)
    median = float(np.median(steps)) if steps.size else 0.0
    if not median > 0:  # one row, or repeated stamps: no step to measure a gap by
        return [(float(ts[0]), float(ts[-1]))]
    cuts = np.flatnonzero(steps > GAP_FACTOR * median) + 1
    return [(float(run[0]), float(run[-1])) for run in np.split(ts, cuts)]


def split_holdout(pieces: Sequence[Segment], fraction: float, window: int,
                  timed: bool = True, covered: Sequence[Segment] | None = None,
                  ) -> tuple[list[Segment], list[Segment], float]:
    """``(train, holdout, cutoff)``: rows at or after ``cutoff`` (where the newest
    ``fraction`` of the time covered begins, :func:`newest_share_start`) are held out.
    ``covered``: the segments read, before any rows were excluded (so that an incident cut
    out of the newest rows does not push the held-out part further back); by default the
    pieces. Train pieces keep >= 2 windows of rows (``2 * window``), held-out pieces >= 1
    window; shorter remainders are dropped.

    Without clock times (``timed`` False: a row's time is its index in its file or
    entity) one cutoff would compare unrelated counters, and a short file would hold out
    nothing: each entity (file) then holds out its own newest ``fraction`` of the indices
    its segments read cover, rows excluded counted too (cutoff NaN). Until 2026-12-07 each
    piece held out its own tail: rows before an exclusion went to the gate and newer ones
    were trained on.

    >>> from anomaly_gan.retrain.source import Segment
    >>> pieces = [Segment(e, np.arange(float(n)), np.zeros((n, 1))) for e, n in (("a", 1000), ("b", 200))]
    >>> [len(p) for p in split_holdout(pieces, 0.2, 16)[1]]  # b's rows 0-199 are all "old"
    [200]
    >>> [len(p) for p in split_holdout(pieces, 0.2, 16, timed=False)[1]]
    [200, 40]
    """
    if not pieces:
        return [], [], float("nan")
    read = pieces if covered is None else covered
    spans: dict[str, list[tuple[float, float]]] = {}
    for s in read:
        spans.setdefault(s.entity if not timed else "", []).extend(
            _covered_spans(s.ts) if timed else [(s.ts[0], s.ts[-1])])
    cutoffs = {e: newest_share_start(sp, fraction) for e, sp in spans.items()}
    train, held = [], []
    for p in pieces:
        at = cutoffs["" if timed else p.entity]  # every piece's entity was read
        k = int(np.searchsorted(p.ts, at, side="left"))
        if k >= 2 * window:
            train.append(Segment(p.entity, p.ts[:k], p.values[:k]))
        if len(p) - k >= window:
            held.append(Segment(p.entity, p.ts[k:], p.values[k:]))
    return train, held, cutoffs[""] if timed else float("nan")
