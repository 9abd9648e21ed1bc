"""Reading DICOM headers once, fast, without the pixel data.

Private helper of :mod:`cranioscan.dicom`. ``read_header`` parses one
candidate file with ``dcmread(stop_before_pixels=True)`` (``force=True``
for files without the 128-byte preamble), remembers where its Pixel Data
element starts, and extracts the ~25 tags the loader needs straight from
pydicom's raw elements (about 20 times faster than pydicom's per-element
value conversion, which dominated load time). Text shown to users
(descriptions, names) still goes through pydicom, honouring the character set.
"""

__all__ = [
    "CT_SOP_CLASSES",
    "SECONDARY_CAPTURE_SOP_CLASSES",
    "Header",
    "fields_of",
    "read_header",
    "INDEX_TAGS",
    "ScannedFiles",
    "peek",
    "dcmread_source",
    "read_index_entry",
]

import io
import math
import os
import struct
from dataclasses import dataclass, field, replace

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .checks import BOUNDARY_PASS, check_fields, failure_text
from .geometry import slice_normal
from .sniff import plausible_bare_dataset

#: SOP classes holding CT images (CT, Enhanced CT, Legacy Converted Enhanced CT).
CT_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2"}
)
#: Secondary Capture SOP classes (screenshots, derived pictures).
SECONDARY_CAPTURE_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.7"} | {f"1.2.840.10008.5.1.4.1.1.7.{i}" for i in range(1, 5)}
)
_MR_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.4"
_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"
_DICOMDIR_REASON = "DICOMDIR index file (it lists the images; it is not an image)"

# keyword -> (tag, kind); kind: "str", "strs" (upper-case list), "int", "floats", "us"
_FIELDS = {
    "SOPClassUID": (0x00080016, "str"),
    "SOPInstanceUID": (0x00080018, "str"),
    "Modality": (0x00080060, "str"),
    "ImageType": (0x00080008, "strs"),
    "StudyInstanceUID": (0x0020000D, "str"),
    "SeriesInstanceUID": (0x0020000E, "str"),
    "SeriesNumber": (0x00200011, "int"),
    "InstanceNumber": (0x00200013, "int"),
    "ImagePositionPatient": (0x00200032, "floats"),
    "ImageOrientationPatient": (0x00200037, "floats"),
    "SamplesPerPixel": (0x00280002, "us"),
    "PhotometricInterpretation": (0x00280004, "str"),
    "NumberOfFrames": (0x00280008, "int"),
    "Rows": (0x00280010, "us"),
    "Columns": (0x00280011, "us"),
    "PixelSpacing": (0x00280030, "floats"),
    "ImagerPixelSpacing": (0x00181164, "floats"),
    "BitsAllocated": (0x00280100, "us"),
    "BitsStored": (0x00280101, "us"),
    "PixelRepresentation": (0x00280103, "us"),
    "RescaleIntercept": (0x00281052, "floats"),
    "RescaleSlope": (0x00281053, "floats"),
    "SliceThickness": (0x00180050, "floats"),
    "SpacingBetweenSlices": (0x00180088, "floats"),
    "GantryDetectorTilt": (0x00181120, "floats"),
    "PatientID": (0x00100020, "str"),
}
_PIXEL_TAG = {True: struct.pack("<HH", 0x7FE0, 0x0010), False: struct.pack(">HH", 0x7FE0, 0x0010)}


def _strings(elem):
    """Values of a string element as a list of stripped str."""
    if isinstance(elem, RawDataElement):
        raw = elem.value
        if not raw:
            return []
        text = raw.decode("latin-1") if isinstance(raw, (bytes, bytearray)) else str(raw)
        return [part.strip(" \x00") for part in text.split("\\")]
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def _unsigned_shorts(elem):
    if isinstance(elem, RawDataElement):
        raw = elem.value or b""
        count = len(raw) // 2
        return list(struct.unpack(("<" if elem.is_little_endian else ">") + "H" * count,
                                  raw[:2 * count]))
    value = elem.value
    if value is None:
        return []
    return [int(v) for v in value] if hasattr(value, "__len__") else [int(value)]


def _field(elem, kind):
    """One element's plain value for ``kind``; raises ValueError saying why it is unusable."""
    if kind == "us":
        values = _unsigned_shorts(elem)
        raw = elem.value if isinstance(elem, RawDataElement) else None
        if isinstance(raw, (bytes, bytearray)) and len(raw) % 2:
            raise ValueError(f"stored in {len(raw)} bytes, not a whole number of 16-bit values")
        if len(values) > 1:
            raise ValueError(f"{len(values)} values instead of one")
        return values[0] if values else None
    values = _strings(elem)
    if kind == "str":
        return values[0] if values and values[0] else None
    if kind == "strs":
        return [v.upper() for v in values if v]
    numbers = []
    for text in (v for v in values if v):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text[:20]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text[:20]!r} is not a finite number")
        numbers.append(number)
    if kind == "int":
        if len(numbers) > 1:
            raise ValueError(f"{len(numbers)} values instead of one")
        return int(numbers[0]) if numbers else None
    return numbers or None


def fields_of(ds, invalid=None):
    """Plain Python values of the tags in ``_FIELDS`` (None when absent or unusable).

    Args:
        ds: a pydicom dataset (elements may still be raw).
        invalid: optional dict, filled with keyword -> why the stored value
            is unusable (wrong count of values, odd byte length, not a
            finite number); :func:`cranioscan.dicom.checks.check_fields`
            decides what that means for the file.
    """
    out = {}
    for keyword, (tag, kind) in _FIELDS.items():
        out[keyword] = None
        try:
            elem = ds.get_item(tag)
            if elem is not None:
                out[keyword] = _field(elem, kind)
        except (ValueError, TypeError, OverflowError, struct.error, NotImplementedError) as exc:
            if invalid is not None:
                invalid[keyword] = str(exc) or type(exc).__name__
    return out


@dataclass
class Header:
    """One DICOM image file's header, parsed once.

    ``f`` holds the plain values of the tags the loader needs; ``ds`` is the
    pydicom dataset without pixel data; ``offset`` is the byte offset of the
    Pixel Data element (None: re-read the whole file, e.g. deflated syntax).
    """

    file: object  # SourceFile
    ds: object
    f: dict
    offset: int | None
    transfer_syntax: str
    compressed: bool
    repairs: list = field(default_factory=list)  # descriptive tags dropped as unusable

    def __post_init__(self):
        f = self.f
        meta = getattr(self.ds, "file_meta", None)
        sop_class = f["SOPClassUID"]
        sop_uid = f["SOPInstanceUID"]
        if meta is not None:
            sop_class = sop_class or str(meta.get("MediaStorageSOPClassUID", "") or "").strip()
            sop_uid = sop_uid or str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip()
        self.sop_class = sop_class or ""
        self.sop_uid = sop_uid or ""
        modality = (f["Modality"] or "").upper()
        if not modality:
            if self.sop_class in CT_SOP_CLASSES:
                modality = "CT"
            elif self.sop_class in SECONDARY_CAPTURE_SOP_CLASSES:
                modality = "OT"
            elif self.sop_class.startswith(_MR_SOP_PREFIX):
                modality = "MR"
        self.modality = modality
        self.series_uid = f["SeriesInstanceUID"] or ""
        self.study_uid = f["StudyInstanceUID"] or ""
        self.rows, self.cols = int(f["Rows"]), int(f["Columns"])
        self.problem = _problem(self.sop_class, modality)

    @property
    def name(self):
        """The file's display name."""
        return self.file.name

    def compact(self, keywords):
        """This header with ``ds`` cut down to ``keywords`` (and the file meta); nothing parsed again.

        For headers kept between finding a series and loading it (a worklist
        of thousands of files): the plain values in ``f``, the pixel offset
        and the transfer syntax stay; of the dataset only the tags read after
        the scan are kept, still raw. Returns a new :class:`Header`.
        """
        small = Dataset()
        for keyword in keywords:
            tag = tag_for_keyword(keyword)
            if tag is not None and tag in self.ds:
                small[tag] = self.ds.get_item(tag)
        implicit, little = getattr(self.ds, "original_encoding", (None, None))
        small.set_original_encoding(implicit, little, getattr(self.ds, "original_character_set", None))
        meta = getattr(self.ds, "file_meta", None)
        if meta is not None:
            small.file_meta = meta
        return replace(self, ds=small)

    def text(self, keyword):
        """A tag as display text through pydicom (character set honoured)."""
        try:
            value = self.ds.get(keyword)
        except Exception:
            return ""
        return "" if value is None else str(value).strip()


@dataclass
class ScannedFiles:
    """Files whose headers are parsed already: a source ``load_series`` reads without parsing again.

    ``headers``: one :class:`Header` per image file (usually
    :meth:`Header.compact`); ``len()`` is the number of files.
    """

    headers: list

    def __len__(self):
        return len(self.headers)


def _problem(sop_class, modality):
    if sop_class in SECONDARY_CAPTURE_SOP_CLASSES or modality == "OT":
        return "is a secondary capture (a screenshot or derived picture), not an original CT image"
    if modality and modality != "CT":
        return f"is {modality}, not CT"
    if not modality and sop_class and sop_class not in CT_SOP_CLASSES:
        return f"is {UID(sop_class).name}, not CT"
    return None


def _encoding_syntax(ds):
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian


#: Reads pydicom may make while parsing one header: this many, plus one per
#: ``HEADER_BYTES_PER_READ`` bytes it consumed. Real CT headers average about
#: 20 bytes per read (a few hundred reads); a run of zero bytes parses as
#: millions of empty 8-byte elements (about 0.5 s per MiB) and is stopped
#: after about 40 KiB.
HEADER_READS = 2_000
HEADER_BYTES_PER_READ = 32


class _NotAHeader(Exception):
    """The bytes parsed as a header are not a plausible DICOM data set."""


class _BudgetedReader:
    """A read-only file wrapper that stops a parse spending reads on few bytes.

    pydicom's parsing time grows with the number of elements, not bytes, so
    the wrapper allows ``HEADER_READS`` reads plus one per
    ``HEADER_BYTES_PER_READ`` bytes returned, and raises beyond that.
    """

    def __init__(self, fh):
        self._fh = fh
        self._reads = 0
        self._bytes = 0

    def read(self, size=-1):
        self._reads += 1
        if self._reads > HEADER_READS + self._bytes // HEADER_BYTES_PER_READ:
            raise _NotAHeader(f"its first {self._bytes:,} bytes parse as thousands of tiny "
                              "elements, unlike any image header")
        data = self._fh.read(size)
        self._bytes += len(data)
        return data

    def __getattr__(self, name):  # seek, tell, name, ...
        return getattr(self._fh, name)


def _parse(source_file):
    """Read the dataset without pixels; return (ds, forced, offset, peek) or a reason str."""
    with source_file.open() as fh:
        try:
            try:
                ds = dcmread(_BudgetedReader(fh), stop_before_pixels=True)
                forced = False
            except InvalidDicomError:
                fh.seek(0)
                if not plausible_bare_dataset(fh.read(8)):
                    return "not a DICOM file"
                fh.seek(0)
                try:
                    ds = dcmread(_BudgetedReader(fh), stop_before_pixels=True, force=True)
                except _NotAHeader:
                    raise
                except Exception:  # noqa: BLE001 - a forced parse of non-DICOM bytes
                    return "not a DICOM file"
                forced = True
        except _NotAHeader as exc:
            return f"damaged DICOM file: its header is not readable ({exc})"
        offset = fh.tell()
        peek = fh.read(4)
    return ds, forced, offset, peek


def read_header(source_file):
    """Parse one file's header and check its values once.

    Every failure to parse, of any kind (pydicom errors, unknown VRs, odd
    value lengths, a codec's ``BaseException``), becomes a reason; only
    ``KeyboardInterrupt`` and ``SystemExit`` pass through.

    Returns:
        ``(Header, None)`` for a single-frame greyscale image file whose
        layout values are usable, else ``(None, reason)`` with the reason in
        plain words ("not a DICOM file", "DICOMDIR index file ...", "its
        Rows (0028,0010) is not a usable value ...").
    """
    base = source_file.name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.upper() == "DICOMDIR":
        return None, _DICOMDIR_REASON
    try:
        parsed = _parse(source_file)
        if isinstance(parsed, str):
            return None, parsed
        return _header_of(source_file, *parsed)
    except OSError as exc:
        return None, f"could not be opened ({exc.strerror or exc})"
    except BOUNDARY_PASS:
        raise
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        return None, f"damaged DICOM file: its header could not be read ({failure_text(exc)})"


def _header_of(source_file, ds, forced, offset, peek):
    invalid = {}
    f = fields_of(ds, invalid)
    if forced and not (f["Rows"] and (f["SOPClassUID"] or f["Modality"]
                                      or f["ImagePositionPatient"])):
        return None, "not a DICOM file"
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip() if meta is not None else ""
    syntax = UID(syntax or _encoding_syntax(ds))
    if not syntax.is_transfer_syntax:
        return None, (f"damaged DICOM file: its Transfer Syntax UID ('{syntax[:64]}') is not a "
                      "transfer syntax, so its image data cannot be interpreted")
    if not f["Rows"] or not f["Columns"]:
        if "Rows" in invalid or "Columns" in invalid:
            problem, _ = check_fields(f, invalid)
            return None, problem
        sop = f["SOPClassUID"] or (str(meta.get("MediaStorageSOPClassUID", "") or "")
                                   if meta is not None else "")
        if sop == _DIRECTORY_SOP_CLASS:
            return None, _DICOMDIR_REASON
        return None, f"contains no image ({UID(sop).name if sop else 'not an image object'})"
    problem, repairs = check_fields(f, invalid)
    if problem:
        return None, problem
    frames = f["NumberOfFrames"] or 1
    if frames > 1:
        return None, f"multi-frame image ({frames} frames in one file) is not supported"
    if (f["SamplesPerPixel"] or 1) != 1:
        return None, "colour image, not a greyscale CT slice"
    if syntax.is_deflated:
        offset = None
    else:
        little = getattr(ds, "original_encoding", (None, True))[1] is not False
        if peek != _PIXEL_TAG[little]:
            if len(peek) == 4 and peek[:2] == _PIXEL_TAG[little][:2]:
                return None, "floating-point or unusual pixel data are not supported for CT"
            return None, "has no image data (the Pixel Data element is missing)"
    compressed = bool(syntax.is_compressed)
    return Header(source_file, ds, f, offset, str(syntax), compressed, repairs), None


#: Tags a dataset index of many files reads (no pixels): identity, position, order.
INDEX_TAGS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
              "ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber", "Modality")


def read_index_entry(path):
    """Patient, study, series and position of one file, for a training-set index.

    Reads ``INDEX_TAGS`` only (fast over hundreds of thousands of files) and
    parses them as the loader does (:func:`fields_of`).

    Returns:
        ``(dict, None)`` with ``patient``, ``study``, ``series``, ``position``
        (mm along the slice normal, NaN when the geometry tags are missing or
        invalid) and ``instance`` (InstanceNumber or None); or ``(None, reason)``.
    """
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=list(INDEX_TAGS))
    except Exception as exc:  # noqa: BLE001 - any parse failure means unreadable
        return None, f"{type(exc).__name__}: {exc}"
    f = fields_of(ds)
    if not f["SOPInstanceUID"]:
        return None, "not a DICOM image (no SOPInstanceUID)"
    position = float("nan")
    try:
        normal, _axial = slice_normal(f["ImageOrientationPatient"])
        position = float(sum(p * n for p, n in zip(f["ImagePositionPatient"], normal)))
    except (AttributeError, ValueError, TypeError):
        pass
    return {"patient": f["PatientID"] or "", "study": f["StudyInstanceUID"] or "",
            "series": f["SeriesInstanceUID"] or "", "position": position,
            "instance": f["InstanceNumber"]}, None


def dcmread_source(source):
    """What ``dcmread`` takes for a path, the file's bytes or a binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    return source


def peek(source, tags=None):
    """The header of one DICOM file, without its pixel data.

    The one place outside the loader where CranioScan parses a header (PACS
    results copy the source's tags, the development PACS reads a study UID,
    the worklist groups files): the plain parse first, ``force=True`` for
    files without the 128-byte preamble.

    Args:
        source: a path, the file's bytes, or a binary file object.
        tags: keywords to read (the others are not parsed), or ``None`` for all.

    Returns:
        a ``pydicom.Dataset`` (no Pixel Data); absent tags are simply missing.

    Raises:
        OSError: the file cannot be opened.
        Exception: whatever pydicom raises for bytes that are not DICOM.
    """
    source = dcmread_source(source)
    specific = None if tags is None else list(tags)
    try:
        return dcmread(source, stop_before_pixels=True, specific_tags=specific)
    except InvalidDicomError:  # no preamble: old systems write bare datasets
        if hasattr(source, "seek"):
            source.seek(0)
        return dcmread(source, stop_before_pixels=True, specific_tags=specific, force=True)
