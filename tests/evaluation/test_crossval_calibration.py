"""Patient folds, Platt calibration, operating thresholds and the out-of-fold run folder."""

import json

import numpy as np
import pandas as pd
import pytest

from cranioscan import calibration
from cranioscan.evaluation import crossval, metrics
from cranioscan.labels import CLASSES
from cranioscan.train.mixed_data import source_share_weights


def _cohort(n_patients=40, slices=10, seed=0):
    """Slice table of made-up patients: some with each subtype, most without."""
    rng = np.random.default_rng(seed)
    patients, labels = [], []
    for k in range(n_patients):
        subtype = rng.choice(5, p=[0.4, 0.25, 0.1, 0.1, 0.15]) if k % 2 else None
        for s in range(slices):
            row = np.zeros(6, np.uint8)
            if subtype is not None and 3 <= s < 6:
                row[0] = row[1 + subtype] = 1
            patients.append(f"P{k:03d}")
            labels.append(row)
    return np.array(patients), np.array(labels)


def test_patient_folds_put_each_patient_in_one_fold_and_spread_subtypes():
    patients, labels = _cohort()
    folds = crossval.patient_folds(patients, labels, k=5, seed=3)
    assert set(folds) == set(patients)
    assert set(folds.values()) == set(range(5))
    sizes = np.bincount(list(folds.values()))
    assert sizes.max() - sizes.min() <= 1
    strata = crossval.patient_strata(patients, labels)
    for stratum in set(strata.values()):
        members = [folds[p] for p, s in strata.items() if s == stratum]
        counts = np.bincount(members, minlength=5)
        assert counts.max() - counts.min() <= 1, stratum  # each stratum dealt evenly
    # slice masks of the folds partition the slices
    masks = [crossval.fold_of_patients(patients, labels, f, 5, 3) for f in range(5)]
    np.testing.assert_array_equal(np.sum(masks, axis=0), np.ones(len(patients)))
    assert crossval.patient_folds(patients, labels, 5, 3) == folds          # same seed
    assert crossval.patient_folds(patients, labels, 5, 4) != folds          # other seed


def test_patient_folds_refuse_impossible_k():
    patients, labels = _cohort(n_patients=3)
    with pytest.raises(ValueError, match="between 2"):
        crossval.patient_folds(patients, labels, k=4)


def _miscalibrated(n=4000, seed=0):
    """Scores that rank well but are far too confident (logits times 3, shifted)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.uint8)
    true_logit = rng.normal(0, 1.2, n) + 2.2 * (y - 0.5) - 1.0
    p = 1 / (1 + np.exp(-(3.0 * true_logit + 3.5)))
    return y, p


def test_platt_keeps_auc_and_lowers_ece():
    y, p = _miscalibrated()
    a, b = calibration.fit_platt(y, p)
    q = calibration.apply_platt(p, a, b)
    assert a > 0
    assert metrics.auc_score(y, q) == pytest.approx(metrics.auc_score(y, p), abs=1e-12)
    before = crossval.expected_calibration_error(y, p)
    after = crossval.expected_calibration_error(y, q)
    assert before > 0.1 and after < 0.03 and after < before / 3


def test_platt_identity_on_one_label_value_and_inputs_unchanged():
    p = np.array([0.1, 0.7, 0.9])
    assert calibration.fit_platt(np.zeros(3), p) == (1.0, 0.0)
    probs = np.tile(p[:, None], (1, 6)).astype(np.float32)
    copy = probs.copy()
    out = calibration.apply_calibration(probs, {"method": "platt", "classes": {
        "any": {"a": 2.0, "b": -1.0}}})
    np.testing.assert_array_equal(probs, copy)
    np.testing.assert_allclose(out[:, 1:], probs[:, 1:])
    z = np.log(p / (1 - p))
    np.testing.assert_allclose(out[:, 0], 1 / (1 + np.exp(-(2 * z - 1))), rtol=1e-5)
    np.testing.assert_array_equal(calibration.apply_calibration(probs, None), probs)
    with pytest.raises(ValueError, match="unknown calibration"):
        calibration.apply_calibration(probs, {"method": "isotonic"})


def test_cross_fitted_report_is_honest_about_the_in_sample_fit():
    y, p = _miscalibrated(2000, seed=1)
    folds = np.arange(len(y)) % 5
    report = crossval.cross_fitted_report(y[:, None], p[:, None], folds, classes=("any",))
    ece = report["ece"]["any"]
    assert ece["raw"] > 0.1
    assert ece["calibrated_in_sample"] < ece["raw"] / 2
    assert ece["cross_fitted"] < ece["raw"] / 2
    assert np.shape(report["cross_fitted_probs"]) == (len(y), 1)


def test_operating_thresholds_keep_any_sensitivity():
    y, p = _miscalibrated(3000, seed=2)
    y6 = np.repeat(y[:, None], 6, axis=1)
    p6 = np.repeat(p[:, None], 6, axis=1)
    thresholds = crossval.operating_thresholds(y6, p6)
    sens_any = metrics.confusion_at_threshold(y, p, thresholds["any"])["sensitivity"]
    assert sens_any >= 0.90
    assert thresholds["epidural"] == metrics.choose_threshold(y, p, "youden")
    assert thresholds["any"] <= thresholds["epidural"]  # a sensitive point sits lower


def test_source_share_weights_give_the_asked_share():
    sources = np.array(["ctich"] * 300 + ["phantom"] * 50 + ["phantom-jpeg"] * 50)
    base = np.where(np.arange(400) % 3 == 0, 2.0, 1.0)
    for share in (0.0, 0.2, 0.5):
        w = source_share_weights(sources, share, base)
        assert w[300:].sum() / w.sum() == pytest.approx(share)
        np.testing.assert_allclose(w[:300], base[:300])  # real slices keep their weights
        scale = w[300:] / base[300:]
        np.testing.assert_allclose(scale, scale[0])  # phantoms scaled as one block: balance kept
        draws = np.random.default_rng(7).choice(len(w), 20_000, p=w / w.sum())
        assert np.mean(draws >= 300) == pytest.approx(share, abs=0.015)  # what a sampler draws
    np.testing.assert_array_equal(source_share_weights(["ctich"] * 3, 0.3), np.ones(3))
    with pytest.raises(ValueError, match="share"):
        source_share_weights(sources, 1.0)


def _fold_run(folder, fold, patients, y, p):
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"image_id": [f"{q}_{i}" for i, q in enumerate(patients)],
                          "patient": patients, "study": patients,
                          "position": np.arange(len(patients), dtype=float)})
    for c, name in enumerate(CLASSES):
        frame[f"label_{name}"] = y[:, c]
    for c, name in enumerate(CLASSES):
        frame[f"prob_{name}"] = p[:, c]
    frame.to_csv(folder / "val_predictions.csv", index=False)
    (folder / "config.json").write_text(json.dumps({
        "fold": fold, "cv_folds": 3, "fold_seed": 7, "seed": 0, "data": "ctich",
        "cv_folds_note": "test"}))


def test_merge_out_of_fold_writes_a_run_folder_the_validation_page_reads(tmp_path):
    from cranioscan.evaluation.reports import load_run

    patients, labels = _cohort(n_patients=30, slices=8, seed=5)
    rng = np.random.default_rng(0)
    probs = np.clip(0.05 + 0.8 * labels + rng.normal(0, 0.15, labels.shape), 0.001, 0.999)
    folds = crossval.patient_folds(patients, labels, k=3, seed=7)
    fold_of = np.array([folds[q] for q in patients])
    dirs = []
    for f in range(3):
        rows = fold_of == f
        _fold_run(tmp_path / f"fold{f}", f, patients[rows], labels[rows], probs[rows])
        dirs.append(str(tmp_path / f"fold{f}"))
    out = tmp_path / "cv"
    summary = crossval.merge_out_of_fold(dirs, str(out), n_boot=50)
    run = load_run(str(out))
    assert len(run.ids) == len(patients)
    for name in ("metrics.json", "roc.json", "calibration.json", "folds.json",
                 "reliability.png", "roc.png"):
        assert (out / name).is_file(), name
    written = json.loads((out / "metrics.json").read_text())
    assert written["patient_level"]["any"]["n_patients"] == 30
    assert 0.5 < written["patient_level"]["any"]["auc"] <= 1.0
    assert set(written["calibration"]["ece"]) == set(CLASSES)
    raw_auc = metrics.auc_score(labels[:, 0], probs[:, 0])
    assert summary["classes"]["any"]["auc"] == pytest.approx(raw_auc, abs=1e-9)
    assert summary["classes"]["any"]["sensitivity"] >= 0.90
    saved = json.loads((out / "calibration.json").read_text())
    assert saved["thresholds"]["any"] == pytest.approx(summary["classes"]["any"]["threshold"])
    from cranioscan.visualize.validation_view import cross_validation_summary

    text = cross_validation_summary(run)
    assert "patient-level 3-fold cross-validation on 30 patients" in text
    assert "Patient level, any hemorrhage" in text and "calibration error" in text
    merged = pd.read_csv(out / "val_predictions.csv")
    assert {"raw_prob_any", "fold"} <= set(merged.columns)
    # a patient in two folds is refused
    _fold_run(tmp_path / "dup", 0, patients[:8], labels[:8], probs[:8])
    with pytest.raises(ValueError):
        crossval.merge_out_of_fold([str(tmp_path / "dup")] + dirs[1:] + [dirs[0]],
                                   str(tmp_path / "bad"), n_boot=0)


def test_build_real_card_records_data_cv_calibration_and_thresholds(tmp_path):
    from PIL import Image

    from cranioscan.evaluation.model_card import build_real_card
    from cranioscan.evaluation.reports import write_val_predictions
    from cranioscan.net.model import build_model, save_for_inference

    # A CT-ICH folder of 30 one-slice patients, the cohort's labels.
    patients, labels = _cohort(n_patients=30, slices=1, seed=5)
    data = tmp_path / "ctich"
    rows = ["patient,slice," + ",".join(CLASSES) + ",fracture"]
    grey = np.full((16, 16), 120, np.uint8)
    for k, row in enumerate(labels, start=1):
        for kind in ("brain", "bone"):
            (data / f"{k:03d}" / kind).mkdir(parents=True)
            Image.fromarray(grey).save(data / f"{k:03d}" / kind / "01.jpg")
        rows.append(f"{k},1," + ",".join(str(int(v)) for v in row) + ",0")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    # The cross-validation folder, from three folds.
    ids = [f"CTICH{k:03d}" for k in range(1, 31)]
    probs = np.clip(0.1 + 0.7 * labels + np.random.default_rng(1).normal(0, 0.2, labels.shape),
                    0.01, 0.99)
    dirs = []
    for f in range(3):
        rows_f = np.arange(30) % 3 == f
        _fold_run(tmp_path / f"fold{f}", f, np.array(ids)[rows_f], labels[rows_f], probs[rows_f])
        dirs.append(str(tmp_path / f"fold{f}"))
    cv = tmp_path / "cv"
    crossval.merge_out_of_fold(dirs, str(cv), n_boot=20)
    # The final run: a model, its config and its three held-out patients' predictions.
    run = tmp_path / "final"
    run.mkdir()
    model_path = run / "best_model.keras"
    save_for_inference(build_model(input_size=32, d_model=8, depth=0, num_heads=1, mlp_dim=8),
                       model_path)
    (run / "config.json").write_text(json.dumps({
        "data": "ctich", "data_dir": str(data), "holdout": [1, 2, 3], "phantom_studies": 4,
        "phantom_share": 0.2, "input_size": 32, "freeze_through": "conv3_block4_out",
        "stage": 4, "depth": 0, "d_model": 8, "heads": 1, "mlp_dim": 8, "seed": 0}))
    write_val_predictions(run / "val_predictions.csv", pd.DataFrame(
        {"image_id": ids[:3], "patient": ids[:3], "study": ids[:3]}), labels[:3], probs[:3])

    card = build_real_card(str(model_path), str(run), str(cv))
    assert card["synthetic"] is False
    assert card["data"]["real_patients_trained"] == 27
    assert card["data"]["real_patients_cross_validated"] == 30
    assert card["data"]["held_out_patients"] == [1, 2, 3] and "CC BY 4.0" in card["data"]["credit"]
    calibration_file = json.loads((cv / "calibration.json").read_text())
    assert card["calibration"]["classes"] == calibration_file["classes"]
    assert card["thresholds"] == calibration_file["thresholds"]
    merged = json.loads((cv / "metrics.json").read_text())
    assert card["metrics"]["any"]["auc"] == merged["classes"]["any"]["auc"]
    assert card["cross_validation"]["patient_level_any"] == merged["patient_level"]["any"]
    assert len(card["cross_validation"]["folds"]) == 3
    assert card["validation_run"] == "cv" and "27 real head CTs" in card["trained_on"]
    from cranioscan.visualize.card_view import model_notice

    assert "27 real head CTs" in model_notice(card)
