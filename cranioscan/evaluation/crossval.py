"""Patient-level cross-validation: folds, and the out-of-fold run folder.

:func:`patient_folds` assigns whole patients to ``k`` folds, stratified by the
hemorrhage subtypes each patient has (no patient in two folds).
:func:`merge_out_of_fold` joins the validation predictions of the ``k`` fold
runs (``train.py ... --cv-folds K --fold i``) into one run folder that the
dashboard's validation page reads like any other: ``val_predictions.csv``,
``metrics.json``, ``roc.json``, plots, and the calibration fitted on the
out-of-fold predictions (``calibration.json``).
"""

__all__ = ["SENSITIVITY_TARGET", "patient_strata", "patient_folds",
           "fold_of_patients", "merge_out_of_fold", "operating_thresholds", "patient_level_auc",
           "expected_calibration_error", "cross_fitted_report"]

import argparse
import os

import numpy as np
import pandas as pd

from .. import calibration
from ..formats import csv_frame, interval, number
from ..labels import CLASSES, SUBTYPES
from ..run_folder import RunFolder, read_json, train_command, write_json
from . import metrics, reports
from .curves import calibration_curve_per_class

#: Sensitivity the ``any`` threshold must keep (a triage tool must not miss blood).
SENSITIVITY_TARGET = 0.90


def patient_strata(patients, labels):
    """Stratum of each patient: its rarest subtype (by patients), or ``"none"``.

    Args:
        patients: ``(n,)`` patient id of each slice.
        labels: ``(n, 6)`` 0/1 slice labels in ``CLASSES`` order.

    Returns:
        dict patient -> stratum name.
    """
    frame = pd.DataFrame(np.asarray(labels)[:, 1:], columns=list(SUBTYPES))
    frame["patient"] = np.asarray(patients)
    has = frame.groupby("patient")[list(SUBTYPES)].max() > 0
    rarity = has.sum(axis=0).sort_values(kind="stable")  # fewest patients first
    strata = {}
    for patient, row in has.iterrows():
        present = [s for s in rarity.index if row[s]]
        strata[patient] = present[0] if present else "none"
    return strata


def patient_folds(patients, labels, k=5, seed=0):
    """Assign every patient to one of ``k`` folds, stratified by subtype.

    Patients are grouped by :func:`patient_strata`; each stratum is shuffled
    with ``seed`` and dealt round-robin, continuing from the fold where the
    previous stratum stopped, so folds differ in size by at most one patient
    and each stratum is spread as evenly as it can be.

    Args:
        patients: ``(n,)`` patient id of each slice.
        labels: ``(n, 6)`` 0/1 slice labels.
        k: number of folds (2 or more, at most the number of patients).
        seed: shuffle seed; same seed, same folds.

    Returns:
        dict patient -> fold index in ``range(k)``.
    """
    strata = patient_strata(patients, labels)
    if k < 2 or k > len(strata):
        raise ValueError(f"k must be between 2 and the number of patients ({len(strata)}), "
                         f"got {k}")
    rng = np.random.default_rng(seed)
    by_stratum = {}
    for patient, stratum in sorted(strata.items(), key=lambda item: str(item[0])):
        by_stratum.setdefault(stratum, []).append(patient)
    folds, position = {}, 0
    for stratum in sorted(by_stratum, key=lambda s: (len(by_stratum[s]), s)):
        members = list(by_stratum[stratum])
        rng.shuffle(members)
        for patient in members:
            folds[patient] = position % k
            position += 1
    return folds


def fold_of_patients(patients, labels, fold, k=5, seed=0):
    """Boolean ``(n,)`` mask of the slices whose patient is in ``fold``."""
    folds = patient_folds(patients, labels, k, seed)
    return np.array([folds[p] == fold for p in np.asarray(patients)], dtype=bool)


def merge_out_of_fold(fold_dirs, out, n_boot=1000, seed=0):
    """One run folder from the ``k`` fold runs' validation predictions.

    Each fold folder must hold ``val_predictions.csv`` (written by the
    trainer) and ``config.json`` (with ``fold`` and ``cv_folds``); every
    patient must appear in exactly one fold.

    Writes into ``out``: ``val_predictions.csv`` (all folds, a ``fold``
    column added), ``folds.json`` (the folds' commands, seeds and
    patients), ``calibration.json`` and the usual reports
    (``cranioscan.evaluation.reports.write_reports``).

    Returns:
        the reports' summary dict.

    Raises:
        ValueError: a fold is missing or a patient is in two folds.
    """
    frames, folds = [], []
    for path in fold_dirs:
        fold_run = RunFolder(path)
        config = read_json(fold_run.config)
        frame = pd.read_csv(fold_run.val_predictions,
                            dtype={"image_id": str, "patient": str, "study": str})
        frame["fold"] = int(config["fold"])
        frames.append(frame)
        folds.append({"fold": int(config["fold"]), "run": os.path.abspath(path),
                      "cv_folds": config["cv_folds"], "fold_seed": config["fold_seed"],
                      "seed": config["seed"], "command": train_command(config),
                      "patients": sorted(frame["patient"].unique().tolist())})
    numbers = sorted(f["fold"] for f in folds)
    if numbers != list(range(folds[0]["cv_folds"])):
        raise ValueError(f"expected folds 0..{folds[0]['cv_folds'] - 1}, got {numbers}")
    merged = pd.concat(frames, ignore_index=True)
    twice = merged.groupby("patient")["fold"].nunique()
    if (twice > 1).any():
        raise ValueError(f"patients in two folds: {sorted(twice[twice > 1].index)[:5]}")
    os.makedirs(out, exist_ok=True)
    merged_run = RunFolder(out)
    write_json(merged_run.folds, folds)
    y_true = merged[[f"label_{c}" for c in CLASSES]].to_numpy()
    raw = merged[[f"prob_{c}" for c in CLASSES]].to_numpy()
    fitted = cross_fitted_report(y_true, raw, merged["fold"].to_numpy())
    crossed = fitted.pop("cross_fitted_probs")
    calibrated = calibration.apply_calibration(raw, fitted)
    thresholds = operating_thresholds(y_true, calibrated)
    fitted["thresholds"] = thresholds
    write_json(merged_run.calibration, fitted)
    # The run folder shows what the Predictor will: calibrated probabilities
    # (one increasing map per class, so AUCs are those of the raw ones).
    for c, name in enumerate(CLASSES):
        merged[f"raw_prob_{name}"] = raw[:, c]
        merged[f"prob_{name}"] = calibrated[:, c]
    csv_frame(merged).to_csv(merged_run.val_predictions, index=False, float_format="%.6f")
    summary = reports.write_reports(out, n_boot=n_boot, seed=seed, thresholds=thresholds,
                                    title=merged_run.name)
    summary["patient_level"] = {"any": patient_level_auc(
        merged["patient"].to_numpy(), y_true[:, 0], calibrated[:, 0], n_boot=n_boot, seed=seed)}
    summary["calibration"] = {"method": fitted["method"], "ece": fitted["ece"],
                              "n_bins": fitted["n_bins"]}
    summary["cross_validation"] = {"folds": len(folds), "fold_seed": folds[0]["fold_seed"],
                                   "patients": int(merged["patient"].nunique())}
    write_json(merged_run.metrics, metrics.to_jsonable(summary))
    reports.plot_reliability(y_true, {"raw model": raw, "calibrated (cross-fitted)": crossed},
                             merged_run.plot("reliability"), n_bins=fitted["n_bins"])
    return summary


def operating_thresholds(y_true, y_prob, any_sensitivity=SENSITIVITY_TARGET):
    """Operating thresholds: ``any`` at sensitivity >= ``any_sensitivity``, subtypes at Youden.

    A triage tool must not miss blood, so ``any`` takes the highest threshold
    that still flags ``any_sensitivity`` of the positive slices; each subtype
    takes the threshold maximising sensitivity + specificity.

    Args:
        y_true: ``(n, 6)`` 0/1 labels; y_prob: ``(n, 6)`` probabilities.

    Returns:
        dict class -> float (0.5 where a class has one label value only).
    """
    out = {}
    for c, name in enumerate(CLASSES):
        if name == "any":
            t = metrics.choose_threshold(y_true[:, c], y_prob[:, c], "sensitivity",
                                         any_sensitivity)
        else:
            t = metrics.choose_threshold(y_true[:, c], y_prob[:, c], "youden")
        out[name] = 0.5 if np.isnan(t) else float(t)
    return out


def patient_level_auc(patients, y_true_col, y_prob_col, n_boot=1000, seed=0):
    """AUC of the patient's highest slice probability against "any slice positive".

    Returns:
        ``{"auc", "auc_ci_low", "auc_ci_high", "n_patients", "n_pos"}``; the
        interval from a bootstrap over patients.
    """
    frame = pd.DataFrame({"patient": patients, "y": y_true_col, "p": y_prob_col})
    per_patient = frame.groupby("patient").agg(y=("y", "max"), p=("p", "max"))
    low, high = (metrics.bootstrap_auc_ci(per_patient["y"], per_patient["p"], n_boot=n_boot,
                                          seed=seed) if n_boot else (np.nan, np.nan))
    return {"auc": metrics.auc_score(per_patient["y"], per_patient["p"]),
            "auc_ci_low": low, "auc_ci_high": high, "n_patients": int(len(per_patient)),
            "n_pos": int(per_patient["y"].sum())}


def expected_calibration_error(y_true_col, y_prob_col, n_bins=10):
    """ECE on ``n_bins`` equal-width bins: ``sum_b n_b / n * |frac_pos_b - mean_p_b|``."""
    curve = calibration_curve_per_class(np.asarray(y_true_col)[:, None],
                                        np.asarray(y_prob_col, dtype=np.float64)[:, None],
                                        n_bins=n_bins, classes=("c",))
    return curve["c"]["ece"]


def cross_fitted_report(y_true, y_prob, folds, classes=CLASSES, n_bins=10):
    """Fit the calibration on all out-of-fold predictions, and measure it honestly.

    The ECE of a calibration measured on the data it was fitted on is
    optimistic, so each fold is also calibrated with parameters fitted on
    the other folds only (cross-fitting) and the ECE of those predictions
    is reported beside the raw and the in-sample one.

    Args:
        y_true: ``(n, c)`` 0/1 labels; y_prob: ``(n, c)`` out-of-fold
            probabilities; folds: ``(n,)`` fold of each row.

    Returns:
        :func:`fit_calibration`'s dict plus ``"ece"``: class -> ``{"raw",
        "cross_fitted", "calibrated_in_sample"}``, and ``"cross_fitted_probs"``
        (``(n, c)`` list of lists) for reliability plots.
    """
    y_true, y_prob, folds = np.asarray(y_true), np.asarray(y_prob), np.asarray(folds)
    fitted = calibration.fit_calibration(y_true, y_prob, classes)
    crossed = np.empty(y_prob.shape, dtype=np.float64)
    for fold in np.unique(folds):
        inside = folds == fold
        params = calibration.fit_calibration(y_true[~inside], y_prob[~inside], classes)
        crossed[inside] = calibration.apply_calibration(y_prob[inside], params, classes)
    in_sample = calibration.apply_calibration(y_prob, fitted, classes)
    fitted["ece"] = {
        name: {"raw": expected_calibration_error(y_true[:, c], y_prob[:, c], n_bins),
               "cross_fitted": expected_calibration_error(y_true[:, c], crossed[:, c], n_bins),
               "calibrated_in_sample": expected_calibration_error(y_true[:, c],
                                                                  in_sample[:, c], n_bins)}
        for c, name in enumerate(classes)}
    fitted["n_bins"] = int(n_bins)
    fitted["cross_fitted_probs"] = crossed
    return fitted


def main(argv=None):
    """``cranioscan crossval FOLD_RUN ... --out RUN``: merge the folds."""
    parser = argparse.ArgumentParser(description=merge_out_of_fold.__doc__.split("\n")[0])
    parser.add_argument("folds", nargs="+", help="the fold run folders (train.py --cv-folds)")
    parser.add_argument("--out", required=True, help="out-of-fold run folder to write")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples for the intervals (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    args = parser.parse_args(argv)
    summary = merge_out_of_fold(args.folds, args.out, args.bootstrap, args.seed)
    ece = summary["calibration"]["ece"]
    for name in CLASSES:
        row = summary["classes"][name]
        print(f"{name:17s} AUC {number(row['auc'])} ({interval(row['auc_ci_low'], row['auc_ci_high'])})"
              f"  threshold {number(row['threshold'])}  sensitivity {number(row['sensitivity'])}"
              f"  specificity {number(row['specificity'])}  ECE {number(ece[name]['raw'])} raw,"
              f" {number(ece[name]['cross_fitted'])} calibrated (cross-fitted)")
    patient = summary["patient_level"]["any"]
    print(f"patient-level any: AUC "
          f"{number(patient['auc'])} ({interval(patient['auc_ci_low'], patient['auc_ci_high'])}), "
          f"{patient['n_patients']} patients, {patient['n_pos']} with blood")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
