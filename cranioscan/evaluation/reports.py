"""Run-folder reports: validation predictions -> metrics, ROC data and plots.

Everything here is computed from ``val_predictions.csv`` alone, so the numbers
in ``metrics.json``, ``roc.json`` and the PNGs follow from the predictions and
can be recomputed with ``write_reports(run_dir)`` at any time. The dashboard's
validation page reads the same files back with ``load_run``. File names come
from :class:`cranioscan.run_folder.RunFolder`.
"""

__all__ = [
    "LoadedRun",
    "write_val_predictions",
    "read_val_predictions",
    "write_reports",
    "plot_reliability",
    "load_run",
    "find_runs",
]

import dataclasses
import glob
import os

import numpy as np
import pandas as pd

from . import curves, metrics
from ..formats import csv_frame
from ..labels import CLASSES
from ..run_folder import RunFolder, read_json, write_json

_ID_COLUMNS = ("image_id", "patient", "study", "position")


def write_val_predictions(path, ids, labels, probs):
    """Write one row per validation slice.

    Args:
        path: CSV path.
        ids: DataFrame with at least ``image_id`` and ``study`` (``patient``
            and ``position`` when known), one row per slice.
        labels: ``(n, 6)`` 0/1 in ``CLASSES`` order.
        probs: ``(n, 6)`` probabilities in ``CLASSES`` order.
    """
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.shape[1:] != (len(CLASSES),) or len(ids) != len(labels):
        raise ValueError(f"shape mismatch: {len(ids)} ids, labels {labels.shape}, probs {probs.shape}")
    out = ids[[c for c in _ID_COLUMNS if c in ids.columns]].reset_index(drop=True).copy()
    for i, name in enumerate(CLASSES):
        out[f"label_{name}"] = labels[:, i].astype(np.uint8)
    for i, name in enumerate(CLASSES):
        out[f"prob_{name}"] = probs[:, i]
    csv_frame(out).to_csv(path, index=False, float_format="%.9g")  # ids as data, never formulas; 9 digits keep tiny probabilities apart


def read_val_predictions(path):
    """Read ``val_predictions.csv``: ``(ids DataFrame, labels (n, 6), probs (n, 6))``."""
    frame = pd.read_csv(path, dtype={"image_id": str, "patient": str, "study": str})
    labels = frame[[f"label_{c}" for c in CLASSES]].to_numpy(dtype=np.uint8)
    probs = frame[[f"prob_{c}" for c in CLASSES]].to_numpy(dtype=np.float64)
    ids = frame[[c for c in _ID_COLUMNS if c in frame.columns]]
    return ids, labels, probs


def _plot_curves(curves, x_key, y_key, x_label, y_label, title, path, diagonal):
    # matplotlib loads only when plots are written, and after choosing Agg
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5), dpi=110)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="0.75", lw=1, ls="--")
    for name in CLASSES:
        curve = curves[name]
        if len(curve[x_key]) == 0:
            continue
        label = name
        if curve.get("auc") is not None and np.isfinite(curve["auc"]):
            label += f" (AUC {curve['auc']:.3f})"
        elif curve.get("average_precision") is not None:
            label += f" (AP {curve['average_precision']:.3f})"
        ax.plot(curve[x_key], curve[y_key], lw=1.6, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel=x_label, ylabel=y_label, title=title)
    ax.legend(loc="lower right" if diagonal else "lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_reports(run_dir, n_boot=1000, seed=0, threshold_method="youden", title="",
                  thresholds=None):
    """Compute ``metrics.json``, ``roc.json``, ``pr.json`` and PNG plots.

    Reads ``run_dir/val_predictions.csv``; bootstrap intervals resample whole
    studies (slices of one study are not independent). Sensitivity and
    specificity are given at ``thresholds`` (dict class -> float) when given,
    else at the threshold ``threshold_method`` picks per class.

    Returns:
        the metrics dict written to ``metrics.json``.
    """
    folder = RunFolder(run_dir)
    ids, labels, probs = read_val_predictions(folder.val_predictions)
    groups = ids["study"].to_numpy() if "study" in ids.columns else None
    summary = metrics.summarize(labels, probs, groups=groups, n_boot=n_boot, seed=seed,
                                threshold_method=threshold_method, thresholds=thresholds)
    roc = curves.roc_curve_per_class(labels, probs)
    pr = curves.precision_recall_per_class(labels, probs)
    write_json(folder.metrics, metrics.to_jsonable(summary))
    write_json(folder.roc, metrics.to_jsonable(roc), indent=None)
    write_json(folder.pr, metrics.to_jsonable(pr), indent=None)
    suffix = f" - {title}" if title else ""
    _plot_curves(roc, "fpr", "tpr", "1 - specificity", "sensitivity",
                 f"Validation ROC{suffix}", folder.plot("roc"), diagonal=True)
    _plot_curves(pr, "recall", "precision", "recall (sensitivity)", "precision (PPV)",
                 f"Validation precision-recall{suffix}", folder.plot("pr"), diagonal=False)
    return summary


def plot_reliability(y_true, probs_by_name, path, n_bins=10, classes=CLASSES):
    """Reliability diagram: observed frequency against mean predicted probability.

    Args:
        y_true: ``(n, c)`` 0/1 labels.
        probs_by_name: dict legend name -> ``(n, c)`` probabilities (e.g.
            raw and calibrated), one line each per class panel.
        path: PNG to write.
    """
    # matplotlib loads only when plots are written, and after choosing Agg
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_name = {name: curves.calibration_curve_per_class(y_true, probs, n_bins, classes)
              for name, probs in probs_by_name.items()}
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), dpi=100, sharex=True, sharey=True)
    for ax, cls in zip(axes.ravel(), classes):
        ax.plot([0, 1], [0, 1], color="0.75", lw=1, ls="--")
        for name, per_class in per_name.items():
            curve = per_class[cls]
            ax.plot(curve["mean_predicted"], curve["fraction_positive"], marker="o", ms=3,
                    lw=1.4, label=f"{name} (ECE {curve['ece']:.3f})")
        ax.set(title=cls, xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("mean predicted probability")
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of slices positive")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@dataclasses.dataclass
class LoadedRun:
    """A training run folder read back for display (``load_run``)."""

    path: str
    name: str
    config: dict
    metrics: dict
    history: pd.DataFrame
    ids: pd.DataFrame
    labels: np.ndarray
    probs: np.ndarray


def load_run(path):
    """Read a run folder written by ``train.py``.

    Raises:
        FileNotFoundError: no ``val_predictions.csv`` in ``path``.
    """
    folder = RunFolder(path)
    if not folder.finished():
        raise FileNotFoundError(f"{path}: not a finished run folder "
                                f"(no {os.path.basename(folder.val_predictions)})")
    ids, labels, probs = read_val_predictions(folder.val_predictions)
    history = (pd.read_csv(folder.history) if os.path.isfile(folder.history)
               else pd.DataFrame())
    return LoadedRun(
        path=path,
        name=folder.name,
        config=read_json(folder.config, {}),
        metrics=read_json(folder.metrics, {}),
        history=history,
        ids=ids,
        labels=labels,
        probs=probs,
    )


def find_runs(*roots):
    """Run folders (holding ``val_predictions.csv``) directly under each root or the root itself."""
    found = []
    for root in roots:
        for candidate in [root] + sorted(glob.glob(os.path.join(root, "*"))):
            if RunFolder(candidate).finished():
                found.append(os.path.normpath(candidate))
    return list(dict.fromkeys(found))
