"""Offline training: config + normal data -> fit -> calibrate -> :class:`Detector`.

Each input series is split in time: the first ``1 - data.validation_fraction`` rows train
the GAN, the last rows are held out (short series hold out at least
:data:`MIN_HELD_OUT_WINDOWS` windows in all, see :func:`held_out_rows`). The held-out
windows drive early stopping and then calibrate the score: robust statistics of each component (for the model errors pooled with
evenly spaced training windows), the threshold and the severity quantiles. Nothing is ever
recalibrated on the data being scored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import platform
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from anomaly_gan.config import Config, ThresholdConfig, TrainingConfig
from anomaly_gan.data.scaling import (
    EXTREME_SPREADS,
    ROUND_OFF,
    Scaler,
    fit_scaler,
    near_constant,
)
from anomaly_gan.data.windows import evenly_spaced, sliding_windows
from anomaly_gan.detector import Calibration, Detector
from anomaly_gan.errors import DataError, TrainingHealthError, brief, name_list
from anomaly_gan.scoring import (
    KNN_REFERENCE,
    SEVERITY_LEVELS,
    Threshold,
    fit_component_stats,
    fit_feature_errors,
    fit_quiet_features,
    fit_robust_stats,
    fit_severity_quantiles,
    fit_threshold,
    low_floors,
    raw_components,
    scores_needed,
    standardise_components,
    tail_fit_possible,
)
from anomaly_gan.scoring.drift import reference_histograms
from anomaly_gan.stream.alerts import iso_utc

__all__ = ["FLOAT16_OVERFLOW", "MAX_SCALED", "MIN_HELD_OUT_WINDOWS", "WARNING_PREFIXES",
           "attempt_settings", "check_scaled_range", "constant_features", "counter_features",
           "data_hash", "drifting_features", "held_out_rows", "leave_out_short", "long_enough",
           "split_series", "time_features", "too_short", "train_detector"]

#: Held-out windows short series keep at least, in all (while that leaves half of each
#: series' rows to train on): the threshold's tail fit takes the 10 largest of at least 30
#: held-out scores (:func:`anomaly_gan.scoring.thresholds.fit_quantile_threshold`).
MIN_HELD_OUT_WINDOWS = 32

#: The progress lines of :func:`train_detector` that are warnings to the operator, kept by
#: ``train --quiet`` and ``retrain --quiet``: notes on the data or the threshold, and an
#: unhealthy attempt being retried.
WARNING_PREFIXES = ("note:", "attempt ")

#: The largest scaled value (in units of the scaler's spread, from its centre) that
#: training accepts: the losses square the scaled windows in float32, whose largest number
#: is 3.4e38, and the generator's weights multiply it further.
MAX_SCALED = 1e18

Progress = Callable[[str], None]
Locate = Callable[[int, int, int], str]


def check_scaled_range(series: Sequence[np.ndarray], scaler: Scaler,
                       feature_names: Sequence[str], locate: Locate | None = None) -> str | None:
    """Raise :class:`DataError` for the first value more than :data:`MAX_SCALED` spreads
    from its feature's centre. Such a value (a sentinel like 1e39, a unit error) overflows
    float32 in training. ``locate(series, row, column)`` names the cell (default: series,
    row and feature). Returns a ``note:`` on the values training clips
    (:data:`EXTREME_SPREADS`, see :func:`_training_view`), naming the first, or None.

    >>> from anomaly_gan.data.scaling import fit_scaler
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> check_scaled_range([x], fit_scaler(x), ["temp"])
    >>> print(check_scaled_range([np.vstack([x, [[1e12]]])], fit_scaler(x), ["temp"])[:98])
    note: 1 value(s) lie more than 10000 times their feature's spread from its centre, first series 0,
    >>> check_scaled_range([np.array([[1.0], [1e39]])], fit_scaler(x), ["temp"])
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: series 0, row 2, feature 'temp': 1e+39 lies 6.67e+38 times the feature's spread (1.5, data.scaler robust) from its centre (1.5); training computes in float32 and overflows beyond 1e+18 (a sentinel value, a unit error, or a row to drop?)
    """
    def cell(i: int, row: int, col: int) -> str:
        return (locate(i, row, col) if locate is not None
                else f"series {i}, row {row + 1}, feature {brief(feature_names[col])}")

    clipped, first = 0, ""
    for i, s in enumerate(series):
        spreads = scaler.spreads(s)
        far = spreads > MAX_SCALED
        if far.any():
            row, col = (int(v) for v in np.argwhere(far)[0])
            raise DataError(
                f"{cell(i, row, col)}: {s[row, col]:g} lies {spreads[row, col]:.3g} times the "
                f"feature's spread ({scaler.scale[col]:.3g}, data.scaler {scaler.method}) from "
                f"its centre ({scaler.center[col]:.3g}); training computes in float32 and "
                f"overflows beyond {MAX_SCALED:g} (a sentinel value, a unit error, or a row to "
                f"drop?)")
        extreme = spreads > EXTREME_SPREADS
        clipped += int(extreme.sum())
        if not first and extreme.any():
            row, col = (int(v) for v in np.argwhere(extreme)[0])
            first = f"{cell(i, row, col)} ({s[row, col]:g})"
    if not clipped:
        return None
    return (f"note: {clipped} value(s) lie more than {EXTREME_SPREADS:g} times their "
            f"feature's spread from its centre, first {first}; training sees them at "
            f"{EXTREME_SPREADS:g} spreads, and leaves the windows that hold them out of the "
            f"threshold's and the nearest-code reference's normal windows (scoring does not "
            f"clip: such a reading still scores far out). A glitch or a unit error in the "
            f"baseline?")


def _training_view(scaler: Scaler, values: np.ndarray) -> np.ndarray:
    """Scaled float32 values as training sees them: clipped to :data:`EXTREME_SPREADS` (one
    glitch of 1e12 on a sensor of unit spread made the losses non-finite on the default
    network at every attempt; 1e9 trained). Scoring does not clip."""
    return np.clip(scaler.transform(values), -EXTREME_SPREADS, EXTREME_SPREADS)


def _unclipped(windows: np.ndarray) -> np.ndarray:
    """Which of :func:`_training_view`'s ``(n, W, F)`` windows hold no clipped value."""
    return np.abs(windows).max(axis=(1, 2)) < EXTREME_SPREADS


def _unclipped_windows(scaled: np.ndarray, window: int) -> np.ndarray:
    """:func:`_unclipped` of the stride-1 windows of :func:`_training_view`'s ``(T, F)``
    rows, from the rows (no window is copied).

    >>> x = np.zeros((5, 1)); x[2] = EXTREME_SPREADS
    >>> _unclipped_windows(x, 2).tolist() == _unclipped(sliding_windows(x, 2)).tolist()
    True
    """
    clipped = ~(np.abs(scaled).max(axis=1) < EXTREME_SPREADS)
    return np.asarray(~np.lib.stride_tricks.sliding_window_view(clipped, window).any(axis=1))


def data_hash(series: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for s in series:
        digest.update(np.ascontiguousarray(s, dtype=np.float64).tobytes())
    return digest.hexdigest()


def constant_features(rows: np.ndarray, names: Sequence[str]) -> list[str]:
    """Names of the features that hold one value throughout the training ``rows`` ``(T, F)``
    (up to rounding noise: :func:`~anomaly_gan.data.scaling.near_constant`).

    A short baseline can miss a command flag that fires once in a few hundred rows; the
    model then knows it only as a constant, and its first change scores as anomalous.

    >>> constant_features(np.array([[1.0, 0.0, 1e6], [2.0, 0.0, 1e6 + 1e-7]]), ["a", "b", "c"])
    ['b', 'c']
    """
    return [n for n, f in zip(names, near_constant(rows), strict=True) if f]


def drifting_features(train_rows: np.ndarray, held_rows: np.ndarray, names: Sequence[str],
                      share: float = 0.25) -> list[str]:
    """Names of the features whose held-out rows (the end of the baseline) lie outside
    their training range, widened by a tenth of it on each side, for more than ``share``
    of the rows: a value that drifts or wanders (a random walk) keeps leaving the range the
    model learned, and every window out there scores as anomalous. Constant features are
    left out (they have their own note).

    >>> t = np.arange(100.0)
    >>> train = np.column_stack([t, np.sin(t)])[:80]
    >>> held = np.column_stack([t, np.sin(t)])[80:]
    >>> drifting_features(train, held, ["drift", "cycle"])
    ['drift']
    """
    lo, hi = train_rows.min(axis=0), train_rows.max(axis=0)
    margin = 0.1 * (hi - lo)
    outside = ((held_rows < lo - margin) | (held_rows > hi + margin)).mean(axis=0)
    flat = near_constant(train_rows)
    return [n for n, o, c in zip(names, outside, flat, strict=True) if not c and o > share]


#: Resets a counter may show in one training series (process restarts).
MAX_COUNTER_RESETS = 3


def counter_features(series: Sequence[np.ndarray], names: Sequence[str],
                     min_increases: int = 10) -> list[str]:
    """Names of the features that rise on at least ``min_increases`` rows in all and never
    decrease within any training series except by a *reset*: a fall to a tenth of the value
    or less, rare (at most :data:`MAX_COUNTER_RESETS` per series and one per 100 rises: a
    Prometheus counter starts again from 0 when its process restarts, where a sawtooth
    gauge falls every cycle). Running totals, such as a Prometheus counter exported as is.

    Every later value of such a feature lies beyond the training rows, so every later
    window scores as anomalous however normal its rate is; its rate (the difference
    between rows, or PromQL's ``rate()``) is what can be learned.

    >>> up = np.arange(1.0, 201.0)
    >>> restarted = np.concatenate([up[:120], up[:80]])  # reset to 1 after 120 rows
    >>> counter_features([np.column_stack([up, restarted, np.sin(up), up % 2])],
    ...                  ["total", "restarted", "s", "flag"])
    ['total', 'restarted']
    >>> t = np.arange(1000.0)
    >>> counter_features([np.column_stack([t % 25 + 1, t + 1])], ["sawtooth", "total"])
    ['total']
    """
    never_down = np.ones(len(names), dtype=bool)
    rises = np.zeros(len(names), dtype=np.int64)
    resets = np.zeros(len(names), dtype=np.int64)
    for s in series:
        before, after = s[:-1], s[1:]
        down = after < before
        reset = down & (before > 0) & (after <= 0.1 * before)
        never_down &= ~(down & ~reset).any(axis=0) & (reset.sum(axis=0) <= MAX_COUNTER_RESETS)
        rises += (after > before).sum(axis=0)
        resets += reset.sum(axis=0)
    keep = never_down & (rises >= min_increases) & (resets * 100 <= rises)
    return [n for n, c in zip(names, keep, strict=True) if c]


#: Epoch seconds a column of the rows' own times holds: 2001-09-09 (1e9) to 2100-01-01.
EPOCH_SECONDS = (1e9, 4102444800.0)


def time_features(series: Sequence[np.ndarray], names: Sequence[str],
                  min_increases: int = 10) -> list[str]:
    """Names of the features that look like the rows' own times: within every series they
    never decrease, and all their values are epoch seconds or epoch milliseconds between
    :data:`EPOCH_SECONDS`; they rise on ``min_increases`` rows or more in all.

    A time column whose name is not one the readers take for it (``epoch_ms``,
    ``unix_time``) is read as a feature. As a running total does, it then lies beyond the
    training rows in every later row, and every later window scores as anomalous; the
    remedy is to name it as a time column, not to feed its rate.

    >>> t = 1767225600.0 + 60.0 * np.arange(20)
    >>> time_features([np.column_stack([t, 1000 * t, np.arange(20.0), np.sin(t)])],
    ...               ["unix_time", "epoch_ms", "total", "s"])
    ['unix_time', 'epoch_ms']
    """
    lo, hi = EPOCH_SECONDS
    rises = np.zeros(len(names), dtype=np.int64)
    keep = np.ones(len(names), dtype=bool)
    for s in series:
        step = np.diff(s, axis=0)
        keep &= (step >= 0).all(axis=0)
        rises += (step > 0).sum(axis=0)
    within = np.zeros(len(names), dtype=bool)
    for unit in (1.0, 1e3):  # seconds, milliseconds
        within |= np.all([((s >= lo * unit) & (s <= hi * unit)).all(axis=0) for s in series],
                         axis=0)
    keep &= within & (rises >= min_increases)
    return [n for n, k in zip(names, keep, strict=True) if k]


def _epoch_span(series: Sequence[np.ndarray], column: int) -> str:
    """The first and last time a :func:`time_features` column holds, written as every time
    in a message is (:func:`~anomaly_gan.stream.alerts.iso_utc`).

    >>> t = 1767225600.0 + 60.0 * np.arange(3)
    >>> _epoch_span([np.column_stack([t, 1000 * t])], 1)
    '2026-01-01T00:00:00.000Z to 2026-01-01T00:02:00.000Z'
    """
    first = min(float(s[0, column]) for s in series)
    last = max(float(s[-1, column]) for s in series)
    unit = 1e3 if first > EPOCH_SECONDS[1] else 1.0
    return f"{iso_utc(first / unit)} to {iso_utc(last / unit)}"


def threshold_windows_needed(threshold: ThresholdConfig) -> int:
    """Held-out windows the threshold's quantile needs before it is more than their largest
    score: ``1 / (1 - q)``, with ``q`` the quantile (``quantile``) or the level above which the
    tail is fitted (``pot``).

    >>> threshold_windows_needed(ThresholdConfig())
    200
    """
    return scores_needed(threshold.quantile if threshold.method == "quantile"
                         else threshold.pot_initial_quantile)


def held_out_rows(lengths: Sequence[int], window: int, validation_fraction: float
                  ) -> list[int]:
    """Rows held out at the end of each series: its ``validation_fraction`` and at least
    one window. Where that gives fewer than :data:`MIN_HELD_OUT_WINDOWS` windows in all,
    each series holds out its share of them by length, as long as half its rows are left
    to train on.

    Every normal window the model has not fitted scores as the held-out ones do, not as
    the training windows, which a short series repeats hundreds of times under the step
    floor. The threshold is set on the held-out windows' scores, so it is only as good as
    their number: a 150-row series held out 32 rows, one window, and that window's score
    was the threshold; 9.6-97% of stationary continuations' windows then alarmed (five
    series of six over 40%).

    >>> held_out_rows([5000], 32, 0.2), held_out_rows([300], 32, 0.2)
    ([1000], [63])
    >>> held_out_rows([150], 32, 0.2), held_out_rows([100], 32, 0.2), held_out_rows([64], 32, 0.2)
    ([63], [50], [32])
    >>> held_out_rows([200, 200], 32, 0.2)  # 2 x 9 windows -> 2 x 16
    [47, 47]
    >>> held_out_rows([20, 20, 20, 22], 4, 0.2)  # four short runs of log buckets
    [10, 10, 10, 11]
    """
    base = [max(round(n * validation_fraction), window) for n in lengths]
    if sum(b - window + 1 for b in base) >= MIN_HELD_OUT_WINDOWS:
        return base
    total = sum(lengths)
    return [max(b, min(window - 1 + math.ceil(MIN_HELD_OUT_WINDOWS * n / total), n // 2))
            for b, n in zip(base, lengths)]


def too_short(lengths: Sequence[int], window: int, validation_fraction: float
              ) -> tuple[int | None, str] | None:
    """Why series of these ``lengths`` cannot be split for training, or None: the series at
    fault (None: all of them together) and the reason. Each series needs a window to train
    on and one held out (:func:`held_out_rows`), and all of them two held-out windows.

    With one held-out window the model could only be judged on a window it trained on (a
    64-row series at window 32 is one window of each: it fitted its one training window
    exactly, was called healthy, and 26% of a normal continuation alarmed), and the
    threshold would be that one window's score.

    >>> too_short([64], 32, 0.2)[1]
    '64 rows is fewer than the 66 needed (windows of data.window 32 to train on, and two held out to judge the model and set its threshold); or a smaller data.window'
    >>> too_short([20], 32, 0.2)[1][:35]  # one series: the same minimum, however short
    '20 rows is fewer than the 66 needed'
    >>> too_short([64, 64], 32, 0.2) is None  # a held-out window each
    True
    """
    whole = (_rows(lengths[0]) if len(lengths) == 1
             else f"{sum(lengths)} rows in {len(lengths)} series")
    whole = (f"{whole} is fewer than the {fewest_rows(window)} needed (windows of data.window "
             f"{window} to train on, and two held out to judge the model and set its "
             f"threshold); or a smaller data.window")
    held = held_out_rows(lengths, window, validation_fraction)
    for i, (n, n_val) in enumerate(zip(lengths, held, strict=True)):
        if n - n_val < window:
            if len(lengths) == 1:  # one series: the minimum is the one said for all of them
                return 0, whole
            return i, (f"{_rows(n)} is fewer than the {2 * window} needed (a training and a "
                       f"held-out window of data.window {window})")
    if sum(h - window + 1 for h in held) < 2:
        return None, whole
    return None


def fewest_rows(window: int) -> int:
    """The fewest rows one series may have (:func:`too_short`): windows of ``window`` rows
    to train on, and two held out (``2 * window + 2``). Said by ``train``, ``retrain`` and
    a file of several series too short, from here.

    >>> fewest_rows(32), too_short([66], 32, 0.2) is None, too_short([65], 32, 0.2) is None
    (66, True, False)
    """
    return 2 * window + 2


def long_enough(rows: int, window: int) -> bool:
    """Whether a series of ``rows`` rows, one of several, can be trained on: a window to
    train on and one held out (``2 * window`` rows). ``train`` leaves a shorter series out
    (:func:`leave_out_short`), ``retrain`` a shorter piece of a segment, and logs training a
    shorter run of buckets.

    >>> long_enough(16, 8), long_enough(15, 8)
    (True, False)
    """
    return rows >= 2 * window


#: Series left out that :func:`leave_out_short`'s note names, with their rows.
SHORT_NAMED = 3


def leave_out_short(names: Sequence[str], lengths: Sequence[int], window: int
                    ) -> tuple[list[int], str | None]:
    """Of several series (the entities of a metric file, or files), the indices of those
    :func:`long_enough` to train on, and the ``note:`` on those left out (None where none
    is). One series is kept whatever its length: :func:`too_short` refuses it with the
    minimum of one series.

    A host that joined minutes before a metric file was exported, or left early, refused
    the training of every other host in the file, where ``retrain`` of the same file left
    it out. Refused only where no series is long enough, naming the longest.

    >>> leave_out_short(["a", "b"], [40, 5], 8)[0], leave_out_short(["a"], [5], 8)
    ([0], ([0], None))
    """
    kept = [i for i, n in enumerate(lengths) if len(lengths) == 1 or long_enough(n, window)]
    if not kept:
        longest = max(range(len(lengths)), key=lambda i: lengths[i])
        raise DataError(f"{names[longest]}: {_rows(lengths[longest])}, the longest of "
                        f"{len(lengths)} series, is fewer than the {2 * window} needed (a "
                        f"training and a held-out window of data.window {window}); expected a "
                        f"series of at least {fewest_rows(window)} rows, or two of at least "
                        f"{2 * window}; or a smaller data.window")
    if len(kept) == len(lengths):
        return kept, None
    out = [i for i, n in enumerate(lengths) if not long_enough(n, window)]
    shown = ", ".join(f"{names[i]} ({_rows(lengths[i])})" for i in out[:SHORT_NAMED])
    more = f" (and {len(out) - SHORT_NAMED} more)" if len(out) > SHORT_NAMED else ""
    return kept, (f"note: left out {len(out)} of {len(lengths)} series (one per entity of "
                  f"each file) with fewer than the {2 * window} rows one needs to train on "
                  f"(2 x data.window {window}: a training and a held-out window, the rule by "
                  f"which retrain leaves out pieces too short): {shown}{more}; serve scores "
                  f"them as any other entity")


def _rows(n: int) -> str:
    """``n`` rows in words: "1 row", "64 rows"."""
    return f"{n} row" if n == 1 else f"{n} rows"


def newest_whole_series(lengths: Sequence[int], window: int, validation_fraction: float,
                        entities: Sequence[str] | None = None) -> int | None:
    """How many of the newest series (the last ones) to hold out whole, or None where that
    does not give a fair share: they must hold ``validation_fraction`` of the rows, at most
    twice that, and :data:`MIN_HELD_OUT_WINDOWS` windows, and leave as many to train on;
    with ``entities`` (each series'), every entity held out must also be trained on.

    For runs of log buckets, each cut off by a silence (``logs.gap_seconds``): every run
    ends in up to ``gap_seconds`` of empty buckets, so the end of every run held out 93-97%
    empty buckets on Loghub samples (68-89% in the training part), and 10-13% of the
    training files' own buckets then scored over the threshold.

    >>> newest_whole_series([100] * 10, 4, 0.2), newest_whole_series([500, 100], 4, 0.2)
    (2, None)
    >>> print(newest_whole_series([100] * 10, 4, 0.2, entities=[*"abababaacc"]))  # c untrained
    None
    """
    total, held, n = sum(lengths), 0, 0
    while n < len(lengths) and held < validation_fraction * total:
        n += 1
        held += lengths[-n]

    def windows(part: Sequence[int]) -> int:
        return sum(max(0, k - window + 1) for k in part)

    if (n == len(lengths) or held > 2 * validation_fraction * total
            or windows(lengths[-n:]) < MIN_HELD_OUT_WINDOWS
            or windows(lengths[:-n]) < MIN_HELD_OUT_WINDOWS
            or (entities is not None and not set(entities[-n:]) <= set(entities[:-n]))):
        return None
    return n


def split_series(series: Sequence[np.ndarray], window: int, validation_fraction: float,
                 run_entities: Sequence[str] | None = None
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Time split of every series into (train, held-out) by :func:`held_out_rows`; each
    part keeps >= one window, and the held-out parts >= two windows in all
    (:func:`too_short` says why not). ``run_entities``: the series are runs of these
    entities in time order, and the newest runs are held out whole where they make a fair
    share (:func:`newest_whole_series`)."""
    lengths = [len(s) for s in series]
    problem = too_short(lengths, window, validation_fraction)
    if problem is not None:
        i, why = problem
        raise DataError(f"series {i}: {why}" if i is not None else why)
    n = (newest_whole_series(lengths, window, validation_fraction, run_entities)
         if run_entities is not None else None)
    if n is not None:
        return list(series[:-n]), list(series[-n:])
    train, held = [], []
    for s, n_val in zip(series, held_out_rows(lengths, window, validation_fraction)):
        train.append(s[: len(s) - n_val])
        held.append(s[len(s) - n_val:])
    return train, held


def _windows(series: Sequence[np.ndarray], window: int, stride: int,
             limit: int | None = None) -> np.ndarray:
    """The windows of every series, one after the other; with ``limit``, the ones
    :func:`evenly_spaced` keeps of them, copied alone: a month of rows made an ``(n, W, F)``
    copy of every window (4.9 GB for 1.2 million training rows of 16 features) only to keep
    20,000. A single series without ``limit`` gives its view (no copy).

    >>> s = [np.arange(10.0).reshape(5, 2), np.arange(8.0).reshape(4, 2)]
    >>> _windows(s, 2, 1, limit=3).tolist() == evenly_spaced(_windows(s, 2, 1), 3).tolist()
    True
    """
    views = [sliding_windows(s, window, stride) for s in series]
    if limit is None:
        return views[0] if len(views) == 1 else np.concatenate(views, axis=0)
    starts = np.cumsum([0, *(len(v) for v in views)])
    picks = evenly_spaced(np.arange(starts[-1]), limit)
    which = np.searchsorted(starts, picks, side="right") - 1
    return np.concatenate([v[picks[which == i] - starts[i]] for i, v in enumerate(views)],
                          axis=0)


#: A retry after an attempt that overfitted trains on this fraction of the steps before it
#: (the step floor, and the epochs by its square root).
OVERFIT_STEP_FRACTION = 0.25


#: Why a ``mixed_float16`` attempt whose losses went non-finite, or whose loss scaler skipped
#: too many updates (:func:`anomaly_gan.models.health.skipped_updates`), is retried under
#: float32.
FLOAT16_OVERFLOW = ("float16 overflows beyond 65,504 in the forward pass, which loss scaling "
                    "does not prevent; training.precision mixed_bfloat16 or float32 avoids it")


def attempt_settings(training: TrainingConfig, attempt: int, overfitted: int = 0,
                     float16_overflowed: bool = False) -> TrainingConfig:
    """The settings of retry ``attempt`` (0 = the configured run), after ``overfitted`` of
    the attempts before it ended overfitting (see :mod:`anomaly_gan.models.health`) and,
    with ``float16_overflowed``, after one under ``mixed_float16`` whose losses went
    non-finite.

    Each retry starts from fresh networks (so a collapsed discriminator is reset too) with the
    next seed. After an attempt that failed otherwise it takes half the previous learning
    rate: the failures seen in practice are a bad draw of initial weights or steps too large
    for the data. After one that overfitted (it reconstructs its training windows and not
    the held-out ones) it keeps the learning rate and trains a quarter of the steps where
    the step floor sets them (half where the windows outnumber it: the epochs halve): the
    step floor repeats a short series' few windows hundreds of times (Loghub's OpenSSH sample,
    106 windows: unhealthy at 2,000 and 500 steps, healthy at 200).

    After a ``mixed_float16`` attempt whose losses went non-finite, or whose loss scaler
    skipped more updates than health allows, the retries train under ``float32``: float16's
    largest value is 65,504, and a window, reconstruction or activation beyond it is inf in
    the forward pass, which loss scaling (it guards the gradients) cannot help and a smaller
    learning rate does not cure. f-AnoGAN on a
    series with regular bursts 2,000 robust spreads high (a flag-like feature of tiny
    spread) had its critic's features of the untrained encoder's reconstructions overflow
    at every attempt (exit 3) where float32 and ``mixed_bfloat16`` trained healthy.

    >>> attempt_settings(TrainingConfig(precision="mixed_float16"), 1, 0, True).precision
    'float32'
    >>> t = attempt_settings(TrainingConfig(seed=7, learning_rate=1e-3), 2)
    >>> t.seed, t.learning_rate, t.min_steps
    (9, 0.00025, 2000)
    >>> t = attempt_settings(TrainingConfig(seed=7, learning_rate=1e-3), 2, overfitted=2)
    >>> t.seed, t.learning_rate, t.min_steps, t.epochs
    (9, 0.001, 125, 8)
    """
    if attempt == 0:
        return training
    fraction = OVERFIT_STEP_FRACTION ** overfitted
    return dataclasses.replace(
        training, seed=training.seed + attempt,
        precision="float32" if float16_overflowed else training.precision,
        learning_rate=training.learning_rate / 2 ** (attempt - overfitted),
        min_steps=int(training.min_steps * fraction),
        epochs=max(1, round(training.epochs * math.sqrt(fraction))))


def _skipped_note(health: dict[str, Any]) -> str:
    """What the loss scalers skipped, for the line that ends training (nothing where no
    optimizer is loss-scaled: only mixed_float16 skips).

    >>> _skipped_note({"precision": "mixed_float16", "skipped_updates": {
    ...     "discriminator": {"steps": 2000, "skipped": 21},
    ...     "generator": {"steps": 2000, "skipped": 0}}})
    ', loss scaling skipped 21/2000 discriminator and 0/2000 generator updates'
    >>> _skipped_note({"precision": "float32", "skipped_updates": {}})
    ''
    """
    counts = health.get("skipped_updates") or {}
    if health.get("precision") != "mixed_float16" or not counts:
        return ""
    return ", loss scaling skipped " + " and ".join(
        f"{c['skipped']}/{c['steps']} {name}" for name, c in counts.items()) + " updates"


def _library_versions() -> dict[str, str]:
    """Versions that produced a bundle, with the Keras backend and its library."""
    import importlib

    import keras

    backend = keras.backend.backend()
    return {"python": platform.python_version(), "numpy": np.__version__,
            "keras": keras.__version__, "backend": backend,
            backend: importlib.import_module(backend).__version__}


def fit_calibration(cfg: Config, nets: dict[str, Any], scaler: Scaler,
                    feature_names: tuple[str, ...], train_w: np.ndarray, held_raw: np.ndarray,
                    provisional: Detector | None = None) -> tuple[Calibration, np.ndarray]:
    """The calibration of trained networks, threshold not yet fitted, and the held-out
    windows' combined scores it gives (what the threshold is fitted on). ``train_w``: the
    scaled training windows (:func:`_training_view`); ``held_raw``: the raw held-out
    windows; ``provisional``: the uncalibrated detector of ``nets`` that scores them (its
    compiled scorer is kept for :func:`training_scores` and the bundle: one trace).
    Separate from :func:`train_detector` so that a calibration can be refitted on saved
    networks (detection studies) without training again."""
    from anomaly_gan.models import raw_outputs

    w = train_w.shape[1]
    # The knn component's reference: latent codes of evenly spaced training windows.
    normal_train = _unclipped(train_w)
    seen = evenly_spaced(train_w[normal_train] if normal_train.any() else train_w, KNN_REFERENCE)
    seen_outputs = raw_outputs(cfg.model.kind, nets, seen)
    reference_codes = seen_outputs.get("latent")

    # Calibrate on normal windows: the held-out ones, and for the model errors also the
    # knn reference windows (same network pass), which span the whole training period
    # where the held-out ones are its last part (see anomaly_gan.scoring.components).
    if provisional is None:
        provisional = _provisional(cfg, nets, scaler, feature_names, w)
    comps, per_feature, activity = provisional.raw_scores(held_raw, reference_codes)
    seen_raw, seen_per_feature = raw_components(seen, seen_outputs)
    seen_comps = {k: np.asarray(v, dtype=np.float64) for k, v in seen_raw.items()}
    seen_per_feature = np.asarray(seen_per_feature, np.float64)
    stats = fit_component_stats(comps, seen_comps)
    quiet = (fit_quiet_features(train_w) if cfg.scoring.weights.get("quiet", 0.0) > 0
             else None)
    weights = {k: v for k, v in cfg.scoring.weights.items()
               if k in comps or (k == "quiet" and quiet is not None)}
    # Two-sided floors: the reference windows' own low quantile.
    floors = (low_floors(standardise_components(seen_comps, stats), weights)
              if cfg.scoring.two_sided else {})
    feature_errors = None
    if cfg.scoring.reconstruction == "worst_feature":
        feature_errors = fit_feature_errors(per_feature, seen_per_feature,
                                            two_sided=cfg.scoring.two_sided)
    fitted = Calibration(
        component_stats=stats,
        feature_stats=fit_robust_stats(np.concatenate([per_feature, seen_per_feature]), axis=0),
        weights=weights,
        threshold=Threshold(math.nan, "unfitted", {}),
        severity_quantiles=np.zeros(len(SEVERITY_LEVELS)),
        reference_codes=reference_codes,
        floors=floors,
        feature_errors=feature_errors,
        max_share=cfg.scoring.max_share,
        quiet=quiet,
    )
    return fitted, fitted.combine(comps, per_feature, activity)[2]


def _provisional(cfg: Config, nets: dict[str, Any], scaler: Scaler,
                 feature_names: tuple[str, ...], window: int) -> Detector:
    """The detector of trained networks before their calibration: it scores the normal
    windows the calibration and the threshold are fitted on."""
    return Detector(cfg.model.kind, "unversioned", feature_names, window, scaler, nets,
                    calibration=None, config=cfg)  # type: ignore[arg-type]


#: Training windows scored for the threshold's training quantile (evenly spaced; fewer where
#: their raw copies would pass :data:`TRAINING_SCORED_VALUES` values).
TRAINING_SCORED_WINDOWS = 4096
TRAINING_SCORED_VALUES = 2 ** 23  # 64 MB of float64


def training_scores(cfg: Config, nets: dict[str, Any], scaler: Scaler,
                    feature_names: tuple[str, ...], fitted: Calibration,
                    train_parts: Sequence[np.ndarray],
                    provisional: Detector | None = None) -> np.ndarray:
    """The combined scores ``fitted`` gives the training windows (up to
    :data:`TRAINING_SCORED_WINDOWS` of them, evenly spaced; a window holding a reading
    training clipped left out, as from the held-out ones), as ``score`` would give them:
    normal windows too, for the threshold's training quantile (:func:`fit_threshold_both`).
    ``provisional``: as :func:`fit_calibration`'s."""
    w, n_features = cfg.data.window, len(feature_names)
    limit = max(1, min(TRAINING_SCORED_WINDOWS, TRAINING_SCORED_VALUES // (w * n_features)))
    raw = np.asarray(_windows(train_parts, w, 1, limit), dtype=np.float64)
    keep = _unclipped(_training_view(scaler, raw))
    if keep.sum() >= 2:
        raw = raw[keep]
    if provisional is None:
        provisional = _provisional(cfg, nets, scaler, feature_names, w)
    comps, per_feature, activity = provisional.raw_scores(raw, fitted.reference_codes)
    return fitted.combine(comps, per_feature, activity)[2]


def fit_threshold_both(held_out: np.ndarray, training: np.ndarray,
                       t: ThresholdConfig) -> Threshold:
    """The threshold fitted (``t.method``) on the held-out windows' scores, or on the
    training windows' where that is higher: both are normal windows, and a held-out part
    (the end of the baseline) that lacks what the training part holds (the rare bursts of
    an error count, a setpoint it left) would flag that normal behaviour wherever it comes
    back. ``details`` keep both values.

    >>> t = ThresholdConfig()
    >>> fit_threshold_both(np.arange(1000.0), np.arange(1000.0) * 2, t).details["from"]
    'training'
    >>> fit_threshold_both(np.arange(1000.0), np.arange(1000.0) / 2, t).value
    994.005
    """
    held = fit_threshold(held_out, t.method, t.quantile, t.pot_initial_quantile, t.pot_risk)
    if not np.isfinite(training).any():
        return held
    seen = fit_threshold(training, t.method, t.quantile, t.pot_initial_quantile, t.pot_risk)
    both = {"held_out_value": held.value, "training_value": seen.value,
            "training_windows": int(np.isfinite(training).sum())}
    winner, which = (seen, "training") if seen.value > held.value else (held, "held_out")
    return Threshold(winner.value, winner.method, {**winner.details, **both, "from": which})


def _threshold_source(threshold: Threshold) -> str:
    """What ``train``'s last line adds after the threshold's method: nothing where the
    held-out windows set it."""
    d = threshold.details
    if d.get("from") != "training":
        return ""
    return (f" of the {d['training_windows']} training windows' scores: the held-out ones "
            f"gave {d['held_out_value']:.3f}")


def held_out_summary(normal_scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """``calibration.json``'s ``validation`` figures of the held-out scores: their count, the
    share over the threshold (an unscorable window, +inf, among them: it would alarm), and
    the median and 0.99 quantile of the finite ones, as the threshold and the severity
    quantiles are fitted; with one +inf they were ``Infinity`` (or NaN), which no strict JSON
    reader takes.

    >>> held_out_summary(np.r_[np.arange(101.0), np.inf], 99.5)
    {'windows': 102, 'false_positive_rate': 0.0196078431372549, 'score_median': 50.0, 'score_p99': 99.0}
    """
    finite = normal_scores[np.isfinite(normal_scores)]
    return {"windows": len(normal_scores),
            "false_positive_rate": float(np.mean(normal_scores > threshold)),
            "score_median": float(np.median(finite)),
            "score_p99": float(np.quantile(finite, 0.99))}


def train_detector(cfg: Config, values: np.ndarray | Sequence[np.ndarray],
                   feature_names: Sequence[str], progress: Progress | None = None,
                   init: Callable[[Any], None] | None = None,
                   locate: Locate | None = None, run_entities: Sequence[str] | None = None,
                   constant_by_design: Collection[str] = ()) -> Detector:
    """Train a GAN on normal data and calibrate it.

    ``values`` is one ``(T, F)`` array or a list of them (one per entity; windows never
    span two arrays). Values must be finite: readers apply ``data.nan_policy`` first; and
    the features of ``data.counters`` hold their increases (readers take them with
    :func:`anomaly_gan.data.increases`, dropping each array's first row).
    ``run_entities``: the arrays are runs of log buckets of these entities in time order,
    and the newest runs are held out whole (:func:`split_series`). ``constant_by_design``:
    features that hold still in any training data (a log model's ``unseen`` column), left
    out of the note on constant features (``metadata.json`` still lists them).
    ``progress`` gets a line before and after training and one per epoch.
    ``init`` is called with the built GAN before training (warm start). ``locate(series,
    row, column)`` names a cell in errors (the CLI: file, line and column).
    """
    from anomaly_gan.models import build_gan, fit_gan, inference_networks
    from anomaly_gan.models.precision import cpu_precision_note

    say = progress or (lambda _msg: None)
    series = [np.asarray(values, dtype=np.float64)] if isinstance(values, np.ndarray) else [
        np.asarray(v, dtype=np.float64) for v in values
    ]
    feature_names = tuple(feature_names)
    for i, s in enumerate(series):
        if s.ndim != 2 or s.shape[1] != len(feature_names):
            raise DataError(f"series {i}: expected shape (rows, {len(feature_names)}), got {s.shape}")
        if not np.isfinite(s).all():
            raise DataError(f"series {i}: contains NaN or inf (apply data.nan_policy first)")
    started = time.monotonic()
    w = cfg.data.window
    train_parts, held_parts = split_series(series, w, cfg.data.validation_fraction,
                                           run_entities)
    train_rows = np.concatenate(train_parts)
    scaler = fit_scaler(train_rows, cfg.data.scaler)
    clipped = check_scaled_range(series, scaler, feature_names, locate)
    if clipped:
        say(clipped)
    train_w = _windows([_training_view(scaler, s) for s in train_parts], w, cfg.data.stride,
                       cfg.data.max_train_windows)
    # Scaled as rows, then windowed (the same numbers as scaling each window): views, not
    # (n, W, F) float64 copies of every held-out window
    held_raw = _windows(held_parts, w, 1)
    held_scaled = [_training_view(scaler, s) for s in held_parts]
    held_w = _windows(held_scaled, w, 1)
    # A window holding a reading clipped at EXTREME_SPREADS is no normal window: it is left
    # out of the held-out windows, which judge the model and set the threshold (one 1e12
    # glitch in the held-out rows put the threshold at 170 where it was 1.7, and the model
    # flagged nothing), as long as two of them remain; and out of the knn reference below.
    normal_held = np.concatenate([_unclipped_windows(s, w) for s in held_scaled])
    if normal_held.sum() >= 2 and not normal_held.all():
        held_raw, held_w = held_raw[normal_held], held_w[normal_held]
    say(f"training {cfg.model.kind}/{cfg.model.backbone} on {len(train_w)} windows of "
        f"{w}x{len(feature_names)}, {len(held_w)} held-out windows")
    slow_precision = cpu_precision_note(cfg.training.precision)
    if slow_precision:
        say(slow_precision)
    constant = constant_features(train_rows, feature_names)
    told = [f for f in constant if f not in constant_by_design]
    if told:
        say(f"note: {len(told)} feature(s) never change in the training rows, so any "
            f"change in them will score as anomalous (beyond float round-off: "
            f"{ROUND_OFF:.2g} of the value): {name_list(told)} (a longer baseline "
            f"shows how they normally move)")
    times = time_features(series, feature_names)
    if times:
        first = times[0]
        # the remedy names no column for data.timestamp_column: a headerless file's f0
        # cannot be named there until the file has a header line
        say(f"note: {len(times)} feature(s) hold rising epoch times, as a time column does "
            f"({brief(first)}: {_epoch_span(series, feature_names.index(first))}), so they "
            f"are learned as sensors and every later row will score as anomalous: "
            f"{name_list(times)} (a column of each row's time: name it 'timestamp' in the "
            f"header line, or train with data.timestamp_column naming it; a counter: feed "
            f"its rate)")
    # the rows of a data.counters feature are its increases already: 'list it there' and
    # 'take its differences' are no remedy for it
    listed = set(cfg.data.counters)
    rising = [n for n in counter_features(series, feature_names) if n not in times]
    counters = [n for n in rising if n not in listed]
    if counters:
        say(f"note: {len(counters)} feature(s) only ever rise (or fall back to about 0, as "
            f"a counter does when its process restarts), like a running total, so "
            f"every later value lies beyond the training rows and will score as anomalous: "
            f"{name_list(counters)} (list them in data.counters: the model then reads "
            f"their increase per row)")
    faster = [n for n in rising if n in listed]
    if faster:
        say(f"note: {len(faster)} feature(s) of data.counters grow in their increase per "
            f"row too, so every later increase lies beyond the training rows and will score "
            f"as anomalous: {name_list(faster)} (a baseline over which their rate levels "
            f"off; a total of totals: feed the total it sums instead)")
    drifting = [n for n in drifting_features(train_rows, np.concatenate(held_parts),
                                             feature_names)
                if n not in rising and n not in times]
    if drifting:
        levels = [n for n in drifting if n not in listed]
        differences = ("" if not levels else ", or their differences between rows"
                       if len(levels) == len(drifting)
                       else f", or the differences between rows of {name_list(levels)}")
        say(f"note: {len(drifting)} feature(s) leave their training range in the held-out "
            f"rows (the end of the baseline) more than a quarter of the time, as a drifting "
            f"or wandering value does, so later windows out there will score as anomalous: "
            f"{name_list(drifting)} (a baseline that covers their range{differences})")
    needed = threshold_windows_needed(cfg.threshold)
    if len(held_w) < needed:
        t = cfg.threshold
        if t.method == "quantile":
            what = f"a {t.quantile:g} quantile"
            how = ("it is extrapolated from an exponential tail fitted to their largest "
                   "scores, an estimate resting on a few windows"
                   if tail_fit_possible(len(held_w)) else
                   "too few to fit a tail to, it is close to their largest score, so normal "
                   "data will alarm more often than it aims for")
        else:
            what = f"a tail fit above the {t.pot_initial_quantile:g} quantile"
            how = ("it is close to their largest score, so normal data will alarm more often "
                   "than it aims for")
        rows = sum(len(h) for h in held_parts)
        # several series: 'the last 120 rows' read as one stretch; they were 60 of each
        where = (f"the last {rows} rows" if len(held_parts) == 1
                 else f"{rows} rows from {len(held_parts)} series")
        say(f"note: the threshold is set on {len(held_w)} held-out windows ({where}) and "
            f"{what} needs {needed} or more: {how} (a longer baseline, or a larger "
            f"data.validation_fraction, helps)")

    attempts: list[dict[str, Any]] = []
    best: tuple[bool, float, int] | None = None
    fit = nets = None
    overfitted = 0  # attempts that ended overfitting: each retry after one trains less
    # a mixed_float16 attempt went non-finite or skipped too many updates: retry in float32
    float16_overflowed = False
    for attempt in range(cfg.training.max_attempts):
        training = attempt_settings(cfg.training, attempt, overfitted, float16_overflowed)
        attempt_started = time.monotonic()
        gan = build_gan(cfg.model, training, w, len(feature_names))
        if init is not None:
            init(gan)
        result = fit_gan(gan, np.ascontiguousarray(train_w, dtype=np.float32),
                         np.ascontiguousarray(held_w, dtype=np.float32), training,
                         progress=progress)
        healthy = result.health.get("status") == "healthy"
        # the kept weights' loss: the history's lowest may come from an epoch before early
        # stopping started (the step floor), whose weights were never kept
        loss = (result.best_loss if result.best_loss is not None
                and math.isfinite(result.best_loss) else math.inf)  # NaN: no order
        attempts.append({
            "attempt": attempt + 1, "seed": training.seed, "precision": result.precision,
            "learning_rate": training.learning_rate, "min_steps": training.min_steps,
            "max_epochs": training.epochs, "status": result.health.get("status"),
            "issues": list(result.health.get("issues", [])), "epochs_run": result.epochs_run,
            "best_validation_loss": loss if math.isfinite(loss) else None,
            "reconstruction_skill": result.health.get("reconstruction_skill", {}).get("overall"),
            "skipped_updates": {name: count["skipped"] for name, count
                                in result.health.get("skipped_updates", {}).items()},
            "seconds": round(time.monotonic() - attempt_started, 3),
        })
        # Keep the healthy run, else the one with the lowest validation loss so far.
        key = (healthy, -loss, -attempt)
        if best is None or key > best:
            best, fit, nets = key, result, inference_networks(gan)
        if healthy:
            break
        overfit = any(i.startswith("overfitting") for i in result.health.get("issues", []))
        overfitted += overfit
        overflowed = result.precision == "mixed_float16" and any(
            i.startswith(("non-finite", "loss scaling skipped"))
            for i in result.health.get("issues", []))
        float16_overflowed |= overflowed
        if attempt + 1 < cfg.training.max_attempts:
            nxt = attempt_settings(cfg.training, attempt + 1, overfitted, float16_overflowed)
            fewer = (f", a step floor of {nxt.min_steps} and at most {nxt.epochs} epochs "
                     f"(it overfitted: fewer steps)" if overfit else "")
            wider = f", under float32 ({FLOAT16_OVERFLOW})" if overflowed else ""
            say(f"attempt {attempt + 1}/{cfg.training.max_attempts} unhealthy: "
                f"{'; '.join(result.health.get('issues', []))}; retrying with seed {nxt.seed}, "
                f"learning rate {nxt.learning_rate:g}{fewer}{wider}, "
                f"{'fresh networks' if init is None else 'networks warm-started again'}")
        else:
            say(f"attempt {attempt + 1}/{cfg.training.max_attempts} unhealthy: "
                f"{'; '.join(result.health.get('issues', []))}; no attempts left"
                + (f" ({FLOAT16_OVERFLOW})" if overflowed else ""))
    assert fit is not None and nets is not None  # max_attempts >= 1
    fit.health["attempts"] = len(attempts)
    train_seconds = time.monotonic() - started

    provisional = _provisional(cfg, nets, scaler, feature_names, w)
    fitted, normal_scores = fit_calibration(cfg, nets, scaler, feature_names, train_w, held_raw,
                                            provisional)
    if not np.isfinite(normal_scores).any():  # weights gone non-finite: nothing to calibrate
        issues = "; ".join(fit.health.get("issues", [])) or "non-finite network outputs"
        raise TrainingHealthError(
            f"{issues}; the networks give no finite score on any of the {len(normal_scores)} "
            f"held-out windows, so there is nothing to calibrate and no bundle, even with "
            f"allow_unhealthy (a lower training.learning_rate than "
            f"{cfg.training.learning_rate:g}?)")
    threshold = fit_threshold_both(
        normal_scores, training_scores(cfg, nets, scaler, feature_names, fitted, train_parts,
                                       provisional),
        cfg.threshold)
    calibration = dataclasses.replace(
        fitted,
        threshold=threshold,
        severity_quantiles=fit_severity_quantiles(normal_scores),
        validation={**held_out_summary(normal_scores, threshold.value),
                    "final_losses": {k: v[-1] for k, v in fit.history.items() if v}},
    )
    digest = data_hash(series)
    created = datetime.now(UTC)
    version = f"{cfg.model.kind}-{created.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
    metadata = {
        "created": created.isoformat(timespec="seconds"),
        "training_data": {"sha256": digest, "rows": int(sum(len(s) for s in series)),
                          "series": len(series), "train_windows": len(train_w),
                          "held_out_windows": len(held_w),
                          "constant_features": constant,
                          "counter_features": counters,
                          "time_features": times,
                          "drifting_features": drifting,
                          "threshold_windows_needed": needed},
        "duration_seconds": round(train_seconds, 3),
        "precision": fit.precision,
        "epochs_run": fit.epochs_run,
        "history": fit.history,
        "health": fit.health,
        "attempts": attempts,
        "libraries": _library_versions(),
        "validation": calibration.validation,
        # Drift reference for serve's PSI gauges: held-out rows and normal scores.
        "reference": reference_histograms(np.concatenate(held_parts), feature_names,
                                          normal_scores),
    }
    say(f"trained in {train_seconds:.1f}s ({len(attempts)} attempt(s), {fit.epochs_run} epochs, "
        f"{fit.precision}{_skipped_note(fit.health)}); "
        f"threshold {threshold.value:.4g} ({threshold.method}{_threshold_source(threshold)}); "
        f"health: {fit.health.get('status')}")
    detector = Detector(cfg.model.kind, version, feature_names, w, scaler, nets, calibration,
                        cfg, metadata)
    detector.share_scorer(provisional)
    return detector
