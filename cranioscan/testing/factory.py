"""Small CT DICOM datasets built in memory, for tests and benchmarks.

Test fixtures, not part of the installed package (the wheel leaves
``cranioscan.testing`` out); product code never imports them.

``make_ct_slice`` returns a valid single-frame CT Image Storage dataset with
the geometry, storage and rescale parameters a test asks for;
``make_series`` stacks them along a (possibly tilted) axis; ``to_bytes`` and
``write`` (the product's, :mod:`cranioscan.dicom.write`, re-exported) serialise
with pydicom's ``dcmwrite`` (with or without the 128-byte preamble). ``encode_jpeg_lossless`` is a tiny JPEG Lossless (process 14,
selection value 1) encoder, because pydicom has no encoder for that transfer
syntax and the loader's decoder path must still be exercised.
"""

__all__ = [
    "make_ct_slice",
    "make_series",
    "mixed_thickness_series",
    "head_like_slice",
    "to_bytes",
    "write",
    "write_series",
    "encode_jpeg_lossless",
    "jpeg_lossless_dataset",
    "encoder_available",
    "STUDY_UID",
    "SERIES_UID",
]

import math
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_encoder
from pydicom.uid import CTImageStorage, JPEGLosslessSV1, generate_uid

from ..dicom.write import ct_dataset, set_slice, to_bytes, write

#: Fixed UIDs so that tests can name the default study/series.
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"


def make_ct_slice(
    pixels=None,
    *,
    rows=8,
    cols=8,
    position=(0.0, 0.0, 0.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    spacing=(0.5, 0.5),
    thickness=5.0,
    slope=1.0,
    intercept=-1024.0,
    signed=True,
    bits_allocated=16,
    bits_stored=None,
    photometric="MONOCHROME2",
    instance=1,
    series_uid=SERIES_UID,
    study_uid=STUDY_UID,
    sop_uid=None,
    modality="CT",
    sop_class=CTImageStorage,
    series_description="Head non-contrast",
    window_center=40.0,
    window_width=80.0,
    padding_value=None,
    padding_limit=None,
    **extra,
):
    """Return a native (uncompressed) single-frame CT slice dataset.

    Built by the product's writer (:func:`cranioscan.dicom.write.ct_dataset`,
    :func:`~cranioscan.dicom.write.set_slice`) with a test patient's header.

    Args:
        pixels: stored values, array-like ``(rows, cols)``; default: zeros.
            Written with the dtype implied by ``signed`` / ``bits_allocated``
            (values are wrapped to that type, as a scanner would store them).
        position: ImagePositionPatient, mm (top-left pixel centre).
        orientation: ImageOrientationPatient (row direction, column direction).
        spacing: PixelSpacing (row, col) in mm.
        slope, intercept: RescaleSlope / RescaleIntercept (HU = slope*s + b);
            ``None`` leaves the tag out.
        signed: PixelRepresentation 1 (True) or 0.
        bits_stored: BitsStored (default: ``bits_allocated``).
        window_center, window_width: numbers or lists (MultiValue).
        padding_value, padding_limit: PixelPaddingValue / RangeLimit.
        **extra: any further DICOM keywords set on the dataset.
    """
    if pixels is None:
        pixels = np.zeros((rows, cols))
    pixels = np.asarray(pixels)
    rows, cols = pixels.shape
    padding = {}
    if padding_value is not None:
        padding["PixelPaddingValue"] = int(padding_value)
    if padding_limit is not None:
        padding["PixelPaddingRangeLimit"] = int(padding_limit)
    ds = ct_dataset(
        rows=rows, cols=cols, study_uid=study_uid, series_uid=series_uid,
        spacing=[float(v) for v in spacing], orientation=[float(v) for v in orientation],
        thickness=thickness, signed=signed, bits_allocated=bits_allocated,
        bits_stored=bits_stored, slope=slope, intercept=intercept, photometric=photometric,
        window=None if window_center is None else (window_center, window_width),
        modality=modality, sop_class=sop_class,
        PatientName="Test^Phantom", PatientID="CS-0001", PatientBirthDate="19600101",
        PatientSex="O", StudyDate="20240102", StudyDescription="CT HEAD",
        SeriesDescription=series_description, SeriesNumber=2, Manufacturer="CranioScan Test",
        KVP=120, ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], **padding,
    )
    set_slice(ds, pixels, sop_uid=sop_uid or generate_uid(), instance=instance,
              position=[float(v) for v in position])
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def make_series(
    n,
    *,
    z0=0.0,
    dz=5.0,
    tilt_deg=0.0,
    positions=None,
    pixels=None,
    series_uid=SERIES_UID,
    **kwargs,
):
    """Return ``n`` CT slice datasets of one series, inferior to superior.

    With ``tilt_deg`` the image plane is rotated about the x axis (gantry
    tilt) while the slices still advance by ``dz`` along the table (z),
    as a tilted acquisition does. ``positions`` (z values, mm) overrides
    ``z0`` / ``dz``. ``pixels`` is a function ``i -> (rows, cols)`` array
    or one array for all slices.
    """
    t = math.radians(tilt_deg)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    if positions is None:
        positions = [z0 + i * dz for i in range(n)]
    out = []
    for i, z in enumerate(positions):
        px = pixels(i) if callable(pixels) else pixels
        out.append(
            make_ct_slice(
                px,
                position=(-2.0, -2.0, z),
                orientation=orientation,
                instance=i + 1,
                series_uid=series_uid,
                **kwargs,
            )
        )
    return out


def mixed_thickness_series(n_thin=15, n_thick=13, thin=4.0, thick=7.0, step=5.5, **kwargs):
    """Slices of a series that changes thickness part way, as many head CT protocols do.

    ``n_thin`` slices ``thin`` mm thick and ``thin`` mm apart (the skull base),
    one step of ``step`` mm, then ``n_thick`` slices ``thick`` mm thick and apart
    (the vault); the defaults are those of a real 28-slice GE series (4 mm ->
    7 mm). Stored values differ per slice (``1024 + i``). ``kwargs`` go to
    :func:`make_series`. Returns the datasets, inferior to superior.
    """
    z = [i * thin for i in range(n_thin)]
    z += [z[-1] + step + i * thick for i in range(n_thick)]
    kwargs.setdefault("pixels", lambda i: np.full((8, 8), 1024 + i))
    datasets = make_series(len(z), positions=z, thickness=thin, **kwargs)
    for ds in datasets[n_thin:]:
        ds.SliceThickness = thick
    return datasets


def head_like_slice(rows=512, cols=512, z_frac=0.5, seed=0, spacing=0.45):
    """Stored int16 values (intercept -1024) of a crude axial head section.

    Air around an elliptical skull (about 1500 HU) over brain (about 35 HU)
    with a few HU of noise; -2000 padding outside a circular field of view.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    cy, cx = rows / 2, cols / 2
    scale = max(0.2, math.sin(math.pi * min(max(z_frac, 0.05), 0.95)))
    ry, rx = 0.42 * rows * scale, 0.34 * cols * scale
    r = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    hu = np.full((rows, cols), -1000.0)
    hu[r <= 1.0] = 1500.0
    hu[r <= 0.85] = 35.0
    hu += rng.normal(0.0, 4.0, size=hu.shape)
    fov = (yy - cy) ** 2 + (xx - cx) ** 2 <= (0.5 * min(rows, cols)) ** 2
    stored = np.round(hu + 1024.0)
    stored[~fov] = -2000
    return stored.astype(np.int16)


def write_series(datasets, folder, prefix="slice", preamble=True):
    """Write datasets as ``folder/prefix_###.dcm``; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write(ds, folder / f"{prefix}_{i:03d}.dcm", preamble=preamble)
        for i, ds in enumerate(datasets)
    ]


def encoder_available(uid):
    """True when pydicom has a working encoder for transfer syntax ``uid``."""
    try:
        return get_encoder(uid).is_available
    except NotImplementedError:
        return False


# --- JPEG Lossless (ITU T.81 process 14, predictor 1) -----------------------
def _bit_writer():
    out = bytearray()
    state = {"acc": 0, "n": 0}

    def put(value, nbits):
        state["acc"] = (state["acc"] << nbits) | (value & ((1 << nbits) - 1))
        state["n"] += nbits
        while state["n"] >= 8:
            state["n"] -= 8
            byte = (state["acc"] >> state["n"]) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0x00)  # byte stuffing
        state["acc"] &= (1 << state["n"]) - 1

    def flush():
        if state["n"]:
            pad = 8 - state["n"]
            put((1 << pad) - 1, pad)  # pad with 1-bits
        return bytes(out)

    return put, flush


def encode_jpeg_lossless(values, precision):
    """Encode a 2-D integer image as a JPEG Lossless SV1 codestream.

    Args:
        values: ``(rows, cols)`` integers; only the low ``precision`` bits
            are coded (two's complement for signed data, as DICOM stores it).
        precision: sample precision in bits (2..16), the DICOM BitsStored.

    Returns:
        The codestream bytes (SOI ... EOI). One Huffman table gives every
        difference category 0..16 a 5-bit code.
    """
    img = np.asarray(values, dtype=np.int64) & ((1 << precision) - 1)
    rows, cols = img.shape
    modulo = 1 << 16

    def segment(marker, payload):
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    sof = bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big")
    sof += bytes([1, 1, 0x11, 0])
    bits = [0, 0, 0, 0, 17] + [0] * 11
    dht = bytes([0x00]) + bytes(bits) + bytes(range(17))
    sos = bytes([1, 1, 0x00, 1, 0, 0])  # 1 comp, table 0, Ss=1 (Ra), Se=0, Ah/Al=0

    put, flush = _bit_writer()
    for r in range(rows):
        for c in range(cols):
            if r == 0 and c == 0:
                pred = 1 << (precision - 1)
            elif r == 0:
                pred = int(img[r, c - 1])
            elif c == 0:
                pred = int(img[r - 1, c])
            else:
                pred = int(img[r, c - 1])
            diff = (int(img[r, c]) - pred) % modulo
            if diff >= 32768:
                diff -= modulo
            ssss = 16 if diff == -32768 else abs(diff).bit_length()
            put(ssss, 5)
            if 0 < ssss < 16:
                put(diff if diff >= 0 else diff - 1, ssss)
    scan = flush()
    return (
        b"\xff\xd8"
        + segment(0xC3, sof)
        + segment(0xC4, dht)
        + segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )


def jpeg_lossless_dataset(ds):
    """Return a copy of native ``ds`` re-encoded as JPEG Lossless SV1."""
    out = Dataset()
    out.update(ds)
    out.file_meta = FileMetaDataset()
    out.file_meta.update(ds.file_meta)
    arr = np.frombuffer(
        ds.PixelData, dtype=f"<{'i' if ds.PixelRepresentation else 'u'}2"
    ).reshape(ds.Rows, ds.Columns)
    frame = encode_jpeg_lossless(arr, int(ds.BitsStored))
    out.PixelData = encapsulate([frame])
    out["PixelData"].VR = "OB"
    out["PixelData"].is_undefined_length = True
    out.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return out

