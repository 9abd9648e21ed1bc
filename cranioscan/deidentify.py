"""De-identified DICOM export: the PS3.15 Basic Profile, applied by a maintained library.

The attributes DICOM PS3.15 Annex E, Table E.1-1 (the Basic Application
Level Confidentiality Profile) lists are removed, emptied or replaced with
``dicom-anonymizer`` (KitwareMedical), which carries that table per edition
of the standard -- not with a hand-made list. UIDs are replaced consistently
(the slices of a series keep one new SeriesInstanceUID), private tags are
removed, and the files are marked ``PatientIdentityRemoved = YES`` with the
profile's code in ``DeidentificationMethodCodeSequence``. Pixel data are
kept as they are: burned-in text is not searched for (CT slices rarely
carry any; check ``BurnedInAnnotation`` before sharing other images).

The zip's members are numbered (``IM0001.dcm`` ...); file names of the
source never enter it.
"""

__all__ = ["deidentify_dataset", "deidentified_zip", "PROFILE", "BASIC_PROFILE_CODE"]

import io
import os
import zipfile

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .dicom.read import read_dataset
from .dicom.write import to_bytes

#: The profile applied, as written into DeidentificationMethod.
PROFILE = "PS3.15 Basic Profile (dicom-anonymizer)"
#: DCM code of the Basic Application Confidentiality Profile (PS3.16 CID 7050).
BASIC_PROFILE_CODE = "113100"


def deidentify_dataset(ds):
    """Apply the Basic Profile to one dataset in place and mark it de-identified."""
    from dicomanonymizer import anonymize_dataset  # third-party, 0.4 s: only when exporting

    anonymize_dataset(ds, delete_private_tags=True)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = PROFILE
    code = Dataset()
    code.CodeValue = BASIC_PROFILE_CODE
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    return ds


def _sources(source):
    """``(read_target)`` per file of a source: paths of a folder, or file-like objects."""
    if isinstance(source, (str, os.PathLike)):
        root = os.fspath(source)
        if os.path.isdir(root):
            for folder, _, names in sorted(os.walk(root)):
                for name in sorted(names):
                    yield os.path.join(folder, name)
            return
        source = [root]
    for item in source:
        if isinstance(item, tuple):  # (name, bytes)
            yield io.BytesIO(item[1])
        elif isinstance(item, (str, os.PathLike, bytes)):
            yield io.BytesIO(item) if isinstance(item, bytes) else os.fspath(item)
        else:  # a file-like object (st.file_uploader's UploadedFile)
            if hasattr(item, "seek"):
                item.seek(0)
            yield io.BytesIO(item.read())


def _datasets(target):
    """DICOM datasets in one file, or in each member of a zip (read in memory)."""
    data = None
    if not isinstance(target, str):
        data = target.getvalue()
    elif os.path.isfile(target):
        with open(target, "rb") as handle:
            data = handle.read()
    if data is None:
        return
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield from _datasets(io.BytesIO(archive.read(info)))
        return
    try:
        yield read_dataset(data)
    except Exception:  # noqa: BLE001 - not DICOM: skipped, as the loader skips it
        return


def deidentified_zip(source, series_uid=None):
    """The slices of one series, de-identified, as zip bytes.

    Args:
        source: what ``load_series`` read: a folder, a .zip path, or a list of
            paths, ``(name, bytes)`` pairs or uploaded file objects.
        series_uid: the SeriesInstanceUID to export (None: every image).

    Returns:
        ``(zip bytes, count)``; members ``IM0001.dcm`` ... in the source's order.
    """
    out = io.BytesIO()
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for target in _sources(source):
            for ds in _datasets(target):
                if "PixelData" not in ds:
                    continue
                if series_uid and str(ds.get("SeriesInstanceUID", "")) != str(series_uid):
                    continue
                deidentify_dataset(ds)
                count += 1
                archive.writestr(f"IM{count:04d}.dcm", to_bytes(ds))
    return out.getvalue(), count
