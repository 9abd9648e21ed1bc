"""Slice ordering (cranioscan.dicom.assemble._order) at its edges, on real DICOM files.

Written for the mutation score (issue 29, item 5; docs/testing.md, "Mutation
score"). Files are written with pydicom by the test factory and read back by
``load_series``; the expected order, positions and messages are written out
by hand from the rules: slices inferior -> superior by position along the
normal, ties by InstanceNumber (a slice without one last), the first kept
of each position; without geometry, InstanceNumber, else file name, spaced
by SpacingBetweenSlices, else SliceThickness, else 1 mm.
"""

import math

import numpy as np
import pytest

from cranioscan.dicom import load_series
from cranioscan.testing.factory import make_ct_slice, make_series, write_series


def ramp(i, rows=4, cols=4):
    """Distinct stored values per slice: 100*i + pixel index (HU = stored - 1024)."""
    return 100 * i + np.arange(rows * cols).reshape(rows, cols)


def first_hu(series):
    return [int(round(v)) + 1024 for v in series.hu[:, 0, 0]]


def test_one_duplicate_position_message(tmp_path):
    paths = write_series(make_series(4, positions=[0, 5, 5, 10], pixels=ramp), tmp_path)
    series = load_series(tmp_path)
    [msg] = [w for w in series.warnings if "duplicate" in w]
    kept, dropped = str(paths[1]), str(paths[2])
    assert msg == (f"1 duplicate slice at the position of another slice was left out (kept the "
                   f"first): '{dropped}' (the same position as '{kept}' at 5.0 mm).")
    assert series.skipped == [(dropped, f"duplicate: the same position as '{kept}' (5.0 mm)")]


def test_seven_duplicate_positions_list_six(tmp_path):
    z = [0.0] + [p for k in range(1, 8) for p in (5.0 * k, 5.0 * k)]
    paths = write_series(make_series(len(z), positions=z, pixels=ramp), tmp_path)
    series = load_series(tmp_path)
    assert series.positions.tolist() == [5.0 * k for k in range(8)]
    [msg] = [w for w in series.warnings if "duplicate" in w]
    listed = "; ".join(f"'{paths[2 * k]}' (the same position as '{paths[2 * k - 1]}' at "
                       f"{5 * k}.0 mm)" for k in range(1, 7))
    assert msg == ("7 duplicate slices at the position of another slice were left out (kept "
                   f"the first): {listed}; and 1 more.")


def test_six_duplicate_positions_are_all_listed(tmp_path):
    z = [0.0] + [p for k in range(1, 7) for p in (5.0 * k, 5.0 * k)]
    write_series(make_series(len(z), positions=z, pixels=ramp), tmp_path)
    [msg] = [w for w in load_series(tmp_path).warnings if "duplicate" in w]
    assert msg.startswith("6 duplicate slices") and msg.endswith("at 30.0 mm).")
    assert "more" not in msg


def test_the_same_image_twice_is_named_as_such(tmp_path):
    dss = make_series(3, pixels=ramp)
    paths = write_series(dss + [dss[1]], tmp_path)  # slice 2 again under another name
    series = load_series(tmp_path)
    assert series.n_slices == 3
    assert series.skipped == [(str(paths[3]),
                               f"duplicate: the same image as '{paths[1]}' (5.0 mm)")]
    [msg] = [w for w in series.warnings if "duplicate" in w]
    assert f"'{paths[3]}' (the same image as '{paths[1]}' at 5.0 mm)" in msg


def test_a_tie_keeps_the_lower_instance_number_and_one_without_comes_last(tmp_path):
    a = make_ct_slice(ramp(0), position=(0, 0, 5.0), instance=7)
    b = make_ct_slice(ramp(1), position=(0, 0, 5.0), instance=3)
    c = make_ct_slice(ramp(2), position=(0, 0, 0.0), instance=1)
    write_series([a, b, c], tmp_path / "tie")
    assert first_hu(load_series(tmp_path / "tie")) == [200, 100]  # z 0 (c), z 5 (b, instance 3)
    d = make_ct_slice(ramp(0), position=(0, 0, 5.0), instance=1)
    del d.InstanceNumber
    e = make_ct_slice(ramp(1), position=(0, 0, 5.0), instance=9)
    f = make_ct_slice(ramp(2), position=(0, 0, 10.0), instance=2)
    g = make_ct_slice(ramp(3), position=(0, 0, 15.0), instance=3)
    del g.InstanceNumber
    write_series([d, e, f, g], tmp_path / "none")
    assert first_hu(load_series(tmp_path / "none")) == [100, 200, 300]


def test_a_sagittal_series_says_it_is_not_axial(tmp_path):
    dss = [make_ct_slice(ramp(i), position=(5.0 * i, 0, 0), instance=i + 1,
                         orientation=(0, 1, 0, 0, 0, -1)) for i in range(3)]
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert series.normal.tolist() == [-1.0, 0.0, 0.0]
    # positions along (-1, 0, 0): x = 10 first
    assert series.positions.tolist() == [-10.0, -5.0, 0.0] and first_hu(series) == [200, 100, 0]
    assert ("This series is not axial (sagittal or coronal slices): slices are ordered along "
            "the slice normal, not from inferior to superior.") in series.warnings


def test_without_orientation_the_defaults_and_the_stored_positions(tmp_path):
    dss = [make_ct_slice(ramp(i), position=(0.0, 2.0 * i, 5.0 * i), instance=3 - i)
           for i in range(3)]
    for ds in dss:
        del ds.ImageOrientationPatient
    del dss[0].ImagePositionPatient
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert first_hu(series) == [200, 100, 0]  # by InstanceNumber: 1, 2, 3
    assert series.orientation.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert series.normal.tolist() == [0.0, 0.0, 1.0]
    assert series.positions.tolist() == [0.0, 5.0, 10.0]  # SliceThickness steps
    positions = series.image_positions
    assert positions.shape == (3, 3) and positions.dtype == np.float64
    assert positions[0].tolist() == [0.0, 4.0, 10.0] and positions[1].tolist() == [0.0, 2.0, 5.0]
    assert all(math.isnan(v) for v in positions[2])
    # no geometry, so no tilt from the stored positions (they would give 21.8 degrees)
    assert series.tilt_degrees == 0.0


def test_without_orientation_stored_positions_give_no_tilt(tmp_path):
    dss = [make_ct_slice(ramp(i), position=(0.0, 2.0 * i, 5.0 * i), instance=i + 1)
           for i in range(3)]
    for ds in dss:
        del ds.ImageOrientationPatient
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    # the positions climb 2 mm in y per 5 mm in z (21.8 degrees), but without an
    # orientation there is no normal to measure a tilt against
    assert series.tilt_degrees == 0.0
    assert series.image_positions[2].tolist() == [0.0, 4.0, 10.0]


def test_parallel_direction_cosines_fall_back_to_instance_numbers(tmp_path):
    dss = [make_ct_slice(ramp(i), position=(0, 0, 5.0 * i), instance=3 - i,
                         orientation=(1, 0, 0, 1, 0, 0)) for i in range(3)]
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert first_hu(series) == [200, 100, 0]
    assert series.normal.tolist() == [0.0, 0.0, 1.0]
    assert any("ordered by Instance Number" in w for w in series.warnings)


def test_no_geometry_and_no_instance_numbers_keep_the_file_order(tmp_path):
    dss = make_series(3, pixels=ramp, SpacingBetweenSlices=4.0)
    for ds in dss:
        del ds.ImagePositionPatient
        del ds.InstanceNumber
    write_series([dss[2], dss[0], dss[1]], tmp_path)
    series = load_series(tmp_path)
    assert first_hu(series) == [200, 0, 100]
    assert series.positions.tolist() == [0.0, 4.0, 8.0]  # SpacingBetweenSlices, not thickness
    assert ("Slice positions (Image Position/Orientation) are missing: slices are ordered by "
            "file name, and distances between slices are assumed to be 4.0 mm.") in series.warnings


def test_without_spacing_or_thickness_slices_are_1_mm_apart(tmp_path):
    dss = make_series(2, pixels=ramp)
    for ds in dss:
        del ds.ImagePositionPatient
        del ds.SliceThickness
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert series.positions.tolist() == [0.0, 1.0]
    assert any("ordered by Instance Number, and distances between slices are assumed to be "
               "1.0 mm." in w for w in series.warnings)


def test_one_slice_without_position_gets_no_ordering_warning(tmp_path):
    [ds] = make_series(1, pixels=ramp)
    del ds.ImagePositionPatient
    write_series([ds], tmp_path)
    assert not any("Slice positions" in w for w in load_series(tmp_path).warnings)


def test_the_same_image_twice_without_positions(tmp_path):
    dss = make_series(2, pixels=ramp)
    for ds in dss:
        del ds.ImagePositionPatient
    paths = write_series(dss + [dss[0]], tmp_path)
    series = load_series(tmp_path)
    assert series.n_slices == 2 and first_hu(series) == [0, 100]
    assert series.skipped == [(str(paths[2]), "duplicate: the same image (SOP Instance UID) twice")]
    assert f"1 duplicate image left out: '{paths[2]}'." in series.warnings
