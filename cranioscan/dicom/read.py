"""Whole DICOM files as pydicom datasets, for the few places that need the file itself.

CT images enter CranioScan through :func:`cranioscan.dicom.load_series`
(Hounsfield units, checked geometry); this module serves what is not a CT
series to view:

- :func:`read_dataset`: one file's complete dataset, pixels included (the
  de-identified export rewrites the user's files);
- :func:`stored_pixels`: one file's pixel array as stored, no rescale and no
  CT checks (research files such as the CT-ICH true-HU slices and their masks,
  which are secondary captures holding HU or labels).

Headers alone: :func:`cranioscan.dicom.header.peek`.
"""

__all__ = ["read_dataset", "stored_pixels"]

from pydicom import dcmread

from .header import dcmread_source


def read_dataset(source):
    """One DICOM Part 10 file, pixel data included.

    Args:
        source: a path, the file's bytes, or a binary file object.

    Returns:
        a ``pydicom.Dataset`` with its file meta.

    Raises:
        pydicom.errors.InvalidDicomError: no ``DICM`` after a preamble (bare
            datasets are refused: what is exported must be a conformant file).
        Exception: whatever else pydicom raises for damaged bytes.
    """
    return dcmread(dcmread_source(source), force=False)


def stored_pixels(source):
    """The pixel array of a single-frame file as stored: ``(rows, cols)``, the file's dtype.

    No RescaleSlope / Intercept, padding or CT checks are applied (use
    :func:`cranioscan.dicom.read_slice_hu` for Hounsfield units of a CT
    slice).

    Args:
        source: a path, the file's bytes, or a binary file object.
    """
    return read_dataset(source).pixel_array
