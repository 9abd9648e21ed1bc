"""CT-ICH adapter: HU rebuilt from two JPG windows, folder indexing, bad files."""

import os

import numpy as np
import pytest
from PIL import Image

from cranioscan import ctich
from cranioscan.labels import CLASSES

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "ct-ich")


def test_window_to_hu_matches_the_documented_windows():
    # brain L40/W120: grey 0 is -20 HU, 255 is 100 HU; bone L700/W3200: -900..2300
    np.testing.assert_allclose(ctich.window_to_hu([0, 255], *ctich.BRAIN_WINDOW), [-20, 100])
    np.testing.assert_allclose(ctich.window_to_hu([0, 255], *ctich.BONE_WINDOW), [-900, 2300])
    assert ctich.window_to_hu(51, *ctich.BRAIN_WINDOW) == pytest.approx(-20 + 51 * 120 / 255)


def test_hu_to_window_inverts_window_to_hu():
    grey = np.arange(256, dtype=np.uint8)
    for window in (ctich.BRAIN_WINDOW, ctich.BONE_WINDOW):
        np.testing.assert_array_equal(ctich.hu_to_window(ctich.window_to_hu(grey, *window),
                                                         *window), grey)


def test_rebuild_hu_takes_the_fine_window_inside_and_the_coarse_one_outside():
    brain = np.array([[0, 3, 120, 251, 255, 255]], dtype=np.uint8)
    bone = np.array([[0, 70, 75, 80, 79, 120]], dtype=np.uint8)
    hu = ctich.rebuild_hu(brain, bone)
    bone_hu = -900 + bone[0].astype(float) * 3200 / 255
    assert hu.dtype == np.float32
    assert hu[0, 0] == pytest.approx(-900)                        # air: bone window
    assert hu[0, 1] == pytest.approx(min(bone_hu[1], -20), rel=1e-5)  # black in brain: <= -20
    assert hu[0, 2] == pytest.approx(-20 + 120 * 120 / 255)      # soft tissue: brain window
    assert hu[0, 3] == pytest.approx(-20 + 251 * 120 / 255)
    assert hu[0, 4] == pytest.approx(100)                        # white in brain, bone says less
    assert hu[0, 5] == pytest.approx(bone_hu[5], rel=1e-5)       # bone
    assert brain[0, 0] == 0 and bone[0, 1] == 70                 # inputs unchanged


def test_rebuild_hu_refuses_different_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        ctich.rebuild_hu(np.zeros((4, 4)), np.zeros((4, 5)))


def test_jpeg_roundtrip_stays_close_to_the_original_hu():
    rng = np.random.default_rng(0)
    hu = np.full((2, 64, 64), -1000.0, np.float32)
    hu[:, 8:56, 8:56] = 1200.0                                      # skull
    hu[:, 12:52, 12:52] = 30.0 + rng.normal(0, 3, (2, 40, 40))     # brain
    hu[:, 20:30, 20:30] = 70.0                                      # blood
    before = hu.copy()
    out = ctich.jpeg_roundtrip_hu(hu, quality=[90, 60])
    np.testing.assert_array_equal(hu, before)
    assert out.shape == hu.shape and out.dtype == np.float32
    assert np.median(np.abs(out[:, 24:27, 24:27] - 70)) < 5        # blood keeps its density
    assert not np.array_equal(out[0], out[1])                       # quality matters
    assert ctich.jpeg_roundtrip_hu(hu[0]).shape == (64, 64)


def _write_slice(folder, patient, number, brain, bone=None):
    for kind, grey in (("brain", brain), ("bone", bone)):
        if grey is None:
            continue
        path = folder / f"{patient:03d}" / kind
        path.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey).save(path / f"{number:02d}.jpg", quality=95)


def make_ctich_folder(root, size=32):
    """Two patients in the CT-ICH layout, with every kind of problem the adapter reports."""
    grey = np.full((size, size), 120, np.uint8)
    rows = ["patient,slice,any,epidural,intraparenchymal,intraventricular,subarachnoid,"
            "subdural,fracture"]
    for number, epidural in ((1, 0), (2, 1), (3, 0)):
        _write_slice(root, 1, number, grey, grey)
        rows.append(f"1,{number},{epidural},{epidural},0,0,0,0,0")
    _write_slice(root, 2, 1, grey, grey)
    rows.append("2,1,0,0,0,0,0,1,0")                 # 'any' 0 with a subtype: recomputed
    _write_slice(root, 2, 2, grey, None)             # missing bone file
    rows.append("2,2,0,0,0,0,0,0,0")
    _write_slice(root, 2, 3, grey, np.zeros((size, size + 2), np.uint8))  # size mismatch
    rows.append("2,3,0,0,0,0,0,0,0")
    rows.append("2,4,1,0,1,0,0,0,0")                 # label without image
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_load_ctich_keeps_good_slices_and_reports_the_rest(tmp_path):
    data = ctich.load_ctich(make_ctich_folder(tmp_path))
    assert list(data.ids["image_id"]) == ["CTICH001_01", "CTICH001_02", "CTICH001_03",
                                          "CTICH002_01"]
    assert list(data.ids["patient"]) == ["CTICH001"] * 3 + ["CTICH002"]
    assert data.labels.shape == (4, len(CLASSES)) and data.labels.dtype == np.uint8
    np.testing.assert_array_equal(data.labels[1], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.labels[3], [1, 0, 0, 0, 0, 1])  # any from subtypes
    reasons = dict(data.report.problems)
    assert reasons[os.path.join("002", "brain", "02.jpg")] == "missing bone-window image"
    assert "differ in size" in reasons[os.path.join("002", "brain", "03.jpg")]
    assert reasons[os.path.join("002", "brain", "04.jpg")] == "label without a brain-window image"
    text = "\n".join(data.report.lines())
    assert "4 slices kept" in text and "3 slices dropped" in text


def test_load_ctich_selects_patients_and_refuses_a_folder_without_labels(tmp_path):
    data = ctich.load_ctich(make_ctich_folder(tmp_path), patients=[1])
    assert set(data.ids["patient"]) == {"CTICH001"} and not data.report.problems
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        ctich.load_ctich(tmp_path / "001")


def test_read_slice_hu_of_a_written_pair(tmp_path):
    make_ctich_folder(tmp_path)
    data = ctich.load_ctich(tmp_path, patients=[1])
    hu = ctich.read_slice_hu(data.ids["brain"][0], data.ids["bone"][0])
    assert hu.shape == (32, 32)
    assert np.abs(hu - (-20 + 120 * 120 / 255)).max() < 2  # grey 120 in the brain window


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/ct-ich is not beside the project")
def test_the_shared_ctich_folder_reads_whole():
    data = ctich.load_ctich(SHARED)
    assert len(data) == 1896 and not data.report.problems
    assert data.ids["patient"].nunique() == 62
    assert int(data.labels[:, 0].sum()) == 244
    hu = ctich.read_slice_hu(data.ids["brain"][15], data.ids["bone"][15])
    inside = hu[250:400, 250:400]
    assert -20 < np.median(inside) < 80  # brain tissue in the middle of a mid slice
