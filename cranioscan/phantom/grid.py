"""Pixel grids of an axial slice and the head-frame coordinates of their pixels.

The phantom is defined in continuous millimetres in a *head frame*: ``u``
towards the patient's left, ``v`` posterior, ``w`` superior, origin at the
centre of the cranial cavity. A study places the head in the scanner frame
(DICOM patient coordinates, LPS) with a rotation and a translation; an axial
slice is the plane ``z = const`` of the scanner frame, sampled on a grid of
pixel centres. Because everything is a function of millimetres, the same
study drawn on a coarser grid shows the same anatomy.
"""

__all__ = ["SliceGrid", "upsample", "coarse_taps", "interpolate_coarse"]

import math

import numpy as np

from ..preprocess import resize_stack


class SliceGrid:
    """Head-frame coordinates of the pixel centres of (part of) an axial slice.

    Args:
        n: pixels per side of the square grid.
        spacing: pixel spacing in mm (rows and columns alike).
        x0, y0: scanner-frame x and y (mm) of the centre of pixel (0, 0).
        z: scanner-frame z of the slice plane (mm).
        rotation: ``(3, 3)`` matrix taking head-frame vectors to the scanner frame.
        center: ``(3,)`` scanner-frame position of the head-frame origin (mm).
        cache: dict shared by the grids of one head pose (box extents).

    Attributes:
        shape: ``(rows, cols)``.
        u, v, w: float32 ``(rows, cols)`` head-frame coordinates (mm) of each pixel.
        y: float32 ``(rows, 1)`` scanner-frame y of each row (gravity is +y
            for a supine patient); ``x``: float32 ``(1, cols)`` scanner x.
    """

    def __init__(self, n, spacing, x0, y0, z, rotation, center, cache=None):
        self._cache = {} if cache is None else cache  # head-frame box -> scanner extent
        self.pix = float(spacing)
        self.z = float(z)
        self._rotation = np.asarray(rotation, dtype=np.float64)
        self._center = np.asarray(center, dtype=np.float64)
        self._x0, self._y0 = float(x0), float(y0)
        self.shape = (int(n), int(n))
        rt = self._rotation.T
        origin = rt @ (np.array([x0, y0, z], dtype=np.float64) - self._center)
        d_row = rt @ np.array([0.0, self.pix, 0.0])  # one row down: +y
        d_col = rt @ np.array([self.pix, 0.0, 0.0])  # one column right: +x
        idx = np.arange(int(n), dtype=np.float32)
        self.u, self.v, self.w = (
            (np.float32(origin[k]) + np.float32(d_row[k]) * idx[:, None]
             + np.float32(d_col[k]) * idx[None, :]).astype(np.float32)
            for k in range(3))
        self.y = (np.float32(y0) + np.float32(self.pix) * idx[:, None]).astype(np.float32)
        self.x = (np.float32(x0) + np.float32(self.pix) * idx[None, :]).astype(np.float32)

    @property
    def n(self):
        return self.shape[0]

    def crop(self, roi):
        """The part of the grid inside ``roi`` (views, not copies)."""
        rs, cs = roi
        sub = object.__new__(SliceGrid)
        sub.pix, sub.z, sub._rotation, sub._center = self.pix, self.z, self._rotation, self._center
        sub._cache = self._cache
        sub._x0 = self._x0 + cs.start * self.pix
        sub._y0 = self._y0 + rs.start * self.pix
        sub.u, sub.v, sub.w = self.u[rs, cs], self.v[rs, cs], self.w[rs, cs]
        sub.y, sub.x = self.y[rs], self.x[:, cs]
        sub.shape = sub.u.shape
        return sub

    def w_range(self):
        """Smallest and largest head-frame ``w`` (mm) on the grid."""
        w = self.w
        corners = (w[0, 0], w[0, -1], w[-1, 0], w[-1, -1])
        return float(min(corners)), float(max(corners))

    def roi(self, lo, hi, margin=2):
        """Pixel box of the grid covering a head-frame box.

        ``None`` when the slice plane misses the box (exact); otherwise the
        bounding box of the box's corners projected on the slice (a superset
        of the exact section, tight for small tilts), clipped to the grid.
        Box extents are cached per head pose, so repeated boxes are cheap.

        Args:
            lo, hi: ``(3,)`` head-frame corners of the box (mm).
            margin: extra pixels on each side.

        Returns:
            ``(row_slice, col_slice)``, or ``None``.
        """
        key = (tuple(lo), tuple(hi))
        ext = self._cache.get(key)
        if ext is None:
            corners = np.array([[x, y, z] for x in (key[0][0], key[1][0]) for y in (key[0][1], key[1][1])
                                for z in (key[0][2], key[1][2])])
            scanner = corners @ self._rotation.T + self._center
            ext = self._cache[key] = (*scanner.min(axis=0).tolist(), *scanner.max(axis=0).tolist())
        xmin, ymin, zmin, xmax, ymax, zmax = ext
        if zmin > self.z or zmax < self.z:
            return None
        inv = 1.0 / self.pix
        r0 = max(math.floor((ymin - self._y0) * inv) - margin, 0)
        r1 = min(math.ceil((ymax - self._y0) * inv) + margin + 1, self.shape[0])
        c0 = max(math.floor((xmin - self._x0) * inv) - margin, 0)
        c1 = min(math.ceil((xmax - self._x0) * inv) + margin + 1, self.shape[1])
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)


def upsample(image, factor):
    """Bilinear, pixel-centre aligned upsampling of a 2-D array by an integer factor.

    Returns float32 ``(rows * factor, cols * factor)``; ``factor == 1`` returns
    the input as float32.
    """
    image = np.asarray(image, dtype=np.float32)
    if factor == 1:
        return image
    rows, cols = image.shape
    return resize_stack(image[None], rows * factor, cols * factor)[0]


def coarse_taps(fine_n, coarse_n, index_slice):
    """Bilinear taps from a coarse grid to fine pixels over the same field of view.

    Pixel centres are aligned: fine pixel ``i`` sits at coarse coordinate
    ``(i + 0.5) * coarse_n / fine_n - 0.5``.

    Args:
        fine_n, coarse_n: pixels per side of the fine and coarse grids.
        index_slice: the fine pixels wanted (a slice of ``range(fine_n)``).

    Returns:
        ``(coarse_slice, i0, t)``: the coarse pixels needed, and per fine
        pixel the first tap relative to ``coarse_slice.start`` and its weight
        ``1 - t`` (the second tap, ``i0 + 1``, gets ``t``).
    """
    m = (np.arange(index_slice.start, index_slice.stop) + 0.5) * (coarse_n / fine_n) - 0.5
    m = np.clip(m, 0.0, coarse_n - 1.0)
    i0 = np.minimum(np.floor(m).astype(np.intp), coarse_n - 2)
    t = (m - i0).astype(np.float32)
    lo = int(i0.min())
    return slice(lo, int(i0.max()) + 2), i0 - lo, t


def interpolate_coarse(values, row_taps, col_taps):
    """Apply :func:`coarse_taps` along rows and columns of ``(k, rows, cols)`` values.

    Returns a list of ``k`` float32 arrays.
    """
    j0, s = col_taps
    i0, t = row_taps
    t0, t1 = (1.0 - t)[:, None], t[:, None]
    out = []
    for channel in values:
        tmp = channel[:, j0] * (1.0 - s)
        tmp += channel[:, j0 + 1] * s
        fine = tmp[i0] * t0
        fine += tmp[i0 + 1] * t1
        out.append(fine)
    return out
