"""What the model card says, as notices and tables (no Streamlit import).

Pure functions of ``model_card.json`` (a dict): whether the model is a
synthetic-data demonstration, the notice the pages show, its name, and the
metrics, held-out and localisation tables of the model card page.
"""

__all__ = [
    "is_synthetic_model",
    "model_notice",
    "short_notice",
    "model_name",
    "card_metrics_table",
    "card_metrics_formats",
    "held_out_table",
    "localisation_table",
    "training_facts",
    "rate_interval",
    "card_key_sentence",
    "target_lines",
    "real_data_lines",
    "as_lines",
]

import os

import numpy as np
import pandas as pd

from ..evaluation.metrics import wilson_interval
from ..formats import PROBABILITY_FORMAT, as_float, interval, is_number, percent_interval
from ..card_text import (  # noqa: F401  (re-exported)
    is_synthetic_model, model_name, model_notice, short_notice)
from ..labels import CLASSES
from .text import CLASS_LABELS, METHOD_TITLES


# ------------------------------------------------------------------ model
# The notices and name live in the library (cranioscan.card_text): the
# result of a reading names its model without importing the screens.


def card_metrics_table(card, classes=CLASSES):
    """Per-class metrics of a model card as a table.

    Args:
        card: model card dict; ``metrics`` maps class -> dict (``auc``,
            ``auc_ci_low``, ``auc_ci_high`` and any other numbers), and
            ``thresholds`` class -> float.

    Returns:
        DataFrame, one row per class found in the card, with ``Finding``,
        ``AUC``, ``95% CI`` (text), ``Threshold`` and the other numeric
        entries as extra columns; empty when the card has no metrics.
    """
    card = card or {}
    card_metrics = card.get("metrics") or {}
    if isinstance(card_metrics.get("classes"), dict):  # a metrics.summarize() dict
        card_metrics = card_metrics["classes"]
    thresholds = card.get("thresholds") or {}
    rows = []
    for name in classes:
        m = card_metrics.get(name)
        if not isinstance(m, dict):
            continue
        low, high = m.get("auc_ci_low"), m.get("auc_ci_high")
        row = {"Finding": CLASS_LABELS.get(name, name), "AUC": m.get("auc"),
               "95% CI": interval(low, high),
               "Threshold": thresholds.get(name)}
        for key, value in m.items():
            known = key in ("auc", "auc_ci_low", "auc_ci_high", "threshold")
            if not known and isinstance(value, (int, float)) and not isinstance(value, bool):
                row[_metric_header(key)] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in table.columns[4:]:  # counts stay integers even where a class lacks one
        values = [row[column] for row in rows if column in row]
        if all(isinstance(v, int) for v in values):
            table[column] = table[column].astype("Int64")
    return table


#: Headers of the card's per-class numbers, in the tables' sentence case.
_METRIC_HEADERS = {"n_pos": "Positive slices", "n_neg": "Negative slices", "ppv": "PPV",
                   "npv": "NPV", "ece": "ECE", "auc": "AUC"}


def _metric_header(key):
    """``"n_pos"`` -> ``"Positive slices"``, ``"sensitivity"`` -> ``"Sensitivity"``."""
    if key in _METRIC_HEADERS:
        return _METRIC_HEADERS[key]
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


def card_metrics_formats(table):
    """printf formats of :func:`card_metrics_table`'s numeric columns.

    Counts (integer columns) read as integers ("840", not "840.000"),
    thresholds as every probability (:data:`cranioscan.formats.PROBABILITY_FORMAT`),
    other numbers with three decimals. Text columns are left out.
    """
    formats = {}
    for column in table.columns:
        dtype = table[column].dtype
        if pd.api.types.is_integer_dtype(dtype):
            formats[column] = "%d"
        elif column == "Threshold":
            formats[column] = PROBABILITY_FORMAT
        elif pd.api.types.is_numeric_dtype(dtype):
            formats[column] = "%.3f"
    return formats


def rate_interval(block, k, n):
    """``"0%–10%, Wilson score interval on 35 slices"``: a hit rate's 95% interval, as text.

    The card's ``ci95`` is used when it names its method (``ci95_method``,
    written by ``cranioscan evaluate`` and ``sweep`` since they choose the
    method by the number of studies); an older card's ``ci95`` was a study
    bootstrap whatever the number of studies, which collapses to one point
    with few studies or with 0 or all hits, so it is replaced by the Wilson
    interval on the counts ``k`` of ``n``. None when there is nothing to show.
    """
    block = block if isinstance(block, dict) else {}
    method = block.get("ci95_method")
    if isinstance(method, str) and method:
        text = percent_interval(block.get("ci95"))
        return f"{text}, {method}" if text else None
    if not (is_number(k) and is_number(n)) or n <= 0 or not 0 <= k <= n:
        return None
    low, high = wilson_interval(int(k), int(n))
    return f"{percent_interval([low, high])}, Wilson score interval on {int(n)} slices"


def _rate_with_interval(cam):
    """``"0% (0/35; 95% CI 0%–10%, Wilson score interval on 35 slices)"``."""
    k, n = cam.get("n_in_mask"), cam.get("n_slices")
    text = f"{as_float(cam.get('fraction_in_mask')):.0%} ({k}/{n}"
    found = rate_interval(cam, k, n)
    return text + (f"; 95% CI {found})" if found else ")")


#: Words of the card's keys (``auc_ge_0.95_every_class``) as a sentence reads them.
_KEY_WORDS = {"auc": "AUC", "ge": "≥", "le": "≤", "gt": ">", "lt": "<", "eq": "=",
              "ece": "ECE", "ppv": "PPV", "npv": "NPV", "gradcam": "Grad-CAM",
              "gradcam++": "Grad-CAM++", "every": "for every", "any": "any hemorrhage",
              "mask": "lesion", "pos": "positive", "neg": "negative", "n": "number of"}


def card_key_sentence(key):
    """A card key as words: ``"auc_ge_0.95_every_class"`` -> ``"AUC ≥ 0.95 for every class"``.

    Underscores become spaces, comparison abbreviations their signs,
    acronyms capitals; the first letter is capitalised.
    """
    words = [_KEY_WORDS.get(w.lower(), w) for w in str(key).split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def target_lines(targets):
    """A card's ``targets_met`` as sentences: ``"Target AUC ≥ 0.95 for every class: not met."``."""
    if not isinstance(targets, dict):
        return []
    return [f"Target {card_key_sentence(k)}: {'met' if v else 'not met'}."
            for k, v in targets.items()]


def held_out_table(card, classes=CLASSES):
    """The card's ``held_out_evaluation`` (``cranioscan evaluate``) as a table.

    Returns:
        DataFrame, one row per class: ``Finding``, ``AUC``, ``95% CI``,
        ``Positive slices`` and, per explanation method measured, ``<method>
        peak in lesion`` (fraction of positive slices, with counts and, where
        the card has it, the study-level 95% interval): the card's
        ``gradcam_peak_in_mask`` first, then those of
        ``peak_in_mask_other_methods``; empty when the card has no such entry.
    """
    block = (card or {}).get("held_out_evaluation")
    if not isinstance(block, dict):
        return pd.DataFrame()
    aucs, cis = block.get("auc") or {}, block.get("auc_ci95") or {}
    positives = block.get("positives") or {}
    main = block.get("gradcam_peak_in_mask") if isinstance(
        block.get("gradcam_peak_in_mask"), dict) else {}
    main_method = main.get("method", "gradcam")
    by_method = {main_method: main}
    others = block.get("peak_in_mask_other_methods")
    if isinstance(others, dict):
        by_method.update({m: v for m, v in others.items()
                          if m != main_method and isinstance(v, dict)})
    rows = []
    for name in classes:
        if name not in aucs:
            continue
        ci = cis.get(name) or [None, None]
        row = {
            "Finding": CLASS_LABELS.get(name, name),
            "AUC": as_float(aucs.get(name)),
            "95% CI": interval(*ci) if len(ci) == 2 else "n/a",
            "Positive slices": positives.get(name),
        }
        for method, cams in by_method.items():
            cam = cams.get(name) if isinstance(cams.get(name), dict) else {}
            fraction = as_float(cam.get("fraction_in_mask"))
            row[f"{METHOD_TITLES.get(method, method)} peak in lesion"] = (
                _rate_with_interval(cam) if np.isfinite(fraction) else "n/a")
        rows.append(row)
    return pd.DataFrame(rows)


def localisation_table(card):
    """The card's ``localisation_sweep`` (``cranioscan sweep``) as a table.

    Returns:
        DataFrame, one row per layer and method: ``Layer``, ``Method``,
        ``Peak in lesion`` (fraction with its 95% interval) and, for the
        other peaks, ``In air``, ``In bone`` and ``In soft tissue`` (slice
        counts); empty when the card has no such entry.
    """
    block = (card or {}).get("localisation_sweep")
    rows = block.get("rows") if isinstance(block, dict) else None
    if not isinstance(rows, list):
        return pd.DataFrame()
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        fraction = as_float(row.get("fraction_in_mask"))
        places = row.get("places") if isinstance(row.get("places"), dict) else {}
        counts = [v for v in places.values() if is_number(v)]
        found = rate_interval(row, places.get("lesion"), sum(counts) if counts else None)
        text = f"{fraction:.0%}" if np.isfinite(fraction) else "n/a"
        if found:
            text += f" (95% CI {found})"
        out.append({"Layer": row.get("layer"),
                    "Method": METHOD_TITLES.get(row.get("method"), row.get("method")),
                    "Peak in lesion": text, "In air": places.get("air"),
                    "In bone": places.get("bone"), "In soft tissue": places.get("soft tissue")})
    return pd.DataFrame(out)


def training_facts(training):
    """The card's ``training`` block as ``(label, markdown)`` lines for the model card page.

    Gives the training command, the epochs with their time and hardware, how
    slices were drawn, and the model training continued from (its SHA-256 and
    data), each only when the card has it.
    """
    training = training if isinstance(training, dict) else {}
    command = training.get("command")
    facts = [("Training command", f"`{command}`" if command else "unknown")]
    if training.get("epochs_run"):
        minutes, epochs = training.get("epoch_minutes_total"), training["epochs_run"]
        facts.append(("Training", f"{epochs} epoch{'s' if epochs != 1 else ''}"
                                  + (f", {minutes:.0f} minutes" if minutes else "")
                                  + (f" on {training['hardware']}" if training.get("hardware")
                                     else "")))
    if training.get("sampling"):
        facts.append(("Sampling", training["sampling"]))
    earlier = training.get("initialised_from")
    if isinstance(earlier, dict):
        earlier_card = earlier.get("model_card") or {}
        facts.append(("Continued from", f"`{(earlier.get('sha256') or 'unknown')[:12]}…` "
                                        f"(trained on {earlier_card.get('trained_on', 'unknown data')}; "
                                        "its card is in the JSON below)"))
    return facts


def real_data_lines(card):
    """What a card says about real training data, cross-validation and calibration.

    Returns:
        list of Markdown lines (empty for a card without a ``data`` entry):
        the data and its credit, the cross-validation's patient-level AUC and
        calibration error, and how probabilities and thresholds were set.
    """
    card = card or {}
    data = card.get("data")
    if not isinstance(data, dict):
        return []
    patients = (f"**Patients:** {data.get('real_patients_trained')} in the final fit; "
                f"{data.get('real_patients_cross_validated')} in the cross-validation")
    held_out = data.get("held_out_patients") or []
    if held_out:  # a card without any says nothing of it (no empty list on screen)
        patients += (f"; held out of the final fit: {', '.join(str(p) for p in held_out)} "
                     f"({data.get('held_out_note', '')})")
    lines = [f"**Data:** {data.get('credit', 'unknown')}; licence {data.get('licence', '?')}.",
             patients + "."]
    if data.get("demo_note"):
        lines.append(f"**Demo patients:** {data['demo_note']}.")
    lines.append(f"**Cohort:** {data.get('cohort_note', '')}.")
    per_class = data.get("per_class") or {}
    if per_class:
        lines.append("**Patients with each finding (final fit):** " + ", ".join(
            f"{CLASS_LABELS.get(c, c).lower()} {v.get('patients')} ({v.get('slices')} slices)"
            for c, v in per_class.items() if isinstance(v, dict)) + ".")
    cv = card.get("cross_validation") or {}
    patient = cv.get("patient_level_any") or {}
    if as_float(patient.get("auc")) == as_float(patient.get("auc")):
        lines.append(f"**Patient level, any hemorrhage (out of fold):** AUC "
                     f"{as_float(patient['auc']):.3f} (95% CI "
                     f"{interval(patient.get('auc_ci_low'), patient.get('auc_ci_high'))}) over "
                     f"{patient.get('n_patients')} patients.")
    ece = (cv.get("expected_calibration_error") or {}).get("any") or {}
    if ece:
        lines.append(f"**Calibration error, any hemorrhage:** ECE {as_float(ece.get('raw')):.3f} "
                     f"raw, {as_float(ece.get('cross_fitted')):.3f} after calibration (each fold "
                     "calibrated on the others).")
    calibration = card.get("calibration") or {}
    if calibration:
        rules = card.get("threshold_rules") or {}
        lines.append(f"**Probabilities:** per-class {calibration.get('method', '?')} scaling fitted "
                     f"on {calibration.get('fitted_on', '?')}; thresholds: any — "
                     f"{rules.get('any', '?')}, subtypes — {rules.get('subtypes', '?')}.")
    return lines


def as_lines(value):
    """A card entry (str, list or dict) as a list of display lines."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    return [str(value)]
