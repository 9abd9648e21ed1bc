"""Reading a map: where its peak is, whether it lands in a lesion mask, and what
tissue it lands on when it misses."""

__all__ = ["PLACES", "peak", "peak_in_mask", "peak_place"]

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


def peak_in_mask(heatmap, mask, spacing_mm, dilate_mm=5.0):
    """Whether the map's peak lies in ``mask`` grown by ``dilate_mm``.

    Growth is by Euclidean distance in millimetres (pixel spacing
    ``(row, col)`` mm), so on anisotropic pixels the structuring element is
    an ellipse in pixels.

    Args:
        heatmap: ``(rows, cols)`` map.
        mask: ``(rows, cols)`` bool (e.g. a hemorrhage mask of the slice).
        spacing_mm: ``(row, col)`` pixel spacing in mm (or one number).
        dilate_mm: tolerance in mm (0 means the mask itself).

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
    if peak_in_mask(heatmap, mask, spacing_mm, dilate_mm):
        return "lesion"
    value = float(hu[peak(heatmap)])
    if value < AIR_BELOW_HU:
        return "air"
    return "bone" if value >= BONE_FROM_HU else "soft tissue"
