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


def _prf(pred: np.ndarray, labels: np.ndarray
         ) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of the flags ``pred``; None where one is 0/0: precision
    with nothing flagged, recall with no anomalous row, F1 (2TP / (2TP + FP + FN)) with
    neither.

    >>> _prf(np.array([1, 0, 0]), np.array([0, 0, 0]))  # a false alarm; nothing to find
    (0.0, None, 0.0)
    >>> _prf(np.array([0, 0]), np.array([0, 1]))
    (None, 0.0, 0.0)
    """
    from sklearn.metrics import precision_recall_fscore_support

    # zero_division NaN: a 0/0 is told apart from a 0 (scikit-learn >= 1.3 computes F1 as
    # 2TP / (2TP + FP + FN), NaN only where that is 0/0)
    prf = precision_recall_fscore_support(labels, pred.astype(np.int8), average="binary",
                                          pos_label=1, zero_division=np.nan)[:3]
    p, r, f = (None if np.isnan(v) else float(v) for v in prf)
    return p, r, f


#: Why a metric is None (``evaluate``'s ``undefined``): each is 0/0 on such labels or flags.
ONE_CLASS = ("every row is labelled {}: AUC-ROC, AUC-PR and best F1 rank anomalous rows "
             "against normal ones and need both")
NOTHING_FLAGGED = "no row is over the threshold: precision is 0 of 0 flagged rows"
NOTHING_TO_FIND = "no row is labelled anomalous: recall is 0 of 0 anomalous rows"


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, threshold: float | None = None
                    ) -> dict[str, Any]:
    """AUC-ROC, AUC-PR (average precision), best F1 over all thresholds and, given the
    calibrated ``threshold``, F1/precision/recall at it. Rows without a score (before the
    first complete window) count as predicted normal, so every labelled row is scored
    (``anomalous_unscored_rows`` counts the labelled ones among them): AUC-ROC and AUC-PR
    rank them below every score, and best F1 is over the thresholds on the scores (no
    threshold flags them). A score of +inf (a window the network could not compute) ranks above
    every other. A metric that is 0/0 on these labels or flags (AUC-ROC, AUC-PR and best F1
    where every row is labelled alike, recall without an anomalous row, precision with
    nothing flagged) is None, and ``undefined`` says why, by metric.

    >>> m = evaluate_scores(np.array([0.1, 0.2, 0.9]), np.array([0, 0, 0]), threshold=0.5)
    >>> m["auc_roc"], m["precision"], m["recall"], m["f1"]
    (None, 0.0, None, 0.0)
    >>> m["undefined"]["recall"]
    'no row is labelled anomalous: recall is 0 of 0 anomalous rows'
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
    undefined: dict[str, str] = {}
    if 0 < labels.sum() < labels.size:
        out["auc_roc"] = float(roc_auc_score(labels, filled))
        # scikit-learn's average precision, the unscored rows ranked below every score as
        # AUC-ROC ranks them (the rule: metrics computed with scikit-learn)
        out["auc_pr"] = float(average_precision_score(labels, filled))
        prec, rec, cut = precision_recall_curve(labels, filled)
        # best F1 is over the thresholds on the scores: the points whose threshold is at or
        # under the unscored rows' filler flag them, which no threshold does (they count as
        # predicted normal); an incident in the warm-up alone scored a best F1 for flagging
        # every row
        k = int((cut <= floor - 1.0).sum()) if (~finite & ~beyond).any() else 0
        prec, rec = prec[k:], rec[k:]
        f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
        out["best_f1"] = float(f1.max())
    else:
        out["auc_roc"] = out["auc_pr"] = out["best_f1"] = None
        why = ONE_CLASS.format("anomalous" if labels.size and labels.all() else "normal")
        undefined.update(auc_roc=why, auc_pr=why, best_f1=why)
    if threshold is not None:
        # compare the real scores: ``filled`` puts unscored rows at floor - 1, which is
        # still above a threshold that every score exceeds
        pred = (finite & (scores > threshold)) | beyond
        p, r, f = _prf(pred, labels)
        out.update(threshold=float(threshold), precision=p, recall=r, f1=f,
                   flagged_rows=int(pred.sum()))
        out["point_adjusted_f1"] = _prf(point_adjust(pred, labels), labels)[2]
        if p is None:
            undefined["precision"] = NOTHING_FLAGGED
        if r is None:
            undefined["recall"] = NOTHING_TO_FIND
        if f is None:
            undefined["f1"] = undefined["point_adjusted_f1"] = (
                "no row is labelled anomalous or over the threshold: F1 is 0 of 0")
    out["undefined"] = undefined
    return out
