"""Slice geometry at its edges: normal, tilt, duplicates, spacing runs and warnings.

Written for the mutation score (issue 29, item 5; docs/testing.md, "Mutation
score"). Expected values are worked out by hand from the rules in
cranioscan/dicom/geometry.py's docstrings: two lengths are equal within
``max(0.05 mm, 5% of the first)``; a spacing is regular when at least two gaps
have it and it is not a whole multiple of a more common regular spacing; an
odd gap is measured against the regular spacing before it (else after it,
else the median gap); a gap of k whole steps (k >= 2, within k times the
tolerance) is k - 1 missing slices.
"""

import math

import numpy as np
import pytest

from cranioscan.dicom.geometry import (duplicate_mask, gap_warnings, mm, slice_normal,
                                       spacing_plan, tilt_degrees, value_runs)
from cranioscan.dicom.geometry import _multiple_of, _places


def test_mm_formats_lengths():
    assert mm(5.0) == "5.0" and mm(4.83) == "4.83" and mm(-12.5) == "-12.5"
    assert mm(-0.001) == "0.0" and mm(-0.0) == "0.0" and mm(0.0) == "0.0"


def test_slice_normal_of_integer_and_unnormalised_cosines():
    normal, axial = slice_normal([1, 0, 0, 0, 1, 0])  # integers, as a header may hold
    assert normal.tolist() == [0.0, 0.0, 1.0] and axial is True
    normal, axial = slice_normal([2.0, 0, 0, 0, 2.0, 0])  # not unit vectors: made unit
    assert normal.tolist() == [0.0, 0.0, 1.0]
    normal, _ = slice_normal([[1.0, 0, 0], [0, 1.0, 0]])  # two rows of three
    assert normal.tolist() == [0.0, 0.0, 1.0]


def test_slice_normal_sagittal_coronal_and_45_degrees():
    # sagittal: rows along y, columns down z: cross((0,1,0), (0,0,-1)) = (-1, 0, 0)
    normal, axial = slice_normal([0, 1, 0, 0, 0, -1])
    assert normal.tolist() == [-1.0, 0.0, 0.0] and axial is False
    # coronal: cross((1,0,0), (0,0,-1)) = (0, 1, 0)
    normal, axial = slice_normal([1, 0, 0, 0, 0, -1])
    assert normal.tolist() == [0.0, 1.0, 0.0] and axial is False
    # tilted by exactly 45 degrees: |z| equals |y|, still axial (z is not smaller)
    s = math.sqrt(0.5)
    normal, axial = slice_normal([1, 0, 0, 0, s, -s])
    assert normal.tolist() == pytest.approx([0.0, s, s]) and axial is True


def test_slice_normal_rejects_parallel_directions_by_name():
    # the six numbers as a reader types them, not as NumPy 2 prints its scalars
    with pytest.raises(ValueError, match=r"^Image Orientation \(Patient\) "
                                         r"\[1\.0, 0\.0, 0\.0, 1\.0, 0\.0, 0\.0\] has no valid normal$"):
        slice_normal([1, 0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="no valid normal"):
        slice_normal([0, 0, 0, 0, 1, 0])


def test_tilt_by_hand():
    normal = np.array([0.0, 0.0, 1.0])
    assert tilt_degrees((0, 0, 0), (0, 0, 0), normal) == 0.0  # coinciding positions
    # 0.5 mm along y and 0.5 mm along z: 45 degrees, though less than 1 mm apart
    assert tilt_degrees((0, 0, 0), (0, 0.5, 0.5), normal) == pytest.approx(45.0)
    assert tilt_degrees((0, 0, 0), (0, 0, -3.0), normal) == pytest.approx(0.0)  # either sign
    # the stack axis along the normal, where rounding makes the cosine 1 + 2e-16
    axis = np.array([-1.2654214710460525, -0.6232744625373522, 0.0413259793472436])
    unit = np.array([-0.8967022761251738, -0.4416644114201207, 0.029284393059288184])
    assert tilt_degrees((0, 0, 0), axis, unit) == pytest.approx(0.0, abs=1e-6)


def test_duplicates_are_closer_than_the_tolerance():
    keep, kept_index = duplicate_mask([0.0, 0.01, 0.015, 5.0])
    # 0.01 apart is not "closer than 0.01"; 0.015 is 0.005 from the kept 0.01
    assert keep.tolist() == [True, True, False, True]
    assert kept_index.tolist() == [0, 1, 1, 3]
    assert keep.dtype == np.bool_


def test_values_equal_within_five_percent():
    # 10 and 10.5: 5% of 10 is exactly 0.5, equal
    assert value_runs([10.0, 10.5]) == [(0, 2, 10.25)]
    assert value_runs([10.0, 10.6]) == [(0, 1, 10.0), (1, 2, 10.6)]
    # below 1 mm the 0.05 mm floor decides: 0.5 and 0.54 are equal, 0.5 and 0.56 not
    assert len(value_runs([0.5, 0.54])) == 1 and len(value_runs([0.5, 0.56])) == 2
    runs = value_runs([np.nan, 5.0])  # a NaN never equals a number
    assert [r[:2] for r in runs] == [(0, 1), (1, 2)] and math.isnan(runs[0][2])


def test_missing_slice_steps_by_hand():
    # 10.4 mm for 5 mm slices: k = 2, |10.4 - 10| = 0.4 <= 2 * 0.25
    assert _multiple_of(10.4, 5.0) == 2
    assert _multiple_of(10.5, 5.0) == 2       # exactly at 2 * 0.25
    assert _multiple_of(10.6, 5.0) == 0       # beyond it: an uneven gap
    assert _multiple_of(1.5, 0.75) == 2       # thin slices too
    assert _multiple_of(5.0, 0.0) == 0 and _multiple_of(5.0, -1.0) == 0


def test_places_lists_six_then_counts():
    assert _places(list("abcdef")) == "a; b; c; d; e; f"
    assert _places(list("abcdefgh")) == "a; b; c; d; e; f; and 2 more"


def test_spacing_plan_edges():
    assert spacing_plan([5.0]) == {"runs": [], "odd": []}
    assert spacing_plan([0.0, 5.0]) == {"runs": [(1, 2, 5.0)], "odd": []}


def test_a_less_common_spacing_is_regular_unless_a_multiple():
    # ten 5 mm gaps, then two 2.5 mm gaps: 5 is not a multiple of 2.5 here, since
    # 5 is the more common spacing and is taken first
    z = [5.0 * i for i in range(11)] + [52.5, 55.0]
    assert spacing_plan(z) == {"runs": [(1, 11, 5.0), (11, 13, 2.5)], "odd": []}
    # ten 5 mm gaps, three 10 mm gaps (one missing slice each), two 3 mm gaps
    z = [5.0 * i for i in range(11)] + [60.0, 70.0, 80.0, 83.0, 86.0]
    assert spacing_plan(z) == {
        "runs": [(1, 11, 5.0), (14, 16, 3.0)],
        "odd": [(10, 10.0, 5.0, 1), (11, 10.0, 5.0, 1), (12, 10.0, 5.0, 1)]}


def test_an_odd_first_gap_is_measured_against_the_next_regular_spacing():
    # gaps 3, 8, 14, 14, 8, 14: 14 (three) and 8 (two) are regular, 3 is odd;
    # the regular gap after it is 8 mm (the median gap would be 11 mm)
    plan = spacing_plan([0, 3, 11, 25, 39, 47, 61])
    assert plan["odd"] == [(0, 3.0, 8.0, 0)]
    assert plan["runs"] == [(2, 3, 8.0), (3, 5, 14.0), (5, 6, 8.0), (6, 7, 14.0)]


def test_every_gap_different_is_measured_against_the_median():
    # gaps 4, 5, 5.5, 7: no spacing twice; the median 5.25 takes 5 and 5.5
    # (within 5%), 4 and 7 are odd against it
    plan = spacing_plan([0, 4, 9, 14.5, 21.5])
    assert plan == {"runs": [(2, 4, 5.25)], "odd": [(0, 4.0, 5.25, 0), (3, 7.0, 5.25, 0)]}
    # gaps 4, 5, 6, 7: none within 5% of the median 5.5, all odd
    plan = spacing_plan([0, 4, 9, 15, 22])
    assert plan == {"runs": [], "odd": [(0, 4.0, 5.5, 0), (1, 5.0, 5.5, 0), (2, 6.0, 5.5, 0),
                                        (3, 7.0, 5.5, 0)]}


def test_gap_warnings_written_out():
    assert gap_warnings([0, 5, 10, 20, 25, 40, 45]) == [
        "Missing slices: about 3 slices seem to be missing (expected spacing 5.0 mm): "
        "gap of 10.0 mm between slices 3 and 4 of 7 (at 10.0 and 20.0 mm): about 1 slice "
        "missing; gap of 15.0 mm between slices 5 and 6 of 7 (at 25.0 and 40.0 mm): about "
        "2 slices missing."]
    assert gap_warnings([0, 5, 10, 12.5, 17.5, 22.5]) == [
        "Uneven slice spacing: gaps range from 2.5 to 5.0 mm (median 5.0 mm); gap of 2.5 mm "
        "between slices 3 and 4 of 6 (at 10.0 and 12.5 mm)."]


def test_gap_warnings_of_thin_slices():
    z = [0.75 * i for i in range(10) if i != 5]  # 0.75 mm slices, the sixth missing
    assert gap_warnings(z) == [
        "Missing slices: about 1 slice seems to be missing (expected spacing 0.75 mm): "
        "gap of 1.5 mm between slices 5 and 6 of 9 (at 3.0 and 4.5 mm): about 1 slice "
        "missing."]


def test_gap_warnings_with_missing_slices_at_two_spacings():
    # 4 mm slices with one missing (8 mm gap), then 7 mm slices with one missing (14 mm)
    z = [0, 4, 8, 16, 20, 24, 31, 38, 45, 59, 66, 73]
    [missing, runs] = gap_warnings(z)
    assert missing.startswith("Missing slices: about 2 slices seem to be missing (spacing "
                              "differs along the series): gap of 8.0 mm between slices 3 and 4")
    assert missing.endswith("about 1 slice missing.")
    assert runs == "Slice spacing changes within the series: slices 1–6 at 4.0 mm, 6–12 at 7.0 mm."


def test_spacing_change_names_two_odd_gaps():
    # 4 mm, a 5.5 mm step, 7 mm, a 9.5 mm step, 7 mm
    z = [0, 4, 8, 12, 17.5, 24.5, 31.5, 41, 48, 55]
    [msg] = gap_warnings(z)
    assert msg == ("Slice spacing changes within the series: slices 1–4 at 4.0 mm, 5–10 at "
                   "7.0 mm; odd gaps of 5.5 mm between slices 4 and 5 of 10 (at 12.0 and "
                   "17.5 mm); 9.5 mm between slices 7 and 8 of 10 (at 31.5 and 41.0 mm).")


def test_gap_warnings_need_three_increasing_positions():
    assert gap_warnings([0, 5]) == []
    assert gap_warnings([0, 0, 0, 5]) == []  # no spacing to speak of: median gap 0
    assert gap_warnings([20, 15, 10, 0]) == []  # decreasing
    # three slices, two different gaps: both named against the median
    assert gap_warnings([0, 5, 15]) == [
        "Uneven slice spacing: gaps range from 5.0 to 10.0 mm (median 7.5 mm); gap of 5.0 mm "
        "between slices 1 and 2 of 3 (at 0.0 and 5.0 mm); gap of 10.0 mm between slices 2 "
        "and 3 of 3 (at 5.0 and 15.0 mm)."]
