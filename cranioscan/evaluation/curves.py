"""Per-class curves of a validation set: ROC, precision-recall, calibration.

Each function takes labels and probabilities ``(n, n_classes)`` and returns a
dict ``class -> curve`` of plain lists (JSON-ready), as the run folder's
``roc.json`` and the dashboard's validation page use them.
"""

__all__ = [
    "roc_curve_per_class",
    "precision_recall_per_class",
    "calibration_curve_per_class",
]

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from ..labels import CLASSES
from .metrics import _NAN, _as_matrices, _one_class_note, _weighted_auc


def roc_curve_per_class(y_true, y_prob, classes=CLASSES):
    """ROC curve and AUC of every class.

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        y_prob: ``(n, c)`` probabilities.
        classes: ``c`` class names (``CLASSES``).

    Returns:
        dict class -> ``{"fpr", "tpr", "thresholds"}`` (float64 ``(k,)``
        arrays from ``sklearn.metrics.roc_curve``; the first threshold is
        ``inf``, "call nothing positive") plus ``"auc"`` (float) and
        ``"note"`` (str or None). A class with one label value gets empty
        arrays, ``auc`` NaN and a note saying why.
    """
    y_true, y_prob = _as_matrices(y_true, y_prob, classes)
    out = {}
    for c, name in enumerate(classes):
        note = _one_class_note(y_true[:, c])
        if note:
            empty = np.zeros(0)
            out[name] = {"fpr": empty, "tpr": empty.copy(), "thresholds": empty.copy(),
                         "auc": _NAN, "note": note}
            continue
        fpr, tpr, thresholds = roc_curve(y_true[:, c], y_prob[:, c])
        out[name] = {"fpr": fpr, "tpr": tpr, "thresholds": thresholds,
                     "auc": _weighted_auc(y_true[:, c], y_prob[:, c]), "note": None}
    return out


# ------------------------------------------------------ curves beyond the ROC
def precision_recall_per_class(y_true, y_prob, classes=CLASSES):
    """Precision-recall curve and average precision of every class.

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        y_prob: ``(n, c)`` probabilities.
        classes: ``c`` class names.

    Returns:
        dict class -> ``{"precision", "recall", "thresholds"}`` (float64
        arrays from ``sklearn.metrics.precision_recall_curve``),
        ``"average_precision"`` and ``"prevalence"`` (floats). A class with no
        positive case gets empty arrays and NaN average precision.
    """
    y_true, y_prob = _as_matrices(y_true, y_prob, classes)
    out = {}
    for c, name in enumerate(classes):
        prevalence = float(y_true[:, c].mean()) if y_true.shape[0] else _NAN
        if not y_true[:, c].any():
            empty = np.zeros(0)
            out[name] = {"precision": empty, "recall": empty.copy(), "thresholds": empty.copy(),
                         "average_precision": _NAN, "prevalence": prevalence}
            continue
        precision, recall, thresholds = precision_recall_curve(y_true[:, c], y_prob[:, c])
        out[name] = {"precision": precision, "recall": recall, "thresholds": thresholds,
                     "average_precision": float(average_precision_score(y_true[:, c], y_prob[:, c])),
                     "prevalence": prevalence}
    return out


def calibration_curve_per_class(y_true, y_prob, n_bins=10, classes=CLASSES):
    """Reliability curve of every class on ``n_bins`` equal-width bins of [0, 1].

    A probability ``p`` falls in bin ``min(floor(p * n_bins), n_bins - 1)``.

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        y_prob: ``(n, c)`` probabilities in [0, 1].
        n_bins: number of bins.
        classes: ``c`` class names.

    Returns:
        dict class -> ``{"bin_edges": (n_bins + 1,), "mean_predicted":
        (n_bins,), "fraction_positive": (n_bins,), "count": (n_bins,) int,
        "ece": float}``; empty bins hold NaN; ``ece`` is the expected
        calibration error ``sum_b count_b / n * |fraction_b - mean_b|``.
    """
    y_true, y_prob = _as_matrices(y_true, y_prob, classes)
    n_bins = int(n_bins)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if ((y_prob < 0) | (y_prob > 1)).any():
        raise ValueError("y_prob must lie in [0, 1] for a calibration curve")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = {}
    for c, name in enumerate(classes):
        bins = np.minimum((y_prob[:, c] * n_bins).astype(np.int64), n_bins - 1)
        count = np.bincount(bins, minlength=n_bins)
        sum_p = np.bincount(bins, weights=y_prob[:, c], minlength=n_bins)
        sum_y = np.bincount(bins, weights=y_true[:, c], minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_p = np.where(count > 0, sum_p / count, np.nan)
            frac = np.where(count > 0, sum_y / count, np.nan)
        n = count.sum()
        ece = float(np.nansum(count * np.abs(frac - mean_p)) / n) if n else _NAN
        out[name] = {"bin_edges": edges.copy(), "mean_predicted": mean_p,
                     "fraction_positive": frac, "count": count, "ece": ece}
    return out
