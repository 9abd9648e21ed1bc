"""The viewer's overlay names each slice's own thickness (a real mixed series)."""

from cranioscan.dicom import load_series
from cranioscan.testing.factory import mixed_thickness_series, write_series
from cranioscan.visualize.slice_image import slice_annotations


def test_overlay_text_gives_each_slices_own_thickness(tmp_path):
    write_series(mixed_thickness_series(), tmp_path)  # real DICOM files, one per slice
    series = load_series(tmp_path)
    assert slice_annotations(series, 0) == ["Slice 1 / 28", "Pos 0.0 mm", "Thk 4 mm"]
    assert slice_annotations(series, 14) == ["Slice 15 / 28", "Pos 56.0 mm", "Thk 4 mm"]
    assert slice_annotations(series, 15) == ["Slice 16 / 28", "Pos 61.5 mm", "Thk 7 mm"]
    assert slice_annotations(series, 27) == ["Slice 28 / 28", "Pos 145.5 mm", "Thk 7 mm"]
