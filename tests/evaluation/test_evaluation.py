"""Held-out phantom evaluation: numbers follow from predictions and masks."""

import numpy as np

from cranioscan import explain
from cranioscan.evaluation import metrics
from cranioscan.evaluation.heldout import evaluate_on_phantoms
from cranioscan.inference import Predictor
from cranioscan.labels import CLASSES, SUBTYPES


def test_evaluate_on_phantoms_is_consistent(tiny_model_dir):
    predictor = Predictor.load(tiny_model_dir / "best_model.keras")
    calls = []
    result = evaluate_on_phantoms(predictor, n_studies=3, seed=424242, matrix=64,
                                  max_cam_slices=4, progress=lambda d, t: calls.append((d, t)),
                                  also_methods=("gradcam++", "gradcam"))
    assert calls[-1] == (3, 3)
    labels, probs = result["labels"], result["probs"]
    assert labels.shape == probs.shape and labels.shape[1] == len(CLASSES)
    assert result["n_slices"] == len(labels)
    # Slice-level AUCs are the plain AUCs of the returned predictions.
    for j, name in enumerate(CLASSES):
        expected = metrics.auc_score(labels[:, j], probs[:, j]) if 0 < labels[:, j].sum() < len(
            labels) else None
        got = result["summary"]["classes"][name]["auc"]
        assert (got is None and expected is None) or np.isclose(got, expected)
    # The third study of the balanced plan has an epidural hematoma.
    assert labels[:, CLASSES.index("epidural")].sum() > 0
    cam = result["gradcam"]
    assert cam["any"]["n_slices"] == 4
    assert 0 <= cam["any"]["n_in_mask"] <= 4
    low, high = cam["any"]["ci95"]
    assert 0 <= low <= cam["any"]["fraction_in_mask"] <= high <= 1
    assert all(cam[s]["ci95"] is None for s in SUBTYPES if cam[s]["n_slices"] == 0)
    assert set(cam) == {"any", *SUBTYPES}
    bins = cam["any"]["by_lesion_area"]
    assert sum(b["n_slices"] for b in bins) == 4
    assert sum(b["n_in_mask"] for b in bins) == cam["any"]["n_in_mask"]
    assert result["layer"] == explain.default_layer(predictor) == "conv3_block4_out"
    # Other methods are checked on the same slices; the main one is not repeated.
    assert list(result["by_method"]) == ["gradcam", "gradcam++"]
    assert result["by_method"]["gradcam"] is cam
    plus = result["by_method"]["gradcam++"]
    assert {s: plus[s]["n_slices"] for s in plus} == {s: cam[s]["n_slices"] for s in cam}
    assert sum(b["n_slices"] for b in plus["any"]["by_lesion_area"]) == 4


def test_hits_by_area_bins_by_lesion_size():
    from cranioscan.evaluation.heldout import hits_by_area

    rows = hits_by_area([True, False, True, True], [10.0, 60.0, 150.0, 900.0])
    assert [r["area_mm2"] for r in rows] == [[0.0, 50.0], [50.0, 200.0], [200.0, None]]
    assert [(r["n_in_mask"], r["n_slices"]) for r in rows] == [(1, 1), (1, 2), (1, 1)]
    assert rows[1]["fraction_in_mask"] == 0.5
    assert hits_by_area([], [])[0]["fraction_in_mask"] is None
