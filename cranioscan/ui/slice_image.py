"""One CT slice as an image: window, overlay, outlines and corner text drawn in.

:func:`render_slice` returns ``uint8 (rows, cols, 3)``, what ``st.image``
shows; :func:`slice_annotations`, :func:`orientation_labels` and
:func:`window_text` are the text drawn on it. No Streamlit import.
"""

__all__ = [
    "window_text",
    "preset_name",
    "slice_annotations",
    "orientation_labels",
    "render_slice",
]

import functools
import os

import numpy as np

from ..formats import number
from ..windowing import PRESETS, apply_window


# ------------------------------------------------------------------- text
def window_text(level, width):
    """``"W 80  L 40"``: the window as radiologists write it (HU)."""
    return f"W {number(float(width), 1)}  L {number(float(level), 1)}"


def preset_name(level, width, presets=PRESETS):
    """Name of the preset with this level and width, or None (custom window)."""
    for name, (p_level, p_width) in presets.items():
        if abs(float(level) - p_level) < 1e-6 and abs(float(width) - p_width) < 1e-6:
            return name
    return None


def slice_annotations(series, index):
    """Lines naming a slice: number, position and thickness.

    Args:
        series: the :class:`~cranioscan.dicom.Series`.
        index: 0-based slice index.

    Returns:
        list of str, e.g. ``["Slice 12 / 28", "Pos 35.5 mm", "Thk 5 mm"]``.
    """
    n = series.n_slices
    if not 0 <= index < n:
        raise IndexError(f"slice index {index} outside 0..{n - 1}")
    lines = [f"Slice {index + 1} / {n}"]
    position = float(series.positions[index])
    lines.append(f"Pos {position:.1f} mm")
    thickness = series.slice_thickness
    if thickness is not None and np.isfinite(thickness):
        lines.append(f"Thk {number(float(thickness), 2)} mm")
    elif series.slice_spacing is not None:
        lines.append(f"Spacing {number(float(series.slice_spacing), 2)} mm")
    return lines


_AXES = (("R", "L"), ("A", "P"), ("F", "H"))  # letter toward -axis, +axis (LPS)


def _direction_letter(vector):
    """Patient direction letter a unit vector (LPS) points to, or ''."""
    vector = np.asarray(vector, dtype=np.float64)
    axis = int(np.argmax(np.abs(vector)))
    if abs(vector[axis]) < 0.5:
        return ""
    return _AXES[axis][1] if vector[axis] > 0 else _AXES[axis][0]


def orientation_labels(orientation):
    """Patient-direction letters at the image edges.

    Args:
        orientation: ImageOrientationPatient, 6 direction cosines (LPS): the
            row direction (along increasing column) then the column direction.

    Returns:
        dict ``left, right, top, bottom`` -> a letter (R/L, A/P, H/F) or ''.
        A standard axial slice gives ``{"left": "R", "right": "L", "top":
        "A", "bottom": "P"}``.
    """
    o = np.asarray(orientation, dtype=np.float64).reshape(-1)
    if o.shape != (6,) or not np.isfinite(o).all():
        return {"left": "", "right": "", "top": "", "bottom": ""}
    row_dir, col_dir = o[:3], o[3:]
    return {
        "right": _direction_letter(row_dir),
        "left": _direction_letter(-row_dir),
        "bottom": _direction_letter(col_dir),
        "top": _direction_letter(-col_dir),
    }


# ------------------------------------------------------------------ image
@functools.lru_cache(maxsize=8)
def _font(size):
    from PIL import ImageFont

    candidates = []
    try:
        import matplotlib

        candidates.append(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"))
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    candidates.append("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    for path in candidates:
        if os.path.isfile(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _hex_rgb(color):
    if isinstance(color, str):
        color = color.lstrip("#")
        return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))
    return tuple(int(c) for c in color)


def _draw_text(rgb, corners, sides):
    from PIL import Image, ImageDraw

    rows, cols = rgb.shape[:2]
    size = int(np.clip(round(min(rows, cols) / 34), 10, 28))
    font = _font(size)
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    pad, step = max(4, size // 2), int(size * 1.25)

    def put(x, y, text, anchor):
        draw.text((x + 1, y + 1), text, font=font, fill=(0, 0, 0), anchor=anchor)
        draw.text((x, y), text, font=font, fill=(255, 236, 140), anchor=anchor)

    for corner, lines in corners.items():
        lines = [line for line in lines if line]
        top = corner.startswith("top")
        left = corner.endswith("left")
        for k, line in enumerate(lines if top else lines[::-1]):
            y = pad + k * step if top else rows - pad - k * step
            anchor = ("l" if left else "r") + ("a" if top else "d")
            put(pad if left else cols - pad, y, line, anchor)
    for side, letter in sides.items():
        if not letter:
            continue
        x, y, anchor = {
            "left": (pad, rows / 2, "lm"),
            "right": (cols - pad, rows / 2, "rm"),
            "top": (cols / 2, pad, "ma"),
            "bottom": (cols / 2, rows - pad, "md"),
        }[side]
        put(x, y, letter, anchor)
    return np.asarray(image)


def _draw_marker(rgb, row, col, color=(255, 255, 255)):
    """A small cross at ``(row, col)`` with a dark edge, in place."""
    rows, cols = rgb.shape[:2]
    arm = max(5, min(rows, cols) // 40)
    gap = max(2, arm // 3)
    for dr, dc in ((1, 0), (0, 1)):
        for sign in (-1, 1):
            for k in range(gap, arm + 1):
                r, c = row + sign * k * dr, col + sign * k * dc
                for w in (-1, 0, 1):
                    rr, cc = r + w * dc, c + w * dr
                    if 0 <= rr < rows and 0 <= cc < cols:
                        rgb[rr, cc] = color if w == 0 else (0, 0, 0)
    return rgb


def render_slice(hu_slice, level, width, *, heatmap=None, alpha=0.4, heat_threshold=0.0,
                 outlines=(), corners=None, sides=None, marker=None):
    """Draw one CT slice for display.

    Args:
        hu_slice: ``(rows, cols)`` Hounsfield units (not modified).
        level, width: display window in HU.
        heatmap: optional float ``(rows, cols)`` in [0, 1] drawn over the
            slice with ``cranioscan.ui.overlay.overlay_heatmap``.
        alpha: heatmap opacity in [0, 1].
        heat_threshold: heatmap values below it are not drawn.
        outlines: ``(mask, color)`` pairs; each bool ``(rows, cols)`` mask is
            outlined in ``color`` (hex string or RGB tuple).
        corners: optional dict ``top_left / top_right / bottom_left /
            bottom_right`` -> list of text lines drawn in that corner.
        sides: optional dict ``left / right / top / bottom`` -> a direction
            letter (see :func:`orientation_labels`).
        marker: optional ``(row, col)`` marked with a small cross (e.g. a
            heatmap's peak).

    Returns:
        uint8 ``(rows, cols, 3)`` RGB.
    """
    from . import overlay

    hu_slice = np.asarray(hu_slice)
    if hu_slice.ndim != 2:
        raise ValueError(f"expected one (rows, cols) slice, got shape {hu_slice.shape}")
    gray = apply_window(hu_slice, level, width)
    if heatmap is not None:
        heatmap = np.asarray(heatmap, dtype=np.float32)
        if heatmap.shape != gray.shape:
            raise ValueError(f"heatmap shape {heatmap.shape} differs from the slice's {gray.shape}")
        rgb = overlay.overlay_heatmap(gray, heatmap, alpha=float(alpha), threshold=float(heat_threshold))
    else:
        rgb = overlay.to_rgb(gray)
    for mask, color in outlines:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            rgb = overlay.outline_mask(rgb, mask, _hex_rgb(color), thickness=max(1, mask.shape[0] // 256))
    rgb = np.array(rgb, dtype=np.uint8, copy=True, order="C")
    if marker is not None:
        _draw_marker(rgb, int(marker[0]), int(marker[1]))
    if corners or sides:
        rgb = _draw_text(rgb, corners or {}, sides or {})
    return rgb
