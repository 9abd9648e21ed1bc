"""Validation metrics against hand-computed values and edge cases."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cranioscan.labels import CLASSES
from cranioscan.evaluation.curves import (
    calibration_curve_per_class,
    precision_recall_per_class,
    roc_curve_per_class,
)
from cranioscan.evaluation.metrics import (
    auc_score,
    bootstrap_auc_ci,
    bootstrap_fraction_ci,
    choose_threshold,
    confusion_at_threshold,
    rsna_weighted_log_loss,
    summarize,
    threshold_table,
    to_jsonable,
)

# Four samples: positives score 0.35 and 0.8, negatives 0.1 and 0.4.
# Pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, 0.1) win,
# (0.8, 0.4) win -> AUC = 3 / 4.
Y4 = np.array([0, 0, 1, 1])
P4 = np.array([0.1, 0.4, 0.35, 0.8])


def _six_columns(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 6)) < 0.3).astype(int)
    p = np.clip(0.5 * y + 0.6 * rng.random((n, 6)), 0.0, 1.0)
    return y, p


def test_auc_counts_pairs_and_half_ties():
    assert auc_score(Y4, P4) == pytest.approx(0.75)
    # Ties count 1/2: pos 0.5 vs neg 0.5 -> 0.5, the other three pairs win.
    assert auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(3.5 / 4)
    assert auc_score([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.0)


def test_auc_matches_sklearn_on_random_data():
    y, p = _six_columns()
    p = np.round(p, 2)  # many ties
    for c in range(6):
        assert auc_score(y[:, c], p[:, c]) == pytest.approx(roc_auc_score(y[:, c], p[:, c]))


def test_roc_curve_per_class_values_and_one_class_column():
    y = np.zeros((4, 6), dtype=int)
    p = np.tile(np.linspace(0.1, 0.4, 4)[:, None], (1, 6))
    y[:, 0], p[:, 0] = Y4, P4
    y[:, 1] = 1  # every sample positive for epidural
    curves = roc_curve_per_class(y, p)
    assert list(curves) == list(CLASSES)
    any_curve = curves["any"]
    assert any_curve["auc"] == pytest.approx(0.75)
    assert any_curve["note"] is None
    assert (any_curve["fpr"][0], any_curve["tpr"][0]) == (0.0, 0.0)
    assert (any_curve["fpr"][-1], any_curve["tpr"][-1]) == (1.0, 1.0)
    # The ROC's area is the AUC.
    assert np.trapezoid(any_curve["tpr"], any_curve["fpr"]) == pytest.approx(0.75)
    for name, word in (("epidural", "positive"), ("subdural", "negative")):
        assert math.isnan(curves[name]["auc"])
        assert word in curves[name]["note"]
        assert curves[name]["fpr"].size == 0


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="y_true must hold only 0 and 1"):
        auc_score([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        auc_score([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"\(n, classes\)"):
        roc_curve_per_class(np.zeros((3, 6)), np.zeros((3, 5)))


def test_rsna_weighted_log_loss_by_hand():
    y = np.array([[1, 1, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0]])
    p = np.array([[0.9, 0.8, 0.1, 0.2, 0.1, 0.1],
                  [0.2, 0.1, 0.1, 0.1, 0.1, 0.3]])
    log = math.log
    total = (2 * -log(0.9) - log(0.8) - log(0.9) - log(0.8) - log(0.9) - log(0.9)
             + 2 * -log(0.8) - log(0.9) - log(0.9) - log(0.9) - log(0.9) - log(0.7))
    expected = total / (2 * 7)  # sum over samples and classes of the weights
    assert rsna_weighted_log_loss(y, p) == pytest.approx(expected, rel=1e-12)
    # Uniform weights give the plain mean binary cross-entropy.
    plain = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert rsna_weighted_log_loss(y, p, weights=[1] * 6) == pytest.approx(plain)


def test_rsna_log_loss_clips_certain_mistakes():
    y = np.ones((1, 6))
    p = np.zeros((1, 6))
    assert rsna_weighted_log_loss(y, p, eps=1e-7) == pytest.approx(-math.log(1e-7))
    assert rsna_weighted_log_loss(y, np.ones((1, 6))) == pytest.approx(-math.log(1 - 1e-7))


def test_confusion_at_threshold_by_hand():
    y = [1, 1, 0, 0, 0]
    p = [0.9, 0.4, 0.6, 0.2, 0.5]
    out = confusion_at_threshold(y, p, 0.5)  # 0.5 itself is called positive
    assert (out["tp"], out["fn"], out["fp"], out["tn"]) == (1, 1, 2, 1)
    assert out["sensitivity"] == pytest.approx(0.5)
    assert out["specificity"] == pytest.approx(1 / 3)
    assert out["ppv"] == pytest.approx(1 / 3)
    assert out["npv"] == pytest.approx(1 / 2)


def test_confusion_zero_denominators_are_nan():
    out = confusion_at_threshold([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert (out["tp"], out["fp"], out["tn"], out["fn"]) == (0, 0, 3, 0)
    assert math.isnan(out["sensitivity"])  # no positive case
    assert math.isnan(out["ppv"])  # nothing called positive
    assert out["specificity"] == 1.0 and out["npv"] == 1.0
    with pytest.raises(ValueError, match="threshold is NaN"):
        confusion_at_threshold([0, 1], [0.1, 0.2], float("nan"))


def test_threshold_table_rows_follow_thresholds():
    table = threshold_table(Y4, P4, [0.0, 0.5, 1.0])
    assert [row["threshold"] for row in table] == [0.0, 0.5, 1.0]
    assert [row["sensitivity"] for row in table] == [1.0, 0.5, 0.0]
    assert [row["specificity"] for row in table] == [0.0, 1.0, 1.0]


# Seven samples: J = tpr - fpr is 1/3 at 0.9, 2/3 at 0.7, 5/12 at 0.6,
# 3/4 at 0.5 (the maximum), 1/2 at 0.3.
Y7 = [0, 0, 0, 0, 1, 1, 1]
P7 = [0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.9]


def test_choose_threshold_youden_and_targets():
    assert choose_threshold(Y7, P7, "youden") == pytest.approx(0.5)
    assert choose_threshold(Y7, P7, "sensitivity", target=0.95) == pytest.approx(0.5)
    assert choose_threshold(Y7, P7, "sensitivity", target=0.6) == pytest.approx(0.7)
    assert choose_threshold(Y7, P7, "specificity", target=1.0) == pytest.approx(0.7)
    assert choose_threshold(Y7, P7, "specificity", target=0.75) == pytest.approx(0.5)
    assert math.isnan(choose_threshold([0, 0], [0.1, 0.9]))
    with pytest.raises(ValueError, match="method must be"):
        choose_threshold(Y7, P7, "accuracy")


def test_bootstrap_is_seeded_and_contains_estimate():
    y, p = _six_columns(n=120, seed=3)
    first = bootstrap_auc_ci(y[:, 0], p[:, 0], n_boot=300, seed=7)
    again = bootstrap_auc_ci(y[:, 0], p[:, 0], n_boot=300, seed=7)
    other = bootstrap_auc_ci(y[:, 0], p[:, 0], n_boot=300, seed=8)
    assert first == again
    assert first != other
    point = auc_score(y[:, 0], p[:, 0])
    assert first[0] < point < first[1]
    assert 0.0 <= first[0] < first[1] <= 1.0
    narrow = bootstrap_auc_ci(y[:, 0], p[:, 0], n_boot=300, seed=7, alpha=0.5)
    assert first[0] <= narrow[0] <= narrow[1] <= first[1]


def test_bootstrap_groups_resample_whole_groups():
    y, p = _six_columns(n=60, seed=4)
    col_y, col_p = y[:, 0], p[:, 0]
    plain = bootstrap_auc_ci(col_y, col_p, n_boot=200, seed=1)
    # One sample per group is the plain bootstrap.
    assert bootstrap_auc_ci(col_y, col_p, n_boot=200, seed=1, groups=np.arange(60)) == plain
    # Each study holding two identical slices: drawing studies draws both,
    # the weights double, and every replicate's AUC is unchanged.
    doubled = bootstrap_auc_ci(np.repeat(col_y, 2), np.repeat(col_p, 2), n_boot=200, seed=1,
                               groups=np.repeat([f"study{i:02d}" for i in range(60)], 2))
    assert doubled == pytest.approx(plain)
    # Resampling slices instead pretends there is twice the data: narrower.
    by_slice = bootstrap_auc_ci(np.repeat(col_y, 2), np.repeat(col_p, 2), n_boot=200, seed=1)
    assert by_slice[1] - by_slice[0] < doubled[1] - doubled[0]
    with pytest.raises(ValueError, match="groups must be"):
        bootstrap_auc_ci(col_y, col_p, groups=np.arange(3))


def test_bootstrap_single_class_is_nan():
    low, high = bootstrap_auc_ci([0, 0, 0], [0.1, 0.5, 0.9], n_boot=10)
    assert math.isnan(low) and math.isnan(high)


def test_precision_recall_average_precision_by_hand():
    y = np.zeros((4, 6), dtype=int)
    p = np.full((4, 6), 0.5)
    y[:, 0], p[:, 0] = Y4, P4
    curves = precision_recall_per_class(y, p)
    # Ranked: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg):
    # AP = 0.5 * 1 + 0.5 * 2/3.
    assert curves["any"]["average_precision"] == pytest.approx(0.5 + 1 / 3)
    assert curves["any"]["prevalence"] == pytest.approx(0.5)
    assert math.isnan(curves["epidural"]["average_precision"])
    assert curves["epidural"]["precision"].size == 0


def test_calibration_bins_by_hand():
    y = np.zeros((5, 6), dtype=int)
    p = np.zeros((5, 6))
    y[:, 0] = [0, 1, 1, 1, 1]
    p[:, 0] = [0.1, 0.2, 0.7, 0.9, 1.0]  # 1.0 belongs to the last bin
    cal = calibration_curve_per_class(y, p, n_bins=2)["any"]
    np.testing.assert_allclose(cal["bin_edges"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(cal["count"], [2, 3])
    np.testing.assert_allclose(cal["mean_predicted"], [0.15, 2.6 / 3])
    np.testing.assert_allclose(cal["fraction_positive"], [0.5, 1.0])
    assert cal["ece"] == pytest.approx((2 * 0.35 + 3 * (1 - 2.6 / 3)) / 5)
    empty = calibration_curve_per_class(y, p, n_bins=4)["epidural"]  # all p = 0
    np.testing.assert_array_equal(empty["count"], [5, 0, 0, 0])
    assert np.isnan(empty["mean_predicted"][1:]).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration_curve_per_class(y, p + 2.0)


def test_summarize_is_json_and_consistent():
    y, p = _six_columns(n=80, seed=5)
    y[:, 1] = 0  # no epidural case
    groups = np.repeat(np.arange(20), 4)
    summary = summarize(y, p, groups=groups, n_boot=50)
    text = json.dumps(summary, allow_nan=False)  # NaN would raise
    assert json.loads(text) == summary
    assert summary["n_samples"] == 80 and summary["n_groups"] == 20
    assert summary["rsna_weighted_log_loss"] == pytest.approx(rsna_weighted_log_loss(y, p))
    assert list(summary["classes"]) == list(CLASSES)
    sdh = summary["classes"]["subdural"]
    assert sdh["auc"] == pytest.approx(auc_score(y[:, 5], p[:, 5]))
    assert sdh["auc_ci_low"] <= sdh["auc"] <= sdh["auc_ci_high"]
    assert sdh["threshold"] == pytest.approx(choose_threshold(y[:, 5], p[:, 5]))
    confusion = confusion_at_threshold(y[:, 5], p[:, 5], sdh["threshold"])
    assert sdh["sensitivity"] == pytest.approx(confusion["sensitivity"])
    assert sdh["n_pos"] + sdh["n_neg"] == 80
    assert sdh["prevalence"] == pytest.approx(y[:, 5].mean())
    edh = summary["classes"]["epidural"]
    assert edh["auc"] is None and edh["auc_ci_low"] is None and edh["sensitivity"] is None
    assert edh["threshold"] == 0.5 and edh["threshold_source"].startswith("default")
    assert edh["n_pos"] == 0


def test_summarize_given_thresholds():
    y, p = _six_columns(n=40, seed=6)
    summary = summarize(y, p, thresholds={"any": 0.3}, n_boot=0)
    assert summary["classes"]["any"]["threshold"] == 0.3
    assert summary["classes"]["any"]["threshold_source"] == "given"
    assert summary["classes"]["any"]["auc_ci_low"] is None  # n_boot=0 skips the CI
    assert summary["classes"]["subdural"]["threshold_source"] == "youden"
    same = summarize(y, p, thresholds=0.4, n_boot=0)
    assert {c["threshold"] for c in same["classes"].values()} == {0.4}
    with pytest.raises(ValueError, match="thresholds for 6 classes"):
        summarize(y, p, thresholds=[0.5, 0.5])


def test_to_jsonable():
    out = to_jsonable({"a": np.float32(0.5), "b": [np.nan, np.inf], "c": np.arange(2),
                       1: (np.int64(3), np.bool_(True))})
    assert out == {"a": 0.5, "b": [None, None], "c": [0, 1], "1": [3, True]}


def test_bootstrap_fraction_ci_resamples_whole_studies():
    # Study a: all hits; study b: all misses. A resample holds 0, 1 or 2 copies of a.
    hits = [True] * 4 + [False] * 4
    groups = ["a"] * 4 + ["b"] * 4
    assert bootstrap_fraction_ci(hits, groups, n_boot=400) == (0.0, 1.0)
    # Resampling slices instead would give a much narrower interval.
    low, high = bootstrap_fraction_ci(hits, list(range(8)), n_boot=400)
    assert 0.1 < low < 0.5 < high < 0.9
    # Identical studies give an interval of zero width.
    assert bootstrap_fraction_ci([True, False] * 4, [1, 1, 2, 2, 3, 3, 4, 4]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in bootstrap_fraction_ci([], []))
    with pytest.raises(ValueError, match="same"):
        bootstrap_fraction_ci([True], [1, 2])
