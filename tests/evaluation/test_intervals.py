"""Intervals of hit rates that hold with few studies and at 0% or 100% (issue 27, item 1)."""

import math

import pytest

from cranioscan.evaluation import metrics
from cranioscan.evaluation.heldout import fraction_ci, fraction_interval
from cranioscan.visualize import card_view


def test_zero_of_35_is_not_a_point():
    # 35 positive slices of 4 studies, no peak in the lesion: the study bootstrap gave 0%-0%.
    groups = [s for s in range(4) for _ in range(9)][:35]
    low, high, method = metrics.proportion_ci([False] * 35, groups)
    assert low == 0.0 and high == pytest.approx(0.0989, abs=1e-3)
    assert "Wilson" in method and "35 slices" in method
    assert fraction_ci([False] * 35, groups) == [low, high]
    assert fraction_interval([False] * 35, groups)["ci95_method"] == method


def test_35_of_35_is_not_a_point():
    groups = [s for s in range(4) for _ in range(9)][:35]
    low, high, method = metrics.proportion_ci([True] * 35, groups)
    assert high == 1.0 and low == pytest.approx(0.901, abs=1e-3)
    assert "Wilson" in method


def test_one_cluster_gets_the_slice_interval_not_a_collapsed_bootstrap():
    hits = [True] * 6 + [False] * 14
    low, high, method = metrics.proportion_ci(hits, ["only study"] * 20)
    assert 0.0 < low < 0.3 < high < 1.0
    assert "Wilson" in method
    # What the bootstrap over that one study gives: one point.
    assert metrics.bootstrap_fraction_ci(hits, ["only study"] * 20) == (0.3, 0.3)


def test_enough_clusters_use_the_cluster_bootstrap_and_say_so():
    hits = [(s % 3 == 0) for s in range(30) for _ in range(4)]
    groups = [s for s in range(30) for _ in range(4)]
    low, high, method = metrics.proportion_ci(hits, groups)
    assert method == "bootstrap over 30 studies"
    assert low < sum(hits) / len(hits) < high
    assert all(math.isnan(v) for v in metrics.proportion_ci([], [])[:2])


def test_wilson_matches_the_textbook_values():
    low, high = metrics.wilson_interval(50, 68)
    assert (low, high) == pytest.approx((0.6199, 0.8258), abs=1e-3)
    with pytest.raises(ValueError):
        metrics.wilson_interval(3, 2)


def test_card_view_replaces_an_old_collapsed_interval_and_names_the_method():
    card = {"held_out_evaluation": {
        "auc": {"epidural": 0.96}, "auc_ci95": {"epidural": [0.9, 0.99]},
        "positives": {"epidural": 35},
        "gradcam_peak_in_mask": {"method": "gradcam", "epidural": {
            "fraction_in_mask": 0.0, "n_in_mask": 0, "n_slices": 35, "ci95": [0.0, 0.0]}}}}
    table = card_view.held_out_table(card, classes=("epidural",))
    cell = table.loc[0, "Grad-CAM peak in lesion"]
    assert cell == "0% (0/35; 95% CI 0%–10%, Wilson score interval on 35 slices)"
    # A card written since names its method, and its interval is shown as stored.
    card["held_out_evaluation"]["gradcam_peak_in_mask"]["epidural"].update(
        ci95=[0.0, 0.0989], ci95_method="Wilson score interval on 35 slices")
    assert card_view.held_out_table(card, classes=("epidural",)).loc[
        0, "Grad-CAM peak in lesion"] == cell


def test_card_keys_read_as_sentences():
    assert card_view.card_key_sentence("auc_ge_0.95_every_class") == "AUC ≥ 0.95 for every class"
    assert card_view.target_lines({"auc_ge_0.95_every_class": False,
                                   "gradcam_peak_in_mask_ge_0.80": True}) == [
        "Target AUC ≥ 0.95 for every class: not met.",
        "Target Grad-CAM peak in lesion ≥ 0.80: met."]
