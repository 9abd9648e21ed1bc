"""Drawing maps on slices: heatmap overlays and mask outlines as RGB arrays.

Pure numpy plus matplotlib's colormap registry (no pyplot, no figure state):
every function takes arrays and returns a new ``uint8 (rows, cols, 3)``
image, ready for ``st.image`` or a PNG writer. Maps come from
:mod:`cranioscan.explain`; grey images from
``cranioscan.windowing.apply_window``.
"""

__all__ = ["COLORMAPS", "DEFAULT_OPACITY", "DEFAULT_THRESHOLD", "COLORBAR_LABEL", "to_rgb",
           "colorize", "alpha_ramp", "overlay_heatmap", "colorbar_strip", "grid_columns",
           "outline_mask"]

import functools

import numpy as np
from scipy import ndimage

#: Colormaps offered for overlays (any matplotlib colormap name works).
COLORMAPS = ("inferno", "jet", "magma", "viridis", "turbo")

#: Opacity of a map at its peak (the ramp's top, see :func:`alpha_ramp`):
#: strong enough to read the colour, weak enough to see the tissue under it
#: (checked on the real CT-ICH demo cases, whose maps can cover half the head).
DEFAULT_OPACITY = 0.5
#: Map value below which nothing is drawn (maps are scaled to their own peak,
#: so this hides the lower 40 %: brain and skull under the map's cold part
#: stay untinted grey).
DEFAULT_THRESHOLD = 0.4
#: What a map's colour means, for colour bars and captions. Every map is
#: scaled to its own peak, so colours compare places within one map only.
COLORBAR_LABEL = "relative attention, scaled to this map's own peak"


def _unit(a, name):
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows, cols) array, got shape {a.shape}")
    return np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


@functools.lru_cache(maxsize=16)
def _lut(cmap):
    """``(256, 3)`` float32 RGB table of a matplotlib colormap, in [0, 1]."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}; e.g. one of {COLORMAPS}") from None
    table = colormap(np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)
    table.setflags(write=False)
    return table


def to_rgb(gray01):
    """Grey image in [0, 1] -> ``uint8 (rows, cols, 3)`` (values clipped, NaN black)."""
    gray = _unit(gray01, "gray01")
    g = np.rint(gray * 255.0).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def colorize(heatmap, cmap="inferno"):
    """Map in [0, 1] -> float32 ``(rows, cols, 3)`` RGB in [0, 1] through ``cmap``."""
    heat = _unit(heatmap, "heatmap")
    return _lut(cmap)[np.rint(heat * 255.0).astype(np.intp)]


def _check_unit(value, name):
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def alpha_ramp(heatmap, threshold=DEFAULT_THRESHOLD, alpha=DEFAULT_OPACITY):
    """Per-pixel opacity of a map: transparent at the low end, ``alpha`` at the peak.

    ``0`` where ``heatmap < threshold``; from there it rises linearly to
    ``alpha`` at ``heatmap == 1``, so only the upper part of the map tints
    the slice and the colour fades in instead of starting with an edge. A
    threshold of 1 draws only pixels at the peak, with opacity ``alpha``.

    Args:
        heatmap: ``(rows, cols)`` map in [0, 1] (clipped; NaN counts as 0).
        threshold: map value where the ramp starts, in [0, 1].
        alpha: opacity at the top of the ramp, in [0, 1].

    Returns:
        float32 ``(rows, cols)`` in ``[0, alpha]``.
    """
    heat = _unit(heatmap, "heatmap")
    threshold, alpha = _check_unit(threshold, "threshold"), _check_unit(alpha, "alpha")
    if threshold >= 1.0:
        return np.where(heat >= 1.0, alpha, 0.0).astype(np.float32)
    ramp = np.clip((heat - threshold) / (1.0 - threshold), 0.0, 1.0)
    # A pixel exactly at the threshold gets a sliver of colour, never none.
    ramp = np.where(heat >= threshold, np.maximum(ramp, 1.0 / 255.0), 0.0)
    return (alpha * ramp).astype(np.float32)


def overlay_heatmap(gray01, heatmap, alpha=DEFAULT_OPACITY, cmap="inferno",
                    threshold=DEFAULT_THRESHOLD, ramp=True):
    """Blend a coloured map over a grey slice.

    ``out = (1 - a) * grey + a * cmap(heatmap)`` with ``a`` from
    :func:`alpha_ramp` (``ramp=True``: transparent below ``threshold``,
    rising to ``alpha`` at the map's peak), or ``a = alpha`` wherever
    ``heatmap >= threshold`` (``ramp=False``: a hard edge); the grey slice
    alone elsewhere.

    Args:
        gray01: ``(rows, cols)`` windowed slice in [0, 1].
        heatmap: ``(rows, cols)`` map in [0, 1] (values outside are clipped,
            NaN counts as 0).
        alpha: opacity of the map (at its peak when ``ramp``), in [0, 1].
        cmap: matplotlib colormap name ("inferno", "jet", ...).
        threshold: smallest map value drawn, in [0, 1].
        ramp: fade the opacity in from ``threshold`` (default) or not.

    Returns:
        ``uint8 (rows, cols, 3)`` RGB; the inputs are not modified.
    """
    gray = _unit(gray01, "gray01")
    heat = _unit(heatmap, "heatmap")
    if gray.shape != heat.shape:
        raise ValueError(f"heatmap shape {heat.shape} differs from the slice's {gray.shape}")
    alpha, threshold = _check_unit(alpha, "alpha"), _check_unit(threshold, "threshold")
    if ramp:
        a = alpha_ramp(heat, threshold, alpha)[..., None]
    else:
        a = np.where(heat >= threshold, alpha, 0.0).astype(np.float32)[..., None]
    base = np.repeat(gray[..., None], 3, axis=-1)
    out = (1.0 - a) * base + a * colorize(heat, cmap)
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


def colorbar_strip(width, height, cmap="inferno", threshold=DEFAULT_THRESHOLD,
                   background=(0.25, 0.25, 0.25)):
    """A horizontal colour bar, low values left, as they look on the slice.

    Columns stand for map values 0 -> 1 left to right. Values below
    ``threshold`` (never drawn on the slice) are shown in ``background``
    grey; above it the colormap's colour.

    Args:
        width, height: size in pixels (each >= 1).
        cmap: matplotlib colormap name.
        threshold: map value where drawing starts, in [0, 1].
        background: RGB in [0, 1] for the undrawn part.

    Returns:
        ``uint8 (height, width, 3)``.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError(f"colour bar size must be at least 1 x 1, got {width} x {height}")
    threshold = _check_unit(threshold, "threshold")
    values = (np.arange(width, dtype=np.float32) + 0.5) / width
    colours = _lut(cmap)[np.rint(values * 255.0).astype(np.intp)]
    colours = np.where((values >= threshold)[:, None], colours,
                       np.asarray(background, np.float32)[None, :])
    row = np.rint(colours * 255.0).astype(np.uint8)
    return np.repeat(row[None, :, :], height, axis=0)


def grid_columns(n_images, max_columns=4):
    """How many columns a grid of ``n_images`` maps gets: all in one row up to ``max_columns``.

    Two maps get two columns (not two of four, which leaves half the row
    empty); more than ``max_columns`` wrap into rows of ``max_columns``; ``0``
    for no images.
    """
    n_images, max_columns = int(n_images), int(max_columns)
    if max_columns < 1:
        raise ValueError(f"max_columns must be at least 1, got {max_columns}")
    return max(0, min(n_images, max_columns))


def outline_mask(rgb, mask, color=(0, 255, 0), thickness=1):
    """Draw the outline of a mask on an RGB image.

    The outline is the mask's pixels within ``thickness`` pixels of its edge
    (the mask minus its erosion), so it stays inside the region.

    Args:
        rgb: ``uint8 (rows, cols, 3)`` image (not modified).
        mask: ``(rows, cols)`` bool.
        color: RGB triple of 0-255 integers.
        thickness: outline width in pixels (>= 1).

    Returns:
        a new ``uint8 (rows, cols, 3)`` image.
    """
    rgb = np.asarray(rgb)
    mask = np.asarray(mask, dtype=bool)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (rows, cols, 3), got shape {rgb.shape}")
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} differs from the image's {rgb.shape[:2]}")
    thickness = int(thickness)
    if thickness < 1:
        raise ValueError(f"thickness must be at least 1, got {thickness}")
    color = np.asarray(color)
    if color.shape != (3,) or np.any(color < 0) or np.any(color > 255):
        raise ValueError(f"color must be an RGB triple of 0-255 values, got {color!r}")
    out = np.array(rgb, dtype=np.uint8, copy=True)
    # Pixels outside the image count as background, so a mask touching the
    # border is outlined there too.
    inner = ndimage.binary_erosion(mask, structure=np.ones((3, 3), bool),
                                   iterations=thickness, border_value=0)
    out[mask & ~inner] = color.astype(np.uint8)
    return out
