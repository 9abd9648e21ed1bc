"""Writing CT images as DICOM: slices + geometry + metadata -> Dataset, bytes, files.

The one CT writer of CranioScan. The phantom series
(:mod:`cranioscan.phantom.dicom_writer`), the CT-ICH demo series
(:mod:`cranioscan.ctich_series`) and the test factory
(:mod:`cranioscan.testing.factory`) build their datasets here and differ only
in the header values they pass:

- :func:`ct_dataset`: a single-frame CT Image Storage dataset with file meta,
  the image pixel module, rescale, geometry and any further tags;
- :func:`set_slice`: one slice's identity, position and pixels on such a
  dataset (updated in place, so a long series costs one header);
- :func:`hu_series`: a ``(n, rows, cols)`` HU volume, slice after slice;
- :func:`hu_to_stored`, :func:`decimal_string`: the value conversions;
- :func:`to_bytes`, :func:`write`, :func:`unchanged_bytes`: serialisation
  through pydicom's ``dcmwrite``.

Header values are written as given: a number stays a number (pydicom
formats it), a string is written verbatim, so callers choose the text of
decimal strings (:func:`decimal_string` gives short exact ones).
"""

__all__ = [
    "AXIAL",
    "ct_dataset",
    "decimal_string",
    "hu_series",
    "hu_to_stored",
    "set_slice",
    "stored_dtype",
    "to_bytes",
    "unchanged_bytes",
    "write",
]

import io
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, RLELossless

#: ImageOrientationPatient of an axial slice (row direction, column direction).
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def decimal_string(value):
    """A DICOM decimal string (DS) of at most 16 characters, exactly re-readable.

    Six decimals at most, trailing zeros dropped: ``decimal_string(0.45) == "0.45"``,
    ``decimal_string(-1024.0) == "-1024"``, ``decimal_string(-0.0) == "0"``.
    """
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def stored_dtype(signed, bits_allocated=16):
    """The numpy dtype of stored values: ``int16`` / ``uint16`` (or 8-bit) little-endian."""
    return np.dtype(f"{'i' if signed else 'u'}{int(bits_allocated) // 8}")


def hu_to_stored(hu, *, intercept, signed, bits_allocated=16):
    """Hounsfield units -> stored values for RescaleSlope 1 and ``intercept``.

    Args:
        hu: HU array of any shape (float).
        intercept: RescaleIntercept in HU (e.g. -1024).
        signed: PixelRepresentation 1 (True) or 0.
        bits_allocated: 16 or 8.

    Returns:
        ``rint(hu) - intercept`` clipped to the range of :func:`stored_dtype`,
        as that dtype (same shape as ``hu``).
    """
    dtype = stored_dtype(signed, bits_allocated)
    limits = np.iinfo(dtype)
    values = np.rint(np.asarray(hu)) - intercept
    return np.clip(values, limits.min, limits.max).astype(dtype)


def ct_dataset(
    *,
    rows,
    cols,
    study_uid,
    series_uid,
    spacing,
    orientation=AXIAL,
    thickness=None,
    signed=True,
    bits_allocated=16,
    bits_stored=None,
    slope=1,
    intercept=-1024,
    photometric="MONOCHROME2",
    window=None,
    modality="CT",
    sop_class=CTImageStorage,
    implementation_uid=PYDICOM_IMPLEMENTATION_UID,
    implementation_version=None,
    **attributes,
):
    """A CT image dataset without slice identity or pixels (see :func:`set_slice`).

    Args:
        rows, cols: image matrix (Rows, Columns).
        study_uid, series_uid: StudyInstanceUID, SeriesInstanceUID.
        spacing: PixelSpacing ``(row, col)`` in mm (numbers or decimal strings).
        orientation: ImageOrientationPatient, six direction cosines.
        thickness: SliceThickness in mm; ``None`` leaves the tag out.
        signed: PixelRepresentation 1 (True) or 0.
        bits_allocated: BitsAllocated (16 or 8).
        bits_stored: BitsStored (default ``bits_allocated``); HighBit is one less.
        slope, intercept: RescaleSlope / RescaleIntercept (HU = slope * stored
            + intercept); ``None`` leaves the tag out.
        photometric: PhotometricInterpretation.
        window: ``(WindowCenter, WindowWidth)`` (numbers, strings or lists for
            several windows), or ``None`` for no window tags.
        modality, sop_class: Modality and SOPClassUID (also the file meta's
            MediaStorageSOPClassUID).
        implementation_uid, implementation_version: the file meta's
            ImplementationClassUID and ImplementationVersionName (``None``:
            pydicom's own version name is written).
        **attributes: any further DICOM keywords and their values (patient,
            study and series description, UIDs, ...), set as given.

    Returns:
        a ``pydicom.Dataset`` with file meta (Explicit VR Little Endian).
    """
    bits_stored = bits_allocated if bits_stored is None else bits_stored
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = implementation_uid
    if implementation_version is not None:
        ds.file_meta.ImplementationVersionName = implementation_version
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = list(spacing)
    if thickness is not None:
        ds.SliceThickness = thickness
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(bool(signed))
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def set_slice(ds, stored, *, sop_uid, instance, position, slice_location=None, rle=False):
    """Give ``ds`` one slice's identity, position and pixels; return ``ds`` (updated in place).

    Args:
        ds: a dataset from :func:`ct_dataset`.
        stored: stored values ``(rows, cols)``; converted to the dataset's
            storage type (PixelRepresentation, BitsAllocated) with
            two's-complement wrapping, as a scanner stores them.
        sop_uid: SOPInstanceUID (also MediaStorageSOPInstanceUID).
        instance: InstanceNumber.
        position: ImagePositionPatient ``(x, y, z)`` in mm, the centre of the
            top-left pixel (numbers or decimal strings).
        slice_location: SliceLocation in mm, or ``None`` to leave it as it is.
        rle: compress the pixels with RLE Lossless (else Explicit VR Little
            Endian, uncompressed).
    """
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = list(position)
    if slice_location is not None:
        ds.SliceLocation = slice_location
    dtype = stored_dtype(ds.PixelRepresentation == 1, ds.BitsAllocated)
    values = np.asarray(stored)
    if values.dtype != dtype:
        values = values.astype(np.int64).astype(dtype)
    if rle:
        ds.compress(RLELossless, values, encoding_plugin=_rle_plugin(), generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = values.tobytes()
    return ds


def hu_series(ds, hu, *, sop_uids, positions, instances, slice_locations=None, rle=False):
    """Yield ``(k, ds)`` for each slice ``k`` of an HU volume, ``ds`` updated in place.

    The same Dataset object is yielded every time (no copies): write or copy
    it before advancing.

    Args:
        ds: a dataset from :func:`ct_dataset` with RescaleSlope 1; its
            RescaleIntercept and PixelRepresentation decide the stored values
            (:func:`hu_to_stored`).
        hu: float HU ``(n, rows, cols)``, slices in the order written.
        sop_uids, positions, instances: per slice, as for :func:`set_slice`.
        slice_locations: per slice SliceLocation, or ``None``.
        rle: compress with RLE Lossless.
    """
    intercept = float(ds.RescaleIntercept)
    signed = ds.PixelRepresentation == 1
    for k, image in enumerate(hu):
        stored = hu_to_stored(image, intercept=intercept, signed=signed,
                              bits_allocated=ds.BitsAllocated)
        set_slice(ds, stored, sop_uid=sop_uids[k], instance=instances[k], position=positions[k],
                  slice_location=None if slice_locations is None else slice_locations[k], rle=rle)
        yield k, ds


def _rle_plugin():
    try:
        import rle  # noqa: F401  (pylibjpeg-rle: fast; optional, so imported only here)
        return "pylibjpeg"
    except ImportError:
        return "pydicom"


def to_bytes(ds, preamble=True):
    """Serialise ``ds`` to bytes.

    With ``preamble`` a conformant Part 10 file (preamble, ``DICM``, file
    meta); without it the bare implicit-VR little-endian dataset as some old
    systems write it (no preamble, no file meta).
    """
    buf = io.BytesIO()
    if preamble:
        dcmwrite(buf, ds, enforce_file_format=True)
    else:
        bare = Dataset()
        bare.update(ds)
        dcmwrite(buf, bare, implicit_vr=True, little_endian=True)
    return buf.getvalue()


def unchanged_bytes(ds):
    """Serialise ``ds`` as it is: its own file meta and encoding, nothing added.

    For datasets received whole (a PACS's instances): unlike :func:`to_bytes`
    no preamble or file meta is made up for them.
    """
    buf = io.BytesIO()
    dcmwrite(buf, ds)
    return buf.getvalue()


def write(ds, path, preamble=True):
    """Write ``ds`` to ``path`` (see :func:`to_bytes`); return the path as a ``Path``."""
    path = Path(path)
    path.write_bytes(to_bytes(ds, preamble=preamble))
    return path
