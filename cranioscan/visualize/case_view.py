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
    "IDENTIFYING_KEYS",
    "HIDDEN",
    "content_key",
    "start_slice",
    "start_note",
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

import hashlib

import numpy as np
import pandas as pd

from ..formats import PROBABILITY_DIGITS, number, probability
from ..labels import CLASSES
from ..series_result import flag_matrix, opening_slice
from .text import CLASS_COLORS, CLASS_LABELS

#: The overlay's method when a case opens (``explain.METHODS``). Grad-CAM++
#: rather than plain Grad-CAM: on phantom studies its peak lands in the lesion
#: far more often, at the same cost per slice. It was chosen on a selection
#: set (``cranioscan sweep``) and checked once on the test set (``cranioscan
#: evaluate --also-methods gradcam++``); docs/model.md gives the numbers.
#: Plain Grad-CAM stays one click away.
OVERLAY_METHOD = "gradcam++"


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


# ---------------------------------------------------------- probabilities
def _opening(probs, thresholds, classes):
    """``(index, probability of any there, its threshold, whether it passes)`` of the opening slice
    (the rule is :func:`cranioscan.series_result.opening_slice`)."""
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = {"any": 0.5, **(thresholds or {})}
    index, passes = opening_slice(probs, thresholds, classes)
    if probs.shape[0] == 0:
        return 0, None, thresholds["any"], False
    return index, float(probs[index, list(classes).index("any")]), thresholds["any"], passes


def start_slice(probs, thresholds=None, classes=CLASSES):
    """0-based slice a series opens on.

    The slice where ``any`` hemorrhage is most probable when that passes its
    threshold (the reader sees the finding first), else the middle slice.

    Args:
        probs: ``(n, c)`` probabilities.
        thresholds: dict class -> threshold (default 0.5).
        classes: class names of the columns (``"any"`` among them).
    """
    return _opening(probs, thresholds, classes)[0]


def start_note(probs, thresholds=None, classes=CLASSES):
    """Why the viewer opened a series on the slice :func:`start_slice` picks.

    Args:
        probs: ``(n, c)`` probabilities.
        thresholds: dict class -> threshold (default 0.5).
        classes: class names of the columns (``"any"`` among them).

    Returns:
        str, e.g. ``"Opened on slice 12 of 30: the slice with the highest
        'any hemorrhage' probability (0.930, threshold 0.500)."``
    """
    n = np.shape(probs)[0]
    index, value, threshold, passes = _opening(probs, thresholds, classes)
    if passes:
        return (f"Opened on slice {index + 1} of {n}: the slice with the highest 'any hemorrhage' "
                f"probability ({probability(value)}, threshold {probability(threshold)}).")
    return (f"Opened on the middle slice, {index + 1} of {max(n, 1)}: no slice reaches the "
            f"'any hemorrhage' threshold ({probability(threshold)}).")


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
    flags = flag_matrix(probs_row[None], thresholds, classes)[0]
    rows = []
    for name, p, flagged in zip(classes, probs_row, flags):
        t = thresholds.get(name)
        rows.append({
            "Finding": CLASS_LABELS.get(name, name),
            "Probability": float(p),
            "Threshold": float(t) if t is not None else np.nan,
            "Flag": "▲" if flagged else "",
        })
    return pd.DataFrame(rows)


#: Loader warnings that change how a series reads (stay visible as one line each).
_READING_WORDS = ("missing", "tilt", "gap")


def reading_warnings(warnings):
    """The loader warnings that change the reading (missing slices or positions,
    gantry tilt, gaps), each cut to its first sentence; the rest can wait in a
    collapsed note."""
    out = []
    for text in warnings:
        if any(word in text.lower() for word in _READING_WORDS):
            first = text.split(": ", 1)[0] if text.lower().startswith("missing") else \
                text.split(". ", 1)[0]
            out.append(first.rstrip(".") + ".")
    return out


def series_attention_figure(weights, row_of, current_index, height=220):
    """Plotly bars: how much the reading of slice ``current_index`` drew on each slice.

    Args:
        weights: ``(m, m)`` attention over the ``m`` slices (or slabs) read.
        row_of: ``(n,)`` the row of each slice (slabs: several slices share one).
        current_index: 0-based slice on screen.
        height: figure height in pixels.

    Returns:
        ``plotly.graph_objects.Figure``; x is the 1-based slice number, the
        slice on screen drawn in another colour.
    """
    import plotly.graph_objects as go

    row_of = np.asarray(row_of)
    values = np.asarray(weights)[row_of[int(current_index)]][row_of]
    colors = ["#ffd43b" if k == int(current_index) else "#4dabf7" for k in range(len(values))]
    figure = go.Figure(go.Bar(x=np.arange(1, len(values) + 1), y=values, marker_color=colors,
                              hovertemplate="slice %{x}: %{y:.3f}<extra></extra>"))
    figure.update_layout(height=height, margin=dict(l=40, r=10, t=10, b=30),
                         xaxis_title="slice", yaxis_title="attention", bargap=0.1)
    return figure


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
            hovertemplate=f"{CLASS_LABELS.get(name, name)}: %{{y:.{PROBABILITY_DIGITS}f}}<extra></extra>",
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
        return number(value, 3)
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
        {"Field": "Pixel spacing (mm)", "Value": " × ".join(number(float(s), 3) for s in series.spacing)},
        {"Field": "Slice spacing (mm)", "Value": _display(series.slice_spacing)},
        {"Field": "Gantry tilt (deg)", "Value": number(float(series.tilt_degrees), 1)},
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
