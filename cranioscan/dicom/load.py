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
   ``cranioscan.dicom.pixels`` for the HU conversion: rescale, padding and
   out-of-field-of-view -> air, MONOCHROME1, the RSNA 12-bit defect).

User files are only opened for reading; nothing is written or extracted.
"""
__all__ = [
    "MAX_FILE_BYTES",
    "MAX_VOXELS",
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

import numpy as np
from pydicom.uid import UID

from ..formats import plural
from .assemble import (
    MAX_VOXELS,
    _MAX_LISTED,
    _decode_all,
    _filter_members,
    _first,
    _meta,
    _order,
    _pixel_spacing,
)
from .geometry import gap_warnings, mm, tilt_degrees
from .header import ScannedFiles, read_header
from .pixels import OUTSIDE_FOV_HU, PixelError, slice_hu
from .series import Series, SeriesInfo
from .sources import MAX_FILE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_FILES, DicomLoadError, collect, describe


def _scan(source, max_zip_bytes, max_zip_files):
    """Headers of every DICOM image in ``source``; raise when there is none."""
    if isinstance(source, ScannedFiles):  # parsed when the series was found
        if not source.headers:
            raise DicomLoadError("No files were given: the list of files is empty.")
        return list(source.headers), []
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
            f"{i.label()}: {i.modality or '?'}, {plural(i.n_files, 'file')}"
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
def _thicknesses(ordered):
    """Each slice's SliceThickness in mm, float64 ``(n,)``, NaN where absent."""
    values = [_first(h.f["SliceThickness"]) for h in ordered]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

def _repair_warnings(headers):
    """One warning per unusable descriptive tag, with how many files had it."""
    counts = collections.Counter(repair for h in headers for repair in h.repairs)
    return [f"{repair} in {plural(count, 'file')}: not a usable value, so it was ignored "
            "(treated as missing)." for repair, count in counts.items()]



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
            slice_hu(header, out)
        except PixelError as exc:
            raise DicomLoadError(f"'{path}': {exc}.") from exc
    return out


def load_series(
    source,
    series_uid=None,
    *,
    max_zip_bytes=MAX_ZIP_BYTES,
    max_zip_files=MAX_ZIP_FILES,
    max_voxels=MAX_VOXELS,
):
    """Load one CT series from ``source`` as Hounsfield units.

    Args:
        source: a folder (searched recursively), a .zip path, one file path,
            a list of paths, or a list of ``(name, bytes)`` pairs or file-like
            objects with ``.name`` (what ``st.file_uploader`` returns); zips
            among them are read in memory, never extracted. Also a
            :class:`~cranioscan.dicom.header.ScannedFiles` (a series
            :func:`cranioscan.dicom.scan.find_series` found), whose headers
            are not parsed again.
        series_uid: SeriesInstanceUID to load; ``None`` picks the CT series
            with the most slices (and says so in ``warnings`` when the source
            holds several series).
        max_zip_bytes: cap on the total uncompressed size read from zips
            (bytes; default ``MAX_ZIP_BYTES``, 1 GiB).
        max_zip_files: cap on the number of files read from zips.
        max_voxels: cap on slices x rows x columns of the loaded volume,
            checked from the headers before any pixel is decoded (default
            ``MAX_VOXELS``, 400 million: 1.5 GiB as float32 HU).

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
        warns.extend(_repair_warnings(ordered))
        volume, ok = _decode_all(ordered, skipped, warns, info, max_voxels)
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
        slice_thicknesses=_thicknesses(ordered),
        slice_spacing=float(np.median(gaps)) if n > 1 else None,
        slice_gaps=np.asarray(gaps, dtype=np.float64),
        tilt_degrees=float(tilt),
        orientation=orientation,
        normal=np.asarray(normal, dtype=np.float64),
        image_positions=ipp,
        instance_numbers=[h.f["InstanceNumber"] for h in ordered],
    )
