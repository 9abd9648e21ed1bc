"""Seeded mutation and structure fuzzing of DICOM sources, for robustness checks.

Not used by the product: the fuzz test (``tests/dicom/test_fuzz.py``) and the
long campaign (``bench/fuzz_loader.py``) feed the cases built here to
:func:`cranioscan.dicom.load_series` and check its contract: every case
either loads with finite Hounsfield units or raises ``DicomLoadError``.

A case starts from a small, valid *seed* series (real pydicom files built by
:mod:`cranioscan.testing.factory`: native, RLE, JPEG Lossless, JPEG-LS and
JPEG 2000, plus any real slices given as extra seeds), applies one mutation
drawn from :data:`MUTATIONS` (byte flips, truncation, tag / VR / VM
corruption, impossible values, geometry, compressed-stream corruption,
archives) and is handed to the loader in one source form (path, folder, zip,
list of paths, upload). Everything is derived from ``random.Random(seed)``,
so a case is reproduced by its seed and index alone.
"""

__all__ = ["Case", "FORMS", "GOOD_OUTCOMES", "MUTATIONS", "make_case", "materialise", "run_case",
           "seed_series"]

import io
import random
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from ..dicom import DicomLoadError
from .factory import encoder_available, head_like_slice, jpeg_lossless_dataset, make_series, to_bytes

#: Source forms a case is loaded in (see :func:`materialise`).
FORMS = ("path", "folder", "zip", "list", "upload")

_SEED_SYNTAXES = ("native", "rle", "jpeg-lossless", "jpeg-ls", "jpeg2000")
_SIZE = 48  # rows = cols of the seed slices: small, and >= 32 for openjpeg


@dataclass
class Case:
    """One fuzz case: files (name, bytes), how it was made, and its source form."""

    index: int
    seed_kind: str
    mutation: str
    detail: str
    files: list = field(default_factory=list)  # [(name, bytes)]
    form: str = "upload"
    raw_zip: bytes | None = None  # set by archive mutations: the source is this zip

    def label(self):
        """Short text for reports: index, seed series, mutation and form."""
        return f"#{self.index} {self.seed_kind}/{self.mutation} ({self.detail}) as {self.form}"


# --- seeds -------------------------------------------------------------------------------


def _compress(ds, kind):
    if kind == "native":
        return ds
    if kind == "jpeg-lossless":
        return jpeg_lossless_dataset(ds)
    uid = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "jpeg2000": JPEG2000Lossless}[kind]
    if not encoder_available(uid):
        return None
    ds.compress(uid)
    return ds


def seed_series(extra_files=()):
    """Valid seed series: ``{kind: [(name, bytes), ...]}``.

    Three 48x48 head-like slices per transfer syntax whose encoder is
    installed, plus each extra real file (a path) as a one-file seed named
    ``real:<file name>``.
    """
    seeds = {}
    for kind in _SEED_SYNTAXES:
        dss = make_series(3, dz=5.0, pixels=lambda i: head_like_slice(_SIZE, _SIZE, 0.3 + 0.2 * i, i),
                          signed=True, intercept=-1024.0)
        dss = [_compress(ds, kind) for ds in dss]
        if any(ds is None for ds in dss):
            continue
        seeds[kind] = [(f"{kind}_{i:02d}.dcm", to_bytes(ds)) for i, ds in enumerate(dss)]
    for path in extra_files:
        path = Path(path)
        seeds[f"real:{path.name}"] = [(path.name, path.read_bytes())]
    return seeds


# --- byte-level helpers ------------------------------------------------------------------


def _find_element(data, tag):
    """Offset of the explicit-VR little-endian element ``tag`` in ``data``, or -1."""
    needle = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    start = 0
    while True:
        at = data.find(needle, start)
        if at < 0:
            return -1
        vr = data[at + 4:at + 6]
        if len(vr) == 2 and vr.isalpha() and vr.isupper():
            return at
        start = at + 1


def _pixel_value_span(data):
    """(start, end) of the Pixel Data value (the fragments when encapsulated)."""
    at = data.rfind(b"\xe0\x7f\x10\x00")
    if at < 0:
        return None
    return at + 12, len(data)


# Tags a structural mutation targets, with the VR they should have.
_TARGETS = {
    "TransferSyntaxUID": (0x00020010, "UI"),
    "MediaStorageSOPClassUID": (0x00020002, "UI"),
    "SOPClassUID": (0x00080016, "UI"),
    "Modality": (0x00080060, "CS"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "SliceThickness": (0x00180050, "DS"),
    "PixelSpacing": (0x00280030, "DS"),
    "SamplesPerPixel": (0x00280002, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "HighBit": (0x00280102, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "WindowCenter": (0x00281050, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "PixelPaddingValue": (0x00280120, "SS"),
}

_ODD_TEXT = ["NaN", "Inf", "-Inf", "1e308", "-1e308", "0", "-0", "1e-320", "abc", "", "\\",
             "1\\2\\3\\4\\5\\6\\7", "99999999999999999999", "-5", "\x00\x00", "\x1b[31m"]
_ODD_US = [0, 1, 2, 3, 7, 17, 33, 255, 511, 4096, 32768, 40000, 65535]
_ODD_UID = ["1.2.3", "", "not-a-uid", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.4.999",
            "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99"]


def _rewrite(data, tag, new_vr, value):
    """Replace element ``tag``'s VR and value bytes in an explicit-VR LE file."""
    at = _find_element(data, tag)
    if at < 0:
        return None
    vr = data[at + 4:at + 6]
    if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR"):
        length = struct.unpack("<I", data[at + 8:at + 12])[0]
        end = at + 12 + (0 if length == 0xFFFFFFFF else length)
    else:
        length = struct.unpack("<H", data[at + 6:at + 8])[0]
        end = at + 8 + length
    if len(value) % 2:
        value += b" " if new_vr not in (b"OB", b"UN", b"US") else b"\x00"
    if new_vr in (b"OB", b"OW", b"UN", b"UT", b"SQ"):
        head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + new_vr + b"\x00\x00" + \
            struct.pack("<I", len(value))
    else:
        head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + new_vr + struct.pack("<H", len(value))
    out = data[:at] + head + value + data[end:]
    if tag >> 16 == 0x0002:  # keep the file meta group length honest (or not: both are cases)
        pass
    return out


def _value_bytes(rng, vr):
    if vr == "US":
        choice = rng.random()
        if choice < 0.5:
            return struct.pack("<H", rng.choice(_ODD_US))
        if choice < 0.75:
            return struct.pack("<HH", rng.choice(_ODD_US), rng.choice(_ODD_US))  # VM 2
        return bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 3, 5])))  # odd length
    if vr == "UI":
        return rng.choice(_ODD_UID).encode()
    if vr == "SS":
        return struct.pack("<h", rng.randint(-32768, 32767))
    return rng.choice(_ODD_TEXT).encode("latin-1")


# --- mutations: each (rng, files) -> (files, detail) or None when not applicable --------


def _one(rng, files):
    i = rng.randrange(len(files))
    return i, files[i][0], bytearray(files[i][1])


def _replace(files, i, data):
    out = list(files)
    out[i] = (files[i][0], bytes(data))
    return out


def _byte_flips(rng, files):
    i, name, data = _one(rng, files)
    n = rng.choice([1, 2, 4, 16, 64])
    header_end = min(len(data), 1200)
    for _ in range(n):
        where = rng.randrange(header_end) if rng.random() < 0.7 else rng.randrange(len(data))
        data[where] = rng.getrandbits(8)
    return _replace(files, i, data), f"{n} bytes of {name}"


def _truncate(rng, files):
    i, name, data = _one(rng, files)
    keep = rng.choice([0, 1, 10, 128, 132, 200, len(data) // 2, len(data) - 1, len(data) - 7])
    keep = max(0, min(keep, len(data)))
    return _replace(files, i, data[:keep]), f"{name} cut to {keep} bytes"


def _bad_value(rng, files):
    i, name, data = _one(rng, files)
    keyword = rng.choice(sorted(_TARGETS))
    tag, vr = _TARGETS[keyword]
    value = _value_bytes(rng, vr)
    out = _rewrite(bytes(data), tag, vr.encode(), value)
    if out is None:
        return None
    return _replace(files, i, out), f"{keyword}={value[:24]!r} in {name}"


def _bad_vr(rng, files):
    i, name, data = _one(rng, files)
    keyword = rng.choice(sorted(_TARGETS))
    tag, vr = _TARGETS[keyword]
    new_vr = rng.choice([b"OB", b"UN", b"ZZ", b"\x00\x00", b"SQ", b"FD", b"US", b"DS", b"AT"])
    at = _find_element(bytes(data), tag)
    if at < 0:
        return None
    data[at + 4:at + 6] = new_vr  # keep the length bytes: a VR lie
    return _replace(files, i, data), f"{keyword} VR {vr}->{new_vr!r} in {name}"


def _bad_length(rng, files):
    i, name, data = _one(rng, files)
    keyword = rng.choice(sorted(_TARGETS))
    tag, vr = _TARGETS[keyword]
    at = _find_element(bytes(data), tag)
    if at < 0 or vr in ("OB",):
        return None
    new = rng.choice([0, 1, 3, 0xFFFF, rng.randrange(0x10000)])
    data[at + 6:at + 8] = struct.pack("<H", new)
    return _replace(files, i, data), f"{keyword} length -> {new} in {name}"


def _huge_matrix(rng, files):
    rows, cols = rng.choice([(40000, 40000), (65535, 65535), (65535, 1), (1, 65535), (511, 511),
                             (4096, 4096), (_SIZE + 1, _SIZE), (0, _SIZE)])
    every = rng.random() < 0.5
    out = list(files)
    for j in (range(len(files)) if every else [rng.randrange(len(files))]):
        data = bytes(out[j][1])
        for tag, value in ((0x00280010, rows), (0x00280011, cols)):
            data = _rewrite(data, tag, b"US", struct.pack("<H", value)) or data
        out[j] = (out[j][0], data)
    return out, f"{rows}x{cols} in {'every file' if every else 'one file'}"


def _one_with_pixels(rng, files):
    """``_one`` and where its Pixel Data value lies: ``(i, name, data, start, end)``, or None."""
    i, name, data = _one(rng, files)
    span = _pixel_value_span(bytes(data))
    return None if span is None else (i, name, data, *span)


def _pixel_length(rng, files):
    picked = _one_with_pixels(rng, files)
    if picked is None:
        return None
    i, name, data, start, end = picked
    how = rng.choice(["longer", "shorter", "declared-longer", "declared-shorter"])
    length = struct.unpack("<I", data[start - 4:start])[0]  # 0xFFFFFFFF: encapsulated
    if how == "longer":
        extra = b"\x00\x01" * rng.choice([1, 8, 1000])
        if length != 0xFFFFFFFF:
            data[start - 4:start] = struct.pack("<I", length + len(extra))
        data += extra
    elif how == "shorter":
        cut = rng.randrange(1, max(2, (end - start) // 2))
        if length != 0xFFFFFFFF:
            data[start - 4:start] = struct.pack("<I", max(0, length - cut))
        data = data[:len(data) - cut]
    else:
        if length == 0xFFFFFFFF:
            return None
        delta = rng.choice([2, 100, 1 << 20]) * (1 if how == "declared-longer" else -1)
        data[start - 4:start] = struct.pack("<I", max(0, min(0xFFFFFFFE, length + delta)))
    return _replace(files, i, data), f"pixel data {how} in {name}"


def _stream_corruption(rng, files):
    picked = _one_with_pixels(rng, files)
    if picked is None:
        return None
    i, name, data, start, end = picked
    n = rng.choice([1, 4, 32, 256])
    for _ in range(n):
        where = rng.randrange(start, end)
        data[where] = rng.getrandbits(8)
    if rng.random() < 0.3:  # and cut the stream short
        data = data[:rng.randrange(start, end)]
    return _replace(files, i, data), f"{n} bytes of the pixel stream of {name}"


def _geometry(rng, files):
    i, name, data = _one(rng, files)
    keyword = rng.choice(["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                          "GantryDetectorTilt", "SliceThickness"])
    tag, _vr = _TARGETS[keyword]
    value = rng.choice(["0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "NaN\\0\\0", "1e308\\1e308\\1e308",
                        "0\\0", "-0.5\\0.5", "1\\0\\0\\0\\1", "Inf", "NaN", "1e308", "-1e308",
                        "0", "-45", "89.9"])
    if keyword == "GantryDetectorTilt" and _find_element(bytes(data), tag) < 0:
        at = _find_element(bytes(data), 0x00181150)  # absent: insert before (0018,1150) or skip
        if at < 0:
            return None
    out = _rewrite(bytes(data), tag, b"DS", value.encode())
    if out is None:
        return None
    return _replace(files, i, out), f"{keyword}={value} in {name}"


def _duplicates(rng, files):
    how = rng.choice(["same-file", "all-same"])
    if how == "same-file":
        return files + [(f"copy_of_{files[0][0]}", files[0][1])], "a file twice"
    return [(f"dup_{k:02d}.dcm", files[0][1]) for k in range(3)], "one file three times"


def _junk_mix(rng, files):
    junk = rng.choice([b"", b"\x00" * 200, b"DICM" * 40, b"PK\x03\x04" + bytes(60),
                       bytes(rng.getrandbits(8) for _ in range(300)), "h\u00e9llo".encode()])
    name = rng.choice(["notes.txt", "junk.dcm", "image.zip", "\x1b[2Jevil\n.dcm", "DICOMDIR"])
    return files + [(name, junk)], f"plus {name!r} of {len(junk)} bytes"


def _archive(rng, files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
        if rng.random() < 0.3:
            zf.writestr("nested.zip", b"PK\x03\x04" + bytes(40))
        if rng.random() < 0.2:
            zf.writestr("\x1b[31mred\n.dcm", files[0][1])
    raw = bytearray(buf.getvalue())
    how = rng.choice(["flip", "truncate", "lie-size", "lie-crc", "clean"])
    if how == "flip":
        for _ in range(rng.choice([1, 8, 64])):
            raw[rng.randrange(len(raw))] = rng.getrandbits(8)
    elif how == "truncate":
        raw = raw[:rng.randrange(len(raw))]
    elif how == "lie-size":  # central-directory uncompressed sizes understate the truth
        at = 0
        while (at := raw.find(b"PK\x01\x02", at)) >= 0:
            raw[at + 24:at + 28] = struct.pack("<I", rng.choice([0, 1, 10]))
            at += 4
    elif how == "lie-crc":
        at = raw.find(b"PK\x01\x02")
        if at >= 0:
            raw[at + 16:at + 20] = b"\xde\xad\xbe\xef"
    return files, f"zip {how}", bytes(raw)


#: name -> mutation function; archive mutations also return the zip's bytes.
MUTATIONS = {
    "byte-flips": _byte_flips,
    "truncate": _truncate,
    "bad-value": _bad_value,
    "bad-vr": _bad_vr,
    "bad-length": _bad_length,
    "huge-matrix": _huge_matrix,
    "pixel-length": _pixel_length,
    "stream-corruption": _stream_corruption,
    "geometry": _geometry,
    "duplicates": _duplicates,
    "junk-mix": _junk_mix,
    "archive": _archive,
}


def make_case(seeds, seed, index):
    """Build case ``index`` of the campaign ``seed`` from the ``seeds`` series.

    The same (seeds, seed, index) always gives the same case.
    """
    rng = random.Random(f"{seed}:{index}")
    kinds = sorted(seeds)
    for _attempt in range(20):
        kind = rng.choice(kinds)
        mutation = rng.choice(sorted(MUTATIONS))
        if mutation == "stream-corruption" and kind == "native":
            continue
        result = MUTATIONS[mutation](rng, list(seeds[kind]))
        if result is None:
            continue
        raw_zip = result[2] if len(result) == 3 else None
        form = "zip" if raw_zip is not None else rng.choice(FORMS)
        return Case(index, kind, mutation, result[1], result[0], form, raw_zip)
    raise RuntimeError(f"no applicable mutation for case {index}")


def _safe_name(name, k):
    """A file name usable on disk for member ``k`` (control characters kept out)."""
    clean = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
    return f"{k:02d}_{clean or 'file'}"


def materialise(case, workdir):
    """The loader source for ``case`` in its form; files are written under ``workdir``.

    Returns what ``load_series`` takes: a path (file, folder or .zip), a list
    of paths, or a list of ``(name, bytes)`` pairs (an upload).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if case.raw_zip is not None:
        path = workdir / "case.zip"
        path.write_bytes(case.raw_zip)
        return path if case.index % 2 else [("case.zip", case.raw_zip)]
    if case.form == "upload":
        return [(name, data) for name, data in case.files]
    if case.form == "zip":
        path = workdir / "case.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, data in case.files:
                zf.writestr(name, data)
        return path
    paths = []
    for k, (name, data) in enumerate(case.files):
        path = workdir / _safe_name(name, k)
        path.write_bytes(data)
        paths.append(path)
    if case.form == "path":
        return paths[0] if len(paths) == 1 else paths
    if case.form == "list":
        return paths
    return workdir  # folder


#: Outcomes that keep the loader's contract.
GOOD_OUTCOMES = ("loaded", "DicomLoadError")


def run_case(case, workdir, load):
    """Feed ``case`` to ``load`` (``load_series``) and name the outcome.

    Returns:
        ``(outcome, seconds, message)``; outcome is ``"loaded"`` (finite HU),
        ``"DicomLoadError"``, ``"non-finite HU"`` or ``"escaped <Type>"`` for
        any other exception, including ``BaseException`` subclasses raised by
        codecs (not ``KeyboardInterrupt`` / ``SystemExit``).
    """
    source = materialise(case, workdir)
    start = time.perf_counter()
    try:
        series = load(source)
    except DicomLoadError as exc:
        return "DicomLoadError", time.perf_counter() - start, str(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the point is to see what escapes
        return f"escaped {type(exc).__name__}", time.perf_counter() - start, str(exc)[:300]
    seconds = time.perf_counter() - start
    if not np.isfinite(series.hu).all():
        return "non-finite HU", seconds, f"{series.hu.shape}"
    return "loaded", seconds, f"{series.hu.shape}, {len(series.skipped)} skipped"
