"""Header values checked once, where a file's header is read: types, counts, ranges.

Private helper of :mod:`cranioscan.dicom`. :func:`check_fields` looks at
the plain values :func:`cranioscan.dicom.header.fields_of` extracted and
decides, once per file, whether the file can be used:

- values that decide how the pixel data are laid out or turned into HU
  (Rows, Columns, Bits Allocated / Stored, Pixel Representation, Rescale
  Slope / Intercept) must be single, finite and in range; otherwise the file
  is refused with a reason naming the tag and the value;
- values that only place or describe the slice (positions, orientation,
  spacing, thickness, tilt, series and instance numbers) are dropped when
  unusable (the loader then falls back as for a missing tag) and the file
  carries a *repair* note that the series' warnings summarise.

Every later stage reads the checked values and needs no checks of its own.
"""

__all__ = [
    "BOUNDARY_PASS",
    "MAX_MATRIX",
    "MAX_RESCALE_INTERCEPT",
    "MAX_RESCALE_SLOPE",
    "check_fields",
    "failure_text",
]

import math

#: Largest Rows or Columns read (pixels). Clinical CT is 512 or 1024 a side;
#: a header claiming more is taken as damaged before any pixel is decoded.
MAX_MATRIX = 4096

#: Largest |Rescale Slope| accepted (HU per stored unit; CT uses about 1).
MAX_RESCALE_SLOPE = 1000.0

#: Largest |Rescale Intercept| accepted (HU; CT uses about -1024).
MAX_RESCALE_INTERCEPT = 100_000.0

#: Exceptions a boundary never turns into a reason: the user or the
#: interpreter asked to stop. Everything else a parser or codec raises,
#: ``BaseException`` subclasses such as a Rust codec's ``PanicException``
#: included, is the file's fault.
BOUNDARY_PASS = (KeyboardInterrupt, SystemExit, GeneratorExit)



def failure_text(exc, limit=160):
    """``"TypeName: message"`` of an exception caught at a boundary, at most ``limit`` characters."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


# keyword -> (DICOM name for messages, tag text)
_NAMES = {
    "Rows": ("Rows", "(0028,0010)"),
    "Columns": ("Columns", "(0028,0011)"),
    "BitsAllocated": ("Bits Allocated", "(0028,0100)"),
    "BitsStored": ("Bits Stored", "(0028,0101)"),
    "PixelRepresentation": ("Pixel Representation", "(0028,0103)"),
    "SamplesPerPixel": ("Samples per Pixel", "(0028,0002)"),
    "RescaleSlope": ("Rescale Slope", "(0028,1053)"),
    "RescaleIntercept": ("Rescale Intercept", "(0028,1052)"),
    "NumberOfFrames": ("Number of Frames", "(0028,0008)"),
    "ImagePositionPatient": ("Image Position (Patient)", "(0020,0032)"),
    "ImageOrientationPatient": ("Image Orientation (Patient)", "(0020,0037)"),
    "PixelSpacing": ("Pixel Spacing", "(0028,0030)"),
    "ImagerPixelSpacing": ("Imager Pixel Spacing", "(0018,1164)"),
    "SliceThickness": ("Slice Thickness", "(0018,0050)"),
    "SpacingBetweenSlices": ("Spacing Between Slices", "(0018,0088)"),
    "GantryDetectorTilt": ("Gantry/Detector Tilt", "(0018,1120)"),
    "SeriesNumber": ("Series Number", "(0020,0011)"),
    "InstanceNumber": ("Instance Number", "(0020,0013)"),
}

# Layout and rescale tags: an unusable value refuses the file.
_REQUIRED_SINGLE = ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation",
                    "SamplesPerPixel", "NumberOfFrames", "RescaleSlope", "RescaleIntercept")
# Descriptive tags: an unusable value is dropped (None) with a repair note.
_COUNTS = {"ImagePositionPatient": 3, "ImageOrientationPatient": 6, "PixelSpacing": 2,
           "ImagerPixelSpacing": 2, "SliceThickness": 1, "SpacingBetweenSlices": 1,
           "GantryDetectorTilt": 1}
_RANGES = {"PixelSpacing": (1e-3, 100.0), "ImagerPixelSpacing": (1e-3, 100.0),
           "SliceThickness": (0.0, 100.0), "SpacingBetweenSlices": (-100.0, 100.0),
           "GantryDetectorTilt": (-60.0, 60.0), "ImagePositionPatient": (-1e6, 1e6)}


def _tag(keyword):
    name, tag = _NAMES[keyword]
    return f"{name} {tag}"


def _shown(value):
    text = repr(value) if not isinstance(value, (list, tuple)) else "\\".join(map(str, value))
    return text if len(text) <= 40 else text[:37] + "..."


def _layout_problem(f, invalid):
    """Why the pixel layout / rescale values make the file unusable, or None."""
    for keyword in _REQUIRED_SINGLE:
        if keyword in invalid:
            return f"its {_tag(keyword)} is not a usable value ({invalid[keyword]})"
    rows, cols = f["Rows"], f["Columns"]
    if rows is not None and cols is not None:
        if not (1 <= rows <= MAX_MATRIX and 1 <= cols <= MAX_MATRIX):
            return (f"its header claims {rows}x{cols} pixels per slice, outside the 1 to "
                    f"{MAX_MATRIX:,} pixels a side CranioScan reads (a damaged header?)")
    allocated = f["BitsAllocated"] or 16
    if allocated not in (8, 16, 32):
        return f"{allocated}-bit pixel storage (Bits Allocated (0028,0100)) is not used for CT"
    stored = f["BitsStored"] if f["BitsStored"] is not None else allocated
    if not 1 <= stored <= allocated:
        return (f"its Bits Stored ({stored}) does not fit its Bits Allocated ({allocated})")
    if (f["PixelRepresentation"] or 0) not in (0, 1):
        return f"its Pixel Representation is {f['PixelRepresentation']}, not 0 or 1"
    slope, intercept = f["RescaleSlope"], f["RescaleIntercept"]
    for keyword, values in (("RescaleSlope", slope), ("RescaleIntercept", intercept)):
        if values is not None and len(values) != 1:
            return f"its {_tag(keyword)} holds {len(values)} values instead of one"
    if slope is not None and not (0 < abs(slope[0]) <= MAX_RESCALE_SLOPE):
        return (f"its Rescale Slope ({slope[0]:g}) is outside the plausible range for CT "
                f"(0 to {MAX_RESCALE_SLOPE:g}, not 0): its Hounsfield units cannot be trusted")
    if intercept is not None and not abs(intercept[0]) <= MAX_RESCALE_INTERCEPT:
        return (f"its Rescale Intercept ({intercept[0]:g}) is outside the plausible range for "
                f"CT (±{MAX_RESCALE_INTERCEPT:g} HU): its Hounsfield units cannot be trusted")
    return None


def check_fields(f, invalid):
    """Check a file's header values once; drop the unusable descriptive ones.

    Args:
        f: keyword -> plain value, as :func:`~cranioscan.dicom.header.fields_of`
            returns it (modified in place: unusable descriptive values become
            None, as if the tag were absent).
        invalid: keyword -> why the stored value could not be read (wrong
            count of values, odd byte length, not a finite number).

    Returns:
        ``(problem, repairs)``: ``problem`` is None for a usable file, else
        the reason it is refused, in plain words naming the tag; ``repairs``
        lists the descriptive tags that were dropped, as text such as
        ``"Gantry/Detector Tilt (0018,1120) 'NaN'"``.
    """
    problem = _layout_problem(f, invalid)
    if problem:
        return problem, []
    repairs = []
    for keyword in ("SeriesNumber", "InstanceNumber"):
        if keyword in invalid:
            repairs.append(f"{_tag(keyword)} ({invalid[keyword]})")
    for keyword, count in _COUNTS.items():
        values = f[keyword]
        if keyword in invalid:
            repairs.append(f"{_tag(keyword)} ({invalid[keyword]})")
            f[keyword] = None
            continue
        if values is None:
            continue
        low, high = _RANGES.get(keyword, (-math.inf, math.inf))
        if len(values) != count:
            repairs.append(f"{_tag(keyword)} ({len(values)} values instead of {count})")
        elif not all(low <= v <= high for v in values):
            repairs.append(f"{_tag(keyword)} ({_shown(values)} is out of range)")
        else:
            continue
        f[keyword] = None
    return None, repairs
