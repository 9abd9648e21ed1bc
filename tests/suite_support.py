"""Plain helpers shared by conftest.py and test modules: the tiny model's size and
made-up run folders. Import them as ``from suite_support import ...`` (not from
``conftest``, a name two conftest files share)."""

import json

import numpy as np
import pandas as pd

from cranioscan.labels import CLASSES

TINY = dict(input_size=64, d_model=32, depth=1, num_heads=2, mlp_dim=64)


def synthetic_predictions(n_studies, slices_per_study, seed, separation):
    """Validation predictions of a made-up run: ids, labels (n, 6), probs (n, 6)."""
    rng = np.random.default_rng(seed)
    n = n_studies * slices_per_study
    study = np.repeat([f"study{k:03d}" for k in range(n_studies)], slices_per_study)
    sub = rng.random((n, len(CLASSES) - 1)) < np.array([0.10, 0.15, 0.10, 0.15, 0.20])
    labels = np.concatenate([sub.any(axis=1, keepdims=True), sub], axis=1).astype(np.uint8)
    logits = rng.normal(0.0, 1.0, labels.shape) + separation * (labels - 0.5) - 1.0
    probs = 1.0 / (1.0 + np.exp(-logits))
    ids = pd.DataFrame({
        "image_id": [f"ID_{k:05d}" for k in range(n)],
        "patient": study,
        "study": study,
        "position": np.tile(np.arange(slices_per_study) * 5.0, n_studies),
    })
    return ids, labels, probs


def write_run(run_dir, seed, separation, name):
    """A finished run folder as ``train.py`` writes it (predictions, metrics, ROC/PR)."""
    from cranioscan.evaluation.reports import write_reports, write_val_predictions

    run_dir.mkdir(parents=True, exist_ok=True)
    ids, labels, probs = synthetic_predictions(30, 8, seed, separation)
    write_val_predictions(run_dir / "val_predictions.csv", ids, labels, probs)
    (run_dir / "config.json").write_text(json.dumps({"data": "phantom", "epochs": 3, "name": name}))
    pd.DataFrame({"epoch": [0, 1, 2], "loss": [0.7, 0.5, 0.4], "val_loss": [0.72, 0.6, 0.55]}).to_csv(
        run_dir / "history.csv", index=False)
    return write_reports(str(run_dir), n_boot=50)
