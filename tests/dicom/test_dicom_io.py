"""Tests of cranioscan.dicom on small DICOM series built in memory."""

import hashlib
import io
import math
import re
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from cranioscan.dicom import (
    MAX_ZIP_BYTES,
    DicomLoadError,
    Series,
    SeriesInfo,
    discover_series,
    load_series,
)

from cranioscan.testing.factory import (
    encoder_available,
    jpeg_lossless_dataset,
    make_ct_slice,
    make_series,
    to_bytes,
    write,
    write_series,
)


def ramp(i, rows=4, cols=4):
    """Distinct stored values per slice: 100*i + pixel index."""
    return 100 * i + np.arange(rows * cols).reshape(rows, cols)


def sha(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


class Upload(io.BytesIO):
    """What streamlit's st.file_uploader returns: a BytesIO with a .name."""

    def __init__(self, name, data):
        super().__init__(data)
        self.name = name


# --- basic loading, ordering, HU ------------------------------------------------
def test_folder_loads_hu_ordered_inferior_to_superior(tmp_path):
    dss = make_series(5, z0=-20.0, dz=5.0, pixels=ramp, window_center=[40, 400],
                      window_width=[80, 2000])
    order = [3, 0, 4, 1, 2]  # write in shuffled file order, instance numbers scrambled
    for k, i in enumerate(order):
        dss[i].InstanceNumber = 10 - k
        write(dss[i], tmp_path / f"img{k}.dcm")

    series = load_series(tmp_path)

    assert isinstance(series, Series)
    assert series.hu.dtype == np.float32 and series.hu.shape == (5, 4, 4)
    assert series.positions.dtype == np.float64
    assert series.positions.tolist() == pytest.approx([-20, -15, -10, -5, 0])
    for i in range(5):  # HU = stored * 1 - 1024, slice i at z = -20 + 5 i
        assert series.hu[i] == pytest.approx(ramp(i) - 1024.0)
    assert series.spacing == pytest.approx((0.5, 0.5))
    assert series.slice_spacing == pytest.approx(5.0)
    assert series.slice_gaps.tolist() == pytest.approx([5.0] * 4)
    assert series.sop_uids == [dss[i].SOPInstanceUID for i in range(5)]
    assert [n.rsplit("/", 1)[-1] for n in series.names] == [
        f"img{order.index(i)}.dcm" for i in range(5)
    ]
    assert series.warnings == [] and series.skipped == []
    assert series.tilt_degrees == pytest.approx(0.0)
    meta = series.meta
    assert meta["patient_name"] == "Test^Phantom" and meta["patient_id"] == "CS-0001"
    assert meta["modality"] == "CT" and meta["kvp"] == pytest.approx(120)
    assert meta["slice_thickness"] == pytest.approx(5.0)
    assert (meta["window_center"], meta["window_width"]) == (40.0, 80.0)  # first of MultiValue
    assert meta["series_description"] == "Head non-contrast"
    assert meta["study_date"] == "20240102" and meta["patient_age"] is None


def test_orientation_with_inferior_normal_still_orders_inferior_to_superior(tmp_path):
    # column direction (0, -1, 0): cross(row, col) points inferior (-z)
    dss = [make_ct_slice(ramp(i), position=(0, 0, 10.0 * i), instance=i + 1,
                         orientation=(1, 0, 0, 0, -1, 0)) for i in range(3)]
    write_series(dss[::-1], tmp_path)
    series = load_series(tmp_path)
    assert series.normal.tolist() == pytest.approx([0, 0, 1])
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024, -924, -824])
    assert series.positions.tolist() == pytest.approx([0, 10, 20])


def test_instance_number_fallback_without_positions(tmp_path):
    dss = make_series(3, pixels=ramp)
    for ds in dss:
        del ds.ImagePositionPatient
    write_series([dss[2], dss[0], dss[1]], tmp_path)
    series = load_series(tmp_path)
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024, -924, -824])
    assert series.positions.tolist() == pytest.approx([0, 5, 10])  # SliceThickness steps
    assert any("ordered by Instance Number" in w for w in series.warnings)


def test_gantry_tilt_positions_projected_on_normal(tmp_path):
    dss = make_series(6, dz=5.0, tilt_deg=15.0, pixels=ramp)
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    step = 5.0 * math.cos(math.radians(15.0))  # table step projected on the normal
    assert series.tilt_degrees == pytest.approx(15.0, abs=1e-6)
    assert series.slice_gaps.tolist() == pytest.approx([step] * 5)
    assert series.normal.tolist() == pytest.approx(
        [0.0, math.sin(math.radians(15)), math.cos(math.radians(15))])
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024 + 100 * i for i in range(6)])
    tilt_msgs = [w for w in series.warnings if "Gantry tilt of 15.0 degrees" in w]
    assert tilt_msgs and "4.83 mm along the normal" in tilt_msgs[0]
    assert not any("spacing" in w.lower() and "uneven" in w.lower() for w in series.warnings)


def test_missing_slice_warns_with_gap_and_place(tmp_path):
    write_series(make_series(5, positions=[0, 5, 10, 20, 25], pixels=ramp), tmp_path)
    series = load_series(tmp_path)
    assert series.n_slices == 5
    assert series.slice_gaps.tolist() == pytest.approx([5, 5, 10, 5])
    [msg] = [w for w in series.warnings if w.startswith("Missing slices")]
    assert "gap of 10.0 mm between slices 3 and 4 of 5 (at 10.0 and 20.0 mm)" in msg
    assert "expected spacing 5.0 mm" in msg and "about 1 slice" in msg


def test_uneven_spacing_warns_with_gap_and_place(tmp_path):
    write_series(make_series(6, positions=[0, 5, 10, 12.5, 17.5, 22.5], pixels=ramp), tmp_path)
    series = load_series(tmp_path)
    [msg] = [w for w in series.warnings if w.startswith("Uneven slice spacing")]
    assert "gap of 2.5 mm between slices 3 and 4 of 6 (at 10.0 and 12.5 mm)" in msg
    assert "median 5.0 mm" in msg
    assert not any(w.startswith("Missing") for w in series.warnings)


def test_regular_spacing_gives_no_gap_warning(tmp_path):
    write_series(make_series(8, dz=0.625), tmp_path)
    assert load_series(tmp_path).warnings == []


def test_duplicate_positions_keep_one_and_warn(tmp_path):
    dss = make_series(4, positions=[0, 5, 5, 10], pixels=ramp)
    paths = write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert series.n_slices == 3
    assert series.positions.tolist() == pytest.approx([0, 5, 10])
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024, -924, -724])  # kept instance 2
    assert any("duplicate slice" in w and paths[2].name in w for w in series.warnings)
    [(name, reason)] = series.skipped
    assert name.endswith(paths[2].name) and "same position as" in reason
    assert not any("Missing" in w or "Uneven" in w for w in series.warnings)


# --- mixed content --------------------------------------------------------------
def test_non_dicom_dicomdir_and_non_image_files_are_skipped(tmp_path):
    write_series(make_series(3, pixels=ramp), tmp_path / "series")
    (tmp_path / "README.txt").write_text("exported by PACS\n")
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    sr = make_ct_slice(ramp(0))
    for keyword in ("Rows", "Columns", "PixelData", "BitsAllocated"):
        delattr(sr, keyword)
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    write(sr, tmp_path / "report.dcm")

    series = load_series(tmp_path)

    assert series.n_slices == 3
    reasons = {name.rsplit("/", 1)[-1]: reason for name, reason in series.skipped}
    assert reasons["README.txt"] == "not a DICOM file"
    assert reasons["photo.jpg"] == "not a DICOM file"
    assert reasons["DICOMDIR"].startswith("DICOMDIR index file")
    assert reasons["report.dcm"] == "contains no image (Basic Text SR Storage)"


def _three_series(tmp_path):
    ct5 = make_series(5, series_uid="1.2.3.5", pixels=ramp, series_description="Brain 5mm")
    ct3 = make_series(3, series_uid="1.2.3.3", pixels=lambda i: ramp(i) + 7,
                      series_description="Bone 5mm")
    mr7 = make_series(7, series_uid="1.2.3.7", modality="MR", sop_class=MRImageStorage,
                      series_description="T1 axial")
    for ds in ct3:
        ds.SeriesNumber = 3
    for ds in mr7:
        ds.SeriesNumber = 4
    write_series(ct5, tmp_path, prefix="a")
    write_series(ct3, tmp_path, prefix="b")
    write_series(mr7, tmp_path, prefix="c")


def test_several_series_discover_and_default_choice(tmp_path):
    _three_series(tmp_path)
    infos = discover_series(tmp_path)
    assert [(i.uid, i.modality, i.n_files, i.description) for i in infos] == [
        ("1.2.3.5", "CT", 5, "Brain 5mm"),
        ("1.2.3.3", "CT", 3, "Bone 5mm"),
        ("1.2.3.7", "MR", 7, "T1 axial"),
    ]
    assert all(isinstance(i, SeriesInfo) for i in infos)
    assert [i.is_ct for i in infos] == [True, True, False]
    assert infos[2].problem == "is MR, not CT"

    series = load_series(tmp_path)  # the MR has more files but is not CT
    assert series.series_uid == "1.2.3.5" and series.n_slices == 5
    assert any("holds 3 series" in w and "most slices" in w and "1.2.3.3" in w
               for w in series.warnings)
    assert series.skipped == []  # other series' files are not "skipped"


def test_several_series_explicit_uid(tmp_path):
    _three_series(tmp_path)
    series = load_series(tmp_path, series_uid="1.2.3.3")
    assert series.series_uid == "1.2.3.3" and series.n_slices == 3
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1017, -917, -817])
    assert not any("holds" in w for w in series.warnings)
    with pytest.raises(DicomLoadError, match=r"Series UID '9\.9' is not in"):
        load_series(tmp_path, series_uid="9.9")
    with pytest.raises(DicomLoadError, match=r"'T1 axial'.*is MR, not CT"):
        load_series(tmp_path, series_uid="1.2.3.7")


def test_mr_only_is_rejected(tmp_path):
    write_series(make_series(3, modality="MR", sop_class=MRImageStorage), tmp_path)
    with pytest.raises(DicomLoadError, match="No CT series found.*is MR, not CT"):
        load_series(tmp_path)


def test_secondary_capture_is_rejected(tmp_path):
    write(make_ct_slice(ramp(0), modality="OT", sop_class=SecondaryCaptureImageStorage),
          tmp_path / "screen.dcm")
    with pytest.raises(DicomLoadError, match="secondary capture"):
        load_series(tmp_path)


def test_localizer_in_series_is_skipped(tmp_path):
    dss = make_series(3, pixels=ramp)
    scout = make_ct_slice(np.zeros((6, 6)), position=(0, 0, 0),
                          orientation=(1, 0, 0, 0, 0, -1), ImageType=["ORIGINAL", "PRIMARY",
                                                                        "LOCALIZER"])
    write_series(dss, tmp_path)
    write(scout, tmp_path / "scout.dcm")
    series = load_series(tmp_path)
    assert series.n_slices == 3
    assert [r for n, r in series.skipped if n.endswith("scout.dcm")] == [
        "localizer (scout) image, not an axial slice"]


def test_slice_with_other_orientation_is_left_out(tmp_path):
    dss = make_series(4, pixels=ramp)
    sagittal = make_ct_slice(ramp(9), position=(0, 0, 7.5), orientation=(0, 1, 0, 0, 0, -1),
                             instance=9)
    write_series(dss, tmp_path)
    write(sagittal, tmp_path / "sag.dcm")
    series = load_series(tmp_path)
    assert series.n_slices == 4
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024, -924, -824, -724])
    assert [r for n, r in series.skipped if n.endswith("sag.dcm")] == [
        "different orientation from the rest of the series (localizer or reformatted image?)"]
    assert any("different orientation" in w and "sag.dcm" in w for w in series.warnings)


def test_an_odd_sized_slice_is_left_out_when_most_slices_agree(tmp_path):
    dss = make_series(3, pixels=ramp)
    odd = make_ct_slice(np.zeros((8, 6)), position=(0, 0, 15), instance=4)
    write_series(dss, tmp_path)
    write(odd, tmp_path / "odd.dcm")
    series = load_series(tmp_path)
    assert series.hu.shape == (3, 4, 4)
    assert ("odd.dcm", "8x6 pixels, unlike the 4x4 of the rest of the series") in [
        (n.rsplit("/", 1)[-1], r) for n, r in series.skipped]
    assert any("another image size" in w and "odd.dcm" in w for w in series.warnings)


def test_mixed_image_sizes_without_a_majority_name_files_and_sizes(tmp_path):
    dss = make_series(2, pixels=ramp)
    odd = [make_ct_slice(np.zeros((8, 6)), position=(0, 0, z), instance=i)
           for i, z in ((3, 15), (4, 20))]
    write_series(dss, tmp_path)
    write_series(odd, tmp_path, prefix="odd")
    with pytest.raises(DicomLoadError, match=r"mixes image sizes") as refused:
        load_series(tmp_path)
    assert "4x4 pixels in 2 files" in str(refused.value)
    assert re.search(r"8x6 pixels in 2 files \('[^']*odd_000\.dcm'", str(refused.value))


# --- pixel values -----------------------------------------------------------------
def _one(ds, tmp_path, name="x.dcm"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write(ds, tmp_path / name)
    return load_series(tmp_path)


def test_rescale_slope_and_intercept(tmp_path):
    series = _one(make_ct_slice([[520, 0], [1000, 1]], slope=2.0, intercept=-1000.0), tmp_path)
    assert series.hu[0] == pytest.approx(np.array([[40.0, -1000.0], [1000.0, -998.0]]))


def test_signed_and_unsigned_storage_give_same_hu(tmp_path):
    hu = np.array([[-1000, -5], [40, 1900]])
    unsigned = make_ct_slice(hu + 1024, signed=False, intercept=-1024.0)
    signed = make_ct_slice(hu, signed=True, intercept=0.0)
    a = _one(unsigned, tmp_path / "u")
    b = _one(signed, tmp_path / "s")
    assert a.hu[0] == pytest.approx(hu) and b.hu[0] == pytest.approx(hu)


def test_bits_stored_masking_and_sign_extension(tmp_path):
    # unsigned 12-bit with junk in the 4 unused high bits: masked off
    junk = make_ct_slice([[0xF000 | 1064, 0x1000 | 24]], signed=False, bits_stored=12,
                         intercept=-1024.0)
    # signed 12-bit whose values were stored without sign extension: -5 -> 0x0FFB
    raw = make_ct_slice([[0x0FFB, 40]], signed=False, bits_stored=12, intercept=0.0)
    raw.PixelRepresentation = 1
    assert _one(junk, tmp_path / "a").hu[0] == pytest.approx(np.array([[40.0, -1000.0]]))
    assert _one(raw, tmp_path / "b").hu[0] == pytest.approx(np.array([[-5.0, 40.0]]))


def test_pixel_padding_value_becomes_air(tmp_path):
    # padding -1024 stored, intercept 0: above the -1500 HU out-of-field rule, so only the
    # PixelPaddingValue tag can turn it into air
    ds = make_ct_slice([[-1024, -1023], [40, -1024]], padding_value=-1024, intercept=0.0)
    assert _one(ds, tmp_path).hu[0] == pytest.approx(np.array([[-1000, -1023], [40, -1000]]))


def test_pixel_padding_range_limit_becomes_air(tmp_path):
    # unsigned, padding 0..5 (value 0, limit 5): 0 and 5 -> air; 6 -> 6 - 1024
    ds = make_ct_slice([[0, 5], [6, 1064]], signed=False, padding_value=0, padding_limit=5)
    assert _one(ds, tmp_path).hu[0] == pytest.approx(np.array([[-1000, -1000], [-1018, 40]]))


def test_padding_outside_fov_without_tag_becomes_air(tmp_path):
    ds = make_ct_slice([[-2000, 0], [-3000, 1064]], intercept=-1024.0)  # -3024 / -4024 HU
    assert _one(ds, tmp_path).hu[0] == pytest.approx(np.array([[-1000, -1024], [-1000, 40]]))


def test_monochrome1_hu_is_the_rescaled_stored_value(tmp_path):
    # PS3.3 C.7.6.3.1.2: MONOCHROME1 inverts at display, after the Modality
    # LUT, so HU = slope * s + intercept exactly as for MONOCHROME2.
    u = make_ct_slice([[0, 1024], [1064, 3000]], signed=False, bits_stored=12,
                      photometric="MONOCHROME1")
    s = make_ct_slice([[0, -1025], [-1065, 100]], signed=True, intercept=-1024.0,
                      photometric="MONOCHROME1")
    a = _one(u, tmp_path / "u")
    b = _one(s, tmp_path / "s")
    assert a.hu[0] == pytest.approx(np.array([[-1024, 0], [40, 1976]]))
    # -2049 and -2089 HU lie outside the field of view: air.
    assert b.hu[0] == pytest.approx(np.array([[-1024, -1000], [-1000, -924]]))
    assert any("MONOCHROME1" in w for w in a.warnings)


def test_rsna_12bit_intercept_defect_is_fixed(tmp_path):
    # BitsStored 12, unsigned, intercept 0 (> -100): HU = ((s + 1000) mod 4096) - 1000
    stored = [[0, 40, 3000], [3096, 3596, 4095]]
    expected = [[0, 40, 3000], [-1000, -500, -1]]
    ds = make_ct_slice(stored, signed=False, bits_stored=12, intercept=0.0)
    series = _one(ds, tmp_path / "bad")
    assert series.hu[0] == pytest.approx(np.array(expected, dtype=float))
    assert any("12-bit Rescale Intercept defect" in w for w in series.warnings)
    # the same storage with a proper intercept is left alone
    ok = make_ct_slice(stored, signed=False, bits_stored=12, intercept=-1024.0)
    assert _one(ok, tmp_path / "ok").hu[0] == pytest.approx(np.array(stored) - 1024.0)


def _compressed(ds, uid):
    if uid == "jpeg-lossless":
        return jpeg_lossless_dataset(ds)
    if not encoder_available(uid):
        pytest.skip(f"no pydicom encoder installed for {uid.name}; its decoder is tested "
                    "on pydicom's bundled codestream instead")
    ds.compress(uid)
    return ds


@pytest.mark.parametrize("uid", ["jpeg-lossless", JPEG2000Lossless, JPEGLSLossless, RLELossless],
                         ids=["jpeg-lossless-sv1", "jpeg2000-lossless", "jpeg-ls", "rle"])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_compressed_transfer_syntaxes_decode_to_same_hu(tmp_path, uid, signed):
    rng = np.random.default_rng(7)
    hu = rng.integers(-1024, 2000, size=(2, 40, 36))  # openjpeg needs >= 32 px a side
    hu[:, 0, 0] = [-1024, 1999]
    intercept = 0.0 if signed else -1024.0
    dss = make_series(2, pixels=lambda i: hu[i] - intercept, signed=signed,
                      bits_stored=16 if signed else 12, intercept=intercept)
    dss = [_compressed(ds, uid) for ds in dss]
    assert dss[0].file_meta.TransferSyntaxUID.is_compressed
    write_series(dss, tmp_path)
    series = load_series(tmp_path)
    assert series.meta["transfer_syntax"] == dss[0].file_meta.TransferSyntaxUID.name
    assert series.hu == pytest.approx(hu.astype(np.float32))


def test_jpeg_ls_codestream_from_pydicom_test_data(tmp_path):
    """JPEG-LS decoding without an encoder: pydicom ships a lossless JPEG-LS slice
    (MR_small, 64x64 signed 16-bit) and its uncompressed twin; re-wrap it as CT."""
    from pydicom.data import get_testdata_file

    jls, plain = (get_testdata_file(n) for n in ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"))
    if not (jls and plain):
        pytest.skip("pydicom's bundled test files are not installed")
    src, ref = pydicom.dcmread(jls), pydicom.dcmread(plain)
    stored = ref.pixel_array.astype(np.int64)
    ds = make_ct_slice(stored, signed=True, bits_stored=int(src.BitsStored), intercept=-1024.0)
    ds.PixelData = src.PixelData
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    series = _one(ds, tmp_path)
    assert series.meta["transfer_syntax"] == JPEGLSLossless.name
    assert series.hu[0] == pytest.approx(stored - 1024.0)


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian,
                                    DeflatedExplicitVRLittleEndian],
                         ids=["implicit-le", "explicit-be", "deflated"])
def test_native_transfer_syntaxes(tmp_path, syntax):
    stored = np.array([[-5, 0], [1064, 30000]])
    ds = make_ct_slice(stored, intercept=-1024.0)
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax == ExplicitVRBigEndian:  # pydicom writes OW bytes as given
        ds.PixelData = stored.astype(">i2").tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True, implicit_vr=syntax.is_implicit_VR,
                     little_endian=syntax.is_little_endian)
    series = load_series([("x.dcm", buf.getvalue())])
    assert series.hu[0] == pytest.approx(stored - 1024.0)


def test_files_without_preamble_load(tmp_path):
    write_series(make_series(3, pixels=ramp), tmp_path, preamble=False)
    assert (tmp_path / "slice_000.dcm").read_bytes()[128:132] != b"DICM"
    no_pixels = make_ct_slice(ramp(0), position=(0, 0, 50))
    del no_pixels.PixelData
    write(no_pixels, tmp_path / "header_only.dcm", preamble=False)
    series = load_series(tmp_path)
    assert series.hu[:, 1, 1].tolist() == pytest.approx([-1019, -919, -819])
    assert dict((n.rsplit("/", 1)[-1], r) for n, r in series.skipped) == {
        "header_only.dcm": "has no image data (the Pixel Data element is missing)"}


# --- sources: zip, uploads, bytes ------------------------------------------------
def _zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_path_uploads_and_pairs_load_identically(tmp_path):
    dss = make_series(4, pixels=ramp)
    blobs = [(f"study/s{i}.dcm", to_bytes(ds)) for i, ds in enumerate(dss)]
    zdata = _zip_bytes(blobs + [("study/notes.txt", b"hello"), ("__MACOSX/._s0.dcm", b"x")])
    zpath = tmp_path / "case.zip"
    zpath.write_bytes(zdata)

    from_zip = load_series(zpath)
    from_pairs = load_series([(name.split("/")[1], data) for name, data in blobs])
    uploads = [Upload(name.split("/")[1], data) for name, data in blobs]
    uploads[0].seek(5)
    from_uploads = load_series(uploads)
    from_zip_upload = load_series([Upload("case.zip", zdata)])

    for series in (from_pairs, from_uploads, from_zip_upload):
        assert series.hu == pytest.approx(from_zip.hu)
    assert from_zip.hu[:, 0, 0].tolist() == pytest.approx([-1024, -924, -824, -724])
    assert uploads[0].tell() == 5  # the upload object is left as found
    assert from_zip.names[0] == f"{zpath}/study/s0.dcm"
    reasons = dict(from_zip.skipped)
    assert reasons[f"{zpath}/study/notes.txt"] == "not a DICOM file"
    assert reasons[f"{zpath}/__MACOSX/._s0.dcm"] == "macOS metadata file, not an image"
    assert not any(p.suffix == ".dcm" for p in tmp_path.rglob("*"))  # nothing extracted


def test_zip_of_junk_is_an_error(tmp_path):
    zpath = tmp_path / "junk.zip"
    zpath.write_bytes(_zip_bytes([("a.txt", b"hello"), ("b.bin", b"\x00\x01" * 50)]))
    with pytest.raises(DicomLoadError, match=r"No DICOM images found.*'.*junk\.zip/a\.txt': "
                                             r"not a DICOM file"):
        load_series(zpath)


def test_damaged_zip_is_an_error(tmp_path):
    zpath = tmp_path / "broken.zip"
    zpath.write_bytes(_zip_bytes([("a.dcm", b"x" * 1000)])[:60])
    with pytest.raises(DicomLoadError, match=r"'.*broken\.zip' is not a readable zip archive"):
        load_series(zpath)


def test_zip_bomb_caps(tmp_path):
    zpath = tmp_path / "bomb.zip"
    zpath.write_bytes(_zip_bytes([("zeros.dcm", b"\0" * 200_000), ("b.dcm", b"\0" * 10)]))
    assert MAX_ZIP_BYTES == 1024**3
    with pytest.raises(DicomLoadError, match=r"'.*bomb\.zip' would unpack to .*zip bombs"):
        load_series(zpath, max_zip_bytes=100_000)
    with pytest.raises(DicomLoadError, match=r"'.*bomb\.zip' holds 2 files.*zip bombs"):
        load_series(zpath, max_zip_files=1)
    with pytest.raises(DicomLoadError, match="zip bombs"):
        discover_series([("up.zip", zpath.read_bytes())], max_zip_bytes=100_000)


# --- bad input ----------------------------------------------------------------------
def test_single_non_dicom_file(tmp_path):
    path = tmp_path / "scan.dcm"
    path.write_text("this is not DICOM at all, just text " * 20)
    with pytest.raises(DicomLoadError, match=r"No DICOM images found.*scan\.dcm': not a DICOM"):
        load_series(path)


def test_truncated_file_alone_is_an_error(tmp_path):
    data = to_bytes(make_ct_slice(np.zeros((64, 64))))
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) - 4000])
    with pytest.raises(DicomLoadError, match=r"'.*cut\.dcm': the image data are cut short: "
                                             r"8,192 bytes expected, 4,192 found"):
        load_series(path)


def test_truncated_slice_among_others_is_left_out(tmp_path):
    paths = write_series(make_series(5, pixels=lambda i: np.full((16, 16), i)), tmp_path)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[:-100])
    series = load_series(tmp_path)
    assert series.n_slices == 4
    assert series.hu[:, 0, 0].tolist() == pytest.approx([-1024, -1023, -1021, -1020])
    assert any("could not be read" in w and paths[2].name in w and "cut short" in w
               for w in series.warnings)
    assert any(w.startswith("Missing slices") for w in series.warnings)
    assert [n for n, r in series.skipped if "cut short" in r][0].endswith(paths[2].name)


def test_truncated_compressed_slice(tmp_path):
    ds = jpeg_lossless_dataset(make_ct_slice(np.arange(256).reshape(16, 16)))
    data = to_bytes(ds)
    with pytest.raises(DicomLoadError, match="compressed image data are cut short"):
        load_series([("j.dcm", data[:-30])])


def test_empty_folder_empty_list_and_missing_path(tmp_path):
    with pytest.raises(DicomLoadError, match="is empty"):
        load_series(tmp_path)
    with pytest.raises(DicomLoadError, match="list of files is empty"):
        load_series([])
    with pytest.raises(DicomLoadError, match=r"'.*nowhere' does not exist"):
        load_series(tmp_path / "nowhere")
    with pytest.raises(DicomLoadError, match="does not exist"):
        discover_series(str(tmp_path / "nowhere"))


def test_single_slice_loads_with_warning(tmp_path):
    series = _one(make_ct_slice(ramp(0), GantryDetectorTilt=12.0), tmp_path)
    assert series.shape == (1, 4, 4)
    assert series.slice_spacing is None and series.slice_gaps.shape == (0,)
    assert series.tilt_degrees == pytest.approx(12.0)  # from the tag when there is one slice
    assert any("single slice" in w for w in series.warnings)


def test_user_files_are_not_modified(tmp_path):
    dss = make_series(3, pixels=ramp)
    dss[0].PixelPaddingValue = -2000
    paths = write_series(dss, tmp_path / "dir")
    paths[1].write_bytes(paths[1].read_bytes()[:-10])  # a truncated one too
    zpath = tmp_path / "case.zip"
    zpath.write_bytes(_zip_bytes([(p.name, p.read_bytes()) for p in paths]))
    before = sha(paths + [zpath])
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    load_series(tmp_path / "dir")
    load_series(zpath)
    discover_series(paths)
    assert sha(paths + [zpath]) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing


def test_series_uid_of_a_listed_path_source(tmp_path):
    paths = write_series(make_series(2, series_uid=generate_uid()), tmp_path)
    infos = discover_series([str(p) for p in paths])
    assert len(infos) == 1 and infos[0].n_files == 2
    assert load_series(paths, series_uid=infos[0].uid).n_slices == 2


def test_read_slice_hu_matches_load_series_and_names_bad_files(tmp_path):
    from cranioscan.dicom import read_slice_hu

    ds = make_ct_slice([[0, 1064], [40, 3000]], signed=False, bits_stored=12, intercept=-1024.0)
    series = _one(ds, tmp_path / "one")
    path = next((tmp_path / "one").iterdir())
    np.testing.assert_array_equal(read_slice_hu(str(path)), series.hu[0])
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello")
    with pytest.raises(DicomLoadError, match="junk.dcm"):
        read_slice_hu(str(junk))
