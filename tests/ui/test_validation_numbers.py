"""The Validation page's numbers: one calibration figure, thresholds at their precision,
and tabs that say something on a fresh clone (issue 27, items 1 and 3)."""

import json

import pytest

from cranioscan.evaluation.reports import load_run
from cranioscan.formats import probability
from cranioscan.labels import CLASSES
from cranioscan.visualize import validation_view as vv


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A cross-validation run folder as ``cranioscan crossval`` leaves it for the shipped
    model: out-of-fold predictions, no history.csv, ``folds.json``, and the calibration
    errors in ``metrics.json`` (the cross-fitted one differing from the plotted one)."""
    from suite_support import write_run

    run_dir = tmp_path_factory.mktemp("cv") / "validation_run"
    write_run(run_dir, seed=5, separation=2.0, name="validation_run")
    (run_dir / "history.csv").unlink()
    run = load_run(str(run_dir))
    patients = sorted(run.ids["patient"].unique())
    folds = [{"fold": k, "run": f"runs/cv-fold{k}", "command": f"python train.py --fold {k} "
              f"--out runs/cv-fold{k}", "patients": patients[k::5]} for k in range(5)]
    (run_dir / "folds.json").write_text(json.dumps(folds))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["calibration"] = {"method": "platt", "ece": {c: {
        "raw": 0.058, "cross_fitted": 0.01817742536946707, "calibrated_in_sample": 0.0163}
        for c in CLASSES}}
    metrics["cross_validation"] = {"folds": 5, "patients": len(patients), "fold_seed": 0}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return load_run(str(run_dir))


def test_one_calibration_figure_in_the_summary_and_the_plot(shipped):
    stored = shipped.metrics["calibration"]["ece"]["any"]["cross_fitted"]
    figure = f"ECE {stored:.3f}"
    assert figure == "ECE 0.018"
    assert vv.calibration_error(shipped, "any") == stored
    assert f"{stored:.3f} after" in vv.cross_validation_summary(shipped)
    legend = next(t.name for t in vv.calibration_figure(shipped).data if t.name.startswith("Any"))
    assert figure in legend, legend


@pytest.mark.parametrize("threshold, shown", [(0.06477989256381989, "0.065"),
                                              (0.0064713675528764725, "0.006")])
def test_threshold_slider_shows_the_threshold_in_use(threshold, shown):
    args = vv.threshold_slider_args(threshold)
    assert args["value"] == threshold  # the operating point itself, not a step away
    assert args["format"] % args["value"] == shown == probability(threshold)
    assert args["step"] == pytest.approx(0.001)


def test_compare_and_training_tabs_have_content_for_the_shipped_run_alone(shipped):
    folds = vv.fold_table(shipped)
    assert len(folds) == 5 and folds["Slices"].sum() == len(shipped.labels)
    assert folds["AUC any hemorrhage"].between(0, 1).all()
    notes = vv.training_notes(shipped)
    assert "5-fold cross-validation" in notes[0]
    assert any("--fold" in line for line in notes)
    assert "python train.py" in vv.ONE_RUN_NOTE
