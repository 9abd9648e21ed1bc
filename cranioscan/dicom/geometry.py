"""Slice geometry of a CT series: normal, positions, tilt, duplicates, gaps.

Private helper of :mod:`cranioscan.dicom`; pure functions on arrays in
the DICOM patient coordinate system (LPS, millimetres; +z is superior).
"""

__all__ = [
    "DUPLICATE_TOL_MM",
    "slice_normal",
    "tilt_degrees",
    "duplicate_mask",
    "gap_warnings",
    "mm",
]

import math

import numpy as np

#: Slices whose positions along the normal differ by less than this (mm)
#: are duplicates.
DUPLICATE_TOL_MM = 0.01

#: A gap is irregular when it differs from the median gap by more than
#: ``max(GAP_TOL_MM, GAP_TOL_FRACTION * median)``.
GAP_TOL_MM = 0.05
GAP_TOL_FRACTION = 0.05

_MAX_PLACES = 6


def mm(value):
    """Format a length in mm for messages: ``5.0``, ``4.83``, ``-12.5``."""
    text = f"{value:.2f}"
    if text.endswith("0"):
        text = text[:-1]
    return "0.0" if text in ("-0.0", "-0.00") else text


def slice_normal(orientation):
    """Unit slice normal from ImageOrientationPatient.

    Args:
        orientation: 6 numbers, row direction then column direction.

    Returns:
        ``(normal, axial)``: float64 ``(3,)`` unit vector
        ``cross(row_dir, col_dir)``, negated when that points inferior
        (so positions along it grow from inferior to superior), and whether
        the series is axial (z is the normal's largest component).

    Raises:
        ValueError: the two directions are degenerate (zero or parallel).
    """
    iop = np.asarray(orientation, dtype=np.float64).reshape(6)
    normal = np.cross(iop[:3], iop[3:])
    norm = float(np.linalg.norm(normal))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"Image Orientation (Patient) {list(iop)} has no valid normal")
    normal /= norm
    axial = abs(normal[2]) >= max(abs(normal[0]), abs(normal[1]))
    if axial and normal[2] < 0:
        normal = -normal
    return normal, bool(axial)


def tilt_degrees(first_position, last_position, normal):
    """Angle (degrees, 0..90) between the slice normal and the stack axis.

    The stack axis runs from the first to the last ImagePositionPatient; a
    gantry-tilted acquisition advances the table along z while the image
    plane is tilted, so this angle is the gantry tilt. Returns 0.0 when the
    two positions coincide.
    """
    axis = np.asarray(last_position, np.float64) - np.asarray(first_position, np.float64)
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        return 0.0
    cos = abs(float(np.dot(axis, normal))) / length
    return math.degrees(math.acos(min(1.0, cos)))


def duplicate_mask(positions, tol=DUPLICATE_TOL_MM):
    """Mark slices at the same position as an earlier one.

    Args:
        positions: sorted float ``(n,)`` positions along the normal, mm.
        tol: positions closer than this are the same, mm.

    Returns:
        ``(keep, kept_index)``: bool ``(n,)`` (True for the first slice at
        each position) and int ``(n,)`` (index of the kept slice each slice
        duplicates; itself when kept).
    """
    positions = np.asarray(positions, dtype=np.float64)
    keep = np.ones(len(positions), dtype=bool)
    kept_index = np.arange(len(positions))
    anchor = 0
    for i in range(1, len(positions)):
        if positions[i] - positions[anchor] < tol:
            keep[i] = False
            kept_index[i] = anchor
        else:
            anchor = i
    return keep, kept_index


def gap_warnings(positions):
    """Warnings about missing slices and uneven spacing, in plain words.

    Args:
        positions: sorted, distinct positions along the normal, mm ``(n,)``.

    Returns:
        list of str (empty when the spacing is regular). A gap that is a
        whole multiple k >= 2 of the median gap is reported as k - 1 missing
        slices; any other irregular gap as uneven spacing. Each message
        gives the gap sizes in mm and where (positions and 1-based slice
        numbers in inferior-to-superior order).
    """
    positions = np.asarray(positions, dtype=np.float64)
    n = len(positions)
    if n < 3:
        return []
    gaps = np.diff(positions)
    median = float(np.median(gaps))
    if median <= 0:
        return []
    tol = max(GAP_TOL_MM, GAP_TOL_FRACTION * median)
    missing, uneven = [], []
    n_missing = 0
    for i, gap in enumerate(gaps):
        if abs(gap - median) <= tol:
            continue
        k = int(round(gap / median))
        where = (
            f"between slices {i + 1} and {i + 2} of {n} "
            f"(at {mm(positions[i])} and {mm(positions[i + 1])} mm)"
        )
        if k >= 2 and abs(gap - k * median) <= tol * k:
            n_missing += k - 1
            missing.append(
                f"gap of {mm(gap)} mm {where}: about {k - 1} slice"
                f"{'s' if k > 2 else ''} missing"
            )
        else:
            uneven.append(f"gap of {mm(gap)} mm {where}")
    out = []
    if missing:
        out.append(
            f"Missing slices: about {n_missing} slice{'s seem' if n_missing != 1 else ' seems'} "
            f"to be missing (expected spacing {mm(median)} mm): "
            + _places(missing)
            + "."
        )
    if uneven:
        out.append(
            f"Uneven slice spacing: gaps range from {mm(gaps.min())} to "
            f"{mm(gaps.max())} mm (median {mm(median)} mm); "
            + _places(uneven)
            + "."
        )
    return out


def _places(items):
    shown = "; ".join(items[:_MAX_PLACES])
    if len(items) > _MAX_PLACES:
        shown += f"; and {len(items) - _MAX_PLACES} more"
    return shown
