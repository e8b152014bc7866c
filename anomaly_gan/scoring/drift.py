"""Population stability index (PSI) against reference histograms: pure numpy.

A reference histogram has ``edges`` (interior bin edges: deciles of the reference data,
duplicates removed) and the reference ``fractions`` of each bin. Bins are
``(-inf, e0], (e0, e1], ..., (e_last, +inf)``, so live values outside the reference range
still land in the outer bins.

``PSI = sum_i (a_i - r_i) * ln(a_i / r_i)`` over bins, with actual shares ``a`` and
reference shares ``r`` floored at :data:`PSI_FLOOR` so that an empty bin gives a large,
finite value. Rule of thumb: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 significant.

>>> round(psi([0.5, 0.5], [80, 20]), 4)   # (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
0.4159
>>> h = reference_histogram(np.arange(100.0), bins=4)
>>> h["edges"], h["fractions"]
([24.75, 49.5, 74.25], [0.25, 0.25, 0.25, 0.25])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MOVED_PSI", "PSI_FLOOR", "REFERENCE_BINS", "bin_index", "moved_features", "psi",
           "reference_histogram", "reference_histograms"]

REFERENCE_BINS = 10
PSI_FLOOR = 1e-4


def reference_histogram(values: np.ndarray, bins: int = REFERENCE_BINS) -> dict[str, Any]:
    """Quantile bin edges of ``values`` and the share of ``values`` in each bin."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"edges": [], "fractions": [1.0]}
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, v, side="left"), minlength=len(edges) + 1)
    return {"edges": edges.tolist(), "fractions": (counts / v.size).tolist()}


def reference_histograms(rows: np.ndarray, feature_names: Sequence[str],
                         scores: np.ndarray) -> dict[str, Any]:
    """The drift reference a bundle stores: one histogram per feature and one of the score."""
    rows = np.asarray(rows, dtype=np.float64)
    return {
        "bins": REFERENCE_BINS,
        "features": {name: reference_histogram(rows[:, i]) for i, name in enumerate(feature_names)},
        "score": reference_histogram(scores),
    }


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: the number of edges strictly below it (NaN goes to the last bin)."""
    return np.searchsorted(edges, values, side="left")


def psi(reference: Sequence[float] | np.ndarray, counts: Sequence[float] | np.ndarray,
        floor: float = PSI_FLOOR) -> float:
    """PSI of live bin ``counts`` against reference bin shares; NaN without counts."""
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return float("nan")
    a = np.maximum(c / total, floor)
    r = np.maximum(r, floor)
    return float(np.sum((a - r) * np.log(a / r)))


#: PSI above which a feature counts as moved (the rule of thumb's "significant").
MOVED_PSI = 0.25


def moved_features(rows: np.ndarray, reference: Mapping[str, Any] | None,
                   names: Sequence[str], min_psi: float = MOVED_PSI) -> list[tuple[str, float]]:
    """``(name, PSI)`` of the features whose values in ``rows`` moved from a bundle's
    reference (``metadata.json`` -> ``reference``, see :func:`reference_histograms`) by
    more than ``min_psi``, the most moved first; none without a reference.

    >>> ref = reference_histograms(np.column_stack([np.arange(100.0)] * 2), ["a", "b"],
    ...                            np.zeros(1))
    >>> rows = np.column_stack([np.arange(100.0), np.arange(100.0) + 60])
    >>> [(n, round(v, 2)) for n, v in moved_features(rows, ref, ["a", "b"])]
    [('b', 5.31)]
    """
    hists = (reference or {}).get("features") or {}
    rows = np.asarray(rows, dtype=np.float64)
    moved = []
    for i, name in enumerate(names):
        h = hists.get(name)
        if h is None:
            continue
        v = rows[:, i][np.isfinite(rows[:, i])]
        edges = np.asarray(h["edges"], dtype=np.float64)
        value = psi(h["fractions"], np.bincount(bin_index(v, edges), minlength=len(edges) + 1))
        if value > min_psi:
            moved.append((name, value))
    return sorted(moved, key=lambda m: -m[1])
