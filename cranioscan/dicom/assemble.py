"""From the headers of one series to its volume: filter, order, space, decode.

Private helper of :mod:`cranioscan.dicom.load`: which files of the chosen
series are kept (and why the others are not), their order along the slice
normal, the pixel spacing, the display tags, and the decoding of every kept
slice into one preallocated float32 HU volume.
"""

import collections

import numpy as np
from pydicom.uid import UID

from .geometry import duplicate_mask, mm, slice_normal
from ..formats import plural
from .decode_pool import predecode
from .pixels import MAX_PLAUSIBLE_HU, PixelError, slice_hu
from .sources import DicomLoadError

#: Largest volume loaded, slices x rows x columns (400 million voxels, 1.5 GiB
#: as float32 HU: 1,500 slices of 512x512, or 380 of 1024x1024), checked from
#: the headers before anything is allocated or decoded.
MAX_VOXELS = 400_000_000

#: How many file names a message lists before "and N more".
_MAX_LISTED = 6
#: Direction cosines differing by more than this mean another orientation.
_IOP_TOL = 0.01


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
                f"{plural(len(off), 'file')} of the series had a different orientation from "
                f"the rest and {'was' if len(off) == 1 else 'were'} left out: {_names(off)}."
            )
            kept = [h for h, agree in zip(kept, same) if agree]
    sizes = collections.OrderedDict()
    for h in kept:
        sizes.setdefault((h.rows, h.cols), []).append(h)
    if len(sizes) > 1:
        by_count = sorted(sizes.items(), key=lambda kv: -len(kv[1]))
        (rows, cols), common = by_count[0]
        parts = [f"{r}x{c} pixels in {plural(len(hs), 'file')} ({_names(hs, 3)})"
                 for (r, c), hs in by_count]
        if 2 * len(common) <= len(kept):
            raise DicomLoadError(
                f"The {info.label()} mixes image sizes, so its slices cannot be stacked "
                f"into one volume: {'; '.join(parts)}."
            )
        odd = [h for (size, hs) in by_count[1:] for h in hs]
        for h in odd:
            skipped.append((h.name, f"{h.rows}x{h.cols} pixels, unlike the {rows}x{cols} of "
                                    "the rest of the series"))
        warns.append(
            f"{plural(len(odd), 'file')} of the series had another image size than the "
            f"{len(common)} of {rows}x{cols} pixels and {'was' if len(odd) == 1 else 'were'} "
            f"left out: {'; '.join(parts[1:])}."
        )
        kept = common
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
                f"{plural(len(dropped), 'duplicate slice')} at the position of another slice "
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
        warns.append(f"{plural(len(dupes), 'duplicate image')} left out: {_names(dupes)}.")
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

#: Header tags read after a series is found (display metadata above, pixel
#: parameters, character set): what :meth:`Header.compact
#: <cranioscan.dicom.header.Header.compact>` keeps of a header held until loading.
RETAINED_KEYWORDS = ("SpecificCharacterSet", "SeriesDescription", "PhotometricInterpretation",
                     "PixelPaddingValue", "PixelPaddingRangeLimit", "ModalityLUTSequence",
                     "BitsAllocated", "BitsStored", "PixelRepresentation", "RescaleType",
                     *_META_TEXT.values(), *_META_NUMBER.values())


def _tag_number(ds, keyword):
    """A display tag as a finite float, None when absent, damaged or not finite."""
    try:
        value = _float_or_none(ds.get(keyword))
    except Exception:  # noqa: BLE001 - pydicom's conversion of a damaged element
        return None
    return value if value is not None and np.isfinite(value) else None


def _meta(header, modality):
    meta = {}
    for key, keyword in _META_TEXT.items():
        value = header.text(keyword)
        meta[key] = value or None
    for key, keyword in _META_NUMBER.items():
        meta[key] = _tag_number(header.ds, keyword)
    for key in ("series_number", "bits_stored", "pixel_representation"):
        if meta[key] is not None:
            meta[key] = int(meta[key])
    meta["modality"] = meta["modality"] or modality or None
    meta["transfer_syntax"] = UID(header.transfer_syntax).name
    meta["study_uid"] = header.study_uid or None
    meta["series_uid"] = header.series_uid or None
    meta["rows"], meta["columns"] = header.rows, header.cols
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
    "clipped_high": (
        "{n} had values above " + f"{MAX_PLAUSIBLE_HU:,.0f}" + " HU, beyond any tissue or "
        "metal; they were clipped to " + f"{MAX_PLAUSIBLE_HU:,.0f}" + " HU. Check the Rescale "
        "Slope/Intercept of these files."
    ),
}


def _decode_all(ordered, skipped, warns, info, max_voxels):
    """Decode the ordered slices into one float32 volume; drop unreadable ones.

    The volume's size is checked against ``max_voxels`` (from the headers)
    before anything is allocated or decoded.
    """
    rows, cols = ordered[0].rows, ordered[0].cols
    voxels = len(ordered) * rows * cols
    if voxels > max_voxels:
        raise DicomLoadError(
            f"The {info.label()} has {plural(len(ordered), 'slice')} of {rows}x{cols} pixels "
            f"({voxels / 1e6:,.0f} million voxels, {voxels * 4 / 1024**3:.1f} GiB as HU), "
            f"more than the {max_voxels / 1e6:,.0f} million voxels CranioScan loads at once; "
            "nothing was decoded. Load fewer slices, or raise the limit (max_voxels)."
        )
    try:
        volume = np.empty((len(ordered), rows, cols), dtype=np.float32)
    except MemoryError:
        raise DicomLoadError(
            f"There is not enough memory to load the {info.label()} "
            f"({voxels * 4 / 1024**3:.1f} GiB as HU)."
        ) from None
    ok = np.ones(len(ordered), dtype=bool)
    notes = collections.Counter()
    failed = []
    decoded = predecode(ordered)  # GDCM in worker processes, where it applies
    for i, h in enumerate(ordered):
        try:
            notes.update(slice_hu(h, volume[i], decoded.pop(i, None)))
        except PixelError as exc:
            reason = str(exc)
        else:
            continue
        ok[i] = False
        skipped.append((h.name, reason))
        failed.append((h, reason))
    if failed:
        if not ok.any():
            h, reason = failed[0]
            raise DicomLoadError(
                f"None of the {plural(len(ordered), 'image')} of the {info.label()} could be "
                f"read. '{h.name}': {reason}."
            )
        listed = "; ".join(f"'{h.name}': {reason}" for h, reason in failed[:_MAX_LISTED])
        warns.append(
            f"{plural(len(failed), 'slice')} could not be read and "
            f"{'was' if len(failed) == 1 else 'were'} left out: {listed}."
        )
    for key, count in notes.items():
        if key in _NOTE_TEXT:
            warns.append(_NOTE_TEXT[key].format(n=plural(count, "slice")))
    return volume, ok
