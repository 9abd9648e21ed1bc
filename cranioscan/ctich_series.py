"""Writing CT-ICH slices (HU rebuilt from JPG windows) as a DICOM CT series.

The dashboard's real demo cases go through the same loader as any study, so
their HU volume is written as one CT Image Storage file per slice. The
header says what the data are: a real patient of PhysioNet CT-ICH, HU
rebuilt from 8-bit JPG windows (``DERIVED``, lossy), nominal pixel spacing
and slice positions (the JPGs carry neither). UIDs derive from the patient
number, so the same case gives the same bytes.
"""

__all__ = ["NOMINAL_PIXEL_MM", "NOMINAL_SLICE_MM", "write_ctich_series"]

import os

import numpy as np
from pydicom.uid import generate_uid

from .ctich import CREDIT
from .dicom.write import ct_dataset, hu_series, write

#: Nominal geometry written for CT-ICH slices (not in the dataset's JPGs).
NOMINAL_PIXEL_MM = 0.35
NOMINAL_SLICE_MM = 5.0

_INTERCEPT = -1024


def _uid(patient, *parts):
    return generate_uid(entropy_srcs=["cranioscan-ctich", str(int(patient))] + [str(p) for p in parts])


def _header(patient, rows, cols):
    return ct_dataset(
        rows=rows, cols=cols,
        study_uid=_uid(patient, "study"), series_uid=_uid(patient, "series"),
        spacing=[str(NOMINAL_PIXEL_MM), str(NOMINAL_PIXEL_MM)],
        orientation=["1", "0", "0", "0", "1", "0"], thickness=str(NOMINAL_SLICE_MM),
        signed=True, slope="1", intercept=str(_INTERCEPT), window=("40", "80"),
        SpecificCharacterSet="ISO_IR 100",
        ImageType=["DERIVED", "SECONDARY", "AXIAL"],
        Manufacturer="PhysioNet CT-ICH (JPG export)",
        StudyDescription=f"CT-ICH PATIENT {int(patient):03d} - HU REBUILT FROM JPG",
        SeriesDescription="HEAD, HU rebuilt from brain/bone JPG windows",
        PatientName=f"CTICH^{int(patient):03d}",
        PatientID=f"CTICH{int(patient):03d}",
        PatientComments=CREDIT,
        DerivationDescription=("Approximate HU rebuilt from 8-bit JPG brain (40/120) and bone "
                               "(700/3200) windows; nominal pixel spacing and slice positions"),
        LossyImageCompression="01",
        BodyPartExamined="HEAD",
        FrameOfReferenceUID=_uid(patient, "frame"),
        StudyID="1", SeriesNumber=1,
        RescaleType="HU",
    )


def write_ctich_series(hu, out_dir, patient):
    """Write ``(n, rows, cols)`` HU slices (inferior first) as ``out_dir/slice_NNN.dcm``.

    Args:
        hu: float HU volume, slice 0 the lowest (CT-ICH slice 01); stored as
            int16 with intercept -1024 (values beyond that range clipped).
        out_dir: folder to create and fill.
        patient: CT-ICH patient number (names and UIDs derive from it).

    Returns:
        list of the SOPInstanceUIDs written, in slice order.
    """
    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim != 3:
        raise ValueError(f"expected (n, rows, cols) HU, got shape {hu.shape}")
    os.makedirs(out_dir, exist_ok=True)
    n = hu.shape[0]
    origin = f"{-NOMINAL_PIXEL_MM * (hu.shape[2] - 1) / 2.0:.2f}"
    z = [f"{k * NOMINAL_SLICE_MM:.1f}" for k in range(n)]
    sop_uids = [_uid(patient, "slice", k) for k in range(n)]
    for k, ds in hu_series(_header(patient, hu.shape[1], hu.shape[2]), hu, sop_uids=sop_uids,
                           positions=[[origin, origin, zk] for zk in z],
                           instances=[k + 1 for k in range(n)], slice_locations=z):
        write(ds, os.path.join(out_dir, f"slice_{k + 1:03d}.dcm"))
    return sop_uids
