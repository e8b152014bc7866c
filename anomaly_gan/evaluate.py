"""Point-wise detection metrics, without point adjustment (pure; scikit-learn for curves).

Point adjustment (a whole labelled segment counts as found if any point in it is flagged)
inflates results so much that a random score can look state of the art; it is reported
only as ``point_adjusted_f1`` and always labelled as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["evaluate_scores", "point_adjust", "segments"]


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of consecutive 1s.

    >>> segments(np.array([0, 1, 1, 0, 1]))
    [(1, 3), (4, 5)]
    """
    padded = np.concatenate([[0], labels.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def point_adjust(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Flag a whole labelled segment if any of its points is flagged."""
    out = pred.astype(bool).copy()
    for a, b in segments(labels):
        if out[a:b].any():
            out[a:b] = True
    return out


def _prf(pred: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(labels, pred.astype(np.int8), average="binary",
                                                 pos_label=1, zero_division=0.0)
    return float(p), float(r), float(f)


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, threshold: float | None = None
                    ) -> dict[str, Any]:
    """AUC-ROC, AUC-PR (average precision), best F1 over all thresholds and, given the
    calibrated ``threshold``, F1/precision/recall at it. Rows without a score (before the
    first complete window) count as predicted normal, so every labelled row is scored
    (``anomalous_unscored_rows`` counts the labelled ones among them); a score of +inf (a
    window the network could not compute) ranks above every other.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int8)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.shape[0]} scores but {labels.shape[0]} labels")
    finite = np.isfinite(scores)
    # +inf is a window the network could not compute (flagged, see Detector.score_windows):
    # it ranks above every finite score; NaN is a row without a window: below them all.
    beyond = np.isposinf(scores)
    floor = scores[finite].min() if finite.any() else 0.0
    ceiling = scores[finite].max() if finite.any() else 0.0
    filled = np.where(finite, scores, np.where(beyond, ceiling + 1.0, floor - 1.0))
    out: dict[str, Any] = {
        "rows": int(labels.size),
        "anomalous_rows": int(labels.sum()),
        "unscored_rows": int((~finite & ~beyond).sum()),
        # labelled rows no score can flag: an incident in a file's first window reads as missed
        "anomalous_unscored_rows": int(((labels == 1) & ~finite & ~beyond).sum()),
    }
    if 0 < labels.sum() < labels.size:
        out["auc_roc"] = float(roc_auc_score(labels, filled))
        out["auc_pr"] = float(average_precision_score(labels, filled))
        prec, rec, _ = precision_recall_curve(labels, filled)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
        out["best_f1"] = float(f1.max())
    else:
        out["auc_roc"] = out["auc_pr"] = out["best_f1"] = None
    if threshold is not None:
        # compare the real scores: ``filled`` puts unscored rows at floor - 1, which is
        # still above a threshold that every score exceeds
        pred = (finite & (scores > threshold)) | beyond
        p, r, f = _prf(pred, labels)
        out.update(threshold=float(threshold), precision=p, recall=r, f1=f,
                   flagged_rows=int(pred.sum()))
        out["point_adjusted_f1"] = _prf(point_adjust(pred, labels), labels)[2]
    return out
