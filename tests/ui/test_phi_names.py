"""Download names and the report's case line come from the series, never from upload
file names or patient identifiers (issue 27 item 3, issue 30 item 5); a de-identified
DICOM export by the PS3.15 Basic Profile."""

import io
import zipfile

import numpy as np
import pydicom
import pytest

from cranioscan.dicom import Series, load_series
from cranioscan.phantom import make_study, write_series
from cranioscan.visualize import names
from cranioscan.ui.state import ActiveCase

PHI = ("doe", "jane", "mrn4242", "19700101")


def upload_case(description="HEAD 5mm STND", n=36, label=None):
    series = Series(hu=np.zeros((n, 8, 8), np.float32), positions=np.arange(n) * 5.0,
                    spacing=(0.5, 0.5),
                    meta={"patient_name": "DOE^JANE", "patient_id": "MRN4242",
                          "patient_birth_date": "19700101", "series_description": description,
                          "series_date": "20240115", "modality": "CT"},
                    series_uid="1.2.840.113619.2.55.3.604688119.971.1234567890.987",
                    study_uid="1.2.840.113619.2.55.3.604688119.971.1234567890.1")
    label = label or "Upload: ID_032d5f85e.dcm, ID_0d43ff285.dcm and 34 more"
    return ActiveCase(key="k", label=label, source="upload", series=series)


@pytest.mark.parametrize("show", [False, True])
def test_download_names_come_from_the_series_and_stay_short(show):
    case = upload_case(label="Upload: DOE_JANE_MRN4242_headCT.zip")
    stem = names.download_stem(case, show_identifiers=show)
    assert stem.startswith("cranioscan_HEAD_5mm_STND_")
    assert len(stem) <= names.MAX_STEM
    assert "Upload" not in stem and "zip" not in stem and "ID_0" not in stem
    assert not any(token in stem.lower() for token in PHI)
    assert names.download_stem(case, 11, show).endswith("_slice12")
    if show:  # the date and the UID's last digits, only when identifiers are shown
        assert "_20240115_" in stem and stem.endswith("34567890987"[-8:])
    else:
        assert "2024" not in stem and "4567890987"[-8:] not in stem


def test_a_description_holding_the_patients_name_is_left_out():
    case = upload_case(description="DOE JANE head")
    stem = names.download_stem(case)
    assert not any(token in stem.lower() for token in PHI)
    assert stem.startswith("cranioscan_CT_")
    assert "DOE" not in names.case_title(case)


def test_the_case_line_hides_upload_names_while_identifiers_are_hidden():
    case = upload_case(label="Upload: DOE_JANE_MRN4242_headCT.zip")
    title = names.case_title(case)
    assert title == "Uploaded series: HEAD 5mm STND, 36 slices"
    assert names.case_title(case, show_identifiers=True) == case.label
    demo = ActiveCase(key="d", label="Subdural phantom", source="demo", series=case.series)
    assert names.case_title(demo) == "Subdural phantom"
    assert names.download_stem(demo) == "cranioscan_Subdural_phantom"


def test_deidentified_export_strips_the_basic_profile(tmp_path):
    from cranioscan.deidentify import BASIC_PROFILE_CODE, deidentified_zip

    study = make_study(5, matrix=64)
    write_series(study, tmp_path)
    files = sorted(tmp_path.glob("*.dcm"))
    for path in files:  # identifiers as a real scanner writes them
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "DOE^JANE", "MRN4242", "19700101"
        ds.InstitutionName, ds.ReferringPhysicianName = "St Elsewhere", "HOUSE^GREGORY"
        ds.AccessionNumber, ds.StudyDate = "ACC99", "20240115"
        ds.add_new(0x00091001, "LO", "private note DOE")
        ds.save_as(path)
    original = load_series(str(tmp_path))
    uploads = [(f"DOE_JANE_{i}.dcm", p.read_bytes()) for i, p in enumerate(files)]
    data, count = deidentified_zip(uploads, original.series_uid)
    assert count == len(files)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist()[0] == "IM0001.dcm"
    assert not any("DOE" in n for n in archive.namelist())
    out = [pydicom.dcmread(io.BytesIO(archive.read(n))) for n in archive.namelist()]
    for ds in out:
        text = str(ds).lower() + repr(ds.file_meta).lower()
        for token in PHI + ("elsewhere", "house", "acc99", "20240115"):
            assert token not in text, token
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == BASIC_PROFILE_CODE
        assert ds.SeriesInstanceUID != original.series_uid
        assert not any(el.tag.is_private for el in ds)
    assert len({ds.SeriesInstanceUID for ds in out}) == 1  # one series still
    # The images read back as the same series.
    tmp_out = tmp_path / "out"
    archive.extractall(tmp_out)
    again = load_series(str(tmp_out))
    np.testing.assert_array_equal(again.hu, original.hu)
