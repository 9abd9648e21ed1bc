"""Put a cross-validated series recipe together as the shipped model.

``python -m cranioscan.train.ship_series --cv runs/series-cv-X --trunk
runs/phantom_model.keras --out model`` writes:

- ``best_model.keras``: the frozen trunk with the ``K`` fold members' slice
  heads (:func:`cranioscan.net.series.assemble_slice_model`);
- ``series_model.keras``: the members' series layers, averaged;
- ``validation_run/``: the out-of-fold predictions (calibrated) and their
  reports, as the dashboard's Validation page reads them;
- ``model_card.json``: what it was trained on, the recipe, the calibration,
  both operating points and every out-of-fold figure.

The members are the fold models themselves, so the out-of-fold figures,
calibration and thresholds were measured on the parts of the model that
ships (each patient by the one member that did not see it; the ensemble
averages all five).
"""

__all__ = ["DEMO_DIR", "demo_figures", "ship", "main"]

import argparse
import datetime
import json
import os
import sys

import numpy as np
import pandas as pd

from ..ctich import CREDIT, load_ctich, read_slice_hu
from ..demo import REAL_CASES_DIR
from ..evaluation import metrics, reports, series_cv
from ..inference import Predictor, file_sha256
from ..labels import CLASSES
from ..net import series as series_net
from ..net.model import load_model
from ..run_folder import (MODEL_FILE, SERIES_MODEL_FILE, VALIDATION_RUN, RunFolder, read_json,
                          write_json)
from .feature_cache import FeatureCache

#: The real demo patients that ship with the dashboard (CT-ICH JPG layout).
DEMO_DIR = str(REAL_CASES_DIR)
NAME = "CranioScan series model (CT-ICH real patients, 5-fold ensemble)"


def _members(cv_dir, k):
    """The ``k`` fold members' slice heads and series layers (two lists of Keras models)."""
    folds = [RunFolder(cv_dir).fold(fold) for fold in range(k)]
    return ([load_model(fold.head) for fold in folds],
            [load_model(fold.member) for fold in folds])


def demo_figures(predictor, root=DEMO_DIR, patients=None):
    """How the shipped model reads the real demo patients (slices 5 mm apart, in order).

    Returns:
        dict ``"CTICH<PPP>"`` -> ``{"slices", "flagged_any", "flagged_slices_any"
        (1-based), "labelled_any" (1-based), "series_score_any", "verdict_any",
        "max_p_any"}``.
    """
    data = load_ctich(root, patients=patients)
    out = {}
    for patient in dict.fromkeys(data.ids["patient"]):
        rows = np.flatnonzero(data.ids["patient"].to_numpy() == patient)
        hu = np.stack([read_slice_hu(data.ids["brain"].iat[i], data.ids["bone"].iat[i])
                       for i in rows])
        result = predictor.assess(hu)
        flagged = result.findings["any"].flagged_slices
        out[patient] = {"slices": len(rows), "flagged_any": len(flagged),
                        "flagged_slices_any": [i + 1 for i in flagged],
                        "labelled_any": [int(i) + 1 for i in np.flatnonzero(data.labels[rows, 0])],
                        "series_score_any": result.series_scores["any"],
                        "verdict_any": result.verdict["any"],
                        "max_p_any": float(np.max(result.probabilities[:, 0]))}
    return out


def _validation_run(out_dir, cache, oof, figures):
    """The Validation page's run folder from the out-of-fold predictions."""
    run = RunFolder(out_dir).validation_run
    os.makedirs(run.path, exist_ok=True)
    ids = pd.DataFrame(cache.meta["ids"]).iloc[oof["rows"]].reset_index(drop=True)
    ids["study"] = ids["patient"]
    reports.write_val_predictions(run.val_predictions, ids, oof["labels"], figures["calibrated"])
    summary = reports.write_reports(run.path, n_boot=500, thresholds=figures["thresholds"],
                                    title="series model, out of fold")
    summary["patient_level"] = {"any": figures["patient"]}
    summary["calibration"] = {"method": "platt", "ece": figures["ece"], "n_bins": 10}
    summary["series_verdict"] = {"thresholds": figures["series_thresholds"]}
    write_json(run.metrics, metrics.to_jsonable(summary))
    return summary


def _card(out_dir, cache, recipe, figures, oof, command):
    folder = RunFolder(out_dir)
    patients = sorted(set(np.asarray(oof["patients"]).tolist()))
    per_class = {name: {"patients": int(pd.Series(oof["labels"][:, c]).groupby(
        oof["patients"]).max().sum()), "slices": int(oof["labels"][:, c].sum())}
        for c, name in enumerate(CLASSES)}
    minutes = recipe.get("minutes_total")
    return {
        "name": NAME,
        "file": MODEL_FILE,
        "sha256": file_sha256(folder.model),
        "size_bytes": os.path.getsize(folder.model),
        "series_model": SERIES_MODEL_FILE,
        "series_sha256": file_sha256(folder.series_model),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": {
            "backbone": "ResNet50 (keras.applications) cut after stage 4, frozen: the weights "
                        "of the trunk model given to ship_series (its SHA-256 under "
                        "training.trunk_sha256)",
            "slice_heads": f"{recipe['k']} heads (one per fold): 1x1 projection to "
                           f"{recipe['d_model']}, class token, {recipe['head_depth']} pre-norm "
                           "Transformer block(s) over the 14x14 tokens; logits averaged",
            "series": f"per head: {recipe['series_depth']} Transformer block(s) of width "
                      f"{recipe['series_width']} across the slices of a series (relative "
                      "position along the slice normal as sine features); per-slice logits = "
                      "the slice head's own + a context correction; heads averaged; series "
                      "score: " + ("the highest per-slice probability with context"
                                   if recipe.get("verdict_from") == "top_slice" else
                                   "a series head on max and mean over the slices"),
            "input_size": int(cache.meta["preprocessing"]["size"]),
            "input": "three CT windows as channels (brain 40/80, subdural 80/200, bone "
                     "600/2800), the head framed (cranioscan.preprocess.head_box) and resized",
            "outputs": list(CLASSES),
        },
        "preprocessing": {"frame": "head", "size": int(cache.meta["preprocessing"]["size"])},
        "synthetic": False,
        "trained_on": (f"{len(patients)} real head CTs of patients with traumatic brain injury "
                       "(PhysioNet CT-ICH, HU rebuilt from brain/bone JPG windows); each of the "
                       f"{recipe['k']} members on the patients of the other folds; the frozen "
                       "trunk from the previous research model (trained on 59 of these patients "
                       "plus synthetic phantoms)"),
        "data": {"credit": CREDIT, "licence": "CC BY 4.0",
                 "real_patients_trained": len(patients),
                 "real_patients_cross_validated": len(patients),
                 "demo_note": "the dashboard's real demo patients (070, 092, 107) are in the "
                              "cross-validation like every patient: 4 of the 5 members trained "
                              "on each; their out-of-fold figures come from the fifth",
                 "per_class": per_class,
                 "cohort_note": "traumatic brain injury; epidural-heavy, few subarachnoid and "
                                "intraventricular cases; one public dataset, one JPG export"},
        "training": {"command": command, "recipe": recipe, "hardware": "2 CPU cores, no GPU",
                     "trunk_sha256": recipe.get("trunk_sha256"),
                     "feature_cache": cache.meta["key"],
                     "minutes_total": minutes},
        "metrics": {name: {"auc": f["auc"], "auc_ci_low": f["auc_ci_low"],
                           "auc_ci_high": f["auc_ci_high"], "sensitivity": f["sensitivity"],
                           "specificity": f["specificity"],
                           "threshold": figures["thresholds"][name], "n_pos": f["positives"],
                           "n_neg": int(len(oof["labels"]) - f["positives"])}
                    for name, f in figures["slice"].items()},
        "metrics_note": (f"slice level, out of fold: patient-level {recipe['k']}-fold "
                         f"cross-validation on all {len(patients)} CT-ICH patients (each member "
                         "scored only the patients it never saw); 95% intervals from a patient "
                         "bootstrap; sensitivity and specificity at the slice-flag thresholds, "
                         "chosen on these same predictions"),
        "calibration": dict(figures["calibration"],
                            fitted_on="out-of-fold per-slice probabilities of the members"),
        "calibration_single": dict(figures["calibration_single"],
                                   fitted_on="out-of-fold probabilities of the slice heads alone "
                                             "(a single slice has no neighbours)"),
        "thresholds": figures["thresholds"],
        "series_thresholds": figures["series_thresholds"],
        "threshold_rules": {
            "slice_flags": f"each class: lowest threshold with out-of-fold slice specificity "
                           f">= {series_cv.SLICE_SPECIFICITY}",
            "series_verdict": f"any: highest threshold with out-of-fold patient sensitivity >= "
                              f"{series_cv.VERDICT_SENSITIVITY}; subtypes: Youden point over "
                              "patients"},
        "cross_validation": {
            "patient_level_any": figures["patient"],
            "expected_calibration_error": figures["ece"],
            "normal_demo": figures.get("normal_demo"),
            "own_auc": figures["own_auc"],
        },
        "validation_run": VALIDATION_RUN,
        "intended_use": ("Research and teaching: how a ResNet50 + Transformer hemorrhage "
                         "classifier that reads a series slice by slice and across slices "
                         "behaves on a small public set of real head CTs, and where its maps "
                         "point. Not a medical device."),
        "limitations": [
            f"Trained and cross-validated on {len(patients)} patients of one public TBI dataset "
            "whose images are JPG exports; not validated on other scanners, protocols, "
            "populations or on DICOM from a clinical PACS.",
            "Not for clinical use: do not use it to diagnose, triage or exclude hemorrhage.",
            "Few subarachnoid and intraventricular examples: their figures rest on a handful of "
            "patients.",
            "The cross-validation is optimistic: each patient was scored by a member that never "
            "saw it, but the frozen trunk (ResNet50 to stage 4, from the previous research model) "
            "was trained on 59 of the same 62 patients.",
            "The series verdict keeps out-of-fold patient sensitivity at 0.95 and then says "
            "'hemorrhage likely' for most normal heads.",
        ],
    }


def ship(cv_dir, trunk_path, out_dir, cache, command="", verdict_from="series_head"):
    """Assemble, save and describe the shipped model; returns the card dict."""
    cv, folder = RunFolder(cv_dir), RunFolder(out_dir)
    recipe = read_json(cv.recipe)
    recipe["minutes_total"] = sum(read_json(cv.fold(k).member_history)["minutes"]
                                  for k in range(recipe["k"]))
    oof = dict(np.load(cv.oof, allow_pickle=False))
    figures = series_cv.evaluate_oof(oof, verdict_from=verdict_from)
    recipe["verdict_from"] = verdict_from
    recipe["trunk_sha256"] = file_sha256(trunk_path)
    heads, members = _members(cv_dir, recipe["k"])
    head_config = {"d_model": recipe["d_model"], "num_heads": recipe["head_heads"],
                   "mlp_dim": recipe["head_mlp"], "dropout": recipe["dropout"],
                   "depth": recipe["head_depth"]}
    series_config = {"width": recipe["series_width"], "depth": recipe["series_depth"],
                     "num_heads": 4, "dropout": recipe["dropout"]}
    own = [m.get_layer(f"{series_net.member_prefix(k)}own_logits") for k, m in enumerate(members)]
    os.makedirs(out_dir, exist_ok=True)
    slice_model = series_net.assemble_slice_model(load_model(trunk_path), heads, own, head_config)
    slice_model.save(folder.model)
    series_model = series_net.assemble_series_model(members, recipe["d_model"], series_config,
                                                    verdict_from=verdict_from)
    series_model.save(folder.series_model)
    _validation_run(out_dir, cache, oof, figures)
    card = _card(out_dir, cache, recipe, figures, oof, command)
    write_json(folder.card, metrics.to_jsonable(card))
    card["demo_cases"] = demo_figures(Predictor.load(folder.model))
    card["demo_cases_note"] = ("the shipped ensemble on the dashboard's real demo patients "
                               "(4 of its 5 members trained on each of them); "
                               "tests/test_shipped_model.py scores them again")
    write_json(folder.card, metrics.to_jsonable(card))
    return card


def main(argv=None):
    """``python -m cranioscan.train.ship_series``: assemble a cross-validated recipe."""
    parser = argparse.ArgumentParser(prog="python -m cranioscan.train.ship_series",
                                     description=main.__doc__)
    parser.add_argument("--cv", required=True, help="cross-validation folder (series_trainer)")
    parser.add_argument("--cache", required=True, help="the feature cache it was trained from")
    parser.add_argument("--trunk", required=True, help=".keras model whose ResNet is the trunk")
    parser.add_argument("--out", default="model")
    parser.add_argument("--verdict-from", default="series_head",
                        choices=series_net.VERDICT_SOURCES)
    args = parser.parse_args(argv)
    card = ship(args.cv, args.trunk, args.out, FeatureCache(args.cache),
                command="python -m cranioscan.train.ship_series " + " ".join(sys.argv[1:]),
                verdict_from=args.verdict_from)
    print(json.dumps({"sha256": card["sha256"], "thresholds": card["thresholds"],
                      "series_thresholds": card["series_thresholds"]}, indent=1))


if __name__ == "__main__":
    main()
