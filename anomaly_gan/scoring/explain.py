"""Explanations and severity: which features, and how unusual, in words people use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

__all__ = ["SEVERITY_LEVELS", "TopFeatures", "severity", "top_features"]

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


def severity(scores: np.ndarray, normal_quantiles: np.ndarray) -> np.ndarray:
    """0-100: the score's position in the held-out normal score distribution.

    ``normal_quantiles`` are the scores at :data:`SEVERITY_LEVELS`, fixed at training, so a
    severity never changes after it is emitted. Above the largest normal score -> 100.
    Quantiles that tie (held-out scores that are mostly one value, as on a channel that
    sat still) count at the middle of their levels, so a score equal to every normal
    score is 50, not 100.

    >>> severity(np.array([-1.0, 0.5, 9.0]), np.linspace(0, 1, 201))
    array([  0.,  50., 100.])
    >>> severity(np.array([0.0, 1e-9]), np.zeros(201))
    array([ 50., 100.])
    >>> severity(np.array([np.inf, np.nan]), np.linspace(0, 1, 201))  # a window past float32
    array([100.,  nan])
    """
    levels = np.linspace(0.0, 100.0, len(normal_quantiles))
    values, first, counts = np.unique(normal_quantiles, return_index=True, return_counts=True)
    # np.interp needs strictly increasing points: one per distinct quantile, at the middle
    # of the levels it holds
    mid = (levels[first] + levels[first + counts - 1]) / 2.0
    out = np.interp(scores, values, mid, left=0.0, right=100.0)
    return np.where(np.isnan(scores), np.nan, out)
