"""Display and model windows: Hounsfield units -> [0, 1] intensities."""

__all__ = ["PRESETS", "MODEL_WINDOWS", "apply_window"]

import numpy as np

#: Window presets, name -> (level, width) in Hounsfield units.
PRESETS = {
    "brain": (40.0, 80.0),
    "subdural": (80.0, 200.0),
    "bone": (600.0, 2800.0),
    "stroke": (40.0, 40.0),
    "soft_tissue": (50.0, 350.0),
}

#: The three windows stacked as model input channels, in channel order.
MODEL_WINDOWS = ("brain", "subdural", "bone")


def apply_window(hu, level, width):
    """Map Hounsfield units linearly onto [0, 1] through a window.

    ``level - width / 2`` maps to 0 and ``level + width / 2`` maps to 1;
    values outside are clipped. The input is never modified.

    Args:
        hu: array-like of any shape, Hounsfield units.
        level: window centre in HU.
        width: window width in HU, greater than 0.

    Returns:
        float32 array of the input's shape with values in [0, 1].
    """
    width = float(width)
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"Window width must be greater than 0 HU, got {width}")
    level = float(level)
    if not np.isfinite(level):
        raise ValueError(f"Window level must be a finite number of HU, got {level}")
    hu = np.asarray(hu, dtype=np.float32)
    low = np.float32(level - width / 2.0)
    out = (hu - low) * np.float32(1.0 / width)
    return np.clip(out, 0.0, 1.0, out=out)
