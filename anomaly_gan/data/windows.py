"""Sliding windows over the time axis: pure numpy, views only (no copy)."""

from __future__ import annotations

import numpy as np

from anomaly_gan.errors import DataError

__all__ = ["evenly_spaced", "sliding_windows", "window_end_index"]


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
