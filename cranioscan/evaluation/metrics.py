"""Validation metrics for six-label hemorrhage predictions (numpy / scikit-learn).

Conventions: ``y_true`` is ``(n, c)`` 0/1 labels and ``y_prob`` ``(n, c)``
probabilities, columns in ``cranioscan.labels.CLASSES`` order; the ``*_col``
arguments are one such column, shape ``(n,)``. A case is called positive when
its probability is ``>= threshold`` (scikit-learn's ROC convention).
Quantities a sample cannot define (an AUC with one label value, a
sensitivity with no positive case) are NaN, never an exception; ``summarize``
and ``to_jsonable`` turn them into ``None`` for JSON.
"""

__all__ = [
    "to_jsonable",
    "auc_score",
    "bootstrap_auc_ci",
    "bootstrap_fraction_ci",
    "wilson_interval",
    "proportion_ci",
    "MIN_BOOTSTRAP_CLUSTERS",
    "rsna_weighted_log_loss",
    "confusion_at_threshold",
    "threshold_table",
    "choose_threshold",
    "summarize",
]

import math
from statistics import NormalDist

import numpy as np
from sklearn.metrics import average_precision_score, roc_curve

from ..labels import CLASSES, RSNA_WEIGHTS

_NAN = float("nan")


# ----------------------------------------------------------------- validation
def _as_matrices(y_true, y_prob, classes):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob must both be (n, classes); got {y_true.shape} and {y_prob.shape}")
    if y_true.shape[1] != len(classes):
        raise ValueError(f"{y_true.shape[1]} columns for {len(classes)} class names")
    _check_values(y_true, y_prob)
    return y_true, y_prob


def _as_columns(y_true_col, y_prob_col):
    y_true_col = np.asarray(y_true_col, dtype=np.float64)
    y_prob_col = np.asarray(y_prob_col, dtype=np.float64)
    if y_true_col.ndim != 1 or y_true_col.shape != y_prob_col.shape:
        raise ValueError(
            f"y_true_col and y_prob_col must both be (n,); got {y_true_col.shape} "
            f"and {y_prob_col.shape}")
    _check_values(y_true_col, y_prob_col)
    return y_true_col, y_prob_col


def _check_values(y_true, y_prob):
    if not np.isin(y_true, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(y_prob).all():
        raise ValueError("y_prob holds NaN or infinite values")


def _ratio(num, den):
    return float(num) / float(den) if den else _NAN


def _one_class_note(y_true_col):
    n_pos = int(y_true_col.sum())
    n = y_true_col.size
    if n == 0:
        return "no samples"
    if n_pos == 0:
        return f"AUC undefined: all {n} samples are negative"
    if n_pos == n:
        return f"AUC undefined: all {n} samples are positive"
    return None


def to_jsonable(obj):
    """Return ``obj`` with numpy types as Python ones and NaN / inf as ``None``.

    Dicts, lists and tuples are converted recursively (tuples become lists);
    arrays become (nested) lists.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


# ------------------------------------------------------------------------ AUC
def _weighted_auc(y_true_col, y_prob_col, weights=None):
    """ROC AUC as the (weighted) Mann-Whitney statistic, ties counted 1/2."""
    pos = y_true_col > 0.5
    w = np.ones_like(y_prob_col) if weights is None else np.asarray(weights, dtype=np.float64)
    w_pos = float(w[pos].sum())
    w_neg = float(w[~pos].sum())
    if w_pos <= 0 or w_neg <= 0:
        return _NAN
    levels, inverse = np.unique(y_prob_col, return_inverse=True)
    pos_at = np.bincount(inverse, weights=w * pos, minlength=levels.size)
    neg_at = np.bincount(inverse, weights=w * ~pos, minlength=levels.size)
    neg_below = np.cumsum(neg_at) - neg_at
    return float(np.sum(pos_at * (neg_below + 0.5 * neg_at)) / (w_pos * w_neg))


def auc_score(y_true_col, y_prob_col):
    """ROC AUC of one column, ``(n,)`` each; NaN when only one label value occurs.

    Equals the probability that a random positive scores above a random
    negative, ties counting one half.
    """
    y_true_col, y_prob_col = _as_columns(y_true_col, y_prob_col)
    return _weighted_auc(y_true_col, y_prob_col)


def bootstrap_auc_ci(y_true_col, y_prob_col, n_boot=1000, alpha=0.05, seed=0, groups=None):
    """Percentile bootstrap confidence interval of one column's ROC AUC.

    Samples are drawn with replacement -- or, with ``groups``, whole groups
    (studies) are, since slices of one study are correlated and resampling
    slices would give too narrow an interval. Replicates holding one label
    value only are skipped.

    Args:
        y_true_col: ``(n,)`` 0/1 labels.
        y_prob_col: ``(n,)`` probabilities.
        n_boot: number of bootstrap replicates.
        alpha: ``1 - alpha`` is the coverage (0.05: a 95% interval).
        seed: seed of ``numpy.random.default_rng``; same seed, same interval.
        groups: optional ``(n,)`` group ids (study UIDs, any hashable values).

    Returns:
        ``(low, high)`` floats; ``(nan, nan)`` when the AUC is undefined or
        fewer than half of the replicates define one.
    """
    y_true_col, y_prob_col = _as_columns(y_true_col, y_prob_col)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n_boot = int(n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if _one_class_note(y_true_col):
        return _NAN, _NAN
    if groups is None:
        unit_of = np.arange(y_true_col.size)
    else:
        groups = np.asarray(groups)
        if groups.shape != y_true_col.shape:
            raise ValueError(f"groups must be (n,) = {y_true_col.shape}, got {groups.shape}")
        _, unit_of = np.unique(groups, return_inverse=True)
    n_units = int(unit_of.max()) + 1
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        value = _weighted_auc(y_true_col, y_prob_col, counts[unit_of].astype(np.float64))
        if not math.isnan(value):
            aucs.append(value)
    if len(aucs) < max(1, n_boot // 2):
        return _NAN, _NAN
    low, high = np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_fraction_ci(hits, groups, n_boot=1000, alpha=0.05, seed=0):
    """Percentile bootstrap interval of a fraction, resampling whole groups.

    For rates measured on slices, such as how often a heatmap's peak lies in
    the lesion: slices of one study are not independent (a study's lesion
    tends to be found on all its slices or on none), so studies are drawn.

    Args:
        hits: ``(n,)`` bools.
        groups: ``(n,)`` group ids (study UIDs or seeds, any hashable values).
        n_boot: number of bootstrap replicates.
        alpha: ``1 - alpha`` is the coverage (0.05: a 95% interval).
        seed: seed of ``numpy.random.default_rng``; same seed, same interval.

    Returns:
        ``(low, high)`` floats; ``(nan, nan)`` for no slices.
    """
    hits = np.asarray(hits, dtype=np.float64)
    groups = np.asarray(groups)
    if hits.ndim != 1 or groups.shape != hits.shape:
        raise ValueError(f"hits {hits.shape} and groups {groups.shape} must be the same (n,) shape")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if hits.size == 0:
        return _NAN, _NAN
    ids, unit_of = np.unique(groups, return_inverse=True)
    sums = np.bincount(unit_of, weights=hits, minlength=len(ids))
    sizes = np.bincount(unit_of, minlength=len(ids)).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(int(n_boot), len(ids)))
    fractions = sums[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.quantile(fractions, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


#: Fewest clusters (studies, patients) for which a cluster bootstrap of a
#: proportion is used; with fewer, the resamples are too few distinct sets to
#: give an interval, and the Wilson score interval on slices is used instead.
MIN_BOOTSTRAP_CLUSTERS = 20


def wilson_interval(k, n, alpha=0.05):
    """Wilson score interval of a binomial proportion ``k / n``.

    Unlike the bootstrap or the normal approximation, it is never of zero
    width at 0 or n successes (0 of 35: 0%-9.9%; 35 of 35: 90.1%-100%).

    Returns:
        ``(low, high)`` floats in [0, 1]; ``(nan, nan)`` for ``n = 0``.
    """
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n == 0:
        return _NAN, _NAN
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        low = 0.0
    if k == n:
        high = 1.0
    return float(low), float(high)


def proportion_ci(hits, groups=None, alpha=0.05, min_clusters=MIN_BOOTSTRAP_CLUSTERS,
                  n_boot=1000, seed=0):
    """95% (``1 - alpha``) interval of a hit rate, and the method that gave it.

    A cluster bootstrap (whole studies resampled) where there are at least
    ``min_clusters`` clusters and both hits and misses; otherwise -- few
    clusters, where a bootstrap collapses, or 0 or all hits, where every
    resample gives the same rate -- the Wilson score interval on slices.

    Args:
        hits: ``(n,)`` bools.
        groups: optional ``(n,)`` cluster ids (study UIDs or seeds).
        alpha, n_boot, seed: as ``bootstrap_fraction_ci``.
        min_clusters: fewest clusters for the bootstrap.

    Returns:
        ``(low, high, method)``: floats (NaN for no slices) and a short
        text naming the method, e.g. ``"Wilson score interval on 35 slices"``
        or ``"bootstrap over 24 studies"``.
    """
    hits = np.asarray(hits, dtype=bool)
    if hits.ndim != 1:
        raise ValueError(f"hits must be 1-D, got shape {hits.shape}")
    n, k = int(hits.size), int(hits.sum())
    if n == 0:
        return _NAN, _NAN, "no slices"
    n_clusters = None
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != hits.shape:
            raise ValueError(f"hits {hits.shape} and groups {groups.shape} must be the same "
                             "(n,) shape")
        n_clusters = int(np.unique(groups).size)
    if n_clusters is not None and n_clusters >= min_clusters and 0 < k < n:
        low, high = bootstrap_fraction_ci(hits, groups, n_boot=n_boot, alpha=alpha, seed=seed)
        return low, high, f"bootstrap over {n_clusters} studies"
    low, high = wilson_interval(k, n, alpha)
    return low, high, f"Wilson score interval on {n} slice{'' if n == 1 else 's'}"


# ------------------------------------------------------------------- log loss
def rsna_weighted_log_loss(y_true, y_prob, weights=RSNA_WEIGHTS, eps=1e-7):
    """RSNA 2019 metric: the weighted multi-label logarithmic loss.

    ``sum_{i,c} w_c * bce(y_ic, p_ic) / sum_{i,c} w_c`` with
    ``bce(y, p) = -(y log p + (1 - y) log(1 - p))`` and ``p`` clipped to
    ``[eps, 1 - eps]``; with weights (2, 1, 1, 1, 1, 1) ``any`` counts twice.

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        y_prob: ``(n, c)`` probabilities.
        weights: ``c`` class weights.
        eps: probability clipping.

    Returns:
        float (lower is better; NaN for ``n = 0``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    y_true, y_prob = _as_matrices(y_true, y_prob, range(weights.size))
    if y_true.shape[0] == 0:
        return _NAN
    p = np.clip(y_prob, eps, 1.0 - eps)
    bce = -(y_true * np.log(p) + (1.0 - y_true) * np.log1p(-p))
    return float((bce * weights).sum() / (weights.sum() * y_true.shape[0]))


# --------------------------------------------------------------- thresholds
def confusion_at_threshold(y_true_col, y_prob_col, threshold):
    """Confusion counts and rates when ``prob >= threshold`` is called positive.

    Args:
        y_true_col: ``(n,)`` 0/1 labels.
        y_prob_col: ``(n,)`` probabilities.
        threshold: float.

    Returns:
        dict with ints ``tp, fp, tn, fn`` and floats ``sensitivity``
        (tp / (tp + fn)), ``specificity`` (tn / (tn + fp)), ``ppv``
        (tp / (tp + fp)), ``npv`` (tn / (tn + fn)); a rate whose
        denominator is 0 is NaN.
    """
    y_true_col, y_prob_col = _as_columns(y_true_col, y_prob_col)
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    pos = y_true_col > 0.5
    called = y_prob_col >= threshold
    tp = int(np.sum(called & pos))
    fp = int(np.sum(called & ~pos))
    tn = int(np.sum(~called & ~pos))
    fn = int(np.sum(~called & pos))
    return {
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }


def threshold_table(y_true_col, y_prob_col, thresholds):
    """``confusion_at_threshold`` at each threshold.

    Returns:
        list of dicts, one per threshold (in the given order), each the
        confusion dict plus ``"threshold"``.
    """
    return [{"threshold": float(t), **confusion_at_threshold(y_true_col, y_prob_col, t)}
            for t in thresholds]


def choose_threshold(y_true_col, y_prob_col, method="youden", target=0.95):
    """Pick an operating threshold on one column.

    Methods:
        ``"youden"``: maximise Youden's J = sensitivity + specificity - 1
            (the highest such threshold when several tie).
        ``"sensitivity"``: the highest threshold whose sensitivity is at
            least ``target`` (the best specificity at that sensitivity).
        ``"specificity"``: the lowest threshold whose specificity is at
            least ``target``.

    The threshold is chosen on the data given: rates measured on the same
    data are optimistic; choose on validation, report on test.

    Args:
        y_true_col: ``(n,)`` 0/1 labels.
        y_prob_col: ``(n,)`` probabilities.
        method: one of the above.
        target: the sensitivity or specificity to reach, in (0, 1].

    Returns:
        float threshold (one of the probabilities), NaN when the column has
        one label value only.
    """
    y_true_col, y_prob_col = _as_columns(y_true_col, y_prob_col)
    if method not in ("youden", "sensitivity", "specificity"):
        raise ValueError(f"method must be 'youden', 'sensitivity' or 'specificity', got {method!r}")
    if method != "youden" and not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    if _one_class_note(y_true_col):
        return _NAN
    fpr, tpr, thresholds = roc_curve(y_true_col, y_prob_col, drop_intermediate=False)
    # Drop sklearn's leading +inf ("nothing positive"): not a usable threshold.
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
    if method == "youden":
        index = int(np.argmax(tpr - fpr))  # thresholds decrease: first = highest
    elif method == "sensitivity":
        index = int(np.flatnonzero(tpr >= target - 1e-12)[0])
    else:
        index = int(np.flatnonzero(1.0 - fpr >= target - 1e-12)[-1])
    return float(thresholds[index])


# -------------------------------------------------------------------- summary
def summarize(y_true, y_prob, groups=None, thresholds=None, n_boot=1000, alpha=0.05, seed=0,
              threshold_method="youden", target=0.95, default_threshold=0.5,
              classes=CLASSES, weights=RSNA_WEIGHTS):
    """Everything ``metrics.json`` reports, JSON-serialisable (NaN -> None).

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        y_prob: ``(n, c)`` probabilities.
        groups: optional ``(n,)`` study ids for the grouped bootstrap.
        thresholds: ``None`` (choose per class with ``threshold_method``), a
            float for every class, a sequence of ``c`` floats, or a dict
            class -> float.
        n_boot, alpha, seed: of ``bootstrap_auc_ci`` (``n_boot=0`` skips it).
        threshold_method, target: of ``choose_threshold``.
        default_threshold: used where no threshold can be chosen (one label
            value in the column).
        classes: ``c`` class names.
        weights: class weights of ``rsna_weighted_log_loss``.

    Returns:
        ``{"n_samples", "n_groups", "rsna_weighted_log_loss", "mean_auc",
        "ci_level", "threshold_method", "classes": {class: {"auc",
        "auc_ci_low", "auc_ci_high", "threshold", "threshold_source",
        "sensitivity", "specificity", "ppv", "npv", "tp", "fp", "tn", "fn",
        "prevalence", "n_pos", "n_neg", "average_precision"}}}``.
    """
    y_true, y_prob = _as_matrices(y_true, y_prob, classes)
    n = y_true.shape[0]
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must be (n,) = ({n},), got {groups.shape}")
    if thresholds is None:
        chosen = [None] * len(classes)
    elif isinstance(thresholds, dict):
        chosen = [thresholds.get(name) for name in classes]
    elif np.ndim(thresholds) == 0:
        chosen = [float(thresholds)] * len(classes)
    else:
        chosen = list(thresholds)
        if len(chosen) != len(classes):
            raise ValueError(f"{len(chosen)} thresholds for {len(classes)} classes")

    per_class = {}
    for c, name in enumerate(classes):
        t_col, p_col = y_true[:, c], y_prob[:, c]
        auc = _weighted_auc(t_col, p_col)
        if n_boot:
            low, high = bootstrap_auc_ci(t_col, p_col, n_boot=n_boot, alpha=alpha,
                                         seed=seed, groups=groups)
        else:
            low, high = _NAN, _NAN
        threshold, source = chosen[c], "given"
        if threshold is None:
            threshold = choose_threshold(t_col, p_col, threshold_method, target)
            source = threshold_method if threshold_method == "youden" else (
                f"{threshold_method}>={target}")
            if math.isnan(threshold):
                threshold, source = float(default_threshold), "default (one label value)"
        confusion = confusion_at_threshold(t_col, p_col, threshold)
        n_pos = int(t_col.sum())
        ap = _NAN
        if n_pos:
            ap = float(average_precision_score(t_col, p_col))
        per_class[name] = {
            "auc": auc, "auc_ci_low": low, "auc_ci_high": high,
            "threshold": float(threshold), "threshold_source": source,
            **confusion,
            "prevalence": _ratio(n_pos, n), "n_pos": n_pos, "n_neg": int(n - n_pos),
            "average_precision": ap,
        }
    aucs = [v["auc"] for v in per_class.values() if not math.isnan(v["auc"])]
    summary = {
        "n_samples": int(n),
        "n_groups": int(np.unique(groups).size) if groups is not None else None,
        "rsna_weighted_log_loss": rsna_weighted_log_loss(y_true, y_prob, weights),
        "mean_auc": float(np.mean(aucs)) if aucs else _NAN,
        "ci_level": 1.0 - alpha,
        "threshold_method": threshold_method,
        "classes": per_class,
    }
    return to_jsonable(summary)
