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
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from .ctich import CREDIT

#: Nominal geometry written for CT-ICH slices (not in the dataset's JPGs).
NOMINAL_PIXEL_MM = 0.35
NOMINAL_SLICE_MM = 5.0

_INTERCEPT = -1024


def _uid(patient, *parts):
    return generate_uid(entropy_srcs=["cranioscan-ctich", str(int(patient))] + [str(p) for p in parts])


def _header(patient, rows, cols):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.Manufacturer = "PhysioNet CT-ICH (JPG export)"
    ds.StudyDescription = f"CT-ICH PATIENT {int(patient):03d} - HU REBUILT FROM JPG"
    ds.SeriesDescription = "HEAD, HU rebuilt from brain/bone JPG windows"
    ds.PatientName = f"CTICH^{int(patient):03d}"
    ds.PatientID = f"CTICH{int(patient):03d}"
    ds.PatientComments = CREDIT
    ds.DerivationDescription = ("Approximate HU rebuilt from 8-bit JPG brain (40/120) and bone "
                                "(700/3200) windows; nominal pixel spacing and slice positions")
    ds.LossyImageCompression = "01"
    ds.BodyPartExamined = "HEAD"
    ds.StudyInstanceUID = _uid(patient, "study")
    ds.SeriesInstanceUID = _uid(patient, "series")
    ds.FrameOfReferenceUID = _uid(patient, "frame")
    ds.StudyID, ds.SeriesNumber = "1", 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceThickness = str(NOMINAL_SLICE_MM)
    ds.PixelSpacing = [str(NOMINAL_PIXEL_MM), str(NOMINAL_PIXEL_MM)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = str(_INTERCEPT), "1", "HU"
    ds.WindowCenter, ds.WindowWidth = "40", "80"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def write_ctich_series(hu, out_dir, patient):
    """Write ``(n, rows, cols)`` HU slices (inferior first) as ``out_dir/slice_NNN.dcm``.

    Args:
        hu: float HU volume, slice 0 the lowest (CT-ICH slice 01).
        out_dir: folder to create and fill.
        patient: CT-ICH patient number (names and UIDs derive from it).

    Returns:
        list of the SOPInstanceUIDs written, in slice order.
    """
    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim != 3:
        raise ValueError(f"expected (n, rows, cols) HU, got shape {hu.shape}")
    os.makedirs(out_dir, exist_ok=True)
    ds = _header(patient, hu.shape[1], hu.shape[2])
    origin = -NOMINAL_PIXEL_MM * (hu.shape[2] - 1) / 2.0
    sop_uids = []
    for k, image in enumerate(hu):
        sop = _uid(patient, "slice", k)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = k + 1
        z = k * NOMINAL_SLICE_MM
        ds.ImagePositionPatient = [f"{origin:.2f}", f"{origin:.2f}", f"{z:.1f}"]
        ds.SliceLocation = f"{z:.1f}"
        stored = np.clip(np.rint(image) - _INTERCEPT, -32768, 32767).astype(np.int16)
        ds.PixelData = stored.tobytes()
        ds.save_as(os.path.join(out_dir, f"slice_{k + 1:03d}.dcm"), enforce_file_format=True)
        sop_uids.append(sop)
    return sop_uids
