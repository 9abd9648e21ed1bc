"""Tests of the synthetic head CT phantoms (cranioscan.phantom).

Small matrices and few slices keep them fast; none needs ../shared.
"""

import csv
import os

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from cranioscan.labels import CLASSES, SUBTYPES
from cranioscan.phantom import (
    ANATOMY_LABELS,
    CSF_SPACES,
    MIN_POSITIVE_AREA_MM2,
    PARENCHYMA,
    make_dataset,
    make_study,
    slice_labels,
    study_seed_for,
    write_series,
)
from cranioscan.phantom.__main__ import main as cli_main
from cranioscan.phantom.dicom_writer import STORAGE_SCHEMES, SYNTHETIC_DESCRIPTION

L = ANATOMY_LABELS


@pytest.fixture(scope="module")
def per_subtype():
    """One study per subtype (forced), 128 x 128, 10 slices."""
    return {s: make_study(100 + j, matrix=128, n_slices=10, subtypes=(s,), size=(0.3, 0.8))
            for j, s in enumerate(SUBTYPES)}


@pytest.fixture(scope="module")
def normal_study():
    return make_study(7, matrix=256, n_slices=12, normal=True)


# --- reproducibility ---------------------------------------------------------


def test_same_seed_same_study_and_different_seed_differs():
    a = make_study(42, matrix=64, n_slices=6)
    b = make_study(42, matrix=64, n_slices=6)
    c = make_study(43, matrix=64, n_slices=6)
    assert np.array_equal(a.hu, b.hu)
    assert np.array_equal(a.labels, b.labels)
    assert all(np.array_equal(a.masks[s], b.masks[s]) for s in SUBTYPES)
    assert a.dicom == b.dicom and a.lesions == b.lesions
    assert not np.array_equal(a.hu, c.hu)
    assert a.dicom["series_uid"] != c.dicom["series_uid"]
    # A Generator seeds too, reproducibly.
    g1 = make_study(np.random.default_rng(5), matrix=64, n_slices=4)
    g2 = make_study(np.random.default_rng(5), matrix=64, n_slices=4)
    assert np.array_equal(g1.hu, g2.hu)


def test_same_seed_same_bytes(tmp_path):
    for rle in (False, True):
        files = []
        for run in ("a", "b"):
            study = make_study(11, matrix=64, n_slices=4, subtypes=("subdural",))
            paths = write_series(study, tmp_path / f"{run}{rle}", rle=rle)
            files.append([open(p, "rb").read() for p in paths])
        assert files[0] == files[1]
    a = make_dataset(tmp_path / "d1", 2, seed=3, matrix=64, n_slices=4, progress=False)
    b = make_dataset(tmp_path / "d2", 2, seed=3, matrix=64, n_slices=4, progress=False)
    assert a["images"] == b["images"] == 8
    names = sorted(os.listdir(tmp_path / "d1"))
    assert names == sorted(os.listdir(tmp_path / "d2"))
    for sub in ("", "masks"):
        for name in sorted(os.listdir(tmp_path / "d1" / sub)):
            p1, p2 = tmp_path / "d1" / sub / name, tmp_path / "d2" / sub / name
            if p1.is_file():
                assert p1.read_bytes() == p2.read_bytes(), name


def test_smaller_matrix_shows_the_same_anatomy():
    big = make_study(21, matrix=256, n_slices=8, subtypes=("intraparenchymal",))
    small = make_study(21, matrix=128, n_slices=8, subtypes=("intraparenchymal",))
    assert np.allclose(big.positions, small.positions)
    assert small.spacing[0] == pytest.approx(2 * big.spacing[0], rel=1e-5)
    assert big.lesions[0]["center"] == small.lesions[0]["center"]
    # Labels of the 2x2 blocks of the big study agree with the small one.
    blocks = big.anatomy[:, ::2, ::2]
    assert np.mean(blocks == small.anatomy) > 0.85
    big_area = big.masks["intraparenchymal"].sum() * big.spacing[0] ** 2
    small_area = small.masks["intraparenchymal"].sum() * small.spacing[0] ** 2
    assert small_area == pytest.approx(big_area, rel=0.2)


# --- anatomy and densities ---------------------------------------------------


def test_tissue_densities(normal_study):
    st = normal_study
    assert st.hu.dtype == np.float32 and st.hu.shape == (12, 256, 256)
    assert np.array_equal(st.hu, np.rint(st.hu))
    assert st.hu.min() >= -1024 and st.hu.max() <= 3071
    med = {name: float(np.median(st.hu[st.anatomy == code]))
           for name, code in L.items() if (st.anatomy == code).sum() > 200}
    assert med["air"] < -950
    assert med["bone"] > 900
    assert 22 <= med["white"] <= 33
    assert 33 <= med["gray"] <= 48
    assert med["gray"] > med["white"] + 5
    assert -5 <= med["ventricle"] <= 18
    assert 25 <= med["deep_gray"] <= 40
    # Noise of a few HU in white matter away from edges.
    white = ndimage.binary_erosion(st.anatomy == L["white"], iterations=3)
    assert 1.0 < float(st.hu[white].std()) < 9.0
    # Skull base at the bottom (posterior fossa), vertex at the top.
    assert (st.anatomy[0] == L["cerebellum"]).sum() > 0 or (st.anatomy[1] == L["cerebellum"]).sum() > 0
    assert (st.anatomy[-1] == L["ventricle"]).sum() == 0


def test_geometry_in_range():
    st = make_study(3, matrix=512)
    assert 24 <= st.n_slices <= 40
    assert 2.5 <= st.slice_thickness <= 5.0
    assert 0.40 <= st.spacing[0] <= 0.50
    assert np.allclose(np.diff(st.positions), st.slice_thickness, atol=2e-3)
    assert st.hu.shape[1:] == (512, 512)
    with pytest.raises(ValueError, match="unknown hemorrhage subtypes"):
        make_study(1, subtypes=("chronic",))
    with pytest.raises(ValueError, match="contradicts"):
        make_study(1, subtypes=("epidural",), normal=True)
    with pytest.raises(ValueError, match="size range"):
        make_study(1, subtypes=("epidural",), size=(0.5, 2.0))


# --- hemorrhages: where they are, how they look, labels ----------------------


def _dilated_touches(mask, target, iterations=2):
    return bool((ndimage.binary_dilation(mask, iterations=iterations) & target).any())


@pytest.mark.parametrize("subtype", ["epidural", "subdural"])
def test_extra_axial_blood_touches_the_inner_table(per_subtype, subtype):
    st = per_subtype[subtype]
    j = CLASSES.index(subtype)
    positive = np.flatnonzero(st.labels[:, j])
    assert positive.size
    touching = [_dilated_touches(st.masks[subtype][k], st.anatomy[k] == L["bone"]) for k in positive]
    assert np.mean(touching) >= 0.9
    # Against the skull, not inside the brain: never on ventricles.
    assert not (st.masks[subtype] & (st.anatomy == L["ventricle"])).any()


def test_intraventricular_blood_is_inside_the_ventricles(per_subtype):
    st = per_subtype["intraventricular"]
    mask = st.masks["intraventricular"]
    assert mask.any()
    assert (st.anatomy[mask] == L["ventricle"]).all()


def test_intraparenchymal_blood_is_inside_brain_tissue(per_subtype):
    st = per_subtype["intraparenchymal"]
    mask = st.masks["intraparenchymal"]
    assert mask.any()
    assert np.isin(st.anatomy[mask], PARENCHYMA).all()
    # A darker edema rim surrounds it.
    k = int(np.argmax(mask.sum(axis=(1, 2))))
    ring = ndimage.binary_dilation(mask[k], iterations=2) & ~mask[k] & np.isin(st.anatomy[k], PARENCHYMA)
    assert st.hu[k][ring].mean() < st.hu[k][mask[k]].mean() - 25


def test_subarachnoid_blood_is_in_sulci_and_cisterns(per_subtype):
    st = per_subtype["subarachnoid"]
    mask = st.masks["subarachnoid"]
    assert mask.any()
    assert np.isin(st.anatomy[mask], CSF_SPACES).all()


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_blood_is_dense_and_visible(per_subtype, subtype):
    st = per_subtype[subtype]
    mask = st.masks[subtype]
    k = int(np.argmax(mask.sum(axis=(1, 2))))
    core = ndimage.binary_erosion(mask[k]) if ndimage.binary_erosion(mask[k]).sum() > 8 else mask[k]
    blood = float(np.median(st.hu[k][core]))
    brain = float(np.median(st.hu[k][np.isin(st.anatomy[k], PARENCHYMA) & ~mask[k]]))
    assert 45 <= blood <= 95
    assert blood > brain + 12  # visible in the brain (40/80) window


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_forced_subtype_only(per_subtype, subtype):
    st = per_subtype[subtype]
    pos = st.labels.sum(axis=0)
    for j, c in enumerate(CLASSES):
        if c in ("any", subtype):
            assert pos[j] > 0, c
        else:
            assert pos[j] == 0, c
            assert not st.masks[c].any(), c


def test_labels_follow_the_masks_and_the_area_rule(per_subtype, normal_study):
    for st in list(per_subtype.values()) + [normal_study]:
        pix = st.spacing[0] * st.spacing[1]
        for j, c in enumerate(CLASSES[1:], start=1):
            area = st.masks[c].sum(axis=(1, 2)) * pix
            assert np.array_equal(st.labels[:, j], (area >= MIN_POSITIVE_AREA_MM2).astype(np.uint8))
        assert np.array_equal(st.labels[:, 0], st.labels[:, 1:].max(axis=1))
        assert np.array_equal(st.labels, slice_labels(st.masks, st.spacing))
        assert st.labels.dtype == np.uint8 and st.labels.shape == (st.n_slices, 6)
    assert normal_study.labels.sum() == 0 and normal_study.lesions == []
    # The rule itself, on a hand-made mask: 20 mm^2 is positive, less is not.
    masks = {c: np.zeros((2, 10, 10), bool) for c in SUBTYPES}
    masks["subdural"][0, :5, :4] = True  # 20 px of 1 mm^2
    masks["subdural"][1, :5, :3] = True  # 15 px
    assert slice_labels(masks, (1.0, 1.0))[:, CLASSES.index("subdural")].tolist() == [1, 0]


def test_about_half_the_studies_are_normal():
    from cranioscan.phantom.study import _pick_subtypes

    rng = np.random.default_rng(0)
    normal = np.mean([_pick_subtypes(rng, 0.5) == () for _ in range(3000)])
    assert 0.46 < normal < 0.54


def test_combined_lesions_and_size_range():
    st = make_study(5, matrix=64, n_slices=10, subtypes=("subdural", "intraparenchymal"), size=(0.9, 1.0))
    assert {les["subtype"] for les in st.lesions} == {"subdural", "intraparenchymal"}
    small = make_study(5, matrix=64, n_slices=10, subtypes=("subdural",), size=(0.0, 0.1))
    big = make_study(5, matrix=64, n_slices=10, subtypes=("subdural",), size=(0.9, 1.0))
    assert big.masks["subdural"].sum() > 2 * small.masks["subdural"].sum()


# --- DICOM -------------------------------------------------------------------


@pytest.mark.parametrize("storage,rle", [("signed", False), ("unsigned", True), ("signed0", False)])
def test_written_series_reads_back_with_load_series(tmp_path, storage, rle):
    from cranioscan.dicom import load_series

    st = make_study(9, matrix=64, n_slices=6, subtypes=("subdural",))
    st.dicom["storage"] = storage
    st.dicom["instance_order"] = "superior_first"  # order must come from positions
    paths = write_series(st, tmp_path, rle=rle)
    series = load_series(str(tmp_path))
    np.testing.assert_allclose(series.hu, st.hu, atol=0.5)
    np.testing.assert_allclose(series.positions, st.positions, atol=1e-3)
    assert series.spacing == pytest.approx(st.spacing)
    assert list(series.sop_uids) == list(st.dicom["sop_uids"])  # mask slice order
    assert not [w for w in series.warnings if "missing" in w.lower() or "duplicate" in w.lower()]
    rep, bits, intercept = STORAGE_SCHEMES[storage]
    uids = set()
    for k, path in enumerate(paths):
        with open(path, "rb") as fh:
            assert fh.read(132)[128:] == b"DICM"  # preamble + prefix
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == pydicom.uid.CTImageStorage
        assert ds.Modality == "CT" and ds.PhotometricInterpretation == "MONOCHROME2"
        assert str(ds.PatientName) == "PHANTOM^SYNTHETIC"
        assert SYNTHETIC_DESCRIPTION in ds.StudyDescription
        assert ds.PixelRepresentation == rep and ds.BitsStored == bits
        assert float(ds.RescaleIntercept) == intercept and float(ds.RescaleSlope) == 1.0
        assert [float(x) for x in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.ImagePositionPatient[2]) == pytest.approx(st.positions[k], abs=1e-3)
        assert float(ds.SliceThickness) == pytest.approx(st.slice_thickness)
        assert ds.WindowCenter is not None and ds.WindowWidth is not None
        assert ds.file_meta.TransferSyntaxUID == (pydicom.uid.RLELossless if rle else
                                                  pydicom.uid.ExplicitVRLittleEndian)
        uids.add((ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID))
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(hu, st.hu[k])
    assert len(uids) == 1


def test_simpleitk_reads_a_written_series(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    st = make_study(12, matrix=64, n_slices=5)
    write_series(st, tmp_path)
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(tmp_path))
    assert len(names) == 5
    reader.SetFileNames(names)
    image = reader.Execute()
    arr = sitk.GetArrayFromImage(image).astype(np.float32)  # (z, y, x), sorted by position
    assert arr.shape == st.hu.shape
    np.testing.assert_allclose(arr, st.hu, atol=0.5)
    assert image.GetSpacing()[0] == pytest.approx(st.spacing[1], rel=1e-5)
    assert image.GetSpacing()[2] == pytest.approx(st.slice_thickness, rel=1e-3)


# --- dataset layout ----------------------------------------------------------


def test_dataset_csv_parses_like_the_rsna_file_and_agrees_with_masks(tmp_path):
    pd = pytest.importorskip("pandas")
    from cranioscan.dicom import load_series

    summary = make_dataset(tmp_path, 2, seed=17, matrix=64, n_slices=6, p_normal=0.0, progress=False)
    csv_path = tmp_path / "stage_2_train.csv"
    assert summary["csv"] == str(csv_path)
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ID", "Label"]
    df = pd.read_csv(csv_path)
    assert list(df.columns) == ["ID", "Label"] and len(df) == 6 * summary["images"]
    assert set(df["Label"].unique()) <= {0, 1}
    split = df["ID"].str.rsplit("_", n=1, expand=True)
    df["image"], df["class"] = split[0], split[1]
    assert set(df["class"]) == set(CLASSES)
    assert (df.groupby("image").size() == 6).all()
    table = df.pivot(index="image", columns="class", values="Label")
    assert (table["any"] == table[list(SUBTYPES)].max(axis=1)).all()
    for image in table.index:
        assert image.startswith("ID_")
        ds = pydicom.dcmread(tmp_path / f"{image}.dcm", stop_before_pixels=True)
        assert ds.SOPInstanceUID == image[3:]
    # Each series: masks (in load_series order) give the CSV labels.
    series_uids = sorted(p[:-4] for p in os.listdir(tmp_path / "masks"))
    assert len(series_uids) == 2
    for uid in series_uids:
        series = load_series(str(tmp_path), series_uid=uid)
        with np.load(tmp_path / "masks" / f"{uid}.npz") as npz:
            assert sorted(npz.files) == sorted(SUBTYPES)
            masks = {c: npz[c] for c in SUBTYPES}
        for c in SUBTYPES:
            assert masks[c].dtype == bool and masks[c].shape == series.hu.shape
        expected = slice_labels(masks, series.spacing)
        got = table.loc[[f"ID_{sop}" for sop in series.sop_uids], list(CLASSES)].to_numpy()
        assert np.array_equal(got, expected)
    assert summary["positives"]["any"] == int(table["any"].sum())


def test_dataset_study_matches_make_study(tmp_path):
    make_dataset(tmp_path, 1, seed=4, matrix=64, n_slices=4, progress=False)
    st = make_study(study_seed_for(4, 0), matrix=64, n_slices=4)
    assert os.path.exists(tmp_path / "masks" / f"{st.dicom['series_uid']}.npz")
    assert os.path.exists(tmp_path / f"ID_{st.dicom['sop_uids'][0]}.dcm")


def test_command_line(tmp_path, capsys):
    rc = cli_main(["--out", str(tmp_path), "--studies", "1", "--seed", "2", "--matrix", "64",
                   "--slices", "4", "--subtypes", "epidural", "--no-progress"])
    assert rc == 0
    assert "1 studies, 4 images" in capsys.readouterr().out
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".dcm")]) == 4
    with pytest.raises(SystemExit):
        cli_main(["--out", str(tmp_path), "--subtypes", "bogus"])


def test_contact_sheet_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from cranioscan.phantom.contact_sheet import make_contact_sheet

    path = make_contact_sheet(str(tmp_path / "sheet.png"), seed=1, matrix=64, real_path=False, dpi=40)
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
