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
    "spacing_plan",
    "value_runs",
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
        raise ValueError(f"Image Orientation (Patient) {[float(v) for v in iop]} has no valid normal")
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


def value_runs(values, tol_mm=GAP_TOL_MM, tol_fraction=GAP_TOL_FRACTION):
    """Runs of consecutive, equal (within tolerance) values.

    Args:
        values: float ``(n,)`` lengths in mm (gaps, thicknesses); NaN allowed
            (a NaN only equals another NaN).
        tol_mm, tol_fraction: two values are equal when they differ by at
            most ``max(tol_mm, tol_fraction * first)``.

    Returns:
        list of ``(start, stop, value)``: ``values[start:stop]`` form one run
        (0-based, ``stop`` exclusive), ``value`` its median (NaN for a run of
        NaN).
    """
    values = np.asarray(values, dtype=np.float64)
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i < len(values) and _same(values[start], values[i], tol_mm, tol_fraction):
            continue
        chunk = values[start:i]
        runs.append((start, i, float(np.median(chunk)) if np.isfinite(chunk).all() else math.nan))
        start = i
    return runs


def _same(a, b, tol_mm, tol_fraction):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(tol_mm, tol_fraction * abs(a))


def _levels(gaps):
    """Cluster gap sizes: return (level index per gap, level values) by value, mm."""
    order = np.argsort(gaps, kind="stable")
    level = np.empty(len(gaps), dtype=int)
    members = []
    for i in order:
        if members and _same(gaps[members[-1][0]], gaps[i], GAP_TOL_MM, GAP_TOL_FRACTION):
            members[-1].append(i)
        else:
            members.append([i])
        level[i] = len(members) - 1
    values = [float(np.median(gaps[m])) for m in members]
    return level, values, [len(m) for m in members]


def _multiple_of(gap, spacing):
    """k >= 2 when ``gap`` is about k whole ``spacing`` steps (k - 1 slices missing), else 0."""
    if spacing <= 0:
        return 0
    k = int(round(gap / spacing))
    tol = max(GAP_TOL_MM, GAP_TOL_FRACTION * spacing)
    return k if k >= 2 and abs(gap - k * spacing) <= tol * k else 0


def spacing_plan(positions):
    """How a series is spaced: runs of equal spacing and the odd gaps between them.

    A spacing is *regular* when at least two gaps have it and it is not a
    whole multiple of a more common regular spacing (those gaps are missing
    slices). Every other gap is *odd*: a missing-slice gap (a whole multiple
    k >= 2 of the spacing around it) or an uneven one.

    Args:
        positions: sorted, distinct positions along the normal, mm ``(n,)``.

    Returns:
        dict with ``runs``: list of ``(first_slice, last_slice, spacing_mm)``
        (1-based slice numbers, inferior to superior) over the regular gaps,
        neighbouring runs of the same spacing merged across odd gaps; and
        ``odd``: list of ``(gap_index, gap_mm, expected_mm, missing)`` for
        the odd gaps (``gap_index`` 0-based: between slices ``gap_index + 1``
        and ``gap_index + 2``; ``expected_mm`` the regular spacing around it;
        ``missing`` the number of slices that seem to be missing, 0 for an
        uneven gap).
    """
    gaps = np.diff(np.asarray(positions, dtype=np.float64))
    if len(gaps) == 0:
        return {"runs": [], "odd": []}
    level, values, counts = _levels(gaps)
    by_count = sorted(range(len(values)), key=lambda j: -counts[j])
    regular = []
    for j in by_count:
        if counts[j] < 2:
            continue
        if any(_multiple_of(values[j], values[r]) for r in regular):
            continue
        regular.append(j)
    if not regular:  # every gap differs: measure against the median
        median = float(np.median(gaps))
        regular_gap = np.array([_same(median, g, GAP_TOL_MM, GAP_TOL_FRACTION) for g in gaps])
        spacing_of = np.full(len(gaps), median)
    else:
        regular_gap = np.isin(level, regular)
        spacing_of = np.array([values[j] for j in level])
    runs = []
    for start, stop, _ in value_runs(np.where(regular_gap, spacing_of, np.nan)):
        if not regular_gap[start]:
            continue
        spacing = float(spacing_of[start])
        if runs and _same(runs[-1][2], spacing, GAP_TOL_MM, GAP_TOL_FRACTION):
            runs[-1] = (runs[-1][0], stop + 1, runs[-1][2])
        else:
            runs.append((start + 1, stop + 1, spacing))
    odd = []
    regular_index = np.flatnonzero(regular_gap)
    for i in np.flatnonzero(~regular_gap):
        before = regular_index[regular_index < i]
        after = regular_index[regular_index > i]
        near = before[-1] if len(before) else (after[0] if len(after) else None)
        expected = float(spacing_of[near]) if near is not None else float(np.median(gaps))
        k = _multiple_of(float(gaps[i]), expected)
        odd.append((int(i), float(gaps[i]), expected, k - 1 if k else 0))
    return {"runs": runs, "odd": odd}


def gap_warnings(positions):
    """Warnings about missing slices and uneven spacing, in plain words.

    Args:
        positions: sorted, distinct positions along the normal, mm ``(n,)``.

    Returns:
        list of str (empty when the spacing is regular). See
        :func:`spacing_plan`: when the spacing changes within the series the
        runs of equal spacing are summarised ("slices 1-15 at 4.0 mm,
        16-28 at 7.0 mm") and only the odd gaps between them are named; a
        gap that is a whole multiple k >= 2 of the spacing around it is
        reported as k - 1 missing slices. Each named gap gives its size in
        mm and where (positions and 1-based slice numbers).
    """
    positions = np.asarray(positions, dtype=np.float64)
    n = len(positions)
    if n < 3:
        return []
    gaps = np.diff(positions)
    if float(np.median(gaps)) <= 0:
        return []
    plan = spacing_plan(positions)
    missing, uneven, expected = [], [], set()
    n_missing = 0
    for i, gap, spacing, lost in plan["odd"]:
        where = (
            f"between slices {i + 1} and {i + 2} of {n} "
            f"(at {mm(positions[i])} and {mm(positions[i + 1])} mm)"
        )
        if lost:
            n_missing += lost
            expected.add(mm(spacing))
            missing.append(f"gap of {mm(gap)} mm {where}: about {lost} slice"
                           f"{'s' if lost > 1 else ''} missing")
        else:
            uneven.append(f"{mm(gap)} mm {where}")
    out = []
    if len(plan["runs"]) > 1:
        runs = ", ".join(f"{'slices ' if k == 0 else ''}{first}–{last} at {mm(spacing)} mm"
                         for k, (first, last, spacing) in enumerate(plan["runs"]))
        text = f"Slice spacing changes within the series: {runs}"
        if uneven:
            text += f"; odd gap{'s' if len(uneven) > 1 else ''} of " + _places(uneven)
        out.append(text + ".")
        uneven = []
    if missing:
        spacing_text = (f"expected spacing {expected.pop()} mm" if len(expected) == 1
                        else "spacing differs along the series")
        out.insert(0,
            f"Missing slices: about {n_missing} slice{'s seem' if n_missing != 1 else ' seems'} "
            f"to be missing ({spacing_text}): "
            + _places(missing)
            + "."
        )
    if uneven:
        out.append(
            f"Uneven slice spacing: gaps range from {mm(gaps.min())} to "
            f"{mm(gaps.max())} mm (median {mm(float(np.median(gaps)))} mm); "
            + _places([f"gap of {text}" for text in uneven])
            + "."
        )
    return out


def _places(items):
    shown = "; ".join(items[:_MAX_PLACES])
    if len(items) > _MAX_PLACES:
        shown += f"; and {len(items) - _MAX_PLACES} more"
    return shown
