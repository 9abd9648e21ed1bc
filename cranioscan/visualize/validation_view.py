"""Figures and tables of a training run's validation, for the dashboard.

Pure functions of a :class:`cranioscan.evaluation.reports.LoadedRun` (what
``reports.load_run`` reads back from a run folder): every number is
recomputed from the run's ``val_predictions.csv`` with
:mod:`cranioscan.evaluation.metrics`, except the bootstrap confidence intervals and
chosen thresholds, which come from its ``metrics.json`` (they are costly to
recompute and fixed when the run was written). Figures are plotly.
"""

__all__ = [
    "MAX_POINTS",
    "thin",
    "run_label",
    "cross_validation_summary",
    "class_metrics_table",
    "default_thresholds",
    "threshold_slider_args",
    "roc_figure",
    "pr_figure",
    "calibration_figure",
    "calibration_error",
    "fold_table",
    "training_notes",
    "ONE_RUN_NOTE",
    "threshold_summary",
    "confusion_figure",
    "operating_point_figure",
    "compare_table",
    "compare_roc_figure",
    "history_figure",
    "describe_config",
    "display_path",
]

import os

import numpy as np
import pandas as pd

from ..evaluation import curves as curve_lib, metrics
from ..defaults import REPO_ROOT
from ..formats import PROBABILITY_DIGITS, PROBABILITY_FORMAT, interval, is_number, probability
from ..labels import CLASSES
from ..run_folder import RunFolder
from .text import CLASS_COLORS, CLASS_LABELS

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 430}

#: Most points drawn per curve: a run on 100,000 slices has as many points on
#: its precision-recall curve, which a browser need not receive.
MAX_POINTS = 1500


def thin(*arrays, max_points=MAX_POINTS):
    """Evenly spaced points of parallel curve arrays, always keeping the first and last.

    Args:
        arrays: 1-D arrays of one length ``k``.
        max_points: most points kept.

    Returns:
        tuple of arrays (the inputs themselves when ``k <= max_points``).
    """
    k = len(arrays[0])
    if k <= max_points:
        return arrays
    index = np.unique(np.linspace(0, k - 1, int(max_points)).round().astype(np.int64))
    return tuple(np.asarray(a)[index] for a in arrays)


_finite = is_number


def _class_metrics(run, name):
    return ((run.metrics or {}).get("classes") or {}).get(name) or {}


def run_label(run):
    """Short text naming a run: folder name, slices and studies."""
    n = len(run.labels)
    studies = run.ids["study"].nunique() if "study" in run.ids.columns else None
    tail = f", {studies} studies" if studies else ""
    return f"{run.name} ({n} validation slices{tail})"


def cross_validation_summary(run):
    """What a cross-validation run folder adds to a plain one, as Markdown, or None.

    Reads ``metrics.json``'s ``cross_validation``, ``patient_level`` and
    ``calibration`` entries (``cranioscan crossval`` writes them).
    """
    found = run.metrics or {}
    cv = found.get("cross_validation")
    if not isinstance(cv, dict):
        return None
    lines = [f"Out-of-fold predictions of a patient-level {cv.get('folds')}-fold "
             f"cross-validation on {cv.get('patients')} patients (fold seed "
             f"{cv.get('fold_seed')}): every slice was scored by a model that never saw its "
             "patient. Probabilities are calibrated (Platt scaling fitted on these predictions)."]
    patient = (found.get("patient_level") or {}).get("any") or {}
    if _finite(patient.get("auc")):
        lines.append(f"Patient level, any hemorrhage (highest slice per patient): AUC "
                     f"{_auc_text(patient['auc'], patient.get('auc_ci_low'), patient.get('auc_ci_high'))}"
                     f" over {patient.get('n_patients')} patients, {patient.get('n_pos')} with blood.")
    ece = ((found.get("calibration") or {}).get("ece") or {}).get("any") or {}
    if _finite(ece.get("raw")) and _finite(ece.get("cross_fitted")):
        lines.append(f"Expected calibration error, any hemorrhage: {ece['raw']:.3f} before "
                     f"calibration, {calibration_error(run, 'any'):.3f} after (each fold "
                     "calibrated on the others; the figure the Calibration tab gives too).")
    return "\n\n".join(lines)


def _auc_text(auc, low, high):
    """``"0.912 [0.880–0.941]"``: AUC and its 95% interval, as the legends show them."""
    if not _finite(auc):
        return "n/a"
    text = f"{auc:.3f}"
    if _finite(low) and _finite(high):
        text += f" [{interval(low, high)}]"
    return text


def class_metrics_table(run, classes=CLASSES):
    """Per-class validation numbers of a run.

    Returns:
        DataFrame, one row per class: ``Finding``, ``Positives``, ``AUC``,
        ``95% CI`` (text, from ``metrics.json``), ``Average precision``,
        ``Threshold``, ``Sensitivity``, ``Specificity`` (at that threshold,
        recomputed from the predictions).
    """
    thresholds = default_thresholds(run, classes)
    pr = curve_lib.precision_recall_per_class(run.labels, run.probs, classes)
    rows = []
    for c, name in enumerate(classes):
        y, p = run.labels[:, c], run.probs[:, c]
        auc = metrics.auc_score(y, p)
        m = _class_metrics(run, name)
        low, high = m.get("auc_ci_low"), m.get("auc_ci_high")
        conf = metrics.confusion_at_threshold(y, p, thresholds[name])
        n_pos = int(np.sum(y > 0.5))
        ap = float(pr[name]["average_precision"])
        rows.append({
            "Finding": CLASS_LABELS.get(name, name),
            "Positives": n_pos,
            "AUC": auc,
            "95% CI": interval(low, high),
            "Average precision": ap,
            "Threshold": thresholds[name],
            "Sensitivity": conf["sensitivity"],
            "Specificity": conf["specificity"],
        })
    return pd.DataFrame(rows)


def threshold_slider_args(threshold):
    """Keyword arguments of the threshold slider, in the one probability format.

    The slider starts at the threshold itself (not rounded to a step, so the
    rates beside it are those of the operating point), shows it as every
    probability is shown (:data:`cranioscan.formats.PROBABILITY_FORMAT`:
    0.065 for 0.0648, 0.006 for 0.00647, where a 0.01 step showed 0.06 and
    0.01), and moves in steps of that last digit.
    """
    value = min(1.0, max(0.0, float(threshold)))
    return {"min_value": 0.0, "max_value": 1.0, "value": value,
            "step": 10.0 ** -PROBABILITY_DIGITS, "format": PROBABILITY_FORMAT}


def default_thresholds(run, classes=CLASSES, fallback=0.5):
    """Operating thresholds of a run (``metrics.json``), ``fallback`` where absent."""
    out = {}
    for name in classes:
        t = _class_metrics(run, name).get("threshold")
        out[name] = float(t) if _finite(t) else float(fallback)
    return out


def _base_figure(title, x_title, y_title, diagonal=None):
    import plotly.graph_objects as go

    fig = go.Figure()
    if diagonal == "up":
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                 line={"color": "#888", "dash": "dash", "width": 1},
                                 hoverinfo="skip", showlegend=False))
    fig.update_layout(title=title, xaxis={"title": x_title, "range": [0, 1]},
                      yaxis={"title": y_title, "range": [0, 1.02]},
                      legend={"font": {"size": 11}}, **_LAYOUT)
    return fig


def roc_figure(run, classes=CLASSES):
    """ROC curve of every class, AUC and its bootstrap 95% interval in the legend."""
    import plotly.graph_objects as go

    curves = curve_lib.roc_curve_per_class(run.labels, run.probs, classes)
    fig = _base_figure(f"ROC — {run.name}: AUC [95% CI]", "1 − specificity (false-positive rate)",
                       "sensitivity (true-positive rate)", diagonal="up")
    for name in classes:
        curve = curves[name]
        m = _class_metrics(run, name)
        label = f"{CLASS_LABELS.get(name, name)} " + (
            _auc_text(curve["auc"], m.get("auc_ci_low"), m.get("auc_ci_high"))
            if curve["note"] is None else "(one label value only)")
        fpr, tpr, thresholds = thin(curve["fpr"], curve["tpr"], curve["thresholds"])
        fig.add_trace(go.Scatter(
            x=fpr, y=tpr, mode="lines", name=label,
            line={"color": CLASS_COLORS.get(name), "width": 2},
            customdata=thresholds,
            hovertemplate="FPR %{x:.3f}, TPR %{y:.3f}<br>threshold %{customdata:.3f}<extra>"
                          + CLASS_LABELS.get(name, name) + "</extra>",
        ))
    fig.update_layout(legend={"x": 0.99, "y": 0.02, "xanchor": "right", "yanchor": "bottom"})
    return fig


def pr_figure(run, classes=CLASSES):
    """Precision-recall curve of every class, average precision and prevalence in the legend."""
    import plotly.graph_objects as go

    curves = curve_lib.precision_recall_per_class(run.labels, run.probs, classes)
    fig = _base_figure(f"Precision–recall — {run.name}: AP (prevalence)", "recall (sensitivity)",
                       "precision (positive predictive value)")
    for name in classes:
        curve = curves[name]
        ap = curve["average_precision"]
        label = (f"{CLASS_LABELS.get(name, name)} {ap:.3f} ({curve['prevalence']:.3f})"
                 if _finite(ap) else f"{CLASS_LABELS.get(name, name)} (no positive case)")
        recall, precision = thin(curve["recall"], curve["precision"])
        fig.add_trace(go.Scatter(
            x=recall, y=precision, mode="lines", name=label,
            line={"color": CLASS_COLORS.get(name), "width": 2, "shape": "hv"},
            hovertemplate="recall %{x:.3f}, precision %{y:.3f}<extra>"
                          + CLASS_LABELS.get(name, name) + "</extra>",
        ))
    fig.update_layout(legend={"x": 0.01, "y": 0.02, "xanchor": "left", "yanchor": "bottom"})
    return fig


def calibration_error(run, class_name, curves=None, n_bins=10):
    """The one expected calibration error (ECE) of a run's class, as every view shows it.

    A cross-validation run's ``metrics.json`` gives the cross-fitted ECE
    (each fold's predictions calibrated on the other folds): that is the
    run's figure, in the info box and in the plot's legend alike. Without
    it, the ECE of the run's predictions on ``n_bins`` bins.
    """
    stored = (((run.metrics or {}).get("calibration") or {}).get("ece") or {}).get(class_name)
    if isinstance(stored, dict) and _finite(stored.get("cross_fitted")):
        return float(stored["cross_fitted"])
    if curves is None:
        curves = curve_lib.calibration_curve_per_class(run.labels, np.clip(run.probs, 0, 1),
                                                       n_bins, CLASSES)
    return float(curves[class_name]["ece"])


def calibration_figure(run, n_bins=10, classes=CLASSES):
    """Reliability diagram: observed fraction positive against mean predicted probability.

    Marker size grows with the number of slices in the bin; the legend gives
    each class's expected calibration error (ECE) from :func:`calibration_error`.
    """
    import plotly.graph_objects as go

    curves = curve_lib.calibration_curve_per_class(run.labels, np.clip(run.probs, 0, 1), n_bins, classes)
    fig = _base_figure(f"Calibration — {run.name}", "mean predicted probability",
                       "observed fraction positive", diagonal="up")
    for name in classes:
        curve = curves[name]
        keep = curve["count"] > 0
        counts = curve["count"][keep]
        sizes = 6 + 14 * np.sqrt(counts / max(counts.max(), 1)) if counts.size else counts
        fig.add_trace(go.Scatter(
            x=curve["mean_predicted"][keep], y=curve["fraction_positive"][keep], mode="lines+markers",
            name=f"{CLASS_LABELS.get(name, name)} (ECE {calibration_error(run, name, curves):.3f})",
            line={"color": CLASS_COLORS.get(name), "width": 1.5},
            marker={"size": sizes}, customdata=counts,
            hovertemplate="predicted %{x:.2f}, observed %{y:.2f}<br>%{customdata} slices<extra>"
                          + CLASS_LABELS.get(name, name) + "</extra>",
        ))
    fig.update_layout(legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top"})
    return fig


def threshold_summary(run, class_name, threshold):
    """Confusion counts and rates of one class at ``threshold`` (prob >= threshold positive).

    Returns:
        the dict of :func:`cranioscan.evaluation.metrics.confusion_at_threshold` (``tp,
        fp, tn, fn, sensitivity, specificity, ppv, npv``; NaN where a rate is
        undefined).
    """
    c = CLASSES.index(class_name)
    return metrics.confusion_at_threshold(run.labels[:, c], run.probs[:, c], threshold)


def confusion_figure(confusion, class_name):
    """2x2 confusion matrix (rows: truth, columns: call) as an annotated heatmap."""
    import plotly.graph_objects as go

    z = [[confusion["tp"], confusion["fn"]], [confusion["fp"], confusion["tn"]]]
    text = [[f"TP<br>{confusion['tp']}", f"FN<br>{confusion['fn']}"],
            [f"FP<br>{confusion['fp']}", f"TN<br>{confusion['tn']}"]]
    fig = go.Figure(go.Heatmap(
        z=z, x=["called positive", "called negative"], y=["hemorrhage", "no hemorrhage"],
        text=text, texttemplate="%{text}", textfont={"size": 16}, colorscale="Blues",
        showscale=False, hoverinfo="skip",
    ))
    fig.update_layout(title=f"Confusion matrix — {CLASS_LABELS.get(class_name, class_name)}",
                      yaxis={"autorange": "reversed", "title": "truth"},
                      xaxis={"title": "model", "side": "bottom"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=300)
    return fig


def operating_point_figure(run, class_name, threshold):
    """ROC curve of one class with the operating point of ``threshold`` marked."""
    import plotly.graph_objects as go

    c = CLASSES.index(class_name)
    curve = curve_lib.roc_curve_per_class(run.labels[:, [c]], run.probs[:, [c]], (class_name,))[class_name]
    conf = threshold_summary(run, class_name, threshold)
    fig = _base_figure(f"Operating point — {CLASS_LABELS.get(class_name, class_name)}",
                       "1 − specificity", "sensitivity", diagonal="up")
    fpr, tpr = thin(curve["fpr"], curve["tpr"])
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", showlegend=False,
                             line={"color": CLASS_COLORS.get(class_name), "width": 2},
                             hoverinfo="skip"))
    if _finite(conf["specificity"]) and _finite(conf["sensitivity"]):
        fig.add_trace(go.Scatter(
            x=[1 - conf["specificity"]], y=[conf["sensitivity"]], mode="markers",
            marker={"size": 13, "color": "#ffd43b", "line": {"width": 1, "color": "#000"}},
            name=f"threshold {probability(threshold)}", showlegend=True,
            hovertemplate="sensitivity %{y:.3f}<br>1 − specificity %{x:.3f}<extra></extra>",
        ))
    fig.update_layout(height=300, legend={"x": 0.99, "y": 0.02, "xanchor": "right", "yanchor": "bottom"})
    return fig


def compare_table(run_a, run_b, classes=CLASSES):
    """Per-class AUC (with intervals) and average precision of two runs side by side.

    Returns:
        DataFrame, one row per class plus ``Mean AUC`` and ``RSNA weighted
        log loss`` rows: ``Finding``, ``AUC <a>``, ``AUC <b>``, ``Δ AUC (b −
        a)``, ``CI <a>``, ``CI <b>``.
    """
    a_name, b_name = run_a.name, run_b.name
    if a_name == b_name:
        a_name, b_name = f"{a_name} (A)", f"{b_name} (B)"
    rows = []
    aucs = {a_name: [], b_name: []}
    for c, name in enumerate(classes):
        row = {"Finding": CLASS_LABELS.get(name, name)}
        for label, run in ((a_name, run_a), (b_name, run_b)):
            auc = metrics.auc_score(run.labels[:, c], run.probs[:, c])
            m = _class_metrics(run, name)
            low, high = m.get("auc_ci_low"), m.get("auc_ci_high")
            row[f"AUC {label}"] = auc
            row[f"CI {label}"] = interval(low, high)
            aucs[label].append(auc)
        row["Δ AUC (B − A)"] = row[f"AUC {b_name}"] - row[f"AUC {a_name}"]
        rows.append(row)
    mean = {"Finding": "Mean AUC"}
    loss = {"Finding": "RSNA weighted log loss"}
    for label, run in ((a_name, run_a), (b_name, run_b)):
        values = [v for v in aucs[label] if _finite(v)]
        mean[f"AUC {label}"] = float(np.mean(values)) if values else float("nan")
        loss[f"AUC {label}"] = metrics.rsna_weighted_log_loss(run.labels, np.clip(run.probs, 0, 1))
        mean[f"CI {label}"] = loss[f"CI {label}"] = ""
    mean["Δ AUC (B − A)"] = mean[f"AUC {b_name}"] - mean[f"AUC {a_name}"]
    loss["Δ AUC (B − A)"] = loss[f"AUC {b_name}"] - loss[f"AUC {a_name}"]
    rows.extend([mean, loss])
    columns = ["Finding", f"AUC {a_name}", f"AUC {b_name}", "Δ AUC (B − A)",
               f"CI {a_name}", f"CI {b_name}"]
    return pd.DataFrame(rows, columns=columns)


def compare_roc_figure(run_a, run_b, class_name):
    """One class's ROC curve of two runs on one plot (A solid, B dashed)."""
    import plotly.graph_objects as go

    c = CLASSES.index(class_name)
    fig = _base_figure(f"ROC — {CLASS_LABELS.get(class_name, class_name)}: A vs B",
                       "1 − specificity", "sensitivity", diagonal="up")
    for tag, run, dash in (("A", run_a, "solid"), ("B", run_b, "dash")):
        curve = curve_lib.roc_curve_per_class(run.labels[:, [c]], run.probs[:, [c]], (class_name,))[class_name]
        m = _class_metrics(run, class_name)
        fpr, tpr = thin(curve["fpr"], curve["tpr"])
        fig.add_trace(go.Scatter(
            x=fpr, y=tpr, mode="lines",
            name=f"{tag}: {run.name}, AUC "
                 + _auc_text(curve["auc"], m.get("auc_ci_low"), m.get("auc_ci_high")),
            line={"color": CLASS_COLORS.get(class_name) if tag == "A" else "#adb5bd", "width": 2,
                  "dash": dash},
        ))
    fig.update_layout(legend={"x": 0.99, "y": 0.02, "xanchor": "right", "yanchor": "bottom"})
    return fig


def history_figure(run):
    """Training and validation loss per epoch from ``history.csv``, or None if absent."""
    import plotly.graph_objects as go

    history = run.history
    if history is None or history.empty:
        return None
    x = history["epoch"] + 1 if "epoch" in history.columns else np.arange(1, len(history) + 1)
    columns = [c for c in history.columns if c.endswith("loss")]
    if not columns:
        return None
    fig = go.Figure()
    for column in columns:
        fig.add_trace(go.Scatter(x=x, y=history[column], mode="lines+markers", name=column,
                                 line={"dash": "dash" if column.startswith("val_") else "solid"}))
    fig.update_layout(title=f"Training history — {run.name}", xaxis={"title": "epoch"},
                      yaxis={"title": "loss"}, **{**_LAYOUT, "height": 320})
    return fig


def display_path(path, root=None):
    """``path`` relative to the repository when inside it, else absolute."""
    root = os.path.abspath(str(root or REPO_ROOT))
    path = os.path.abspath(str(path))
    return os.path.relpath(path, root) if os.path.commonpath([path, root]) == root else path


def describe_config(run):
    """A few lines of a run's ``config.json`` worth showing (data, model, epochs)."""
    config = run.config or {}
    keep = ("data", "epochs", "input_size", "batch_size", "learning_rate", "d_model", "depth",
            "stage", "seed", "n_studies", "val_fraction", "created")
    rows = [{"Setting": k, "Value": str(config[k])} for k in keep if k in config]
    rows.append({"Setting": "folder", "Value": display_path(run.path) if run.path else ""})
    return pd.DataFrame(rows, columns=["Setting", "Value"])


def _folds(run):
    """A cross-validation run's ``folds.json`` (list of dicts), [] when absent or unreadable."""
    import json

    path = RunFolder(run.path or "").folds
    try:
        with open(path) as handle:
            folds = json.load(handle)
    except (OSError, ValueError):
        return []
    return [f for f in folds if isinstance(f, dict)] if isinstance(folds, list) else []


#: What the Compare tab says when there is one run folder only (a fresh clone).
ONE_RUN_NOTE = ("Only one run folder found, so there is no second run to compare with. "
                "`python train.py --data phantom --out runs/NAME` writes one into `runs/` (or "
                "point CRANIOSCAN_RUNS at other run folders); it then appears here.")


def fold_table(run, classes=CLASSES):
    """A cross-validation run's folds side by side: each fold's AUC per class.

    Each fold's patients (``folds.json``) are scored by the model that never
    saw them, so the spread between folds shows how much the run's figures
    move with the patients drawn. Empty for a run without folds.

    Returns:
        DataFrame: ``Fold``, ``Patients``, ``Slices`` and ``AUC <finding>``
        per class (NaN where a fold holds one label value only).
    """
    folds = _folds(run)
    if not folds or "patient" not in run.ids.columns:
        return pd.DataFrame()
    patients = run.ids["patient"].astype(str).to_numpy()
    rows = []
    for fold in folds:
        members = {str(p) for p in fold.get("patients") or []}
        keep = np.isin(patients, list(members))
        if not keep.any():
            continue
        row = {"Fold": fold.get("fold"), "Patients": len(members), "Slices": int(keep.sum())}
        for c, name in enumerate(classes):
            row[f"AUC {CLASS_LABELS.get(name, name).lower()}"] = metrics.auc_score(
                run.labels[keep, c], run.probs[keep, c])
        rows.append(row)
    return pd.DataFrame(rows)


def training_notes(run):
    """What the Training tab says about a run without ``history.csv``, as Markdown lines.

    A cross-validation run (the shipped model's) keeps no curve of its own:
    its folds were trained by one command each, which are named here, with
    the folder each fold wrote its history into.
    """
    folds = _folds(run)
    if not folds:
        return ["This run folder has no history.csv (train.py writes one per epoch), so there "
                "is no training curve to draw."]
    lines = [f"This is a {len(folds)}-fold cross-validation: each fold's model was trained "
             "separately and wrote its own training curve (history.csv) into its own run folder; "
             "this folder keeps the folds' out-of-fold predictions only."]
    for fold in folds:
        name = os.path.basename(str(fold.get("run") or "")) or "?"
        lines.append(f"Fold {fold.get('fold')}: {len(fold.get('patients') or [])} patients held "
                     f"out, run folder `{name}`.")
    command = folds[0].get("command")
    if command:
        lines.append(f"Fold {folds[0].get('fold')}'s command (the others differ in `--fold` "
                     f"and `--out`): `{command}`")
    return lines

