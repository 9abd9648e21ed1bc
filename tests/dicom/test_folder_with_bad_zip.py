"""A damaged zip inside a folder is one skipped entry, not a refused folder."""

import numpy as np
import pytest

from cranioscan.dicom import DicomLoadError, discover_series, load_series
from cranioscan.testing.factory import make_series, write_series


def test_damaged_zip_in_a_folder_is_skipped_with_its_reason(tmp_path):
    write_series(make_series(3, pixels=lambda i: np.full((4, 4), 1024 + i)), tmp_path / "ct")
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    series = load_series(tmp_path)
    assert series.n_slices == 3
    [(name, reason)] = series.skipped
    assert name.endswith("export.zip")
    assert "is not a readable zip archive" in reason
    assert len(discover_series(tmp_path)) == 1


def test_folder_holding_only_a_damaged_zip_names_it(tmp_path):
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(DicomLoadError, match=r"No DICOM images found in .*export\.zip.*"
                                             r"not a readable zip archive"):
        load_series(tmp_path)
