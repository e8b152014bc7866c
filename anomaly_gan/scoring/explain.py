"""Explanations and severity: which features, and how unusual, in words people use."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

__all__ = ["SEVERITY_LEVELS", "TopFeatures", "feature_values", "feature_values_text",
           "fit_severity_quantiles", "severity",
           "top_features", "written_apart"]

# Quantile levels of the held-out normal score distribution stored in a bundle.
SEVERITY_LEVELS = np.linspace(0.0, 1.0, 201)


class TopFeatures(Sequence[list[str]]):
    """Per row, the names of its largest contributions, largest first; built on access.

    Holds an ``(n, k)`` index array: a streaming batch names features only for the few
    windows that alert, not for every scored window. Rows whose indices are negative (the
    rows of a series before its first complete window) have no names. Compares equal to the
    list of lists it stands for.

    >>> t = TopFeatures(np.array([[1, 2], [-1, -1]]), ["a", "b", "c"])
    >>> t[0], t[1], len(t), t == [["b", "c"], []]
    (['b', 'c'], [], 2, True)
    """

    __slots__ = ("indices", "names")

    def __init__(self, indices: np.ndarray, names: Sequence[str]) -> None:
        self.indices = indices
        self.names = tuple(names)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @overload
    def __getitem__(self, i: int) -> list[str]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[str]]: ...

    def __getitem__(self, i: int | slice) -> list[str] | list[list[str]]:
        if isinstance(i, slice):
            return [self._row(r) for r in self.indices[i]]
        return self._row(self.indices[i])

    def _row(self, row: np.ndarray) -> list[str]:
        names = self.names
        return [names[j] for j in row.tolist() if j >= 0]

    def __iter__(self) -> Iterator[list[str]]:
        return (self._row(r) for r in self.indices)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    @classmethod
    def concatenate(cls, parts: Sequence[TopFeatures], pad_rows: int = 0) -> TopFeatures:
        """``pad_rows`` empty rows, then the rows of ``parts`` in order."""
        k = max((p.indices.shape[1] for p in parts), default=0)
        names = parts[0].names if parts else ()
        blocks: list[Any] = [np.full((pad_rows, k), -1, dtype=np.intp)]
        blocks += [p.indices for p in parts]
        return cls(np.concatenate(blocks), names)


def top_features(contributions: np.ndarray, names: Sequence[str], k: int) -> TopFeatures:
    """Names of the ``k`` largest per-feature contributions of each row, largest first.

    >>> top_features(np.array([[0.1, 3.0, 2.0]]), ["a", "b", "c"], 2)
    [['b', 'c']]
    """
    k = min(k, contributions.shape[1])
    idx = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    return TopFeatures(idx, names)


def _number(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def feature_values(raw: np.ndarray, expected: np.ndarray, top: Sequence[Sequence[int]],
                   names: Sequence[str], center: np.ndarray, quiet: np.ndarray | None = None,
                   movement: np.ndarray | None = None,
                   normal_movement: np.ndarray | None = None,
                   increases: Collection[int] = ()) -> list[list[dict[str, Any]]]:
    """How far off each named feature of each window is, in the data's units.

    ``raw``: ``(n, W, F)`` readings; ``expected``: the model's reconstruction of them in
    the same units; ``top``: per window, the indices of its named features (negative: none);
    ``center``: ``(F,)`` each feature's typical value (the scaler's centre).

    Per named feature, one entry: ``observed``, the window's reading where the feature lies
    farthest from the reconstruction, and ``expected``, the reconstruction of that reading;
    ``rows_before_end`` says which row it is (0: the window's last reading, at its end).
    Where ``quiet`` (``(n, F)`` bool) says that the feature is named for moving far less
    than usual, no reconstruction is what flagged it: ``observed`` is the last reading,
    ``expected`` is None, and the entry adds ``movement`` (the mean ``|x[t] - x[t-1]|`` in
    the window) and ``normal_movement`` (the low end of its movement in normal training
    windows), both ``(n, F)``/``(F,)`` in the data's units. Where the reconstruction is not
    finite (a window the network cannot compute), ``expected`` is None and ``observed`` is
    the reading farthest from ``center``. Non-finite numbers are None. A feature in
    ``increases`` (a column of ``data.counters``) holds each row's increase, not the
    counter's value: its entry adds ``"increase": True``.

    >>> raw = np.array([[[1.0, 5.0], [9.0, 5.0], [1.0, 5.0]]])  # a spike on a, b still
    >>> exp = np.array([[[1.0, 4.0], [1.5, 6.0], [1.0, 4.0]]])
    >>> feature_values(raw, exp, [[0, 1]], ["a", "b"], np.zeros(2), quiet=np.array([[0, 1]]) > 0,
    ...                movement=np.array([[5.0, 0.0]]), normal_movement=np.array([0.1, 0.5]))
    ... # doctest: +NORMALIZE_WHITESPACE
    [[{'feature': 'a', 'observed': 9.0, 'expected': 1.5, 'rows_before_end': 1},
      {'feature': 'b', 'observed': 5.0, 'expected': None, 'rows_before_end': 0,
       'movement': 0.0, 'normal_movement': 0.5}]]
    """
    last = raw.shape[1] - 1
    with np.errstate(invalid="ignore", over="ignore"):
        off = np.abs(raw - expected)
        far = np.abs(raw - center)
    # per window and feature: the row farthest from the reconstruction, or, where it is not
    # finite, from the centre (whole arrays at once: a file may have many flagged rows)
    modelled = np.isfinite(expected).all(axis=1)
    row = np.where(modelled, np.argmax(np.where(np.isnan(off), -np.inf, off), axis=1),
                   np.argmax(np.where(np.isnan(far), -np.inf, far), axis=1))
    out = []
    for i, named in enumerate(top):
        entries = []
        for j in (int(j) for j in named):
            if j < 0:
                continue
            entry: dict[str, Any]
            if quiet is not None and quiet[i, j]:
                entry = {"feature": names[j], "observed": _number(raw[i, last, j]),
                         "expected": None, "rows_before_end": 0,
                         "movement": None if movement is None else _number(movement[i, j]),
                         "normal_movement": (None if normal_movement is None
                                             else _number(normal_movement[j]))}
            else:
                t = int(row[i, j])
                entry = {"feature": names[j], "observed": _number(raw[i, t, j]),
                         "expected": _number(expected[i, t, j]) if modelled[i, j] else None,
                         "rows_before_end": last - t}
            if j in increases:
                entry["increase"] = True
            entries.append(entry)
        out.append(entries)
    return out


def _g4(x: float | None) -> str:
    return "?" if x is None else f"{x:.4g}"


def written_apart(observed: float | None, expected: float | None) -> tuple[str, str]:
    """A reading and its reconstruction (or an alert's score and threshold: ``serve``'s log
    line) with 4 significant digits, or as many more (up to
    17) as write them about as far apart as they are (the written difference within half
    the true one): at 4 digits a gauge of 6.4e10 bytes 3e6 off its reconstruction, or a
    constant 5 that read 5.000001, was written 'x (exp x)', and two numbers either side of
    a 4-digit rounding step were written a step apart: a counter of 1.2345e15 and its
    reconstruction 0.25 above as '1.234e+15 (exp 1.235e+15)'.

    >>> written_apart(64_213_000_000.0, 64_210_000_000.0), written_apart(5.000001, 5.0), written_apart(7.91234, 2.1)
    (('6.4213e+10', '6.4210e+10'), ('5.000001', '5.000000'), ('7.912', '2.1'))
    >>> written_apart(1_234_500_000_000_000.0, 1_234_500_000_000_000.25), written_apart(2.0004, 2.0006)
    (('1234500000000000.0', '1234500000000000.2'), ('2.0004', '2.0006'))
    """
    first, second = _g4(observed), _g4(expected)
    if observed is None or expected is None or observed == expected:
        return first, second
    gap = abs(observed - expected)
    if not math.isfinite(gap):  # readings either side of +-9e307: 4 digits tell them apart
        return first, second

    def misread(digits: int) -> bool:
        # not '>': 1.7976931348623157e308 at 4 digits, '1.798e+308', reads back as inf
        written = abs(float(f"{observed:.{digits}g}") - float(f"{expected:.{digits}g}"))
        return not abs(written - gap) <= gap / 2

    if not misread(4):
        return first, second
    digits = 5
    while misread(digits) and digits < 17:
        digits += 1
    # '#': trailing zeros kept, so both show the digit that tells them apart
    return f"{observed:#.{digits}g}", f"{expected:#.{digits}g}"


def feature_values_text(values: Sequence[Mapping[str, Any]]) -> str:
    """:func:`feature_values`' entries of one window in a line: 4 significant digits (more
    where a reading and its reconstruction would read the same, or a rounding step apart
    when they are much closer: :func:`written_apart`); the
    increase of a counter (``data.counters``) is written ``increase N``.

    >>> feature_values_text([
    ...     {"feature": "vibration", "observed": 7.91234, "expected": 2.1, "rows_before_end": 0},
    ...     {"feature": "rpm", "observed": 3012.5, "expected": 1499.9, "rows_before_end": 2},
    ...     {"feature": "flow", "observed": 10.0, "expected": None, "rows_before_end": 0,
    ...      "movement": 0.0, "normal_movement": 0.0512},
    ...     {"feature": "temp", "observed": 1e39, "expected": None, "rows_before_end": 3},
    ...     {"feature": "requests_total", "observed": 812.0, "expected": 120.0,
    ...      "rows_before_end": 0, "increase": True}])
    'vibration 7.912 (exp 2.1), rpm 3012 (exp 1500, 2 rows before end), flow 10 (moved 0/row, \
normally >= 0.0512), temp 1e+39 (3 rows before end), requests_total increase 812 (exp 120)'
    """
    parts = []
    for v in values:
        notes = []
        observed, expected = written_apart(v.get("observed"), v.get("expected"))
        if "movement" in v:
            notes.append(f"moved {_g4(v['movement'])}/row, normally >= {_g4(v['normal_movement'])}")
        elif v.get("expected") is not None:
            notes.append(f"exp {expected}")
        back = v.get("rows_before_end") or 0
        if back:
            notes.append(f"{back} row{'s' if back != 1 else ''} before end")
        what = f"{v['feature']} increase" if v.get("increase") else v["feature"]
        parts.append(f"{what} {observed}"
                     + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def fit_severity_quantiles(normal_scores: np.ndarray) -> np.ndarray:
    """The held-out normal scores at :data:`SEVERITY_LEVELS`, fixed at training: of the
    finite ones, as the threshold is (:func:`~anomaly_gan.scoring.fit_threshold`). A window
    the network could not compute scores +inf, and the quantiles interpolated toward it
    were +inf and NaN, which a bundle may not hold.

    >>> fit_severity_quantiles(np.r_[np.arange(201.0), np.inf])[[0, 100, 200]]
    array([  0., 100., 200.])
    """
    scores = np.asarray(normal_scores, dtype=np.float64).ravel()
    return np.quantile(scores[np.isfinite(scores)], SEVERITY_LEVELS)


def severity(scores: np.ndarray, normal_quantiles: np.ndarray) -> np.ndarray:
    """0-100: the score's position in the held-out normal score distribution.

    ``normal_quantiles`` are the scores at :data:`SEVERITY_LEVELS`, fixed at training, so a
    severity never changes after it is emitted. Above the largest normal score -> 100.
    Quantiles that tie (held-out scores that are mostly one value, as on a channel that
    sat still) count at the middle of their levels, so a score equal to every normal
    score is 50, not 100; a score above them is above all their levels: between two
    stored values the severity rises from the top level of the lower one to the bottom
    level of the higher one.

    >>> severity(np.array([-1.0, 0.5, 9.0]), np.linspace(0, 1, 201))
    array([  0.,  50., 100.])
    >>> severity(np.array([0.0, 1e-9]), np.zeros(201))
    array([ 50., 100.])
    >>> severity(np.array([0.0, 0.5]), np.r_[np.zeros(200), 1.0])  # above 99.5% of them
    array([49.75, 99.75])
    >>> severity(np.array([np.inf, np.nan]), np.linspace(0, 1, 201))  # a window past float32
    array([100.,  nan])
    """
    scores = np.asarray(scores, dtype=np.float64)
    levels = np.linspace(0.0, 100.0, len(normal_quantiles))
    values, first, counts = np.unique(normal_quantiles, return_index=True, return_counts=True)
    bottom, top = levels[first], levels[first + counts - 1]
    # the distinct value at or below each score (-1: below them all)
    at = np.searchsorted(values, scores, side="right") - 1
    below, i = at < 0, np.clip(at, 0, len(values) - 1)
    j = np.minimum(i + 1, len(values) - 1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        share = (scores - values[i]) / (values[j] - values[i])
        out = np.where(scores == values[i], (bottom[i] + top[i]) / 2.0,
                       top[i] + share * (bottom[j] - top[i]))
    out = np.where(below, 0.0, np.where(scores > values[-1], 100.0, out))
    return np.where(np.isnan(scores), np.nan, out)
