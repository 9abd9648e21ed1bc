"""Drawing maps on slices: heatmap overlays and mask outlines as RGB arrays.

Pure numpy plus matplotlib's colormap registry (no pyplot, no figure state):
every function takes arrays and returns a new ``uint8 (rows, cols, 3)``
image, ready for ``st.image`` or a PNG writer. Maps come from
:mod:`cranioscan.explain`; grey images from
``cranioscan.windowing.apply_window``.
"""

__all__ = ["COLORMAPS", "to_rgb", "colorize", "overlay_heatmap", "outline_mask"]

import functools

import numpy as np
from scipy import ndimage

#: Colormaps offered for overlays (any matplotlib colormap name works).
COLORMAPS = ("inferno", "jet", "magma", "viridis", "turbo")


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


def overlay_heatmap(gray01, heatmap, alpha=0.4, cmap="inferno", threshold=0.0):
    """Blend a coloured map over a grey slice.

    ``out = (1 - alpha) * grey + alpha * cmap(heatmap)`` where ``heatmap >=
    threshold``; the grey slice alone elsewhere (``threshold > 0`` hides the
    cold part of the map).

    Args:
        gray01: ``(rows, cols)`` windowed slice in [0, 1].
        heatmap: ``(rows, cols)`` map in [0, 1] (values outside are clipped,
            NaN counts as 0).
        alpha: opacity of the map, in [0, 1].
        cmap: matplotlib colormap name ("inferno", "jet", ...).
        threshold: smallest map value drawn, in [0, 1].

    Returns:
        ``uint8 (rows, cols, 3)`` RGB; the inputs are not modified.
    """
    gray = _unit(gray01, "gray01")
    heat = _unit(heatmap, "heatmap")
    if gray.shape != heat.shape:
        raise ValueError(f"heatmap shape {heat.shape} differs from the slice's {gray.shape}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    base = np.repeat(gray[..., None], 3, axis=-1)
    blended = (1.0 - alpha) * base + alpha * colorize(heat, cmap)
    shown = (heat >= threshold)[..., None]
    out = np.where(shown, blended, base)
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


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
