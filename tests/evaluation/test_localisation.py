"""Tests of cranioscan.evaluation.localisation: where map peaks land, and the sweep over layers."""

import numpy as np
import pytest

from cranioscan import explain
from cranioscan.inference import Predictor
from cranioscan.evaluation.localisation import localisation_sweep
from cranioscan.explain.scoring import PLACES, peak_place


def _slice():
    """A 40x40 slice at 1 mm: air, a bone ring, soft tissue, and a lesion mask."""
    rows, cols = np.mgrid[:40, :40]
    radius = np.hypot(rows - 20, cols - 20)
    hu = np.full((40, 40), -1000.0)
    hu[radius < 18] = 1200.0
    hu[radius < 15] = 35.0
    mask = np.hypot(rows - 20, cols - 28) < 3
    hu[mask] = 70.0
    return hu, mask


def _map_peaking_at(row, col):
    heatmap = np.zeros((40, 40))
    heatmap[row, col] = 1.0
    return heatmap


@pytest.mark.parametrize("row, col, place", [
    (20, 28, "lesion"),
    (20, 34, "lesion"),       # 4 mm outside the mask edge: within the 5 mm growth
    (2, 2, "air"),
    (20, 3, "bone"),
    (20, 10, "soft tissue"),
])
def test_peak_place_names_the_tissue_under_a_missed_peak(row, col, place):
    hu, mask = _slice()
    assert peak_place(_map_peaking_at(row, col), mask, hu, 1.0) == place


def test_peak_place_of_an_all_zero_map_and_bad_shapes():
    hu, mask = _slice()
    assert peak_place(np.zeros((40, 40)), mask, hu, 1.0) == "no peak"
    assert set(PLACES) == {"lesion", "air", "bone", "soft tissue", "no peak"}
    with pytest.raises(ValueError, match="same shape"):
        peak_place(np.zeros((40, 40)), mask, hu[:20], 1.0)


def test_peak_place_uses_millimetres_not_pixels():
    hu, mask = _slice()
    # 6 pixels below the mask's lowest pixel: 3 mm at 0.5 mm pixels, 6 mm at 1 mm.
    heatmap = _map_peaking_at(28, 28)
    assert peak_place(heatmap, mask, hu, 0.5) == "lesion"
    assert peak_place(heatmap, mask, hu, 1.0) == "soft tissue"


def test_localisation_sweep_places_every_positive_slice_once_per_combination(tiny_model_dir):
    predictor = Predictor.load(tiny_model_dir / "best_model.keras")
    layers = list(explain.available_layers(predictor).values())
    calls = []
    # The third study of the balanced plan has an epidural hematoma.
    result = localisation_sweep(predictor, layers, ("gradcam", "gradcam++"), n_studies=3,
                                seed=424242, matrix=64, progress=lambda d, t: calls.append(d))
    assert calls == [1, 2, 3]
    assert result["n_slices"] > 0
    assert [(r["layer"], r["method"]) for r in result["rows"]] == [
        (layer, method) for layer in layers for method in ("gradcam", "gradcam++")]
    for row in result["rows"]:
        assert set(row["places"]) == set(PLACES)
        assert sum(row["places"].values()) == result["n_slices"]
        assert row["fraction_in_mask"] == row["places"]["lesion"] / result["n_slices"]
        low, high = row["ci95"]
        assert low <= row["fraction_in_mask"] <= high
    with pytest.raises(ValueError, match="unknown class"):
        localisation_sweep(predictor, layers, class_name="stroke", n_studies=1)
