"""Stored pixel values -> Hounsfield units, one slice at a time.

Private helper of :mod:`cranioscan.dicom`. ``read_stored`` gets a slice's
stored integers: native (uncompressed) data straight from the file bytes
with :func:`numpy.frombuffer` (no copy for in-memory data), encapsulated
data through pydicom's decoders (pylibjpeg plugins: JPEG Lossless, JPEG-LS,
JPEG 2000, RLE). ``stored_to_hu`` then writes HU into a preallocated
float32 slice.

The order of operations in ``stored_to_hu`` (``s`` = stored value):

1. bits above BitsStored are masked off (unsigned) or the value is sign
   extended from BitsStored (signed);
2. the padding mask is taken on ``s``: PixelPaddingValue, or the closed
   range up to PixelPaddingRangeLimit;
3. MONOCHROME1 changes nothing here: the standard (PS3.3 C.7.6.3.1.2)
   applies its inversion at display time, after the Modality LUT, so HU is
   the rescaled stored value as for MONOCHROME2 (pydicom agrees; GDCM / ITK
   invert before rescaling, which gives wrong HU); CranioScan then shows HU
   with the usual CT grey scale (air dark);
4. the RSNA 2019 12-bit intercept defect (BitsStored 12, unsigned,
   RescaleIntercept > -100: some slices of that data set hold HU + 1000
   wrapped into 12 bits, with a wrong intercept) is undone as in the fix
   published during the Kaggle competition, which re-wraps the values and
   sets the intercept to -1000: ``HU = slope * ((s + 1000) mod 4096) - 1000``
   (so ``s`` in 0..3095 -> ``slope * s``, 3096..4095 -> ``slope * (s - 4096)``
   for slope 1, i.e. -1000..-1 HU);
   otherwise ``HU = slope * s + intercept`` (or the Modality LUT Sequence);
5. padded pixels, and any pixel below ``OUTSIDE_FOV_HU`` (-1500 HU: the
   -2000 / -3024 values scanners put outside the reconstruction circle),
   become air, ``AIR_HU`` (-1000 HU);
6. values above ``MAX_PLAUSIBLE_HU`` are clipped to it. With the rescale
   values :mod:`.checks` admits, every HU is finite.

``slice_hu`` runs the whole path for one header and is the boundary where
pixels are decoded: whatever goes wrong in it, a codec's panic included,
becomes a :class:`PixelError` with the reason.
"""

__all__ = [
    "AIR_HU",
    "MAX_PLAUSIBLE_HU",
    "OUTSIDE_FOV_HU",
    "PixelError",
    "PixelParams",
    "params_from_header",
    "read_stored",
    "slice_hu",
    "stored_to_hu",
]

import struct
from dataclasses import dataclass

import numpy as np
from pydicom import dcmread
from pydicom.pixels import apply_modality_lut, get_decoder

from .checks import BOUNDARY_PASS, failure_text

#: Air in HU: what padding and pixels outside the field of view become.
AIR_HU = -1000.0

#: HU below which a pixel is taken as padding outside the field of view.
OUTSIDE_FOV_HU = -1500.0

#: Highest plausible HU (dense metal on extended-scale CT reaches about
#: 30,000); higher values, from a wrong rescale, are clipped here.
MAX_PLAUSIBLE_HU = 40_000.0

_ENCAPSULATED_TAIL = 0xFFFFFFFF
_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_END = b"\xfe\xff\xdd\xe0"


class PixelError(Exception):
    """A slice's pixel data cannot be used; ``str()`` is the plain reason."""


@dataclass
class PixelParams:
    """What ``read_stored`` / ``stored_to_hu`` need from a slice header."""

    rows: int
    cols: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    little_endian: bool
    implicit_vr: bool
    transfer_syntax: str
    compressed: bool
    slope: float
    intercept: float
    has_rescale: bool
    monochrome1: bool
    pad_value: int | None
    pad_limit: int | None
    rsna_fix: bool
    modality_lut: object = None  # the header Dataset when it has a Modality LUT Sequence


def _number(value, default=None):
    if value is None:
        return default
    try:
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            value = value[0] if len(value) else default
        return float(value)
    except (TypeError, ValueError, IndexError):
        return default


def params_from_header(fields, ds, transfer_syntax, compressed):
    """Build :class:`PixelParams` for a slice (no pixel data needed).

    Args:
        fields: mapping of header keywords to plain values (``Rows``,
            ``Columns``, ``BitsAllocated``, ``BitsStored``,
            ``PixelRepresentation``, ``RescaleSlope``, ``RescaleIntercept``,
            ``PhotometricInterpretation``; missing keys are absent tags).
            The values have been checked once by
            :func:`cranioscan.dicom.checks.check_fields` (bits, rescale).
        ds: the header ``Dataset`` (for padding tags and Modality LUT).
        transfer_syntax: the file's transfer syntax UID.
        compressed: whether that syntax is encapsulated (compressed).
    """
    rows, cols = int(fields["Rows"]), int(fields["Columns"])
    bits_allocated = int(fields.get("BitsAllocated") or 16)
    bits_stored = int(fields.get("BitsStored") or bits_allocated)
    signed = int(fields.get("PixelRepresentation") or 0) == 1
    implicit, little = getattr(ds, "original_encoding", (False, True))
    slope = _number(fields.get("RescaleSlope"))
    intercept = _number(fields.get("RescaleIntercept"))
    has_rescale = slope is not None or intercept is not None
    slope = 1.0 if slope is None or slope == 0 else slope
    intercept = 0.0 if intercept is None else intercept
    modality_lut = ds if (not has_rescale and "ModalityLUTSequence" in ds) else None
    pad_value = pad_limit = None
    if 0x00280120 in ds:
        pad_value = _as_stored(ds.get("PixelPaddingValue"), signed, bits_allocated)
        if 0x00280121 in ds:
            pad_limit = _as_stored(ds.get("PixelPaddingRangeLimit"), signed, bits_allocated)
    photometric = str(fields.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper()
    rsna_fix = bits_stored == 12 and not signed and has_rescale and intercept > -100
    return PixelParams(
        rows=rows,
        cols=cols,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=signed,
        little_endian=little is not False,
        implicit_vr=bool(implicit),
        transfer_syntax=str(transfer_syntax),
        compressed=bool(compressed),
        slope=float(slope),
        intercept=float(intercept),
        has_rescale=has_rescale,
        monochrome1=photometric == "MONOCHROME1",
        pad_value=pad_value,
        pad_limit=pad_limit,
        rsna_fix=rsna_fix,
        modality_lut=modality_lut,
    )


def _as_stored(value, signed, bits_allocated):
    """Padding tags may come back as US when the data are signed: rewrap."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        fmt = {8: "b", 16: "h", 32: "i"}[bits_allocated]
        fmt = fmt if signed else fmt.upper()
        value = struct.unpack("<" + fmt, bytes(value[: bits_allocated // 8]))[0]
    else:
        value = int(value[0] if hasattr(value, "__len__") else value)
    if signed and value >= 1 << (bits_allocated - 1):
        value -= 1 << bits_allocated
    return value


def _dtype(params):
    order = "<" if params.little_endian else ">"
    return np.dtype(f"{order}{'i' if params.signed else 'u'}{params.bits_allocated // 8}")


def _element_header(buf, params):
    """Parse the Pixel Data element header at ``buf[0:]``; return (skip, length)."""
    if len(buf) < 8:
        raise PixelError("the file ends where the image data should start (truncated file)")
    endian = "<" if params.little_endian else ">"
    group, elem = struct.unpack(endian + "HH", bytes(buf[:4]))
    if (group, elem) != (0x7FE0, 0x0010):
        raise PixelError(f"unexpected element ({group:04X},{elem:04X}) instead of Pixel Data")
    if params.implicit_vr:
        return 8, struct.unpack(endian + "I", bytes(buf[4:8]))[0]
    if len(buf) < 12:
        raise PixelError("the file ends inside the image data header (truncated file)")
    vr = bytes(buf[4:6])
    if vr in (b"OB", b"OW", b"UN", b"OV", b"OL"):
        return 12, struct.unpack(endian + "I", bytes(buf[8:12]))[0]
    return 8, struct.unpack(endian + "H", bytes(buf[6:8]))[0]


def _encapsulated_value(buf):
    """Return the encapsulated Pixel Data value (items up to the delimiter)."""
    pos, end = 0, len(buf)
    while True:
        if pos + 8 > end:
            raise PixelError(
                "the compressed image data are cut short (the file is truncated or damaged)"
            )
        tag = bytes(buf[pos:pos + 4])
        length = struct.unpack("<I", bytes(buf[pos + 4:pos + 8]))[0]
        if tag == _SEQ_END:
            return buf[:pos]
        if tag != _ITEM:
            raise PixelError("the compressed image data are damaged (bad item tag)")
        pos += 8 + length
        if pos > end:
            raise PixelError(
                "the compressed image data are cut short (the file is truncated or damaged)"
            )


def _native(value, params):
    count = params.rows * params.cols
    dtype = _dtype(params)
    need = count * dtype.itemsize
    if len(value) < need:
        raise PixelError(
            f"the image data are cut short: {need:,} bytes expected, {len(value):,} "
            "found (the file is truncated or damaged)"
        )
    if len(value) > need + need % 2:  # one byte pads odd lengths
        raise PixelError(
            f"the image data hold {len(value):,} bytes, more than the {need:,} its header "
            f"declares ({params.rows}x{params.cols} pixels of {params.bits_allocated} bits): "
            "the header does not describe these pixels"
        )
    return np.frombuffer(value, dtype=dtype, count=count).reshape(params.rows, params.cols)


#: Decoder plugins tried, in order. GDCM (python-gdcm) is never used here:
#: on a corrupt stream it throws a C++ exception that aborts the whole
#: process (seen in fuzzing), which no Python handler can catch.
SAFE_PLUGINS = ("pylibjpeg", "pydicom", "pyjpegls", "pillow")


def _decode(value, params, header):
    try:
        decoder = get_decoder(params.transfer_syntax)
    except NotImplementedError:
        raise PixelError(f"the compression ({params.transfer_syntax}) is not supported") from None
    plugins = [name for name in SAFE_PLUGINS if name in decoder.available_plugins]
    if not plugins:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise PixelError(
            f"the compressed image data ({decoder.UID.name}) need a decoder that is not "
            f"installed ({missing})"
        )
    frame = bytes(value)
    failures = []
    for plugin in plugins:
        try:
            arr, _ = decoder.as_array(
                frame,
                index=0,
                rows=params.rows,
                columns=params.cols,
                samples_per_pixel=1,
                bits_allocated=params.bits_allocated,
                bits_stored=params.bits_stored,
                pixel_representation=int(params.signed),
                photometric_interpretation=str(
                    header.get("PhotometricInterpretation", "MONOCHROME2")
                ),
                number_of_frames=1,
                decoding_plugin=plugin,
            )
            break
        except BOUNDARY_PASS:
            raise
        except BaseException as exc:  # noqa: BLE001 - codecs panic with BaseException subclasses
            failures.append(failure_text(exc))
    else:
        raise PixelError(
            f"the compressed image data ({decoder.UID.name}) could not be decoded "
            f"({failures[0]})"
        )
    if arr.shape != (params.rows, params.cols):
        raise PixelError(
            f"the decoded image is {arr.shape}, not {params.rows}x{params.cols} as the header says"
        )
    return arr


def read_stored(source_file, offset, params, header):
    """Return one slice's stored values as an integer ``(rows, cols)`` array.

    Args:
        source_file: the file (``SourceFile``) the header came from.
        offset: byte offset of the Pixel Data element, or ``None`` to
            re-read the whole file with pydicom (deflated transfer syntax).
        params: the slice's :class:`PixelParams`.
        header: the slice's header ``Dataset`` (read without pixel data).

    Raises:
        PixelError: no, truncated or undecodable pixel data.
    """
    if offset is None:
        return _read_full(source_file, params)
    if source_file.data is not None:
        buf = memoryview(source_file.data)[offset:]
        skip, length = _element_header(buf, params)
        value = buf[skip:] if length == _ENCAPSULATED_TAIL else buf[skip:skip + length]
    else:
        with open(source_file.path, "rb") as fh:
            fh.seek(offset)
            head = fh.read(12)
            skip, length = _element_header(head, params)
            fh.seek(offset + skip)
            value = fh.read() if length == _ENCAPSULATED_TAIL else fh.read(length)
    if length == _ENCAPSULATED_TAIL:
        if not params.compressed:
            raise PixelError("the image data are encapsulated but the transfer syntax is not")
        return _decode(_encapsulated_value(value), params, header)
    if params.compressed:
        raise PixelError("the transfer syntax says compressed but the image data are not")
    return _native(value, params)


def _read_full(source_file, params):
    with source_file.open() as fh:
        ds = dcmread(fh, force=True)
    if "PixelData" not in ds:
        raise PixelError("the file has no image data")
    if params.compressed:
        return _decode(ds.PixelData, params, ds)
    return _native(ds.PixelData, params)


def stored_to_hu(stored, out, params):
    """Write Hounsfield units for one slice into ``out``.

    Args:
        stored: integer ``(rows, cols)`` stored values (not modified).
        out: float32 ``(rows, cols)`` array to fill (a slice of the volume).
        params: the slice's :class:`PixelParams`.

    Returns:
        set of str: the corrections applied, among ``"monochrome1"``,
        ``"rsna_12bit"``, ``"padding"``, ``"outside_fov"``, ``"no_rescale"``,
        ``"clipped_high"`` (values above ``MAX_PLAUSIBLE_HU``).
    """
    notes = set()
    bits = params.bits_stored
    lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if params.signed else (0, (1 << bits) - 1))
    work = stored
    s_min, s_max = int(work.min()), int(work.max())
    if s_min < lo or s_max > hi:
        wide = work.astype(np.int64)
        if params.signed:
            shift = 64 - bits
            work = (wide << shift) >> shift
        else:
            work = wide & ((1 << bits) - 1)
        s_min, s_max = int(work.min()), int(work.max())

    pad_mask = None
    if params.pad_value is not None:
        p_lo = params.pad_value
        p_hi = params.pad_limit if params.pad_limit is not None else p_lo
        p_lo, p_hi = min(p_lo, p_hi), max(p_lo, p_hi)
        if p_lo <= s_max and p_hi >= s_min:
            pad_mask = (work >= p_lo) & (work <= p_hi) if p_lo != p_hi else work == p_lo
            notes.add("padding")

    if params.monochrome1:
        notes.add("monochrome1")

    slope, intercept = params.slope, params.intercept
    if params.rsna_fix:
        work = (work.astype(np.int64) + 1000) & 0xFFF
        s_min, s_max = 0, 4095
        intercept = -1000.0
        notes.add("rsna_12bit")

    if params.modality_lut is not None:
        out[...] = apply_modality_lut(np.asarray(work), params.modality_lut)
    else:
        if not params.has_rescale:
            notes.add("no_rescale")
        if slope == 1.0:
            np.add(work, np.float32(intercept), out=out, casting="unsafe")
        else:
            np.multiply(work, np.float32(slope), out=out, casting="unsafe")
            out += np.float32(intercept)

    if pad_mask is not None:
        np.copyto(out, np.float32(AIR_HU), where=pad_mask)
    if params.modality_lut is not None:
        lowest = float(out.min())
    else:
        lowest = min(slope * s_min, slope * s_max) + intercept
    if lowest < OUTSIDE_FOV_HU:
        np.copyto(out, np.float32(AIR_HU), where=out < OUTSIDE_FOV_HU)
        notes.add("outside_fov")
    highest = (float(out.max()) if params.modality_lut is not None
               else max(slope * s_min, slope * s_max) + intercept)
    if highest > MAX_PLAUSIBLE_HU:
        np.minimum(out, np.float32(MAX_PLAUSIBLE_HU), out=out)
        notes.add("clipped_high")
    return notes


def slice_hu(header, out, stored=None):
    """Decode one slice into ``out`` as HU; the boundary where pixels are decoded.

    Args:
        header: the slice's :class:`~cranioscan.dicom.header.Header`.
        out: float32 ``(rows, cols)`` array to fill.
        stored: the slice's stored values when already decoded elsewhere
            (:mod:`.decode_pool`), else None to read and decode them here.

    Returns:
        set of str: the corrections applied (see :func:`stored_to_hu`).

    Raises:
        PixelError: the slice cannot be used, for any reason: truncated or
            undecodable data, a codec's panic, not enough memory. Only
            ``KeyboardInterrupt`` and ``SystemExit`` pass through.
    """
    try:
        params = params_from_header(header.f, header.ds, header.transfer_syntax,
                                    header.compressed)
        if stored is None:
            stored = read_stored(header.file, header.offset, params, header.ds)
        return stored_to_hu(stored, out, params)
    except PixelError:
        raise
    except MemoryError:
        raise PixelError("there was not enough memory to decode the image data") from None
    except OSError as exc:
        raise PixelError(f"the file could not be read ({exc.strerror or exc})") from None
    except BOUNDARY_PASS:
        raise
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        raise PixelError(f"the image data could not be read ({failure_text(exc)})") from None
