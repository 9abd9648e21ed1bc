"""The Validation page's numbers: one calibration figure, thresholds at their precision,
and tabs that say something on a fresh clone (issue 27, items 1 and 3)."""

import json
import os

import pytest

from cranioscan.evaluation.reports import load_run
from cranioscan.formats import probability
from cranioscan.ui import validation_view as vv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED_RUN = os.path.join(ROOT, "model", "validation_run")


@pytest.fixture(scope="module")
def shipped():
    return load_run(SHIPPED_RUN)


def test_one_calibration_figure_in_the_summary_and_the_plot(shipped):
    stored = shipped.metrics["calibration"]["ece"]["any"]["cross_fitted"]
    with open(os.path.join(ROOT, "model", "model_card.json")) as handle:
        card = json.load(handle)
    assert card["cross_validation"]["expected_calibration_error"]["any"]["cross_fitted"] == stored
    figure = f"ECE {stored:.3f}"
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
