"""What the viewer says around the image (issue 27, item 3, the parts that are not layout):
one "not for clinical use" warning, a Flag column with a header, no "click to go to a
slice" on a single slice, and download names from the series, not the upload's files."""

import json
import os

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from cranioscan.testing.factory import head_like_slice, make_series, to_bytes

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


def dicom_files(n, prefix):
    datasets = make_series(n, dz=5.0, thickness=5.0, spacing=(3.5, 3.5), intercept=-1024.0,
                           pixels=lambda i: head_like_slice(64, 64, z_frac=(i + 0.5) / n, seed=i))
    for ds in datasets:
        ds.PatientName, ds.PatientID, ds.SeriesDescription = "DOE^JANE", "MRN4242", "HEAD 5mm"
    return [(f"{prefix}_{i:03d}.dcm", to_bytes(ds), "application/dicom")
            for i, ds in enumerate(datasets)]


#: file name -> the callable that makes the file (the last test's downloads).
MAKERS = {}


@pytest.fixture
def file_names(monkeypatch):
    """File names of the download buttons' data as Streamlit registers it."""
    seen, original = [], MediaFileManager.add_deferred
    makers = MAKERS
    makers.clear()

    def recording_add_deferred(self, data_callable, mimetype, coordinates, file_name=None,
                               **kwargs):
        seen.append(file_name)
        makers[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording_add_deferred)
    return seen


def upload(files, seen=None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.radio(key="source").set_value("Upload DICOM").run()
    if seen is not None:
        seen.clear()  # the demo case's downloads
    at.file_uploader(key="uploads").set_value(files).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def column_labels(frame):
    config = json.loads(frame.proto.columns) if frame.proto.columns else {}
    return {name: spec.get("label") for name, spec in config.items()}


def test_single_slice_upload_reads_right(app_env, file_names):
    at = upload(dicom_files(1, "DOE_JANE_MRN4242_headCT"), file_names)
    captions = [str(c.value) for c in at.caption]
    assert not at.get("plotly_chart")
    assert not any("click to go to a slice" in c for c in captions)
    assert any(c.startswith("One slice") for c in captions)
    # One "not for clinical use" warning on the page, sidebar included.
    assert sum("not for clinical use" in str(w.value) for w in at.warning) == 1
    # The flag column has a header.
    table = next(d for d in at.dataframe if "Probability" in d.value.columns)
    assert column_labels(table).get("Flag") == "Flag"
    # Download names come from the series, never from the upload's file names.
    buttons = at.get("download_button")
    assert buttons
    names = [n for n in file_names if n]
    assert names, "no download file name seen"
    assert all(n.startswith("cranioscan_HEAD_5mm_") for n in names), names
    for name in names:
        assert "DOE" not in name and "MRN4242" not in name and "Upload" not in name, name
        assert len(name) <= 80, name
    # The series' DICOM, de-identified (PS3.15 Basic Profile), under the series' name.
    deid = [n for n in names if n.endswith("_deidentified.zip")]
    assert deid, names
    data = MAKERS[deid[0]]()
    import io
    import zipfile

    import pydicom

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["IM0001.dcm"]
    ds = pydicom.dcmread(io.BytesIO(archive.read("IM0001.dcm")))
    assert "DOE" not in str(ds) and "MRN4242" not in str(ds) and ds.PatientIdentityRemoved == "YES"

