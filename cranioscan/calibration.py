"""Probability calibration: per-class Platt scaling fitted on out-of-fold predictions.

A model's sigmoid outputs are scores, not frequencies: trained with class
balancing, phantoms and few real patients, its 0.9 need not mean "blood on
nine slices in ten". Platt scaling maps each class's probability ``p`` to
``sigmoid(a * logit(p) + b)`` with ``a > 0``, fitted by maximum likelihood on
held-out (out-of-fold) predictions; a positive slope keeps the ranking, so
AUC does not change, while the expected calibration error (ECE) falls.

``Predictor`` applies the calibration the model card records
(``card["calibration"]``) with :func:`apply_calibration`; thresholds in the
card are on the calibrated scale. The calibration is fitted, and its error
measured, by ``cranioscan.evaluation.crossval``.
"""

__all__ = [
    "fit_platt",
    "apply_platt",
    "fit_calibration",
    "apply_calibration",
]

import numpy as np

from .labels import CLASSES

_EPS = 1e-6


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def fit_platt(y_true_col, y_prob_col, l2=1e-3):
    """Fit ``(a, b)`` of ``sigmoid(a * logit(p) + b)`` to one class's labels.

    Maximum likelihood with a small L2 penalty on ``log a`` and ``b`` (keeps
    the fit finite on separable data); ``a`` is kept positive (fitted as
    ``exp(log a)``) so the ranking of ``p`` is preserved.

    Args:
        y_true_col: ``(n,)`` 0/1 labels.
        y_prob_col: ``(n,)`` probabilities in [0, 1].
        l2: penalty weight.

    Returns:
        ``(a, b)`` floats; ``(1.0, 0.0)`` (identity) when the column holds
        one label value only.
    """
    from scipy.optimize import minimize  # only to fit: applying one (every score) needs numpy

    y = np.asarray(y_true_col, dtype=np.float64)
    z = _logit(y_prob_col)
    if y.shape != z.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and probabilities {z.shape} must be equal 1-d")
    if y.min(initial=0) == y.max(initial=0):
        return 1.0, 0.0

    def loss(theta):
        a, b = np.exp(theta[0]), theta[1]
        s = a * z + b
        # mean binary cross-entropy written with logaddexp, stable for any s
        nll = np.mean(np.logaddexp(0.0, s) - y * s)
        grad_s = (_sigmoid(s) - y) / len(y)
        grad = np.array([np.sum(grad_s * z) * a, np.sum(grad_s)])
        return nll + l2 * (theta @ theta), grad + 2 * l2 * theta

    result = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B")
    return float(np.exp(result.x[0])), float(result.x[1])


def apply_platt(y_prob_col, a, b):
    """``sigmoid(a * logit(p) + b)``: float64 array of ``p``'s shape."""
    return _sigmoid(a * _logit(y_prob_col) + b)


def fit_calibration(y_true, y_prob, classes=CLASSES):
    """Per-class Platt parameters as the model card stores them.

    Args:
        y_true: ``(n, c)`` 0/1 labels; y_prob: ``(n, c)`` probabilities.

    Returns:
        ``{"method": "platt", "classes": {class: {"a": float, "b": float}}}``.
    """
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    params = {}
    for c, name in enumerate(classes):
        a, b = fit_platt(y_true[:, c], y_prob[:, c])
        params[name] = {"a": a, "b": b}
    return {"method": "platt", "classes": params}


def apply_calibration(y_prob, calibration, classes=CLASSES):
    """Calibrated float32 ``(n, c)`` probabilities (a copy; ``y_prob`` unchanged).

    Args:
        y_prob: ``(n, c)`` model probabilities, columns in ``classes`` order.
        calibration: a :func:`fit_calibration` dict, or None / {} for none
            (the probabilities are returned as they are). Classes it does
            not list are left unchanged.

    Raises:
        ValueError: an unknown method.
    """
    y_prob = np.asarray(y_prob, dtype=np.float32)
    if not calibration:
        return y_prob.copy()
    if calibration.get("method") != "platt":
        raise ValueError(f"unknown calibration method {calibration.get('method')!r}")
    out = y_prob.copy()
    for c, name in enumerate(classes):
        params = calibration["classes"].get(name)
        if params is not None:
            out[:, c] = apply_platt(y_prob[:, c], params["a"], params["b"])
    return out
