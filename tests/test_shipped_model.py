"""What ships in model/ is what its card and the README say, measured again.

A model changed without its card, or a card edited without its model, fails
here: the files' SHA-256, the thresholds and calibration the Predictor
loads, the out-of-fold figures recomputed from the validation run's
predictions, and the real demo patients scored again by the shipped model.
Tolerances: AUCs recomputed from the stored predictions (9 significant digits) to 1e-6 (the same
numbers); demo-case scores to 0.02 (the dashboard's scores go through int16
DICOM, these through float HU), flag counts exactly.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cranioscan.labels import CLASSES

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "model"
CARD = json.loads((MODEL_DIR / "model_card.json").read_text())


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def predictor():
    from cranioscan.inference import Predictor

    return Predictor.load(MODEL_DIR / "best_model.keras")


def test_model_files_are_the_ones_the_card_describes():
    assert sha256(MODEL_DIR / CARD["file"]) == CARD["sha256"]
    assert sha256(MODEL_DIR / CARD["series_model"]) == CARD["series_sha256"]
    size = sum(p.stat().st_size for p in MODEL_DIR.rglob("*") if p.is_file())
    assert size <= 100 * 1024 * 1024  # what ships in model/ stays within 100 MB


def test_predictor_loads_the_cards_thresholds_and_calibration(predictor):
    assert predictor.series_model is not None and predictor.frame == "head"
    assert predictor.thresholds == pytest.approx(CARD["thresholds"], abs=0)
    assert predictor.series_thresholds == pytest.approx(CARD["series_thresholds"], abs=0)
    assert predictor.calibration == CARD["calibration"]
    assert predictor.calibration_single == CARD["calibration_single"]
    assert predictor.sha256 == CARD["sha256"]


def test_out_of_fold_figures_follow_from_the_validation_run():
    """The card's slice AUCs, recomputed with scikit-learn from the stored predictions."""
    from sklearn.metrics import roc_auc_score

    frame = pd.read_csv(MODEL_DIR / CARD["validation_run"] / "val_predictions.csv")
    for name in CLASSES:
        auc = roc_auc_score(frame[f"label_{name}"], frame[f"prob_{name}"])
        assert auc == pytest.approx(CARD["metrics"][name]["auc"], abs=1e-6), name
    # the slice-flag rule: specificity >= 0.90 out of fold at the card's threshold
    negatives = frame["label_any"] == 0
    specificity = float((frame.loc[negatives, "prob_any"] < CARD["thresholds"]["any"]).mean())
    # the threshold is one of the probabilities: the slice at it may round either way in the
    # CSV's 9 digits, so the rate is checked to one slice of the 1,652 negatives
    assert specificity >= 0.90 - 1 / negatives.sum()
    assert specificity == pytest.approx(CARD["metrics"]["any"]["specificity"],
                                        abs=1.01 / negatives.sum())


def test_real_demo_patients_score_as_the_card_says(predictor):
    from cranioscan.train.ship_series import demo_figures

    again = demo_figures(predictor, patients=[107, 92])
    for patient, figures in again.items():
        stored = CARD["demo_cases"][patient]
        assert figures["slices"] == stored["slices"]
        assert figures["flagged_any"] == stored["flagged_any"], patient
        assert figures["verdict_any"] == stored["verdict_any"], patient
        assert figures["series_score_any"] == pytest.approx(stored["series_score_any"], abs=0.02)
        assert figures["max_p_any"] == pytest.approx(stored["max_p_any"], abs=0.02)


def test_readme_quotes_the_cards_figures():
    readme = (ROOT / "README.md").read_text()
    assert f"{CARD['metrics']['any']['auc']:.3f}" in readme
    normal = CARD["demo_cases"]["CTICH107"]
    assert f"{normal['flagged_any']} of {normal['slices']}" in readme
