"""The one place a series' reading is decided: flags, key slices, opening slice, verdict.

Expected values are written out by hand from the probabilities below, not
computed with the code under test.
"""

import math

import numpy as np
import pytest

from cranioscan.labels import CLASSES
from cranioscan.series_result import (KeySlice, ModelIdentity, SeriesResult, flag_matrix,
                                      key_slices, opening_slice, verdict_of)

T = {"any": 0.5, "epidural": 0.3, "intraparenchymal": 0.2, "intraventricular": 0.9,
     "subarachnoid": 0.9, "subdural": 0.4}
MODEL = ModelIdentity("m", "0" * 64, 64, "research use")


def probs():
    """Six slices: any on 3 (0.91), subdural on 3-4, epidural on 5, a NaN on slice 6."""
    p = np.full((6, 6), 0.01, np.float32)
    p[2, 0], p[2, 5], p[3, 5], p[4, 1] = 0.91, 0.77, 0.45, 0.35
    p[3, 0] = 0.5  # exactly at the threshold: flagged
    p[5, 2] = np.nan
    return p


def test_a_flag_is_a_finite_probability_at_or_above_its_threshold():
    flags = flag_matrix(probs(), T)
    expected = np.zeros((6, 6), bool)
    expected[2, 0] = expected[3, 0] = True
    expected[2, 5] = expected[3, 5] = True
    expected[4, 1] = True
    np.testing.assert_array_equal(flags, expected)
    # NaN and infinities never flag, whatever the threshold
    odd = np.array([[np.nan, np.inf, -np.inf, 0.0, 1.0, 0.5]], np.float32)
    assert flag_matrix(odd, {c: 0.0 for c in CLASSES}).tolist() == [[False, False, False, True,
                                                                      True, True]]
    # a class without a threshold never flags
    assert not flag_matrix(probs(), {"any": 0.5})[:, 1:].any()


def test_findings_take_the_highest_finite_slice():
    result = SeriesResult(probs(), T, MODEL)
    found = result.findings
    assert found["any"].max_slice == 2 and found["any"].max_prob == pytest.approx(0.91)
    assert found["any"].flagged_slices == (2, 3)
    assert found["intraparenchymal"].max_slice == 0  # the NaN on slice 6 is passed over
    assert found["intraparenchymal"].max_prob == pytest.approx(0.01)
    all_nan = SeriesResult(np.full((3, 6), np.nan, np.float32), T, MODEL).findings["any"]
    assert math.isnan(all_nan.max_prob) and all_nan.max_slice == -1 and not all_nan.flagged
    assert result.flagged_classes == ["any", "epidural", "subdural"]
    assert result.slice_flags(2) == ["any", "subdural"]


def test_key_slices_one_per_slice_naming_every_finding():
    result = SeriesResult(probs(), T, MODEL)
    assert result.key_slices == [KeySlice(2, ("any", "subdural"), pytest.approx(0.91)),
                                 KeySlice(4, ("epidural",), pytest.approx(0.35))]
    assert key_slices(result.findings, limit=1) == [KeySlice(2, ("any", "subdural"),
                                                             pytest.approx(0.91))]
    quiet = SeriesResult(probs() * 0.1, T, MODEL)
    assert quiet.key_slices == []


def test_opening_slice_is_the_flagged_top_any_else_the_middle():
    assert opening_slice(probs(), T) == (2, True)
    assert opening_slice(probs() * 0.1, T) == (3, False)  # 6 slices: the middle is index 3
    nan_any = probs()
    nan_any[:, 0] = np.nan
    assert opening_slice(nan_any, T) == (3, False)
    assert opening_slice(np.zeros((0, 6)), T) == (0, False)
    inf_any = probs()
    inf_any[1, 0] = np.inf  # not finite: not the top
    assert opening_slice(inf_any, T) == (2, True)


def test_verdict_only_with_series_scores():
    plain = SeriesResult(probs(), T, MODEL)
    assert plain.verdict is None and plain.findings["any"].verdict is None
    scores = {c: 0.1 for c in CLASSES} | {"any": 0.8, "subdural": float("nan")}
    with_scores = SeriesResult(probs(), T, MODEL, series_scores=scores,
                               series_thresholds={c: 0.5 for c in CLASSES})
    assert with_scores.verdict == {"any": True, "epidural": False, "intraparenchymal": False,
                                   "intraventricular": False, "subarachnoid": False,
                                   "subdural": False}
    assert with_scores.findings["any"].series_score == pytest.approx(0.8)
    assert verdict_of({"any": 0.5}, {"any": 0.5}, ("any",)) == {"any": True}


def test_probabilities_are_read_only():
    result = SeriesResult(probs(), T, MODEL)
    with pytest.raises(ValueError):
        result.probabilities[0, 0] = 1.0
    with pytest.raises(ValueError, match="shape"):
        SeriesResult(np.zeros((3, 5)), T, MODEL)


def test_pdf_key_slices_and_pacs_key_images_are_the_same(tmp_path, tiny_model_dir):
    """The PDF report and the PACS results draw their key images from one result."""
    from cranioscan.dicom import load_series
    from cranioscan.inference import Predictor
    from cranioscan.pacs.results import build_results, source_headers
    from cranioscan.phantom import make_study, write_series
    from cranioscan.visualize import case_report
    from cranioscan.ui.state import ActiveCase

    write_series(make_study(3, matrix=64, n_slices=6, subtypes=("subdural",)), tmp_path)
    files = [(p.name, p.read_bytes()) for p in sorted(tmp_path.glob("*.dcm"))]
    series = load_series(files)
    predictor = Predictor.load(tiny_model_dir / "best_model.keras", thresholds=T)
    result = predictor.result(probs())
    pdf_calls, pacs_calls = [], []

    def heat(calls):
        def fn(index, name):
            calls.append((index, name))
            return np.zeros(series.hu.shape[1:], np.float32)
        return fn

    case_report.report_for_case(ActiveCase(key="k", label="x", source="upload", series=series),
                                result, {}, "m.keras", "0" * 64, heat(pdf_calls), 40, 80)
    sent = build_results(predictor, series, source_headers(files), result, "m",
                         heatmap=heat(pacs_calls))
    assert pdf_calls == pacs_calls == [(2, "any"), (4, "epidural")]
    sources = [str(sc.SourceImageSequence[0].ReferencedSOPInstanceUID) for sc in sent[:-1]]
    assert sources == [series.sop_uids[2], series.sop_uids[4]]
