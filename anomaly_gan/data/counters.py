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

Pure numpy: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from anomaly_gan.errors import ConfigError, name_list

__all__ = ["counter_columns", "increase", "increases"]


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


def increase(before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """The increase from ``before`` to ``now``, elementwise; a fall is a reset, whose
    increase is ``now``. An increase past the largest float (from -1e308 to 1e308) is
    ``inf``, quietly: a window holding it is unscorable (+inf score, flagged) until the
    row leaves it, as any reading the network cannot compute.

    >>> increase(np.array([10.0, 10.0, 10.0]), np.array([12.0, 10.0, 3.0])).tolist()
    [2.0, 0.0, 3.0]
    >>> increase(np.array([-1e308]), np.array([1e308])).tolist()
    [inf]
    """
    # a RuntimeWarning here went to stderr from serve's loop, or stopped the record where
    # warnings are errors, after the entity's window state had moved on
    with np.errstate(over="ignore"):
        return np.where(now >= before, now - before, now)


def increases(values: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """``values (T, F)`` without its first row, the ``columns`` of each later row replaced
    by their increase since the row before: ``(T - 1, F)``. No columns: ``values`` as
    they are, first row kept.

    >>> v = np.array([[5.0, 100.0], [6.0, 103.0], [7.0, 110.0], [8.0, 4.0], [9.0, 9.0]])
    >>> increases(v, [1]).tolist()
    [[6.0, 3.0], [7.0, 7.0], [8.0, 4.0], [9.0, 5.0]]
    """
    if not len(columns):
        return values
    values = np.asarray(values, dtype=np.float64)
    out = values[1:].copy()
    cols = list(columns)
    out[:, cols] = increase(values[:-1, cols], values[1:, cols])
    return out
