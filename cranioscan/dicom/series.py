"""Series I/O: DICOM folders, zips and uploads -> a CT volume in Hounsfield units.

``load_series(source)`` is the only way DICOM enters CranioScan; everything
downstream works on the returned :class:`Series` and never re-reads DICOM.
``discover_series(source)`` lists the series a source holds.

How a source is read:

1. The source (folder, .zip, paths, ``(name, bytes)`` pairs, uploaded
   file objects) is flattened into candidate files; zips are read in memory
   within ``MAX_ZIP_BYTES`` / ``MAX_ZIP_FILES``.
2. Every candidate's header is parsed once with
   ``dcmread(stop_before_pixels=True)`` (``force=True`` as a fallback for
   files without the 128-byte preamble); the byte offset of its Pixel Data
   element is remembered. Files that are not DICOM images are reported in
   ``Series.skipped`` with the reason.
3. Files are grouped by SeriesInstanceUID; the requested series (or the CT
   series with the most slices) is chosen; localizers, other orientations,
   duplicates and unreadable slices are left out with a reason.
4. Slices are ordered inferior -> superior by ImagePositionPatient projected
   on the slice normal ``cross(row_dir, col_dir)`` (InstanceNumber only when
   positions are missing); only the chosen files' pixel data are read, each
   decoded straight into one preallocated float32 volume (see
   ``cranioscan._dicom_pixels`` for the HU conversion: rescale, padding and
   out-of-field-of-view -> air, MONOCHROME1, the RSNA 12-bit defect).

User files are only opened for reading; nothing is written or extracted.
"""

__all__ = [
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
    "OUTSIDE_FOV_HU",
    "DicomLoadError",
    "Series",
    "SeriesInfo",
    "discover_series",
    "load_series",
    "read_slice_hu",
]

import collections
import warnings
from dataclasses import dataclass, field

import numpy as np
from pydicom.uid import UID

from .geometry import duplicate_mask, gap_warnings, mm, slice_normal, tilt_degrees
from .header import read_header
from .pixels import (
    OUTSIDE_FOV_HU,
    PixelError,
    params_from_header,
    read_stored,
    stored_to_hu,
)
from .sources import MAX_ZIP_BYTES, MAX_ZIP_FILES, DicomLoadError, collect, describe

_MAX_LISTED = 6
#: Direction cosines differing by more than this mean another orientation.
_IOP_TOL = 0.01


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a source (from headers only; no pixels read).

    Attributes:
        uid: SeriesInstanceUID ("" when the files carry none).
        modality: Modality tag (or derived from the SOP class), e.g. "CT".
        description: SeriesDescription ("" when absent).
        n_files: number of image files of this series in the source.
        study_uid: StudyInstanceUID ("" when absent).
        series_number: SeriesNumber or None.
        rows, cols: image matrix of the first file.
        sop_class: name of the SOP class, e.g. "CT Image Storage".
        problem: why ``load_series`` refuses this series (e.g. "is MR, not
            CT"), or None for a loadable CT series.
    """

    uid: str
    modality: str
    description: str
    n_files: int
    study_uid: str = ""
    series_number: int | None = None
    rows: int | None = None
    cols: int | None = None
    sop_class: str = ""
    problem: str | None = None

    @property
    def is_ct(self):
        """True when ``load_series`` accepts this series."""
        return self.problem is None

    def label(self):
        """Short text naming the series for messages."""
        desc = f"'{self.description}'" if self.description else "(no description)"
        return f"series {desc} (UID {self.uid or 'missing'})"


@dataclass(repr=False, eq=False)
class Series:
    """A loaded CT series in Hounsfield units, slices inferior -> superior.

    Attributes:
        hu: float32 ``(n, rows, cols)`` Hounsfield units; padding and pixels
            outside the field of view are air (-1000 HU).
        positions: float64 ``(n,)`` slice positions in mm along ``normal``
            (strictly increasing, inferior -> superior).
        spacing: ``(row, col)`` pixel spacing in mm (PixelSpacing).
        warnings: plain-language warnings for the reader of the study.
        skipped: ``(name, reason)`` for every file left out.
        meta: display tags (patient, study, series, acquisition, window);
            a fixed set of keys, None where the tag is absent.
        sop_uids: SOPInstanceUID per slice, in slice order.
        names: source file name per slice, in slice order.
        series_uid, study_uid: the series' and study's instance UIDs.
        slice_thickness: SliceThickness in mm, or None.
        slice_spacing: median distance between slice positions in mm (None
            for a single slice).
        slice_gaps: float64 ``(n - 1,)`` distances between neighbours, mm.
        tilt_degrees: gantry tilt, the angle between the slice normal and
            the line through the slice origins (degrees; for one slice the
            GantryDetectorTilt tag, or 0).
        orientation: float64 ``(6,)`` ImageOrientationPatient.
        normal: float64 ``(3,)`` unit slice normal (LPS, pointing superior
            for axial series).
        image_positions: float64 ``(n, 3)`` ImagePositionPatient per slice
            (NaN where absent).
        instance_numbers: InstanceNumber per slice (None where absent).
    """

    hu: np.ndarray
    positions: np.ndarray
    spacing: tuple
    warnings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    sop_uids: list = field(default_factory=list)
    names: list = field(default_factory=list)
    series_uid: str = ""
    study_uid: str = ""
    slice_thickness: float | None = None
    slice_spacing: float | None = None
    slice_gaps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tilt_degrees: float = 0.0
    orientation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0, 0, 0, 1, 0]))
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0, 1]))
    image_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    instance_numbers: list = field(default_factory=list)

    @property
    def n_slices(self):
        """Number of slices."""
        return int(self.hu.shape[0])

    @property
    def shape(self):
        """``(n, rows, cols)`` of ``hu``."""
        return tuple(self.hu.shape)

    def __len__(self):
        return self.n_slices

    def __repr__(self):
        return (
            f"Series(uid={self.series_uid!r}, shape={self.shape}, "
            f"spacing={self.spacing}, slice_spacing={self.slice_spacing}, "
            f"tilt_degrees={self.tilt_degrees:.2f}, warnings={len(self.warnings)}, "
            f"skipped={len(self.skipped)})"
        )


# --- headers ----------------------------------------------------------------
def _scan(source, max_zip_bytes, max_zip_files):
    """Headers of every DICOM image in ``source``; raise when there is none."""
    files, skipped = collect(source, max_zip_bytes, max_zip_files)
    headers = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for source_file in files:
            header, reason = read_header(source_file)
            if header is None:
                skipped.append((source_file.name, reason))
            else:
                headers.append(header)
    if not headers:
        label = describe(source)
        if not files and not skipped:
            raise DicomLoadError(f"No files found in {label}.")
        raise DicomLoadError(
            f"No DICOM images found in {label}: {_summarise_skipped(skipped)}."
        )
    return headers, skipped


def _summarise_skipped(skipped):
    if len(skipped) <= _MAX_LISTED:
        return "; ".join(f"'{name}': {reason}" for name, reason in skipped)
    counts = collections.Counter(reason for _, reason in skipped)
    parts = []
    for reason, count in counts.most_common(_MAX_LISTED):
        example = next(name for name, r in skipped if r == reason)
        parts.append(f"{count} files: {reason} (e.g. '{example}')"
                     if count > 1 else f"'{example}': {reason}")
    return "; ".join(parts)


def _group(headers):
    groups = collections.OrderedDict()
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    infos = []
    for uid, members in groups.items():
        first = members[0]
        modalities = collections.Counter(h.modality for h in members if h.modality)
        problems = collections.Counter(h.problem for h in members)
        problem = problems.most_common(1)[0][0]
        sop = first.sop_class
        infos.append(
            SeriesInfo(
                uid=uid,
                modality=modalities.most_common(1)[0][0] if modalities else "",
                description=first.text("SeriesDescription"),
                n_files=len(members),
                study_uid=first.study_uid,
                series_number=first.f["SeriesNumber"],
                rows=first.rows,
                cols=first.cols,
                sop_class=UID(sop).name if sop else "",
                problem=problem,
            )
        )
    order = sorted(
        range(len(infos)),
        key=lambda i: (infos[i].study_uid, infos[i].series_number is None,
                       infos[i].series_number or 0, i),
    )
    return [infos[i] for i in order], groups


def discover_series(source, *, max_zip_bytes=MAX_ZIP_BYTES, max_zip_files=MAX_ZIP_FILES):
    """List the series in ``source`` from file headers (no pixel data read).

    Args:
        source: as for :func:`load_series`.
        max_zip_bytes, max_zip_files: caps on what zips may unpack to.

    Returns:
        list of :class:`SeriesInfo`, ordered by study and SeriesNumber.

    Raises:
        DicomLoadError: the source is missing or empty, or holds no DICOM image.
    """
    headers, _ = _scan(source, max_zip_bytes, max_zip_files)
    infos, _ = _group(headers)
    return infos


def _choose(infos, series_uid, label):
    """Pick the series to load; return (info, warnings)."""
    if series_uid is not None:
        wanted = str(series_uid).strip()
        for info in infos:
            if info.uid == wanted:
                if info.problem:
                    raise DicomLoadError(
                        f"The {info.label()} {info.problem}: CranioScan reads CT series only."
                    )
                return info, []
        listing = "; ".join(f"{i.uid or '(none)'} ({i.modality or '?'}, {i.n_files} files)"
                            for i in infos[:_MAX_LISTED])
        raise DicomLoadError(
            f"Series UID '{wanted}' is not in {label}. Series found: {listing}."
        )
    candidates = [info for info in infos if info.problem is None]
    if not candidates:
        found = "; ".join(f"the {i.label()} {i.problem} ({i.n_files} files)"
                          for i in infos[:_MAX_LISTED])
        raise DicomLoadError(f"No CT series found in {label}: {found}.")
    best = max(candidates, key=lambda info: info.n_files)  # first among equals
    notes = []
    if len(infos) > 1:
        rest = [i for i in infos if i is not best]
        others = "; ".join(
            f"{i.label()}: {i.modality or '?'}, {_plural(i.n_files, 'file')}"
            + (f" ({i.problem})" if i.problem else "")
            for i in rest[:_MAX_LISTED]
        ) + (f"; and {len(rest) - _MAX_LISTED} more" if len(rest) > _MAX_LISTED else "")
        notes.append(
            f"This source holds {len(infos)} series; loaded the CT series with the most "
            f"slices, {best.label()} with {best.n_files} files. Also found: {others}. "
            "Choose another series by its UID to view it."
        )
    return best, notes


# --- the chosen series ----------------------------------------------------------
def _floats(values, count):
    """``values`` when it holds exactly ``count`` finite numbers, else None."""
    if not values or len(values) != count or not all(np.isfinite(values)):
        return None
    return list(values)


def _first(values):
    """First of a list of numbers, or None."""
    return float(values[0]) if values else None


def _float_or_none(value):
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) and hasattr(value, "__len__"):
            value = value[0] if len(value) else None
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _names(headers, limit=_MAX_LISTED):
    shown = ", ".join(f"'{h.name}'" for h in headers[:limit])
    return shown + (f" and {len(headers) - limit} more" if len(headers) > limit else "")


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _filter_members(members, info, skipped, warns):
    """Drop non-CT files, localizers and off-orientation slices of a series."""
    kept = []
    for h in members:
        if h.problem:
            skipped.append((h.name, h.problem))
        elif "LOCALIZER" in (h.f["ImageType"] or []):
            skipped.append((h.name, "localizer (scout) image, not an axial slice"))
        else:
            kept.append(h)
    if not kept:
        raise DicomLoadError(f"The {info.label()} holds no CT slices (only localizer images).")
    with_iop = [h for h in kept if _floats(h.f["ImageOrientationPatient"], 6)]
    if with_iop and len(with_iop) == len(kept):
        iops = np.array([h.f["ImageOrientationPatient"] for h in kept], dtype=np.float64)
        # the most common orientation (rounded) names the series'; compare within _IOP_TOL
        keys = [tuple(row) for row in np.round(iops, 2)]
        common = collections.Counter(keys).most_common(1)[0][0]
        ref = iops[keys.index(common)]
        same = np.abs(iops - ref).max(axis=1) <= _IOP_TOL
        off = [h for h, agree in zip(kept, same) if not agree]
        if off:
            for h in off:
                skipped.append((h.name, "different orientation from the rest of the series "
                                        "(localizer or reformatted image?)"))
            warns.append(
                f"{_plural(len(off), 'file')} of the series had a different orientation from "
                f"the rest and {'was' if len(off) == 1 else 'were'} left out: {_names(off)}."
            )
            kept = [h for h, agree in zip(kept, same) if agree]
    sizes = collections.OrderedDict()
    for h in kept:
        sizes.setdefault((h.rows, h.cols), []).append(h)
    if len(sizes) > 1:
        parts = [f"{r}x{c} pixels in {_plural(len(hs), 'file')} ({_names(hs, 3)})"
                 for (r, c), hs in sorted(sizes.items(), key=lambda kv: -len(kv[1]))]
        raise DicomLoadError(
            f"The {info.label()} mixes image sizes, so its slices cannot be stacked "
            f"into one volume: {'; '.join(parts)}."
        )
    return kept


def _order(kept, skipped, warns):
    """Order slices inferior -> superior; drop duplicates.

    Returns (ordered headers, positions (n,), normal (3,), orientation (6,),
    image_positions (n, 3), geometric: bool).
    """
    iops = [_floats(h.f["ImageOrientationPatient"], 6) for h in kept]
    ipps = [_floats(h.f["ImagePositionPatient"], 3) for h in kept]
    instances = [h.f["InstanceNumber"] for h in kept]
    orientation = np.array(iops[0] if iops[0] else [1.0, 0, 0, 0, 1, 0], dtype=np.float64)
    normal, axial = None, True
    if all(iops) and all(ipps):
        try:
            normal, axial = slice_normal(orientation)
        except ValueError:
            normal = None
    if normal is not None:
        ipp = np.array(ipps, dtype=np.float64)
        pos = ipp @ normal
        idx = sorted(range(len(kept)), key=lambda i: (
            pos[i], instances[i] if instances[i] is not None else float("inf")))
        ordered = [kept[i] for i in idx]
        pos, ipp = pos[idx], ipp[idx]
        keep, kept_index = duplicate_mask(pos)
        if not keep.all():
            dropped = []
            for i in np.flatnonzero(~keep):
                original = ordered[kept_index[i]]
                same = ordered[i].sop_uid and ordered[i].sop_uid == original.sop_uid
                what = "the same image as" if same else "the same position as"
                skipped.append((ordered[i].name,
                                f"duplicate: {what} '{original.name}' ({mm(pos[i])} mm)"))
                dropped.append(f"'{ordered[i].name}' ({what} '{original.name}' at "
                               f"{mm(pos[i])} mm)")
            warns.append(
                f"{_plural(len(dropped), 'duplicate slice')} at the position of another slice "
                f"{'was' if len(dropped) == 1 else 'were'} left out (kept the first): "
                + "; ".join(dropped[:_MAX_LISTED])
                + (f"; and {len(dropped) - _MAX_LISTED} more" if len(dropped) > _MAX_LISTED else "")
                + "."
            )
            ordered = [h for h, k in zip(ordered, keep) if k]
            pos, ipp = pos[keep], ipp[keep]
        if not axial:
            warns.append(
                "This series is not axial (sagittal or coronal slices): slices are "
                "ordered along the slice normal, not from inferior to superior."
            )
        return ordered, pos, normal, orientation, ipp, True

    # No usable geometry: InstanceNumber, else file name.
    normal = np.array([0.0, 0.0, 1.0])
    if all(i is not None for i in instances):
        idx = sorted(range(len(kept)), key=lambda i: instances[i])
        how = "Instance Number"
    else:
        idx = list(range(len(kept)))
        how = "file name"
    ordered, seen, dupes = [], set(), []
    for i in idx:
        uid = kept[i].sop_uid
        if uid and uid in seen:
            skipped.append((kept[i].name, "duplicate: the same image (SOP Instance UID) twice"))
            dupes.append(kept[i])
            continue
        seen.add(uid)
        ordered.append(kept[i])
    if dupes:
        warns.append(f"{_plural(len(dupes), 'duplicate image')} left out: {_names(dupes)}.")
    f0 = ordered[0].f
    step = _first(f0["SpacingBetweenSlices"]) or _first(f0["SliceThickness"]) or 1.0
    pos = np.arange(len(ordered), dtype=np.float64) * abs(step)
    if len(ordered) > 1:
        warns.append(
            f"Slice positions (Image Position/Orientation) are missing: slices are ordered by "
            f"{how}, and distances between slices are assumed to be {mm(abs(step))} mm."
        )
    ipp = np.array([_floats(h.f["ImagePositionPatient"], 3) or [np.nan] * 3
                    for h in ordered], dtype=np.float64)
    return ordered, pos, normal, orientation, ipp, False


def _pixel_spacing(ordered, warns):
    values = []
    for h in ordered:
        sp = _floats(h.f["PixelSpacing"] or h.f["ImagerPixelSpacing"], 2)
        if sp and sp[0] > 0 and sp[1] > 0:
            values.append(sp)
    if not values:
        warns.append("Pixel Spacing is missing: distances and sizes assume 1 mm pixels.")
        return (1.0, 1.0)
    arr = np.array(values)
    if np.ptp(arr, axis=0).max() > 1e-3 * arr.max():
        warns.append(
            f"Pixel spacing differs between slices ({mm(arr.min())} to {mm(arr.max())} mm); "
            "the first slice's is used."
        )
    return (float(values[0][0]), float(values[0][1]))


_META_TEXT = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "patient_age": "PatientAge",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "accession_number": "AccessionNumber",
    "series_date": "SeriesDate",
    "series_description": "SeriesDescription",
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "ManufacturerModelName",
    "institution": "InstitutionName",
    "body_part": "BodyPartExamined",
    "convolution_kernel": "ConvolutionKernel",
    "photometric_interpretation": "PhotometricInterpretation",
}
_META_NUMBER = {
    "series_number": "SeriesNumber",
    "kvp": "KVP",
    "tube_current_ma": "XRayTubeCurrent",
    "exposure_mas": "Exposure",
    "slice_thickness": "SliceThickness",
    "spacing_between_slices": "SpacingBetweenSlices",
    "window_center": "WindowCenter",
    "window_width": "WindowWidth",
    "rescale_slope": "RescaleSlope",
    "rescale_intercept": "RescaleIntercept",
    "gantry_tilt_tag": "GantryDetectorTilt",
    "bits_stored": "BitsStored",
    "pixel_representation": "PixelRepresentation",
}


def _meta(header, modality):
    ds = header.ds
    meta = {}
    for key, keyword in _META_TEXT.items():
        value = header.text(keyword)
        meta[key] = value or None
    for key, keyword in _META_NUMBER.items():
        meta[key] = _float_or_none(ds.get(keyword))
    for key in ("series_number", "bits_stored", "pixel_representation"):
        if meta[key] is not None:
            meta[key] = int(meta[key])
    meta["modality"] = meta["modality"] or modality or None
    meta["transfer_syntax"] = UID(header.transfer_syntax).name
    meta["study_uid"] = header.study_uid or None
    meta["series_uid"] = header.series_uid or None
    meta["rows"], meta["columns"] = int(ds.Rows), int(ds.Columns)
    return meta


_NOTE_TEXT = {
    "monochrome1": (
        "{n} stored as MONOCHROME1 (inverted grey scale): HU come from the rescale "
        "as the DICOM standard defines, and are shown with the usual CT grey scale "
        "(air dark, bone bright)."
    ),
    "rsna_12bit": (
        "{n} had the known 12-bit Rescale Intercept defect (as in the RSNA 2019 "
        "data: 12-bit unsigned storage with an intercept above -100 HU); values were "
        "corrected as HU = ((stored + 1000) mod 4096) x slope - 1000."
    ),
    "no_rescale": (
        "{n} had no Rescale Slope/Intercept: stored values were taken as HU."
    ),
}


def _decode_all(ordered, skipped, warns, info):
    """Decode the ordered slices into one float32 volume; drop unreadable ones."""
    rows, cols = ordered[0].rows, ordered[0].cols
    volume = np.empty((len(ordered), rows, cols), dtype=np.float32)
    ok = np.ones(len(ordered), dtype=bool)
    notes = collections.Counter()
    failed = []
    for i, h in enumerate(ordered):
        try:
            params = params_from_header(h.f, h.ds, h.transfer_syntax, h.compressed)
            stored = read_stored(h.file, h.offset, params, h.ds)
            notes.update(stored_to_hu(stored, volume[i], params))
        except PixelError as exc:
            reason = str(exc)
        except MemoryError:
            raise
        except Exception as exc:  # a decoder or file error we did not foresee
            reason = f"the image data could not be read ({type(exc).__name__}: {exc})"
        else:
            continue
        ok[i] = False
        skipped.append((h.name, reason))
        failed.append((h, reason))
    if failed:
        if not ok.any():
            h, reason = failed[0]
            raise DicomLoadError(
                f"None of the {_plural(len(ordered), 'image')} of the {info.label()} could be "
                f"read. '{h.name}': {reason}."
            )
        listed = "; ".join(f"'{h.name}': {reason}" for h, reason in failed[:_MAX_LISTED])
        warns.append(
            f"{_plural(len(failed), 'slice')} could not be read and "
            f"{'was' if len(failed) == 1 else 'were'} left out: {listed}."
        )
    for key, count in notes.items():
        if key in _NOTE_TEXT:
            warns.append(_NOTE_TEXT[key].format(n=_plural(count, "slice")))
    return volume, ok


def read_slice_hu(path):
    """Read one CT image file straight to Hounsfield units, for bulk training use.

    The same header parsing and pixel fixes as ``load_series`` (padding,
    RSNA intercept defect, codecs) without series discovery, ordering or
    display metadata, so decoding hundreds of thousands of slices stays
    cheap. Use ``load_series`` for anything shown to a person.

    Args:
        path: a DICOM file path.

    Returns:
        float32 ``(rows, cols)`` HU.

    Raises:
        DicomLoadError: not a readable CT image, naming the file.
    """
    files, skipped = collect(path)
    if not files:
        reason = skipped[0][1] if skipped else "not found"
        raise DicomLoadError(f"'{path}': {reason}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header, reason = read_header(files[0])
        if header is None:
            raise DicomLoadError(f"'{path}': {reason}.")
        if header.problem:
            raise DicomLoadError(f"'{path}': {header.problem}.")
        out = np.empty((header.rows, header.cols), dtype=np.float32)
        try:
            params = params_from_header(header.f, header.ds, header.transfer_syntax,
                                        header.compressed)
            stored_to_hu(read_stored(header.file, header.offset, params, header.ds), out, params)
        except PixelError as exc:
            raise DicomLoadError(f"'{path}': {exc}.") from exc
    return out


def load_series(
    source,
    series_uid=None,
    *,
    max_zip_bytes=MAX_ZIP_BYTES,
    max_zip_files=MAX_ZIP_FILES,
):
    """Load one CT series from ``source`` as Hounsfield units.

    Args:
        source: a folder (searched recursively), a .zip path, one file path,
            a list of paths, or a list of ``(name, bytes)`` pairs or file-like
            objects with ``.name`` (what ``st.file_uploader`` returns); zips
            among them are read in memory, never extracted.
        series_uid: SeriesInstanceUID to load; ``None`` picks the CT series
            with the most slices (and says so in ``warnings`` when the source
            holds several series).
        max_zip_bytes: cap on the total uncompressed size read from zips
            (bytes; default ``MAX_ZIP_BYTES``, 2 GiB).
        max_zip_files: cap on the number of files read from zips.

    Returns:
        :class:`Series` with ``hu`` float32 ``(n, rows, cols)`` ordered
        inferior -> superior.

    Raises:
        DicomLoadError: no usable CT image, with a message naming the file
            and the problem (missing path, empty folder, not DICOM, MR or
            secondary capture, mixed image sizes, unknown series UID,
            unreadable pixel data, zip too large, ...).
    """
    headers, skipped = _scan(source, max_zip_bytes, max_zip_files)
    infos, groups = _group(headers)
    info, warns = _choose(infos, series_uid, describe(source))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = _filter_members(groups[info.uid], info, skipped, warns)
        ordered, pos, normal, orientation, ipp, geometric = _order(kept, skipped, warns)
        volume, ok = _decode_all(ordered, skipped, warns, info)
        if not ok.all():
            volume = volume[ok]
            ordered = [h for h, good in zip(ordered, ok) if good]
            pos, ipp = pos[ok], ipp[ok]
        first = ordered[0]
        meta = _meta(first, info.modality)
        spacing = _pixel_spacing(ordered, warns)
        gaps = np.diff(pos)
        n = len(ordered)
        tilt = 0.0
        if geometric and n > 1:
            tilt = tilt_degrees(ipp[0], ipp[-1], normal)
            warns.extend(gap_warnings(pos))
        elif n == 1:
            tilt = abs(_first(first.f["GantryDetectorTilt"]) or 0.0)
        if n == 1:
            warns.append(
                "This series has a single slice: there are no neighbouring slices, and "
                "the slice spacing is unknown."
            )
        if tilt >= 0.1:
            along_table = (float(np.median(np.linalg.norm(np.diff(ipp, axis=0), axis=1)))
                           if n > 1 else None)
            spacing_note = (
                f" (slice spacing {mm(float(np.median(gaps)))} mm along the normal, "
                f"{mm(along_table)} mm along the table)" if along_table else ""
            )
            warns.append(
                f"Gantry tilt of {tilt:.1f} degrees: the slices are shifted against each "
                f"other; positions are measured along the slice normal{spacing_note}. "
                "Slices are shown as acquired, not resampled."
            )
        thickness = _first(first.f["SliceThickness"])
    return Series(
        hu=volume,
        positions=np.asarray(pos, dtype=np.float64),
        spacing=spacing,
        warnings=warns,
        skipped=skipped,
        meta=meta,
        sop_uids=[h.sop_uid for h in ordered],
        names=[h.name for h in ordered],
        series_uid=info.uid,
        study_uid=first.study_uid,
        slice_thickness=thickness,
        slice_spacing=float(np.median(gaps)) if n > 1 else None,
        slice_gaps=np.asarray(gaps, dtype=np.float64),
        tilt_degrees=float(tilt),
        orientation=orientation,
        normal=np.asarray(normal, dtype=np.float64),
        image_positions=ipp,
        instance_numbers=[h.f["InstanceNumber"] for h in ordered],
    )
