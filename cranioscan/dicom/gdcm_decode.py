"""Compressed slices on disk decoded by GDCM straight into a NumPy buffer.

Private helper of :mod:`cranioscan.dicom.decode_pool`, and only ever called
in its worker processes: GDCM aborts the interpreter on some damaged files,
so it never runs in the dashboard's or the command line's own process.
Thin-slice head CT comes
as 200-300 JPEG-Lossless slices, and decoding them is most of
``load_series``' time. Measured per 512x512 JPEG Lossless slice
(``bench/bench_load.py --codec jpeg-lossless``): pylibjpeg through pydicom
about 2.5x, and GDCM through pydicom's plugin about 2x, the time of
``gdcm.ImageRegionReader.ReadIntoBuffer``, because pydicom's GDCM plugin
receives the decoded frame as a Python ``str`` and re-encodes it to bytes.
This module calls ``ReadIntoBuffer`` with a ``bytearray`` that NumPy then
views, without a copy.

It is used only where it is known to be exact: a file on disk (GDCM reads
the file itself) whose codestream ends with its end marker, single frame,
one sample per pixel, 8 or 16 bits allocated, and a lossless transfer syntax
in :data:`GDCM_SYNTAXES`. Anything else, a missing ``python-gdcm``, or any
GDCM failure returns None and the slice is decoded in the main process by
pydicom's crash-safe plugins, whose errors name the problem.
"""

__all__ = ["GDCM_SYNTAXES", "gdcm_available", "read_stored_gdcm"]

import numpy as np
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
)

#: Transfer syntaxes decoded here: the lossless JPEG family head CT is stored in
#: (RLE is left to pylibjpeg-rle, already fast, which GDCM's region reader declines).
GDCM_SYNTAXES = frozenset({JPEGLosslessSV1, JPEGLossless, JPEGLSLossless, JPEG2000Lossless})

_gdcm = None


def gdcm_available():
    """True when ``python-gdcm`` can be imported (checked once)."""
    global _gdcm
    if _gdcm is None:
        try:
            import gdcm
        except ImportError:
            _gdcm = False
        else:
            _gdcm = gdcm
    return _gdcm is not False


def _complete(encapsulated):
    """True when the last fragment ends with the EOI / EOC marker (FFD9), padding aside.

    GDCM decodes a codestream cut short without complaint (the missing rows
    come out as zeros); pydicom's decoders refuse it, so such files go there.
    """
    return bytes(encapsulated[-4:]).rstrip(b"\x00").endswith(b"\xff\xd9")


def read_stored_gdcm(path, params, encapsulated):
    """Stored values of a compressed single-frame slice file, or None (use pydicom).

    Args:
        path: the DICOM file on disk.
        params: the slice's :class:`~cranioscan.dicom.pixels.PixelParams`
            (rows, cols, bits, sign, transfer syntax from the loader's own
            header reading; GDCM's must agree).
        encapsulated: the file's encapsulated Pixel Data value (items up to
            the sequence delimiter, as the loader read and checked it); a
            codestream that does not end with its end marker is left to
            pydicom.

    Returns:
        integer ``(rows, cols)`` array of stored values (dtype from
        BitsAllocated and PixelRepresentation), or None when this path does
        not apply or GDCM cannot decode the file.
    """
    if (params.transfer_syntax not in GDCM_SYNTAXES or params.bits_allocated not in (8, 16)
            or not _complete(encapsulated) or not gdcm_available()):
        return None
    dtype = np.dtype(f"<{'i' if params.signed else 'u'}{params.bits_allocated // 8}")
    need = params.rows * params.cols * dtype.itemsize
    try:
        reader = _gdcm.ImageRegionReader()
        reader.SetFileName(str(path))
        if not reader.ReadInformation():
            return None
        if reader.ComputeBufferLength() != need:  # GDCM sees another size or depth
            return None
        buffer = bytearray(need)
        if not reader.ReadIntoBuffer(buffer):
            return None
    except Exception:  # noqa: BLE001 - any GDCM trouble: pydicom decodes and explains
        return None
    return np.frombuffer(buffer, dtype=dtype).reshape(params.rows, params.cols)
