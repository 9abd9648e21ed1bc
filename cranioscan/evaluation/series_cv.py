"""Out-of-fold figures of a series-model cross-validation, and its operating points.

From ``oof.npz`` (:func:`cranioscan.train.series_trainer.crossval`): per-slice
probabilities with slice context, the slice heads' own probabilities, and
each patient's series scores, every one from the fold model that did not see
the patient. Here they become:

- the calibration (per-class Platt scaling of the per-slice probabilities,
  and of the slice heads' own ones for a single slice), with the ECE measured
  honestly by cross-fitting;
- the two operating points: slice flags at out-of-fold slice specificity
  >= :data:`SLICE_SPECIFICITY`, and the series verdict at patient-level
  sensitivity >= :data:`VERDICT_SENSITIVITY` ("any"; subtypes at their
  Youden point over patients);
- the figures of the recipe table and the model card.
"""

__all__ = ["SLICE_SPECIFICITY", "VERDICT_SENSITIVITY", "operating_points", "evaluate_oof",
           "recipe_row", "main"]

import argparse
import os

import numpy as np
import pandas as pd

from .. import calibration
from ..labels import CLASSES
from ..run_folder import RunFolder, read_json, write_json
from ..series_result import flag_matrix, verdict_of
from . import metrics
from .crossval import cross_fitted_report

#: Out-of-fold slice specificity each class's flag keeps.
SLICE_SPECIFICITY = 0.90
#: Out-of-fold patient-level sensitivity the "any" verdict keeps.
VERDICT_SENSITIVITY = 0.95
#: The real normal demo patient kept as a sanity check (CT-ICH 107).
NORMAL_DEMO = "CTICH107"


def _patient_frame(patients, labels, series):
    """One row per patient: its labels (any slice positive) and its series scores."""
    frame = pd.DataFrame({"patient": patients})
    for c, name in enumerate(CLASSES):
        frame[f"y_{name}"] = labels[:, c]
        frame[f"s_{name}"] = series[:, c]
    return frame.groupby("patient").max()


def operating_points(labels, calibrated, per_patient):
    """Slice-flag and verdict thresholds.

    Args:
        labels: ``(n, 6)`` 0/1 slice labels.
        calibrated: ``(n, 6)`` calibrated out-of-fold slice probabilities.
        per_patient: :func:`_patient_frame` (``y_<class>``, ``s_<class>``).

    Returns:
        ``(slice_thresholds, series_thresholds)``: dicts class -> float (0.5
        where a class has one label value only).
    """
    slice_t, series_t = {}, {}
    for c, name in enumerate(CLASSES):
        t = metrics.choose_threshold(labels[:, c], calibrated[:, c], "specificity",
                                     SLICE_SPECIFICITY)
        slice_t[name] = 0.5 if np.isnan(t) else float(t)
        y, s = per_patient[f"y_{name}"].to_numpy(), per_patient[f"s_{name}"].to_numpy()
        if name == "any":
            t = metrics.choose_threshold(y, s, "sensitivity", VERDICT_SENSITIVITY)
        else:
            t = metrics.choose_threshold(y, s, "youden")
        series_t[name] = 0.5 if np.isnan(t) else float(t)
    return slice_t, series_t


def top_slice_scores(patients, slice_probs):
    """``(n, 6)``: each slice's row holds its patient's highest slice probability per class."""
    frame = pd.DataFrame(np.asarray(slice_probs), columns=list(CLASSES))
    frame["patient"] = np.asarray(patients)
    return frame.groupby("patient")[list(CLASSES)].transform("max").to_numpy()


def evaluate_oof(oof, n_boot=500, seed=0, verdict_from="series_head"):
    """Every figure of one cross-validated recipe.

    Args:
        oof: dict with ``patients`` ``(n,)``, ``labels``, ``slice``, ``own``,
            ``series`` ``(n, 6)`` and ``fold`` ``(n,)`` (``oof.npz``).
        n_boot: bootstrap resamples (over patients) of the AUC intervals.
        verdict_from: ``"series_head"`` (the series outputs) or
            ``"top_slice"`` (the highest per-slice probability with context,
            before calibration): the score the verdict's threshold is set on.

    Returns:
        dict: ``calibration`` and ``calibration_single`` (card entries),
        ``thresholds``, ``series_thresholds``, ``slice`` (per class: AUC with
        interval, sensitivity and specificity at the threshold), ``own_auc``,
        ``patient`` (AUC of the "any" series score and of the highest slice,
        verdict sensitivity and specificity), ``ece_any``, ``normal_demo``,
        and ``calibrated`` (the ``(n, 6)`` calibrated probabilities).
    """
    patients, labels = np.asarray(oof["patients"]), np.asarray(oof["labels"])
    folds = np.asarray(oof["fold"])
    fitted = cross_fitted_report(labels, oof["slice"], folds)
    fitted.pop("cross_fitted_probs")
    calibrated = calibration.apply_calibration(oof["slice"], fitted)
    single = calibration.fit_calibration(labels, oof["own"])
    series = (oof["series"] if verdict_from == "series_head"
              else top_slice_scores(patients, oof["slice"]))
    per_patient = _patient_frame(patients, labels, series)
    thresholds, series_thresholds = operating_points(labels, calibrated, per_patient)
    out = {"verdict_from": verdict_from,
           "calibration": {k: fitted[k] for k in ("method", "classes")},
           "ece": fitted["ece"], "calibration_single": single, "thresholds": thresholds,
           "series_thresholds": series_thresholds, "slice": {}, "own_auc": {},
           "calibrated": calibrated}
    for c, name in enumerate(CLASSES):
        low, high = metrics.bootstrap_auc_ci(labels[:, c], calibrated[:, c], n_boot=n_boot,
                                             seed=seed, groups=patients)
        confusion = metrics.confusion_at_threshold(labels[:, c], calibrated[:, c], thresholds[name])
        out["slice"][name] = {"auc": metrics.auc_score(labels[:, c], calibrated[:, c]),
                              "auc_ci_low": low, "auc_ci_high": high,
                              "positives": int(labels[:, c].sum()),
                              "sensitivity": confusion["sensitivity"],
                              "specificity": confusion["specificity"]}
        out["own_auc"][name] = metrics.auc_score(labels[:, c], oof["own"][:, c])
    y, s = per_patient["y_any"].to_numpy(), per_patient["s_any"].to_numpy()
    top_slice = pd.Series(calibrated[:, 0]).groupby(patients).max().reindex(per_patient.index)
    verdict = metrics.confusion_at_threshold(y, s, series_thresholds["any"])
    low, high = metrics.bootstrap_auc_ci(y, s, n_boot=n_boot, seed=seed)
    out["patient"] = {"auc_series_score": metrics.auc_score(y, s), "auc_ci_low": low,
                      "auc_ci_high": high,
                      "auc_top_slice": metrics.auc_score(y, top_slice.to_numpy()),
                      "n_patients": int(len(y)), "n_pos": int(y.sum()),
                      "verdict_sensitivity": verdict["sensitivity"],
                      "verdict_specificity": verdict["specificity"],
                      "subtype_auc": {name: metrics.auc_score(
                          per_patient[f"y_{name}"].to_numpy(), per_patient[f"s_{name}"].to_numpy())
                          for name in CLASSES[1:]}}
    out["ece_any"] = fitted["ece"]["any"]["cross_fitted"]
    if NORMAL_DEMO in set(patients.tolist()):
        rows = patients == NORMAL_DEMO
        flags = flag_matrix(calibrated[rows], thresholds)  # the product's rules, not a copy
        score = float(per_patient.loc[NORMAL_DEMO, "s_any"])
        out["normal_demo"] = {
            "patient": NORMAL_DEMO, "slices": int(rows.sum()),
            "flagged_any": int(flags[:, 0].sum()),
            "flagged_some_class": int(flags.any(axis=1).sum()),
            "series_score_any": score,
            "verdict_any": verdict_of({"any": score}, series_thresholds, classes=("any",))["any"]}
    return out


def recipe_row(name, figures, minutes):
    """One line of the recipe table (markdown)."""
    s, p = figures["slice"], figures["patient"]
    demo = figures.get("normal_demo", {})
    return (f"| {name} | {s['any']['auc']:.3f} | {p['auc_series_score']:.3f} "
            f"({p['auc_top_slice']:.3f}) | {p['verdict_sensitivity']:.2f} / "
            f"{p['verdict_specificity']:.2f} | {s['any']['sensitivity']:.2f} / "
            f"{s['any']['specificity']:.2f} | {s['epidural']['auc']:.3f}, "
            f"{s['intraparenchymal']['auc']:.3f}, {s['subdural']['auc']:.3f} | "
            f"{figures['ece_any']:.3f} | {demo.get('flagged_any', '?')} / "
            f"{'yes' if demo.get('verdict_any') else 'no'} | {minutes:.1f} |")


def main(argv=None):
    """``python -m cranioscan.evaluation.series_cv CV_DIR``: print a recipe's figures."""
    parser = argparse.ArgumentParser(prog="python -m cranioscan.evaluation.series_cv",
                                     description=main.__doc__)
    parser.add_argument("cv_dir", help="folder written by cranioscan.train.series_trainer")
    parser.add_argument("--name", default=None, help="recipe name in the table row")
    parser.add_argument("--verdict-from", default="series_head",
                        choices=("series_head", "top_slice"))
    args = parser.parse_args(argv)
    cv = RunFolder(args.cv_dir)
    oof = dict(np.load(cv.oof, allow_pickle=False))
    figures = evaluate_oof(oof, verdict_from=args.verdict_from)
    minutes = 0.0
    for entry in sorted(os.listdir(cv.path)):
        history = RunFolder(os.path.join(cv.path, entry)).member_history
        if os.path.isfile(history):
            minutes += read_json(history)["minutes"]
    figures.pop("calibrated")
    write_json(cv.figures(args.verdict_from), metrics.to_jsonable(figures))
    print(recipe_row(args.name or cv.name, figures, minutes))


if __name__ == "__main__":
    main()
