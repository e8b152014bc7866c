"""Sliding windows over the time axis: pure numpy, views only (no copy)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Context, Decimal
from math import isfinite, ulp
from typing import Any

import numpy as np

from anomaly_gan.errors import DataError

# Decimal arithmetic that never rounds a difference of two floats' reprs (17 digits at
# most, between 1e-324 and 1e308: some 650 digits apart)
_EXACT = Context(prec=1000)
# below it every integer is a float, its repr its value, and a difference of two is exact
_EXACT_INTEGERS = 2.0 ** 52

__all__ = ["at_least_apart", "evenly_spaced", "more_than_apart", "release_in_time_order",
           "release_order", "sliding_windows", "steps_reach", "window_end_index"]


def sliding_windows(values: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """Return a read-only view of shape ``(n, window, features)`` over ``values (T, F)``.

    Window ``i`` covers rows ``[i*stride, i*stride + window)``; it is the window that
    *ends* at row ``i*stride + window - 1`` (see :func:`window_end_index`).

    >>> x = np.arange(10.0).reshape(5, 2)
    >>> sliding_windows(x, 3, 2).shape
    (2, 3, 2)
    >>> np.shares_memory(sliding_windows(x, 3), x)
    True
    """
    if values.ndim != 2:
        raise DataError(f"expected a 2-D (rows, features) array, got shape {values.shape}")
    if window < 1 or stride < 1:
        raise DataError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    rows = values.shape[0]
    if rows < window:
        raise DataError(f"need at least one window of {window} rows, got {rows} rows")
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (T-W+1, F, W)
    return view[::stride].transpose(0, 2, 1)


def window_end_index(n_windows: int, window: int, stride: int = 1) -> np.ndarray:
    """Row index of the last row of each window (the point the window's score belongs to)."""
    return np.arange(n_windows) * stride + window - 1


def evenly_spaced(windows: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``windows``, evenly spaced from the first to the last, in order
    (all of them when there are no more): a sample that covers the whole period.

    >>> evenly_spaced(np.arange(10), 4).tolist(), evenly_spaced(np.arange(3), 4).tolist()
    ([0, 3, 6, 9], [0, 1, 2])
    """
    if len(windows) <= limit:
        return windows
    return windows[np.linspace(0, len(windows) - 1, limit).round().astype(int)]


def more_than_apart(later: float, earlier: float, seconds: float) -> bool:
    """Whether ``later`` is more than ``seconds`` after ``earlier``, the three read as
    written (the shortest decimal that reads back as each, its ``repr``): the window
    state's gap and idle rules, the assembler's expiry. Their float difference is off by
    up to a few ulps of the operands: ``1767225600.4 - 1767225600.1`` is
    ``0.3000001907...``, so a step of exactly 0.3 s read as more than 0.3 s.

    Decided in floats where the float difference is further from ``seconds`` than that
    (the usual case: it is called per row), exactly (decimals) within it.

    >>> 1767225600.4 - 1767225600.1 > 0.3, more_than_apart(1767225600.4, 1767225600.1, 0.3)
    (True, False)
    >>> more_than_apart(1767225600.4000003, 1767225600.1, 0.3)  # the next float
    True
    >>> more_than_apart(10.0, 8.0, 2), more_than_apart(10, 7, 2)  # ints too
    (False, True)
    """
    diff = later - earlier
    # each operand is within half an ulp of its decimal and the subtraction rounds by at
    # most one more of the larger: 1.5 times the sum bounds the error, 4 times it leaves
    # room for the rounding of seconds +- slack
    slack = 4.0 * (ulp(later) + ulp(earlier) + ulp(seconds))
    if diff > seconds + slack:
        return True
    if diff < seconds - slack or not (isfinite(later) and isfinite(earlier)
                                      and isfinite(seconds)):
        return diff > seconds
    # float(): an int has no is_integer() before Python 3.12 (a caller's tolerance of 2)
    if (float(later).is_integer() and float(earlier).is_integer()
            and float(seconds).is_integer()
            and max(abs(later), abs(earlier), abs(seconds)) < _EXACT_INTEGERS):
        # whole seconds (the usual stamps, a grid of them exactly gap_seconds or the
        # tolerance apart): written as they are, and their difference is exact
        return diff > seconds
    # Decimal, not Fraction (as elsewhere): about 1.5 us against 10 (a row whose step is
    # exactly gap_seconds takes this path)
    return _EXACT.subtract(Decimal(repr(later)), Decimal(repr(earlier))) > Decimal(repr(seconds))


def at_least_apart(later: float, earlier: float, seconds: float) -> bool:
    """Whether ``later`` is at least ``seconds`` after ``earlier``, the three read as
    written (:func:`more_than_apart`, the other side of the bound): the reorder tolerance's
    release. An infinite or NaN operand is read in floats, as before.

    >>> 1767225600.6 - 0.2 >= 1767225600.4, at_least_apart(1767225600.6, 1767225600.4, 0.2)
    (False, True)
    """
    if not isfinite(later - earlier - seconds):  # one of them is not finite (or near 1e308)
        return earlier <= later - seconds
    # later - earlier < seconds is earlier - later > -seconds
    return not more_than_apart(earlier, later, -seconds)


def steps_reach(count: int, step: float, seconds: float) -> bool:
    """Whether ``count`` steps of ``step`` seconds make at least ``seconds``, the two read as
    written (:func:`more_than_apart`): the log buckets' gap rule, counted in buckets. In
    floats ``3 * 0.3`` is ``0.8999999999999999``, so three empty buckets of 0.3 s made a
    silence shorter than a ``gap_seconds`` of 0.9.

    >>> 3 * 0.3 >= 0.9, steps_reach(3, 0.3, 0.9), steps_reach(2, 0.3, 0.9)
    (False, True, False)
    """
    span = count * step
    slack = 4.0 * (ulp(span) + ulp(seconds))
    if abs(span - seconds) > slack or not (isfinite(span) and isfinite(seconds)):
        return span >= seconds
    return _EXACT.multiply(Decimal(count), Decimal(repr(step))) >= Decimal(repr(seconds))


def release_in_time_order(held: list[Any], event: tuple[Any, ...], newest: float,
                          tolerance: float) -> Iterator[tuple[Any, ...]]:
    """Hold ``event`` (``(ts, arrival, ...)``: arrival breaks ties, so equal stamps keep
    their order) in the heap ``held`` and yield, in time order, every held event stamped at
    least ``tolerance`` (``reorder_tolerance_seconds``) before ``newest`` (the newest stamp
    seen), as written (:func:`at_least_apart`: until 2026-12-07 the float horizon
    ``newest - tolerance`` held 1767225600.4 after 1767225600.6 with 0.2). The one rule by
    which ``serve`` releases an entity's events (``stream/state.py``) and offline readers
    order a file's rows (:func:`release_order`)."""
    heapq.heappush(held, event)
    while held and at_least_apart(newest, held[0][0], tolerance):
        yield heapq.heappop(held)


def release_order(times: np.ndarray, tolerance: float = 0.0,
                  evictions: np.ndarray | None = None, evicted_at_end: bool = False, *,
                  drop_held: bool = True) -> np.ndarray:
    """The rows ``serve`` would window for events stamped ``times`` arriving in file
    order with ``serve.windows.reorder_tolerance_seconds = tolerance``, in the order it
    windows them: each row is held until a row at least ``tolerance`` newer (as written:
    :func:`at_least_apart`) arrives, then
    released in time order (ties in file order); a row stamped before the last one released
    is *late* and left out. The rows still held at the end of the file are released too, as
    the next events would release them. With tolerance 0 a row is late when stamped before
    an earlier row.

    ``evictions`` (:attr:`~anomaly_gan.data.readers.Table.evictions`): per row, how many
    times the entity was evicted before it (``serve.windows.max_entities``). Where that
    goes up the entity's window starts afresh, as ``serve``'s
    :meth:`~anomaly_gan.stream.state.WindowState.evict` starts it: the rows held then are
    dropped (released instead with ``drop_held=False``, which :func:`late_rows` reads), and
    no row is late for one before; ``evicted_at_end``: evicted after the last row too, so
    the rows held then are dropped as well.

    >>> t = np.array([0.0, 20.0, 10.0, 30.0, 5.0, 40.0])
    >>> release_order(t).tolist()  # 10 and 5 come after 20: late
    [0, 1, 3, 5]
    >>> release_order(t, tolerance=10.0).tolist()  # 10 is put before 20; 5 is still late
    [0, 2, 1, 3, 5]
    >>> release_order(t, 10.0, np.array([0, 0, 0, 0, 1, 1])).tolist()  # evicted before 5
    [0, 2, 1, 4, 5]
    """
    times = np.asarray(times, dtype=np.float64)
    restarts = evictions is not None and bool((np.diff(evictions) != 0).any())
    if not (np.diff(times) < 0).any() and not np.isnan(times).any() and not (
            tolerance > 0 and drop_held and (restarts or evicted_at_end)):
        # in time order already (the usual file): every row, as they come. The loop below
        # took a second and 150 MB of Python objects for 2 million rows, and score runs it
        # three times before the model loads
        return np.arange(len(times), dtype=np.intp)
    held: list[tuple[float, int]] = []
    order: list[int] = []
    newest = -np.inf
    last: float | None = None  # the stamp of the last row released
    epochs = evictions.tolist() if evictions is not None else [0] * len(times)
    for i, (ts, epoch) in enumerate(zip(times.tolist(), epochs, strict=True)):
        if i and epoch != epochs[i - 1]:  # evicted: its window starts afresh
            if not drop_held:
                order.extend(j for _, j in sorted(held))
            held.clear()
            newest, last = -np.inf, None
        if last is not None and ts < last:
            continue  # late, as serve drops an event older than its entity's last
        newest = max(newest, ts)
        for ts_out, j in release_in_time_order(held, (ts, i), newest, tolerance):
            order.append(j)
            last = ts_out
    if not (evicted_at_end and drop_held):
        order.extend(j for _, j in sorted(held))
    return np.asarray(order, dtype=np.intp)
