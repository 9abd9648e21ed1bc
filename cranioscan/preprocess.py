"""Model input: Hounsfield slices -> three-window, square, resized tensors.

``to_model_input`` is the only path from HU to the network, used by training
and inference alike. Slices are padded with air to a square (so the aspect
ratio is kept), resized with an anti-aliased separable linear filter, then
windowed into three channels (brain, subdural, bone). ``grid_to_input``
places a feature-grid map (Grad-CAM, attention) on the input's pixels and
``restore_to_slice`` undoes the geometry for maps at model resolution.
"""

__all__ = [
    "to_uint8",
    "AIR_HU",
    "resize_matrix",
    "resize_stack",
    "pad_to_square",
    "HEAD_HU",
    "head_box",
    "crop_to_box",
    "to_model_input",
    "block_centres",
    "grid_to_input",
    "restore_to_slice",
]

import functools

import numpy as np

from .dicom.pixels import AIR_HU
from .windowing import MODEL_WINDOWS, PRESETS, apply_window


@functools.lru_cache(maxsize=64)
def resize_matrix(n_in, n_out):
    """Return the ``(n_out, n_in)`` float32 matrix of a 1-D anti-aliased resize.

    A linear (triangle) kernel whose support widens by the downscale factor,
    as PIL's and scikit-image's anti-aliased resizes do; each row sums to 1.
    Pixel centres are aligned (``x_out = (i + 0.5) * n_in / n_out - 0.5``).
    """
    n_in, n_out = int(n_in), int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be at least 1, got n_in={n_in}, n_out={n_out}")
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    weights = 1.0 - np.abs(taps[None, :] - centres[:, None]) / support
    np.clip(weights, 0.0, None, out=weights)
    weights /= weights.sum(axis=1, keepdims=True)
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=64)
def _resize_taps(n_in, n_out):
    """Sparse form of ``resize_matrix``: ``(index, weight)``, each ``(n_out, k)``."""
    matrix = resize_matrix(n_in, n_out)
    k = int((matrix > 0).sum(axis=1).max())
    index = np.argsort(matrix <= 0, axis=1, kind="stable")[:, :k]
    weight = np.take_along_axis(matrix, index, axis=1)
    return index, weight


def _resize_axis(images, n_out, axis):
    index, weight = _resize_taps(images.shape[axis], n_out)
    shape = [1] * images.ndim
    shape[axis] = n_out
    out = None
    for tap in range(index.shape[1]):
        term = np.take(images, index[:, tap], axis=axis)
        term *= weight[:, tap].reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    return out


def resize_stack(images, rows_out, cols_out):
    """Resize a stack of images with the anti-aliased linear filter.

    Separable and sparse: each output pixel mixes only the few input pixels
    under the kernel (the same weights as ``resize_matrix``).

    Args:
        images: ``(n, rows, cols)`` array.
        rows_out, cols_out: output size in pixels.

    Returns:
        float32 ``(n, rows_out, cols_out)``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"expected (n, rows, cols), got shape {images.shape}")
    return _resize_axis(_resize_axis(images, int(rows_out), 1), int(cols_out), 2)


def _square_offsets(rows, cols):
    side = max(rows, cols)
    return side, (side - rows) // 2, (side - cols) // 2


def pad_to_square(hu_slices, fill=AIR_HU):
    """Centre ``(n, rows, cols)`` slices in a square of ``fill`` (air).

    Returns a new float32 ``(n, side, side)`` array, ``side = max(rows, cols)``;
    square input is returned as a float32 copy.
    """
    hu_slices = np.asarray(hu_slices, dtype=np.float32)
    n, rows, cols = hu_slices.shape
    side, top, left = _square_offsets(rows, cols)
    if rows == cols:
        return hu_slices.copy()
    out = np.full((n, side, side), fill, dtype=np.float32)
    out[:, top:top + rows, left:left + cols] = hu_slices
    return out


#: Voxels above this (HU) count as the head when framing it: soft tissue and
#: bone, not air, foam head rests or the scanner's padding.
HEAD_HU = -300.0

#: Margin around the head's bounding box, as a fraction of its larger side.
HEAD_MARGIN = 0.06


def _head_mask(inside):
    """The largest blob of a 2-D tissue mask once thin structures are opened
    away (a head holder's arc, a table edge: a few pixels thick)."""
    from scipy import ndimage

    radius = max(2, int(round(min(inside.shape) / 100.0)))
    opened = ndimage.binary_opening(inside, structure=np.ones((2 * radius + 1,) * 2, bool))
    blobs, count = ndimage.label(opened)
    if count == 0:
        return inside
    sizes = ndimage.sum_labels(opened, blobs, index=np.arange(1, count + 1))
    return blobs == 1 + int(np.argmax(sizes))


def head_box(hu_slices, threshold=HEAD_HU, margin=HEAD_MARGIN):
    """The square frame around the head of a series, in slice pixels.

    A pixel belongs to the head when it exceeds ``threshold`` HU on at least
    a tenth of the slices that show anything there; thin structures (a head
    holder's arc, the table's edge) are opened away and the largest blob is
    the head. Its bounding box, grown by ``margin`` and made square around
    its centre, is the frame. The same frame serves every slice of the
    series, so anatomy keeps one scale from the skull base to the vertex;
    across series it puts the head, not the scanner's field of view, at the
    input's scale.

    Args:
        hu_slices: ``(rows, cols)`` or ``(n, rows, cols)`` HU.
        threshold: HU above which a pixel is tissue.
        margin: fraction of the head's larger side added on every side.

    Returns:
        ``(top, left, side)`` ints: the square's first row and column (may be
        negative, or run past the slice: that part is air) and its side in
        pixels; the whole padded slice when no pixel passes.
    """
    hu = np.asarray(hu_slices)
    if hu.ndim == 2:
        hu = hu[None]
    rows, cols = hu.shape[1], hu.shape[2]
    counts = (hu > threshold).sum(axis=0)
    if counts.max() == 0:
        side, top, left = _square_offsets(rows, cols)
        return -top, -left, side
    head = _head_mask(counts >= max(1, int(np.ceil(0.1 * int(counts.max())))))
    r = np.flatnonzero(head.any(axis=1))
    c = np.flatnonzero(head.any(axis=0))
    r0, r1, c0, c1 = r[0], r[-1] + 1, c[0], c[-1] + 1
    extent = max(r1 - r0, c1 - c0)
    side = max(int(round(extent * (1.0 + 2.0 * margin))), 8)
    top = int(round((r0 + r1) / 2.0 - side / 2.0))
    left = int(round((c0 + c1) / 2.0 - side / 2.0))
    return top, left, side


def crop_to_box(hu_slices, box, fill=AIR_HU):
    """Cut the square ``box = (top, left, side)`` out of ``(n, rows, cols)``
    slices; what lies outside the slices is ``fill`` (air). float32
    ``(n, side, side)``, a new array."""
    hu = np.asarray(hu_slices, dtype=np.float32)
    n, rows, cols = hu.shape
    top, left, side = (int(v) for v in box)
    out = np.full((n, side, side), fill, dtype=np.float32)
    r0, r1 = max(top, 0), min(top + side, rows)
    c0, c1 = max(left, 0), min(left + side, cols)
    if r1 > r0 and c1 > c0:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = hu[:, r0:r1, c0:c1]
    return out


def to_model_input(hu_slices, size=224, box=None):
    """Turn Hounsfield slices into the network's input.

    Args:
        hu_slices: ``(rows, cols)`` or ``(n, rows, cols)`` HU array.
        size: output side in pixels.
        box: ``None`` (the whole slice, padded with air to a square) or the
            ``(top, left, side)`` square of :func:`head_box` to frame.

    Returns:
        float32 ``(n, size, size, 3)`` in [0, 1]; channels are the brain
        (40/80), subdural (80/200) and bone (600/2800) windows.
    """
    hu = np.asarray(hu_slices, dtype=np.float32)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3 or hu.shape[1] < 1 or hu.shape[2] < 1:
        raise ValueError(f"expected (n, rows, cols) HU slices, got shape {hu.shape}")
    if box is not None:
        square = crop_to_box(hu, box)
    else:
        square = pad_to_square(hu) if hu.shape[1] != hu.shape[2] else hu
    resized = resize_stack(square, size, size)
    out = np.empty(resized.shape + (len(MODEL_WINDOWS),), dtype=np.float32)
    for channel, name in enumerate(MODEL_WINDOWS):
        out[..., channel] = apply_window(resized, *PRESETS[name])
    return out


def block_centres(size, n_cells):
    """``(origin, stride)`` in pixels of ``n_cells`` cells centred on their
    ``size / n_cells``-wide blocks, as a plain resize assumes."""
    stride = size / n_cells
    return (stride - 1.0) / 2.0, stride


def _grid_matrix(n_grid, n_out, origin, stride):
    """``(n_out, n_grid)`` linear interpolation from cell centres to pixels.

    Cell ``i`` is centred on pixel ``origin + stride * i``; pixels beyond the
    first or last centre take that cell's value.
    """
    u = np.clip((np.arange(n_out) - origin) / stride, 0.0, n_grid - 1)
    low = np.floor(u).astype(int)
    high = np.minimum(low + 1, n_grid - 1)
    frac = u - low
    matrix = np.zeros((n_out, n_grid), np.float64)
    np.add.at(matrix, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix


def grid_to_input(grid, size, geometry=None):
    """Place a ``(h, w)`` feature-grid map on the ``size x size`` model input.

    Args:
        grid: ``(h, w)`` map, one value per feature cell.
        size: model input side, pixels.
        geometry: ``((row_origin, row_stride), (col_origin, col_stride))``,
            cell ``(i, j)`` centred on input pixel ``(row_origin + row_stride
            * i, col_origin + col_stride * j)`` (see
            ``cranioscan.explain.grid.grid_geometry``). None: cells centred on
            their ``size / h``-wide blocks, as a plain resize assumes.

    Returns:
        float32 ``(size, size)``, linearly interpolated between cell centres.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"expected a non-empty 2-D grid, got shape {grid.shape}")
    size = int(size)
    if geometry is None:
        geometry = tuple(block_centres(size, n) for n in grid.shape)
    (row_origin, row_stride), (col_origin, col_stride) = geometry
    rows = _grid_matrix(grid.shape[0], size, row_origin, row_stride)
    cols = _grid_matrix(grid.shape[1], size, col_origin, col_stride)
    return (rows @ grid @ cols.T).astype(np.float32)


def restore_to_slice(model_map, rows, cols, box=None):
    """Map a ``(h, w)`` array at model resolution back onto a slice's pixels.

    Inverse geometry of ``to_model_input`` (same ``box``): resize to the
    square, then place it on the slice; slice pixels outside the frame get
    0. Returns float32 ``(rows, cols)``.
    """
    model_map = np.asarray(model_map, dtype=np.float32)
    if model_map.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {model_map.shape}")
    rows, cols = int(rows), int(cols)
    if box is None:
        side, top, left = _square_offsets(rows, cols)
        top, left = -top, -left
    else:
        top, left, side = (int(v) for v in box)
    square = resize_stack(model_map[None], side, side)[0]
    return crop_to_box(square[None], (-top, -left, max(rows, cols)), fill=0.0)[0, :rows, :cols]


def to_uint8(model_input):
    """``[0, 1]`` float model input -> uint8 (rounded), how slice caches store it."""
    return np.rint(np.asarray(model_input) * 255.0).astype(np.uint8)
