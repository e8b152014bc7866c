"""Cumulative counters (``data.counters``): the model reads their increase per row.

A counter (Prometheus ``*_total``, bytes sent, an OTLP cumulative sum) grows for as long
as its process lives and starts again near 0 when it restarts. Read as a level, every later
value lies beyond the training rows; its increase between rows is what can be learned.

The increase of row ``t`` is ``v[t] - v[t-1]``; where ``v[t] < v[t-1]`` the counter was
reset and the increase is ``v[t]`` (what PromQL's ``increase()`` counts). The first row of
a series has no increase: it only gives the value the next row's increase starts from, and
is not a row of any window. Offline that is each file's first row (after the late rows are
left out and missing cells filled); in ``serve`` an entity's first event, and its first
after a gap, a partition move, an eviction or a restart (``stream/state.py``). Values are
taken as they are: a negative reading is no error, a fall to it is a reset and its increase
is the reading itself, which the model has never seen and flags.

An OTLP cumulative sum also says when its series started (``startTimeUnixNano``, new when
the process restarts; since 2026-12-06): a row whose start time is later than the row
before's is a reset too, its increase the new value, even where the new total has already
passed the old one (50 errors before a crash, 60 after: 60, not 10). A row without a start
time (CSV, Parquet, JSON events, a gauge) keeps the fall rule alone.

Pure numpy: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from anomaly_gan.errors import ConfigError, name_list

__all__ = ["coarse_counters", "counter_columns", "increase", "increases", "restarts"]


def counter_columns(feature_names: Sequence[str], counters: Sequence[str],
                    where: str = "the features", source: str | None = None) -> tuple[int, ...]:
    """Indices of ``counters`` among ``feature_names`` (in model order); a name that is not
    a feature is a :class:`ConfigError` naming it, ``source`` (the config it came from:
    :func:`~anomaly_gan.config.source_of`) and ``where`` the names came from.

    >>> counter_columns(["cpu", "requests_total"], ["requests_total"])
    (1,)
    >>> counter_columns(["cpu", "requests_total"], ["reqests_total"], "the columns of a.csv",
    ...                 "x.yaml")
    Traceback (most recent call last):
    anomaly_gan.errors.ConfigError: x.yaml: data.counters: 'reqests_total' is not a feature (did you mean 'requests_total'?); expected one of the columns of a.csv: cpu, requests_total
    """
    names = tuple(feature_names)
    for c in counters:
        if c not in names:
            close = difflib.get_close_matches(c, names, n=1, cutoff=0.8)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{source + ': ' if source else ''}data.counters: {c!r} is not "
                              f"a feature{guess}; expected one of {where}: {name_list(names)}")
    return tuple(sorted(names.index(c) for c in counters))


#: Past this a float64 (as a file's cells and an event's values are read) holds integers only
#: in steps of 2 or more: a counter's smaller increases are lost.
EXACT_INTEGERS = 2.0 ** 53


def coarse_counters(values: np.ndarray, columns: Sequence[int]
                    ) -> list[tuple[int, int, float, float]]:
    """The ``columns`` of ``values (T, F)`` that reach :data:`EXACT_INTEGERS` (a byte or
    nanosecond total near 1e18): for each, its column, the first row that does, its
    largest value and the float64 step there, to which its increases are read (increases
    of 5 to 7 at 1e18 all read 0, now and then 128).

    >>> coarse_counters(np.array([[1.0, 9e15], [2.0, 1e18]]), [1])
    [(1, 1, 1e+18, 128.0)]
    >>> coarse_counters(np.array([[1.0, 9e15]]), [0, 1])
    []
    """
    out = []
    for c in columns:
        column = np.abs(np.asarray(values[:, c], dtype=np.float64))
        column = np.where(np.isfinite(column), column, 0.0)
        past = column >= EXACT_INTEGERS
        if past.any():
            top = float(column.max())
            out.append((int(c), int(np.argmax(past)), top, float(np.spacing(top))))
    return out


def increase(before: np.ndarray, now: np.ndarray,
             restarted: np.ndarray | None = None) -> np.ndarray:
    """The increase from ``before`` to ``now``, elementwise; a fall is a reset, whose
    increase is ``now``, and so is a series ``restarted`` (where given and true: an OTLP
    cumulative sum whose start time moved on, :func:`restarts`) however ``now`` compares. An increase past the largest float (from -1e308 to 1e308) is
    ``inf``, quietly: a window holding it is unscorable (+inf score, flagged) until the
    row leaves it, as any reading the network cannot compute.

    >>> increase(np.array([10.0, 10.0, 10.0]), np.array([12.0, 10.0, 3.0])).tolist()
    [2.0, 0.0, 3.0]
    >>> increase(np.array([-1e308]), np.array([1e308])).tolist()
    [inf]
    >>> increase(np.array([50.0, 50.0]), np.array([60.0, 60.0]), np.array([True, False])).tolist()
    [60.0, 10.0]
    """
    # a RuntimeWarning here went to stderr from serve's loop, or stopped the record where
    # warnings are errors, after the entity's window state had moved on
    with np.errstate(over="ignore"):
        grew = now >= before
        if restarted is not None:
            grew &= ~restarted
        return np.where(grew, now - before, now)


def restarts(before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Where a series restarted between two rows: its start time (an OTLP cumulative sum's
    ``startTimeUnixNano``, NaN where a row has none) is later in ``now`` than in ``before``.
    A row without a start time keeps the fall rule alone.

    >>> nan = float("nan")
    >>> restarts(np.array([5.0, 5.0, nan, 5.0]), np.array([9.0, 5.0, 9.0, nan])).tolist()
    [True, False, False, False]
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(now > before)


def increases(values: np.ndarray, columns: Sequence[int],
              starts: np.ndarray | None = None) -> np.ndarray:
    """``values (T, F)`` without its first row, the ``columns`` of each later row replaced
    by their increase since the row before: ``(T - 1, F)``. No columns: ``values`` as
    they are, first row kept. ``starts (T, F)``: each value's series start time (an OTLP
    metric file's: :attr:`~anomaly_gan.data.readers.Table.starts`, NaN where none); a later
    start than the row before's is a reset too (:func:`restarts`).

    >>> v = np.array([[5.0, 100.0], [6.0, 103.0], [7.0, 110.0], [8.0, 4.0], [9.0, 9.0]])
    >>> increases(v, [1]).tolist()
    [[6.0, 3.0], [7.0, 7.0], [8.0, 4.0], [9.0, 5.0]]
    """
    if not len(columns):
        return values
    values = np.asarray(values, dtype=np.float64)
    out = values[1:].copy()
    cols = list(columns)
    restarted = None
    if starts is not None:
        restarted = restarts(starts[:-1, cols], starts[1:, cols])
    out[:, cols] = increase(values[:-1, cols], values[1:, cols], restarted)
    return out
