"""Per-slice thickness and spacing runs, on real DICOM files written with pydicom."""

import numpy as np
import pytest

from cranioscan.dicom import load_series
from cranioscan.testing.factory import make_series, mixed_thickness_series, write_series
from cranioscan.dicom.geometry import gap_warnings, spacing_plan, value_runs


def mixed_positions(n_thin=15, n_thick=13, thin=4.0, thick=7.0, step=5.5):
    """A GE-like head series: 4 mm slices, one 5.5 mm step, then 7 mm slices (mm)."""
    z = [i * thin for i in range(n_thin)]
    return z + [z[-1] + step + i * thick for i in range(n_thick)]


@pytest.fixture
def mixed(tmp_path):
    """28 slices: 1-15 are 4 mm thick, 16-28 are 7 mm thick (SliceThickness per file)."""
    write_series(mixed_thickness_series(), tmp_path)
    return load_series(tmp_path)


def test_each_slice_keeps_its_own_thickness(mixed):
    assert mixed.slice_thicknesses.dtype == np.float64
    assert mixed.slice_thicknesses.tolist() == [4.0] * 15 + [7.0] * 13
    assert mixed.slice_thickness == 4.0  # the series' nominal (first) value is unchanged
    assert mixed.thickness_at(0) == 4.0 and mixed.thickness_at(14) == 4.0
    assert mixed.thickness_at(15) == 7.0 and mixed.thickness_at(27) == 7.0
    assert mixed.positions.tolist() == pytest.approx(mixed_positions())


def test_thickness_follows_slice_order_and_missing_tag_is_nan(tmp_path):
    datasets = make_series(4, dz=5.0, thickness=5.0, pixels=np.zeros((4, 4)))
    datasets[1].SliceThickness = 2.5
    del datasets[3].SliceThickness
    write_series(datasets[::-1], tmp_path)  # written superior first: order comes from positions
    series = load_series(tmp_path)
    assert series.slice_thicknesses[:3].tolist() == [5.0, 2.5, 5.0]
    assert np.isnan(series.slice_thicknesses[3])
    assert series.thickness_at(3) is None


def test_spacing_warning_summarises_runs_and_names_the_odd_gap(mixed):
    [msg] = [w for w in mixed.warnings if "spacing" in w.lower()]
    assert msg.startswith("Slice spacing changes within the series: "
                          "slices 1–15 at 4.0 mm, 16–28 at 7.0 mm;")
    assert "odd gap of 5.5 mm between slices 15 and 16 of 28 (at 56.0 and 61.5 mm)" in msg
    assert "more" not in msg  # no list of each 7 mm gap


def test_spacing_plan_runs_and_odd_gaps():
    plan = spacing_plan(mixed_positions())
    assert plan["runs"] == [(1, 15, 4.0), (16, 28, 7.0)]
    assert plan["odd"] == [(14, 5.5, 4.0, 0)]
    # one missing slice inside the thin run: the run continues across it
    z = [0, 4, 8, 12, 20, 24, 27, 30, 33, 36]
    plan = spacing_plan(z)
    assert plan["runs"] == [(1, 6, 4.0), (6, 10, 3.0)]
    assert plan["odd"] == [(3, 8.0, 4.0, 1)]
    warns = gap_warnings(z)
    assert warns[0].startswith("Missing slices: about 1 slice seems to be missing "
                               "(expected spacing 4.0 mm): gap of 8.0 mm between slices 4 and 5")
    assert warns[1] == "Slice spacing changes within the series: slices 1–6 at 4.0 mm, 6–10 at 3.0 mm."


def test_regular_missing_and_single_uneven_gap_keep_their_messages():
    assert gap_warnings(np.arange(300) * 0.625) == []
    [msg] = gap_warnings([0, 5, 10, 20, 25, 30, 40, 45])
    assert msg.startswith("Missing slices: about 2 slices seem to be missing (expected spacing 5.0 mm)")
    [msg] = gap_warnings([0, 5, 10, 12.5, 17.5, 22.5])
    assert msg.startswith("Uneven slice spacing: gaps range from 2.5 to 5.0 mm (median 5.0 mm); "
                          "gap of 2.5 mm between slices 3 and 4 of 6")


def test_value_runs():
    assert value_runs([]) == []
    assert value_runs([4, 4, 4.01, 7, 7]) == [(0, 3, 4.0), (3, 5, 7.0)]
    runs = value_runs([5, np.nan, np.nan, 5])
    assert [r[:2] for r in runs] == [(0, 1), (1, 3), (3, 4)] and np.isnan(runs[1][2])
