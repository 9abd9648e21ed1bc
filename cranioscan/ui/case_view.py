"""What the case viewer shows, as pure functions (no Streamlit import).

The dashboard's pages lay these results out; everything here takes arrays,
a :class:`cranioscan.dicom.Series` or plain values and returns an image,
a table, a figure or text, so it can be tested without a server.

* :func:`render_slice`: one slice through a window, with an optional
  heatmap overlay, mask outlines and corner annotations drawn into the
  pixels (uint8 RGB, what ``st.image`` shows).
* :func:`slice_annotations`, :func:`orientation_labels`,
  :func:`window_text`: the text drawn on the image.
* :func:`probability_figure`: per-class probability along the slices with
  the current slice marked (plotly; a click selects a slice, read back
  with :func:`clicked_slice`).
* :func:`slice_probability_table`, :func:`summary_table`: per-class tables.
* :func:`metadata_table`: DICOM display tags with patient identifiers
  hidden unless asked for.
* :func:`content_key`: a hash of a series' content, the cache key of its
  scores.

Slice numbers shown to people are 1-based (``index + 1``); functions taking
``index`` use 0-based positions in ``series.hu``.
"""

__all__ = [
    "OVERLAY_METHOD",
    "CLASS_LABELS",
    "CLASS_SHORT",
    "CLASS_COLORS",
    "IDENTIFYING_KEYS",
    "HIDDEN",
    "content_key",
    "is_synthetic_model",
    "model_notice",
    "model_name",
    "short_notice",
    "card_metrics_table",
    "held_out_table",
    "localisation_table",
    "as_lines",
    "window_text",
    "preset_name",
    "slice_annotations",
    "orientation_labels",
    "render_slice",
    "start_slice",
    "slice_probability_table",
    "probability_figure",
    "mark_slice",
    "clicked_slice",
    "format_slice_ranges",
    "summary_table",
    "metadata_table",
    "truth_mask",
    "skipped_table",
]

import functools
import hashlib
import os

import numpy as np
import pandas as pd

from ..labels import CLASSES
from .text import METHOD_TITLES
from ..windowing import PRESETS, apply_window

#: The overlay's method when a case opens (``explain.METHODS``). Grad-CAM++
#: rather than plain Grad-CAM: on phantom studies its peak lands in the lesion
#: far more often, at the same cost per slice. It was chosen on a selection
#: set (``bench/gradcam_layers.py``, seeds 950000 onward) and checked once on
#: the test set (``bench/evaluate_model.py --also-methods gradcam++``); the
#: README gives the numbers. Plain Grad-CAM stays one click away.
OVERLAY_METHOD = "gradcam++"

#: Names shown for each class.
CLASS_LABELS = {
    "any": "Any hemorrhage",
    "epidural": "Epidural",
    "intraparenchymal": "Intraparenchymal",
    "intraventricular": "Intraventricular",
    "subarachnoid": "Subarachnoid",
    "subdural": "Subdural",
}

#: Abbreviations radiologists use, for text drawn on the image.
CLASS_SHORT = {
    "any": "any ICH",
    "epidural": "EDH",
    "intraparenchymal": "IPH",
    "intraventricular": "IVH",
    "subarachnoid": "SAH",
    "subdural": "SDH",
}

#: One colour per class (charts and ground-truth outlines), hex RGB.
CLASS_COLORS = {
    "any": "#e8e8e8",
    "epidural": "#ff6b6b",
    "intraparenchymal": "#ffa94d",
    "intraventricular": "#4dabf7",
    "subarachnoid": "#b197fc",
    "subdural": "#69db7c",
}

#: ``Series.meta`` keys that identify a patient, a visit or a place; hidden
#: by :func:`metadata_table` unless identifiers are asked for.
IDENTIFYING_KEYS = (
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "accession_number",
    "institution",
    "study_date",
    "study_time",
    "series_date",
    "study_uid",
    "series_uid",
)

#: Text shown in place of a hidden identifier.
HIDDEN = "hidden"

_META_LABELS = {
    "patient_name": "Patient name",
    "patient_id": "Patient ID",
    "patient_birth_date": "Birth date",
    "patient_sex": "Sex",
    "patient_age": "Age",
    "accession_number": "Accession number",
    "institution": "Institution",
    "study_date": "Study date",
    "study_time": "Study time",
    "study_description": "Study description",
    "series_date": "Series date",
    "series_description": "Series description",
    "series_number": "Series number",
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "Scanner model",
    "body_part": "Body part",
    "convolution_kernel": "Kernel",
    "kvp": "kVp",
    "tube_current_ma": "Tube current (mA)",
    "exposure_mas": "Exposure (mAs)",
    "slice_thickness": "Slice thickness (mm)",
    "spacing_between_slices": "Spacing between slices (mm)",
    "window_center": "Window center (DICOM)",
    "window_width": "Window width (DICOM)",
    "rescale_slope": "Rescale slope",
    "rescale_intercept": "Rescale intercept",
    "gantry_tilt_tag": "Gantry tilt tag (deg)",
    "photometric_interpretation": "Photometric interpretation",
    "bits_stored": "Bits stored",
    "pixel_representation": "Pixel representation",
    "transfer_syntax": "Transfer syntax",
    "rows": "Rows",
    "columns": "Columns",
    "study_uid": "Study instance UID",
    "series_uid": "Series instance UID",
}


# ---------------------------------------------------------------- identity
def content_key(series):
    """Hex digest of what a series holds: HU voxels, positions and spacing.

    Two loads of the same files give the same key whatever the source (path,
    zip or upload), so scores cached under it are reused; any change of a
    voxel gives another key.
    """
    digest = hashlib.blake2b(digest_size=20)
    hu = np.ascontiguousarray(series.hu, dtype=np.float32)
    digest.update(repr(hu.shape).encode())
    digest.update(memoryview(hu).cast("B"))
    digest.update(np.ascontiguousarray(series.positions, dtype=np.float64).tobytes())
    digest.update(repr(tuple(float(s) for s in series.spacing)).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------ model
def is_synthetic_model(card):
    """True when a model card says the model was trained on synthetic phantoms."""
    card = card or {}
    if card.get("synthetic") is True:
        return True
    trained_on = str(card.get("trained_on", "")).lower()
    return "phantom" in trained_on or "synthetic" in trained_on


def model_notice(card, loaded=True):
    """The warning every page shows about the loaded model, or None.

    Args:
        card: the model card dict (``Predictor.card``; {} when absent).
        loaded: False when no model could be loaded.

    Returns:
        str for a model trained on synthetic phantoms (a demo model) or a
        model without a card (provenance unknown); None otherwise.
    """
    if not loaded:
        return None
    if is_synthetic_model(card):
        return ("Demo model, trained on synthetic phantoms — not for clinical use. Its outputs "
                "say nothing about real patients.")
    if not card:
        return ("This model has no model card: what it was trained on is unknown. Research use "
                "only — not for clinical use.")
    return None


def short_notice(card):
    """One-line form of :func:`model_notice` for the top of every page."""
    if is_synthetic_model(card):
        return "Demo model trained on synthetic phantoms — not for clinical use."
    return "Model without a model card — research use only, not for clinical use."


def model_name(card, path=None):
    """Name of the model for display: the card's ``name``, else the file name."""
    name = (card or {}).get("name")
    if name:
        return str(name)
    return os.path.basename(str(path)) if path else "unnamed model"


def card_metrics_table(card, classes=CLASSES):
    """Per-class metrics of a model card as a table.

    Args:
        card: model card dict; ``metrics`` maps class -> dict (``auc``,
            ``auc_ci_low``, ``auc_ci_high`` and any other numbers), and
            ``thresholds`` class -> float.

    Returns:
        DataFrame, one row per class found in the card, with ``Finding``,
        ``AUC``, ``95% CI`` (text), ``Threshold`` and the other numeric
        entries as extra columns; empty when the card has no metrics.
    """
    card = card or {}
    card_metrics = card.get("metrics") or {}
    if isinstance(card_metrics.get("classes"), dict):  # a metrics.summarize() dict
        card_metrics = card_metrics["classes"]
    thresholds = card.get("thresholds") or {}
    rows = []
    for name in classes:
        m = card_metrics.get(name)
        if not isinstance(m, dict):
            continue
        low, high = m.get("auc_ci_low"), m.get("auc_ci_high")
        row = {"Finding": CLASS_LABELS.get(name, name), "AUC": m.get("auc"),
               "95% CI": (f"{low:.3f}–{high:.3f}" if isinstance(low, (int, float))
                          and isinstance(high, (int, float)) else "n/a"),
               "Threshold": thresholds.get(name)}
        for key, value in m.items():
            known = key in ("auc", "auc_ci_low", "auc_ci_high", "threshold")
            if not known and isinstance(value, (int, float)):
                row[key.replace("_", " ")] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def _percent_interval(ci):
    """``"60%–87%"`` for a card's ``[low, high]`` fractions; None when it has no usable one."""
    if isinstance(ci, list) and len(ci) == 2 and all(np.isfinite(_number(v)) for v in ci):
        return f"{_number(ci[0]):.0%}–{_number(ci[1]):.0%}"
    return None


def _rate_with_interval(cam):
    """``"75% (155/207)"``, with ``"; 95% CI 60–87%"`` when the card gives the interval."""
    text = f"{_number(cam.get('fraction_in_mask')):.0%} ({cam.get('n_in_mask')}/{cam.get('n_slices')}"
    interval = _percent_interval(cam.get("ci95"))
    return text + (f"; 95% CI {interval})" if interval else ")")


def held_out_table(card, classes=CLASSES):
    """The card's ``held_out_evaluation`` (``bench/evaluate_model.py``) as a table.

    Returns:
        DataFrame, one row per class: ``Finding``, ``AUC``, ``95% CI``,
        ``Positive slices`` and, per explanation method measured, ``<method>
        peak in lesion`` (fraction of positive slices, with counts and, where
        the card has it, the study-level 95% interval): the card's
        ``gradcam_peak_in_mask`` first, then those of
        ``peak_in_mask_other_methods``; empty when the card has no such entry.
    """
    block = (card or {}).get("held_out_evaluation")
    if not isinstance(block, dict):
        return pd.DataFrame()
    aucs, cis = block.get("auc") or {}, block.get("auc_ci95") or {}
    positives = block.get("positives") or {}
    main = block.get("gradcam_peak_in_mask") if isinstance(
        block.get("gradcam_peak_in_mask"), dict) else {}
    main_method = main.get("method", "gradcam")
    by_method = {main_method: main}
    others = block.get("peak_in_mask_other_methods")
    if isinstance(others, dict):
        by_method.update({m: v for m, v in others.items()
                          if m != main_method and isinstance(v, dict)})
    rows = []
    for name in classes:
        if name not in aucs:
            continue
        ci = cis.get(name) or [None, None]
        row = {
            "Finding": CLASS_LABELS.get(name, name),
            "AUC": _number(aucs.get(name)),
            "95% CI": (f"{ci[0]:.3f}–{ci[1]:.3f}" if len(ci) == 2 and all(
                isinstance(v, (int, float)) for v in ci) else "n/a"),
            "Positive slices": positives.get(name),
        }
        for method, cams in by_method.items():
            cam = cams.get(name) if isinstance(cams.get(name), dict) else {}
            fraction = _number(cam.get("fraction_in_mask"))
            row[f"{METHOD_TITLES.get(method, method)} peak in lesion"] = (
                _rate_with_interval(cam) if np.isfinite(fraction) else "n/a")
        rows.append(row)
    return pd.DataFrame(rows)


def localisation_table(card):
    """The card's ``localisation_sweep`` (``bench/gradcam_layers.py``) as a table.

    Returns:
        DataFrame, one row per layer and method: ``Layer``, ``Method``,
        ``Peak in lesion`` (fraction with its 95% interval) and, for the
        other peaks, ``In air``, ``In bone`` and ``In soft tissue`` (slice
        counts); empty when the card has no such entry.
    """
    block = (card or {}).get("localisation_sweep")
    rows = block.get("rows") if isinstance(block, dict) else None
    if not isinstance(rows, list):
        return pd.DataFrame()
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        fraction, interval = _number(row.get("fraction_in_mask")), _percent_interval(row.get("ci95"))
        text = f"{fraction:.0%}" if np.isfinite(fraction) else "n/a"
        if interval:
            text += f" ({interval})"
        places = row.get("places") if isinstance(row.get("places"), dict) else {}
        out.append({"Layer": row.get("layer"),
                    "Method": METHOD_TITLES.get(row.get("method"), row.get("method")),
                    "Peak in lesion": text, "In air": places.get("air"),
                    "In bone": places.get("bone"), "In soft tissue": places.get("soft tissue")})
    return pd.DataFrame(out)


def training_facts(training):
    """The card's ``training`` block as ``(label, markdown)`` lines for the model card page.

    Gives the training command, the epochs with their time and hardware, how
    slices were drawn, and the model training continued from (its SHA-256 and
    data), each only when the card has it.
    """
    training = training if isinstance(training, dict) else {}
    command = training.get("command")
    facts = [("Training command", f"`{command}`" if command else "unknown")]
    if training.get("epochs_run"):
        minutes, epochs = training.get("epoch_minutes_total"), training["epochs_run"]
        facts.append(("Training", f"{epochs} epoch{'s' if epochs != 1 else ''}"
                                  + (f", {minutes:.0f} minutes" if minutes else "")
                                  + (f" on {training['hardware']}" if training.get("hardware")
                                     else "")))
    if training.get("sampling"):
        facts.append(("Sampling", training["sampling"]))
    earlier = training.get("initialised_from")
    if isinstance(earlier, dict):
        earlier_card = earlier.get("model_card") or {}
        facts.append(("Continued from", f"`{(earlier.get('sha256') or 'unknown')[:12]}…` "
                                        f"(trained on {earlier_card.get('trained_on', 'unknown data')}; "
                                        "its card is in the JSON below)"))
    return facts


def as_lines(value):
    """A card entry (str, list or dict) as a list of display lines."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    return [str(value)]


# ------------------------------------------------------------------- text
def _fmt(value, digits=1):
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def window_text(level, width):
    """``"W 80  L 40"``: the window as radiologists write it (HU)."""
    return f"W {_fmt(float(width))}  L {_fmt(float(level))}"


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
        lines.append(f"Thk {_fmt(float(thickness), 2)} mm")
    elif series.slice_spacing is not None:
        lines.append(f"Spacing {_fmt(float(series.slice_spacing), 2)} mm")
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


# ---------------------------------------------------------- probabilities
def start_slice(probs, thresholds=None, classes=CLASSES):
    """0-based slice a series opens on.

    The slice where ``any`` hemorrhage is most probable when that passes its
    threshold (the reader sees the finding first), else the middle slice.

    Args:
        probs: ``(n, c)`` probabilities.
        thresholds: dict class -> threshold (default 0.5).
        classes: class names of the columns (``"any"`` among them).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n = probs.shape[0]
    if n == 0:
        return 0
    col = probs[:, list(classes).index("any")]
    k = int(np.argmax(col))
    threshold = (thresholds or {}).get("any", 0.5)
    return k if col[k] >= threshold else n // 2


def slice_probability_table(probs_row, thresholds=None, classes=CLASSES):
    """The classes' probabilities on one slice.

    Args:
        probs_row: ``(c,)`` probabilities of one slice.
        thresholds: optional dict class -> operating threshold.
        classes: class names in column order.

    Returns:
        DataFrame with columns ``Finding``, ``Probability``, ``Threshold``,
        ``Flag`` ("▲" at or above the threshold, else ""), one row per class.
    """
    probs_row = np.asarray(probs_row, dtype=np.float64).reshape(-1)
    if probs_row.shape != (len(classes),):
        raise ValueError(f"expected {len(classes)} probabilities, got shape {probs_row.shape}")
    thresholds = thresholds or {}
    rows = []
    for name, p in zip(classes, probs_row):
        t = thresholds.get(name)
        rows.append({
            "Finding": CLASS_LABELS.get(name, name),
            "Probability": float(p),
            "Threshold": float(t) if t is not None else np.nan,
            "Flag": "▲" if t is not None and p >= t else "",
        })
    return pd.DataFrame(rows)


def probability_figure(probs, current_index, classes=CLASSES, height=250):
    """Plotly figure: each class's probability along the slices.

    Args:
        probs: ``(n, c)`` probabilities, slices inferior -> superior.
        current_index: 0-based index of the slice on screen (marked by a
            vertical line).
        classes: class names in column order.
        height: figure height in pixels.

    Returns:
        ``plotly.graph_objects.Figure``; x is the 1-based slice number. A
        transparent bar per slice makes a click anywhere in a slice's column
        select that slice (see :func:`clicked_slice`).
    """
    import plotly.graph_objects as go

    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"expected (n, {len(classes)}) probabilities, got {probs.shape}")
    n = probs.shape[0]
    x = np.arange(1, n + 1)
    fig = go.Figure()
    # Click targets first (drawn below the lines).
    fig.add_trace(go.Bar(
        x=x, y=np.ones(n), name="slice", showlegend=False, marker_color="rgba(255,255,255,0.02)",
        marker_line_width=0, hovertemplate="slice %{x}<extra></extra>", width=1.0,
    ))
    for c, name in enumerate(classes):
        fig.add_trace(go.Scatter(
            x=x, y=probs[:, c], mode="lines+markers", name=CLASS_LABELS.get(name, name),
            line={"color": CLASS_COLORS.get(name), "width": 2.4 if name == "any" else 1.6,
                  "dash": "dot" if name == "any" else "solid"},
            marker={"size": 4},
            hovertemplate=f"{CLASS_LABELS.get(name, name)}: %{{y:.2f}}<extra></extra>",
        ))
    if 0 <= current_index < n:
        fig.add_vline(x=current_index + 1, line_width=2, line_color="#ffd43b",
                      annotation_text=f"slice {current_index + 1}", annotation_position="top",
                      annotation_font_color="#ffd43b")
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 28, "b": 10}, bargap=0,
        xaxis={"title": "slice (inferior → superior)", "range": [0.5, n + 0.5], "dtick": max(1, n // 12)},
        yaxis={"title": "probability", "range": [0, 1.02]},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "font": {"size": 11}},
        hovermode="x", clickmode="event+select", dragmode=False,
    )
    return fig


def mark_slice(figure_dict, current_index):
    """A copy of a :func:`probability_figure` (as a dict) with another slice marked.

    Building the figure once per series and only moving the marker keeps a
    slice change cheap (plotly's validation of a new figure costs tens of
    milliseconds; this skips it).

    Args:
        figure_dict: ``probability_figure(probs, -1).to_dict()``.
        current_index: 0-based slice to mark.

    Returns:
        ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    layout = dict(figure_dict.get("layout", {}))
    number = int(current_index) + 1
    layout["shapes"] = [{"type": "line", "x0": number, "x1": number, "xref": "x", "y0": 0, "y1": 1,
                         "yref": "paper", "line": {"color": "#ffd43b", "width": 2}}]
    layout["annotations"] = [{"x": number, "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom",
                              "text": f"slice {number}", "showarrow": False,
                              "font": {"color": "#ffd43b"}}]
    data = {"data": figure_dict.get("data", []), "layout": layout}
    try:
        return go.Figure(data, _validate=False)
    except TypeError:  # a plotly without the private switch: validate
        return go.Figure(data)


def clicked_slice(selection, n_slices):
    """0-based slice index a click on :func:`probability_figure` selected.

    Args:
        selection: the ``selection`` of ``st.plotly_chart(on_select=...)``
            state (a mapping with ``"points"``), or None.
        n_slices: number of slices (out-of-range clicks are ignored).

    Returns:
        int, or None when nothing usable was selected.
    """
    if not selection:
        return None
    points = selection.get("points") if hasattr(selection, "get") else None
    for point in points or ():
        x = point.get("x") if hasattr(point, "get") else None
        try:
            number = int(round(float(x)))
        except (TypeError, ValueError):
            continue
        if 1 <= number <= n_slices:
            return number - 1
    return None


def format_slice_ranges(indices):
    """1-based runs of 0-based indices: ``[2, 3, 4, 8] -> "3-5, 9"`` ('' if none)."""
    numbers = sorted({int(i) + 1 for i in indices})
    parts, start = [], None
    for k, num in enumerate(numbers):
        if start is None:
            start = num
        if k + 1 == len(numbers) or numbers[k + 1] != num + 1:
            parts.append(str(start) if start == num else f"{start}–{num}")
            start = None
    return ", ".join(parts)


def summary_table(summary, classes=CLASSES, thresholds=None):
    """Series summary: per class the highest probability and flagged slices.

    Args:
        summary: ``cranioscan.inference.summarize_series`` output, class ->
            ``{"max_prob", "max_slice", "slices_above"}`` (0-based slices).
        classes: class order of the rows.
        thresholds: optional dict class -> threshold, shown in a column.

    Returns:
        DataFrame with ``Finding``, ``Highest probability``, ``On slice``
        (1-based), ``Threshold``, ``Slices above threshold`` (1-based runs)
        and ``Count``.
    """
    thresholds = thresholds or {}
    rows = []
    for name in classes:
        item = summary[name]
        above = list(item.get("slices_above", ()))
        t = thresholds.get(name)
        rows.append({
            "Finding": CLASS_LABELS.get(name, name),
            "Highest probability": float(item["max_prob"]),
            "On slice": int(item["max_slice"]) + 1,
            "Threshold": float(t) if t is not None else np.nan,
            "Slices above threshold": format_slice_ranges(above) or "none",
            "Count": len(above),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- metadata
def _display(value):
    if value is None:
        return "—"
    if isinstance(value, float):
        return _fmt(value, 3)
    return str(value)


def metadata_table(series, show_identifiers=False):
    """DICOM display tags and geometry of a series as a two-column table.

    Args:
        series: a :class:`~cranioscan.dicom.Series`.
        show_identifiers: show :data:`IDENTIFYING_KEYS` values; otherwise
            they read :data:`HIDDEN` (an absent one still reads "—").

    Returns:
        DataFrame with columns ``Field`` and ``Value`` (all strings).
    """
    meta = dict(series.meta or {})
    rows = []
    for key, label in _META_LABELS.items():
        if key not in meta:
            continue
        value = meta[key]
        if key in IDENTIFYING_KEYS and not show_identifiers and value not in (None, ""):
            shown = HIDDEN
        else:
            shown = _display(value)
        rows.append({"Field": label, "Value": shown})
    n, r, c = series.shape
    rows.extend([
        {"Field": "Slices loaded", "Value": str(n)},
        {"Field": "Matrix", "Value": f"{r} × {c}"},
        {"Field": "Pixel spacing (mm)", "Value": " × ".join(_fmt(float(s), 3) for s in series.spacing)},
        {"Field": "Slice spacing (mm)", "Value": _display(series.slice_spacing)},
        {"Field": "Gantry tilt (deg)", "Value": _fmt(float(series.tilt_degrees), 1)},
        {"Field": "Files skipped", "Value": str(len(series.skipped))},
    ])
    return pd.DataFrame(rows, columns=["Field", "Value"])


def skipped_table(skipped):
    """``Series.skipped`` as a DataFrame with ``File`` and ``Reason``."""
    return pd.DataFrame([{"File": name, "Reason": reason} for name, reason in skipped],
                        columns=["File", "Reason"])


def truth_mask(masks, class_name, index):
    """Ground-truth mask of one finding on one slice.

    Args:
        masks: subtype -> bool ``(n, rows, cols)`` (a phantom's masks).
        class_name: a class; ``"any"`` is the union of the subtypes.
        index: 0-based slice.

    Returns:
        bool ``(rows, cols)`` (all False where the finding is absent).
    """
    if class_name == "any":
        stack = [np.asarray(m[index], dtype=bool) for m in masks.values()]
        return np.logical_or.reduce(stack) if stack else None
    return np.asarray(masks[class_name][index], dtype=bool)
