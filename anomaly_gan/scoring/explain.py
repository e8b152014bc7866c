"""Explanations and severity: which features, and how unusual, in words people use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SEVERITY_LEVELS", "severity", "top_features"]

# Quantile levels of the held-out normal score distribution stored in a bundle.
SEVERITY_LEVELS = np.linspace(0.0, 1.0, 201)


def top_features(contributions: np.ndarray, names: Sequence[str], k: int) -> list[list[str]]:
    """Names of the ``k`` largest per-feature contributions of each row, largest first.

    >>> top_features(np.array([[0.1, 3.0, 2.0]]), ["a", "b", "c"], 2)
    [['b', 'c']]
    """
    k = min(k, contributions.shape[1])
    idx = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    return [[names[j] for j in row] for row in idx]


def severity(scores: np.ndarray, normal_quantiles: np.ndarray) -> np.ndarray:
    """0-100: the score's position in the held-out normal score distribution.

    ``normal_quantiles`` are the scores at :data:`SEVERITY_LEVELS`, fixed at training, so a
    severity never changes after it is emitted. Above the largest normal score -> 100.

    >>> severity(np.array([-1.0, 0.5, 9.0]), np.linspace(0, 1, 201))
    array([  0.,  50., 100.])
    """
    levels = np.linspace(0.0, 100.0, len(normal_quantiles))
    out = np.interp(scores, normal_quantiles, levels, left=0.0, right=100.0)
    return np.where(np.isfinite(scores), out, np.nan)
