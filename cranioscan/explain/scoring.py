"""Reading a map: where its peak is, whether it lands in a lesion mask, and what
tissue it lands on when it misses."""

__all__ = ["PLACES", "peak", "peak_in_mask", "peak_place", "head_mask", "peak_tissue",
           "peak_note"]

import numpy as np
from scipy import ndimage


def peak(heatmap):
    """``(row, col)`` of the map's maximum (the first one on ties).

    An all-zero map has no real peak and gives ``(0, 0)``: check
    ``heatmap.max() > 0`` where that matters (``peak_in_mask`` does).
    """
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=-np.inf)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {heatmap.shape}")
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return int(row), int(col)


def peak_in_mask(heatmap, mask, spacing_mm, dilate_mm=5.0, hu=None):
    """Whether the map's peak lies in ``mask`` grown by ``dilate_mm``.

    Growth is by Euclidean distance in millimetres (pixel spacing
    ``(row, col)`` mm), so on anisotropic pixels the structuring element is
    an ellipse in pixels.

    Args:
        heatmap: ``(rows, cols)`` map.
        mask: ``(rows, cols)`` bool (e.g. a hemorrhage mask of the slice).
        spacing_mm: ``(row, col)`` pixel spacing in mm (or one number).
        dilate_mm: tolerance in mm (0 means the mask itself).
        hu: optional ``(rows, cols)`` slice in HU: with it, a peak outside
            the head or on bone (:func:`peak_tissue`) is a miss whatever the
            tolerance (a 5 mm tolerance around a lesion against the skull
            reaches into the bone).

    Returns:
        bool; False when the mask is empty or the map is all zero (no peak).
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if heatmap.shape != mask.shape or heatmap.ndim != 2:
        raise ValueError(
            f"heatmap {heatmap.shape} and mask {mask.shape} must be the same 2-D shape")
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (2,))
    if np.any(~np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm!r}")
    if dilate_mm < 0:
        raise ValueError(f"dilate_mm must be >= 0, got {dilate_mm}")
    if not mask.any() or not np.nanmax(heatmap) > 0:
        return False
    row, col = peak(heatmap)
    if hu is not None and peak_tissue(heatmap, hu) in ("outside the head", "bone"):
        return False
    if mask[row, col]:
        return True
    # Distance (mm) from every pixel to the nearest mask pixel.
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return bool(distance[row, col] <= dilate_mm + 1e-9)


#: Where a peak can land: inside the grown lesion mask, or by the tissue
#: under it (HU of the slice), or nowhere for an all-zero map.
PLACES = ("lesion", "air", "bone", "soft tissue", "no peak")


#: HU under which a pixel counts as air (scalp fat is about -100).
AIR_BELOW_HU = -300.0


#: HU from which a pixel counts as bone (acute blood is 50-90).
BONE_FROM_HU = 300.0


def peak_place(heatmap, mask, hu, spacing_mm, dilate_mm=5.0):
    """Where the peak of a class map lands, as one of ``PLACES``.

    Args:
        heatmap: ``(rows, cols)`` map aligned with the slice.
        mask: ``(rows, cols)`` bool lesion mask of the slice.
        hu: ``(rows, cols)`` slice in Hounsfield units.
        spacing_mm: ``(row, col)`` pixel spacing in mm (or one number).
        dilate_mm: tolerance around the mask in mm, as ``peak_in_mask``.

    Returns:
        ``"lesion"`` when the peak is in the mask grown by ``dilate_mm``;
        otherwise ``"air"``, ``"bone"`` or ``"soft tissue"`` by the HU at the
        peak; ``"no peak"`` for a map that is zero everywhere.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    hu = np.asarray(hu)
    if hu.shape != heatmap.shape:
        raise ValueError(f"heatmap {heatmap.shape} and hu {hu.shape} must be the same shape")
    if not np.nanmax(heatmap) > 0:
        return "no peak"
    tissue = peak_tissue(heatmap, hu)
    if tissue == "outside the head":  # a miss whatever the tolerance
        return "air"
    if tissue == "bone":
        return "bone"
    if peak_in_mask(heatmap, mask, spacing_mm, dilate_mm):
        return "lesion"
    return "air" if float(hu[peak(heatmap)]) < AIR_BELOW_HU else "soft tissue"


def head_mask(hu):
    """The head on a slice: the largest connected region above :data:`AIR_BELOW_HU`,
    holes filled (sinuses, ventricles and the brain inside the skull count as head).

    Args:
        hu: ``(rows, cols)`` slice in HU.

    Returns:
        ``(rows, cols)`` bool; all False for a slice of air only.
    """
    hu = np.nan_to_num(np.asarray(hu, dtype=np.float64), nan=-1000.0)
    if hu.ndim != 2:
        raise ValueError(f"expected a 2-D slice, got shape {hu.shape}")
    body = hu >= AIR_BELOW_HU
    labels, count = ndimage.label(body)
    if count == 0:
        return body
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes)))


def peak_tissue(heatmap, hu):
    """What lies under a map's peak: ``"outside the head"``, ``"bone"`` (from
    :data:`BONE_FROM_HU`), ``"inside the head"``, or None for an all-zero map."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    hu = np.asarray(hu)
    if hu.shape != heatmap.shape:
        raise ValueError(f"heatmap {heatmap.shape} and hu {hu.shape} must be the same shape")
    if not np.nanmax(heatmap) > 0:
        return None
    row, col = peak(heatmap)
    if not head_mask(hu)[row, col]:
        return "outside the head"
    return "bone" if float(hu[row, col]) >= BONE_FROM_HU else "inside the head"


def peak_note(heatmap, hu):
    """A sentence for a reader when a map's peak is not on the head's soft tissue, else None.

    ``"The map's peak lies outside the head: …"`` or ``"The map's peak lies
    on bone (1250 HU): …"``; the map is then no evidence of a finding there.
    """
    tissue = peak_tissue(heatmap, hu)
    if tissue == "outside the head":
        return ("The map's peak lies outside the head, in the air around it: the network's "
                "evidence there is not a finding in the brain.")
    if tissue == "bone":
        value = float(np.asarray(hu)[peak(heatmap)])
        return (f"The map's peak lies on bone ({value:.0f} HU): the network's evidence there is "
                "not blood in the brain.")
    return None
