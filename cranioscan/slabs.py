"""Thin slices read as the slabs the model learned: about 5 mm each.

The series model was trained on ~5 mm slices (CT-ICH). A 0.625 mm series
shown slice by slice would ask it about 8 near-identical neighbours where it
learned one, and about noise it never saw. So thin slices are averaged into
slabs of about :data:`SLAB_MM` along the slice normal, the slabs are scored,
and every thin slice takes its slab's probabilities; the viewer keeps every
thin slice. Pure numpy.
"""

__all__ = ["SLAB_MM", "THIN_MM", "slab_index", "make_slabs", "needs_slabs",
           "relative_positions"]

import numpy as np

#: Thickness of a slab, mm (the training slices').
SLAB_MM = 5.0
#: Series whose median slice spacing is below this (mm) are read as slabs.
THIN_MM = 3.5


def needs_slabs(positions, thin_mm=THIN_MM):
    """True when the median spacing of ``positions`` (mm, sorted) is below ``thin_mm``."""
    positions = np.asarray(positions, dtype=np.float64)
    if len(positions) < 3:
        return False
    steps = np.abs(np.diff(positions))
    steps = steps[steps > 0]
    return bool(len(steps)) and float(np.median(steps)) < thin_mm


def slab_index(positions, slab_mm=SLAB_MM):
    """``(n,)`` int slab of each slice: consecutive slices whose positions fall
    in the same ``slab_mm``-wide band from the first slice; slabs numbered
    from 0 in slice order."""
    positions = np.asarray(positions, dtype=np.float64)
    if len(positions) == 0:
        return np.zeros(0, dtype=int)
    band = np.floor(np.abs(positions - positions[0]) / slab_mm).astype(int)
    # renumber 0, 1, 2... in order of appearance (bands may skip over a gap)
    _, first = np.unique(band, return_index=True)
    order = np.argsort(first)
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[np.searchsorted(np.unique(band), band)]


def make_slabs(hu, positions, slab_mm=SLAB_MM):
    """Average thin slices into slabs.

    Args:
        hu: ``(n, rows, cols)`` HU, slices in series order.
        positions: ``(n,)`` positions along the slice normal, mm.
        slab_mm: slab thickness, mm.

    Returns:
        ``(slab_hu, slab_positions, index)``: float32 ``(m, rows, cols)``
        mean HU of each slab, float64 ``(m,)`` mean position of each slab,
        and int ``(n,)`` the slab of each thin slice.
    """
    index = slab_index(positions, slab_mm)
    m = int(index.max()) + 1 if len(index) else 0
    slab_hu = np.zeros((m,) + tuple(np.shape(hu)[1:]), np.float32)
    counts = np.bincount(index, minlength=m).astype(np.float32)
    for i, k in enumerate(index):
        slab_hu[k] += hu[i]
    slab_hu /= counts[:, None, None]
    slab_positions = np.bincount(index, weights=np.asarray(positions, np.float64),
                                 minlength=m) / counts
    return slab_hu, slab_positions, index


def relative_positions(positions):
    """Positions along the slice normal scaled to [0, 1]; 0.5 for one slice."""
    positions = np.asarray(positions, dtype=np.float64)
    span = positions.max() - positions.min() if len(positions) else 0.0
    if len(positions) < 2 or span <= 0:
        return np.full(len(positions), 0.5, np.float32)
    return ((positions - positions.min()) / span).astype(np.float32)
