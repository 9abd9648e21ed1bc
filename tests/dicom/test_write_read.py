"""The one CT writer (cranioscan.dicom.write), the header peek, the raw pixel reader and the
worklist scan (cranioscan.dicom.scan): real files through pydicom, read back by the loader."""

import numpy as np
import pytest
from pydicom.errors import InvalidDicomError

import cranioscan.dicom.header as header_module
from cranioscan.dicom import load_series
from cranioscan.dicom.header import ScannedFiles, peek
from cranioscan.dicom.read import read_dataset, stored_pixels
from cranioscan.dicom.scan import find_series
from cranioscan.dicom.write import (
    ct_dataset,
    decimal_string,
    hu_series,
    hu_to_stored,
    set_slice,
    to_bytes,
    unchanged_bytes,
    write,
)
from cranioscan.testing.factory import make_ct_slice, make_series, write_series


def test_decimal_string_is_short_and_exact():
    assert decimal_string(0.45) == "0.45"
    assert decimal_string(-1024.0) == "-1024"
    assert decimal_string(-0.0) == "0"
    assert decimal_string(1 / 3) == "0.333333"
    assert len(decimal_string(-123456.123456)) <= 16


def test_hu_to_stored_rounds_offsets_and_clips_without_touching_the_input():
    hu = np.array([[-1000.4, 40.5, 41.5], [40000.0, -40000.0, 0.0]], dtype=np.float32)
    before = hu.copy()
    signed = hu_to_stored(hu, intercept=-1024, signed=True)
    assert signed.dtype == np.int16
    assert signed.tolist() == [[24, 1064, 1066], [32767, -32768, 1024]]  # rint: half to even
    unsigned = hu_to_stored(hu, intercept=-1024, signed=False)
    assert unsigned.dtype == np.uint16
    assert unsigned.tolist() == [[24, 1064, 1066], [41024, 0, 1024]]
    np.testing.assert_array_equal(hu, before)


def _header(**kwargs):
    args = dict(rows=4, cols=5, study_uid="1.2.3", series_uid="1.2.3.4", spacing=[0.5, 0.6],
                thickness=2.5, window=(40, 80), PatientID="P1")
    args.update(kwargs)
    return ct_dataset(**args)


def test_ct_dataset_writes_what_it_is_given():
    ds = _header(intercept=None, slope=None, bits_stored=12, signed=False, window=None)
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (4, 5, 16, 12, 11)
    assert ds.PixelRepresentation == 0 and ds.PatientID == "P1"
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_hu_series_reads_back_as_the_same_hounsfield_units(tmp_path):
    rng = np.random.default_rng(3)
    hu = np.rint(rng.normal(0.0, 300.0, size=(3, 4, 5))).astype(np.float32)
    ds = _header()
    for k, _ in hu_series(ds, hu, sop_uids=[f"1.2.3.4.{k}" for k in range(3)],
                          positions=[[0, 0, 2.5 * k] for k in range(3)], instances=[1, 2, 3],
                          slice_locations=[2.5 * k for k in range(3)]):
        write(ds, tmp_path / f"s{k}.dcm")
    series = load_series(tmp_path)
    np.testing.assert_array_equal(series.hu, hu)
    assert series.sop_uids == ["1.2.3.4.0", "1.2.3.4.1", "1.2.3.4.2"]
    assert series.spacing == pytest.approx((0.5, 0.6))
    np.testing.assert_allclose(series.positions, [0.0, 2.5, 5.0])


def test_set_slice_wraps_stored_values_and_rle_stays_lossless(tmp_path):
    ds = _header(signed=True)
    set_slice(ds, np.full((4, 5), 70000), sop_uid="1.2.9", instance=1, position=(0, 0, 0))
    assert stored_pixels(to_bytes(ds)).tolist() == [[70000 - 65536] * 5] * 4  # two's complement
    values = np.arange(20, dtype=np.int16).reshape(4, 5)
    set_slice(ds, values, sop_uid="1.2.10", instance=2, position=(0, 0, 5), rle=True)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    np.testing.assert_array_equal(stored_pixels(write(ds, tmp_path / "rle.dcm")), values)


def test_peek_reads_only_the_header_with_and_without_a_preamble(tmp_path):
    ds = make_ct_slice(np.ones((8, 8)), sop_uid="1.2.77")
    for data in (to_bytes(ds), to_bytes(ds, preamble=False)):
        head = peek(data, ["StudyInstanceUID", "Rows"])
        assert head.StudyInstanceUID == ds.StudyInstanceUID and head.Rows == 8
        assert "PatientID" not in head and "PixelData" not in head
    path = write(ds, tmp_path / "one.dcm")
    assert peek(path).SOPInstanceUID == "1.2.77"
    assert "PixelData" not in peek(str(path))


def test_read_dataset_refuses_a_bare_dataset_and_unchanged_bytes_keep_it_bare():
    ds = make_ct_slice(np.ones((8, 8)))
    bare = to_bytes(ds, preamble=False)
    with pytest.raises(InvalidDicomError):
        read_dataset(bare)
    whole = read_dataset(to_bytes(ds))
    assert whole.pixel_array.shape == (8, 8)
    assert unchanged_bytes(whole)[128:132] == b"DICM"
    assert read_dataset(unchanged_bytes(whole)).SOPInstanceUID == ds.SOPInstanceUID


def test_worklist_scan_parses_each_file_once_and_loads_from_the_kept_headers(tmp_path, monkeypatch):
    write_series(make_series(4, series_uid="1.2.3.1", pixels=lambda i: np.full((8, 8), 1024 + i)),
                 tmp_path / "a")
    write_series(make_series(3, series_uid="1.2.3.2", modality="MR"), tmp_path / "b")
    (tmp_path / "notes.txt").write_text("not an image")
    parses = []
    real = header_module.dcmread
    monkeypatch.setattr(header_module, "dcmread", lambda *a, **k: parses.append(1) or real(*a, **k))

    found, problems = find_series([tmp_path])

    assert [(f.label.rsplit("/", 1)[-1], f.series_uid) for f in found] == [("a (series 1.2.3.1)", None)]
    assert isinstance(found[0].source, ScannedFiles) and len(found[0].source) == 4
    assert [(e.kind, e.where.rsplit("/", 1)[-1], e.reason, e.status) for e in problems] == [
        ("file", "notes.txt", "not a DICOM file", "skipped"),
        ("series", "b", "left out: it is MR, not CT", "skipped")]
    n_parsed = len(parses)
    series = load_series(found[0].source)
    assert len(parses) == n_parsed  # loading parsed no header again
    np.testing.assert_array_equal(series.hu[:, 0, 0], [0, 1, 2, 3])
    assert series.meta["series_description"] == "Head non-contrast"
    assert series.names == [str(tmp_path / "a" / f"slice_{i:03d}.dcm") for i in range(4)]


def test_compact_header_loads_as_the_full_one(tmp_path):
    datasets = make_series(2, pixels=np.full((8, 8), -2000), padding_value=-2000,
                           photometric="MONOCHROME1")
    write_series(datasets, tmp_path)
    full = load_series(tmp_path)
    [found], _ = find_series([tmp_path])
    compact = load_series(found.source)
    np.testing.assert_array_equal(compact.hu, full.hu)
    assert compact.meta == full.meta and compact.warnings == full.warnings
