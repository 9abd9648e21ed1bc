"""The decision rules of cranioscan.series_result at their edges.

Written for the mutation score (issue 29, item 5; docs/testing.md, "Mutation
score"). Every expected value is written out by hand from the rules in the
module's docstring: a flag is a finite probability at or above its threshold;
a key slice is each flagged finding's highest slice, ordered by probability
(then by slice); the opening slice is the flagged top "any" slice, else
``n // 2``; the verdict is a finite series score at or above its threshold.
"""

import math

import numpy as np
import pytest

from cranioscan.labels import CLASSES
from cranioscan.series_result import (KeySlice, ModelIdentity, SeriesResult, finding_summary,
                                      flag_matrix, key_slices, opening_slice)

MODEL = ModelIdentity("m", "0" * 64, 64, "research use")
HALF = {c: 0.5 for c in CLASSES}


def low(n):
    """n slices at 0.01 for every class."""
    return np.full((n, 6), 0.01, np.float32)


def test_flags_are_booleans_and_a_hair_below_the_threshold_is_no_flag():
    p = low(2)
    p[0, 0] = 0.5  # float32 0.5 is exactly 0.5
    flags = flag_matrix(p, {"any": 0.5 + 1e-9})
    assert flags.dtype == np.bool_
    assert not flags.any()  # 0.5 < 0.500000001, whatever the input's precision
    assert flag_matrix(p, {"any": 0.5})[:, 0].tolist() == [True, False]


def test_findings_carry_name_and_threshold():
    p = low(3)
    p[1, 1] = 0.7
    found = finding_summary(p, {"any": 0.5, "epidural": 0.25})
    assert [f.name for f in found.values()] == list(CLASSES)
    assert found["any"].threshold == 0.5 and found["epidural"].threshold == 0.25
    assert found["epidural"].flagged_slices == (1,) and found["epidural"].max_slice == 1
    # a class without a threshold: NaN, never flagged
    assert math.isnan(found["subdural"].threshold) and not found["subdural"].flagged
    nothing = finding_summary(p, None)
    assert all(math.isnan(f.threshold) and not f.flagged for f in nothing.values())


def test_findings_and_opening_with_other_classes():
    classes = ("any", "other")
    p = np.array([[0.9, 0.2], [0.1, 0.8]])
    found = finding_summary(p, {"any": 0.5, "other": 0.5}, classes)
    assert found["any"].flagged_slices == (0,) and found["other"].flagged_slices == (1,)
    assert opening_slice(p, {"any": 0.5}, classes) == (0, True)
    result = SeriesResult(p, {"any": 0.5, "other": 0.5}, MODEL, classes=classes)
    assert result.key_slices == [KeySlice(0, ("any",), pytest.approx(0.9)),
                                 KeySlice(1, ("other",), pytest.approx(0.8))]


def test_key_slices_are_ordered_by_probability_then_slice():
    p = low(6)
    p[1, 1] = 0.6   # epidural tops on slice 1 at 0.6
    p[4, 5] = 0.95  # subdural on slice 4 at 0.95: first, although later in the series
    result = SeriesResult(p, HALF, MODEL)
    assert [k.index for k in result.key_slices] == [4, 1]
    # equal probabilities: the lower slice first (not the finding's name)
    p = low(6)
    p[5, 1] = 0.8  # epidural on slice 5
    p[1, 5] = 0.8  # subdural on slice 1
    assert [(k.index, k.findings) for k in SeriesResult(p, HALF, MODEL).key_slices] == [
        (1, ("subdural",)), (5, ("epidural",))]


def test_a_finding_on_the_first_slice_is_a_key_slice_and_opens_the_series():
    p = low(4)
    p[0, 0] = 0.9
    assert key_slices(finding_summary(p, HALF)) == [KeySlice(0, ("any",), pytest.approx(0.9))]
    assert opening_slice(p, HALF) == (0, True)


def test_opening_of_one_slice_and_of_an_odd_count():
    one = np.full((1, 6), 0.9, np.float32)
    assert opening_slice(one, HALF) == (0, True)  # one flagged slice opens on itself
    assert opening_slice(low(1), HALF) == (0, False)
    index, passes = opening_slice(low(5), HALF)
    assert (index, passes) == (2, False) and isinstance(index, int)  # 5 // 2


def test_result_copies_its_inputs():
    p = low(3)
    thresholds = dict(HALF)
    result = SeriesResult(p, thresholds, MODEL)
    p[0, 0] = 0.99                  # the caller's array stays theirs, and writable
    thresholds["any"] = 0.0         # and so does their dict
    assert result.probabilities[0, 0] == pytest.approx(0.01)
    assert result.thresholds["any"] == 0.5
    assert not result.probabilities.flags.writeable
    wide = SeriesResult(np.zeros((2, 6), np.float64), HALF, MODEL)
    assert wide.probabilities.dtype == np.float32


def test_summary_by_hand():
    p = low(3)
    p[2, 0] = 0.75
    p[1, 0] = 0.6
    summary = SeriesResult(p, HALF, MODEL).summary()
    assert summary["any"] == {"max_prob": pytest.approx(0.75), "max_slice": 2,
                              "slices_above": [1, 2], "threshold": 0.5}
    assert summary["subdural"]["slices_above"] == []


def with_verdict(any_score, subdural_score, context="series"):
    scores = {c: 0.1 for c in CLASSES} | {"any": any_score, "subdural": subdural_score}
    thresholds = {c: 0.5 for c in CLASSES} | {"any": 0.41}
    return SeriesResult(low(3), HALF, MODEL, series_scores=scores,
                        series_thresholds=thresholds, context=context)


def test_verdict_sentences_written_out():
    assert with_verdict(0.82, 0.7).verdict_sentence() == (
        "Series verdict: hemorrhage likely (any hemorrhage score 0.820, threshold 0.410; "
        "subdural).")
    assert with_verdict(0.82, 0.2).verdict_sentence() == (
        "Series verdict: hemorrhage likely (any hemorrhage score 0.820, threshold 0.410).")
    assert with_verdict(0.3, 0.2).verdict_sentence() == (
        "Series verdict: no hemorrhage likely (any hemorrhage score 0.300, below the "
        "threshold 0.410).")
    several = with_verdict(0.9, 0.9)
    several.series_scores["epidural"] = 0.95
    assert several.verdict_sentence().endswith("threshold 0.410; epidural, subdural).")
    assert SeriesResult(low(3), HALF, MODEL).verdict_sentence() == (
        "No series verdict: this model reads slices one at a time.")
    assert SeriesResult(low(1), HALF, MODEL, context="single slice").verdict_sentence() == (
        "No series verdict: a single slice has no neighbours; its probabilities come from "
        "the slice alone.")
