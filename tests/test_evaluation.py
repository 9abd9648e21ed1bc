"""Held-out phantom evaluation: numbers follow from predictions and masks."""

import numpy as np

from cranioscan import explain, metrics
from cranioscan.evaluation import evaluate_on_phantoms
from cranioscan.inference import Predictor
from cranioscan.labels import CLASSES, SUBTYPES


def test_evaluate_on_phantoms_is_consistent(tiny_model_dir):
    predictor = Predictor.load(tiny_model_dir / "best_model.keras")
    calls = []
    result = evaluate_on_phantoms(predictor, n_studies=3, seed=424242, matrix=64,
                                  max_cam_slices=4, progress=lambda d, t: calls.append((d, t)))
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
    assert set(cam) == {"any", *SUBTYPES}
    assert result["layer"] == explain.default_layer(predictor) == "conv3_block4_out"
