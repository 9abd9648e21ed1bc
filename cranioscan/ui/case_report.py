"""A one-page case report as PDF, drawn with matplotlib (no Streamlit import).

:func:`case_report_pdf` lays out what it is given: the series described
without patient identifiers unless asked for, the model's name and model
file SHA-256, the series summary table, the key slices (the top slice of each
flagged finding) with their maps, and the model's validity statement.
:func:`report_for_case` gathers those parts from a case and a model, with
the maps from a function the caller passes (the dashboard's cached
Grad-CAM), and returns the PDF bytes.
"""

__all__ = [
    "MAX_KEY_SLICES",
    "series_description",
    "validity_statement",
    "case_report_pdf",
    "case_report_figure",
    "report_for_case",
]

import datetime
import io
import textwrap

import numpy as np

from ..formats import probability
from ..labels import CLASSES
from . import card_view, case_view
from .text import CLASS_LABELS

#: At most this many key slices on the page (two rows of three).
MAX_KEY_SLICES = 6

#: Metadata rows of the description (``case_view.metadata_table`` fields);
#: the identifying ones read "hidden" unless identifiers are shown.
_DESCRIPTION_FIELDS = ("Patient name", "Patient ID", "Birth date", "Study date", "Accession number",
                       "Institution", "Study description", "Series description", "Series number",
                       "Modality", "Manufacturer", "Scanner model", "Kernel", "Slices loaded",
                       "Matrix", "Pixel spacing (mm)", "Slice spacing (mm)", "Gantry tilt (deg)")


def series_description(series, label, show_identifiers=False):
    """Lines describing a series: the case's label, then metadata ``"Field: value"``.

    Identifiers (names, IDs, dates, UIDs) read "hidden" unless
    ``show_identifiers`` (the viewer's "Show patient identifiers" toggle);
    UIDs are left out either way.
    """
    table = case_view.metadata_table(series, show_identifiers=show_identifiers)
    values = dict(zip(table["Field"], table["Value"]))
    lines = [f"Case: {label}"]
    lines += [f"{field}: {values[field]}" for field in _DESCRIPTION_FIELDS if field in values]
    return lines


def validity_statement(card):
    """What the model was trained on and that it is not for clinical use, as one paragraph."""
    card = card or {}
    text = card_view.model_notice(card)  # says what it was trained on where the card does
    if text is None:
        text = f"Trained on: {card.get('trained_on', 'unknown data')}."
    if "not for clinical use" not in text.lower():
        text += " Research use only — not for clinical use."
    return text


def _summary_rows(result):
    classes, thresholds, findings = result.classes, result.thresholds, result.findings
    table = case_view.summary_table(result.summary(), classes=classes, thresholds=thresholds)
    rows = []
    for name, row in zip(classes, table.to_dict("records")):
        t = thresholds.get(name)
        flag = "▲" if findings[name].flagged else ""
        rows.append([row["Finding"], probability(row["Highest probability"]), str(row["On slice"]),
                     probability(t), flag, row["Slices above threshold"]])
    return rows


def case_report_pdf(description, identity, result, key_images, validity, created=None):
    """One A4 page as PDF bytes.

    Args:
        description: lines from :func:`series_description`.
        identity: ``cranioscan.ui.export.model_identity`` lines (name,
            SHA-256, one-line notice).
        result: the series' :class:`~cranioscan.series_result.SeriesResult`.
        key_images: ``[(caption, uint8 (rows, cols, 3)), ...]``: the key
            slices as drawn (at most :data:`MAX_KEY_SLICES` are placed).
        validity: :func:`validity_statement` text.
        created: the time printed on the page (default: now, UTC).

    Returns:
        bytes of a one-page PDF with searchable text (TrueType fonts).
    """
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = case_report_figure(description, identity, result, key_images, validity,
                                 created=created)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="pdf", dpi=150,
                    metadata={"Title": "CranioScan case report", "Creator": "CranioScan"})
    return buffer.getvalue()


#: Fonts embedded as TrueType (text stays searchable and extractable).
# text.parse_math off: DICOM text such as "$x^2$" is printed as typed, never as math.
_RC = {"pdf.fonttype": 42, "font.family": "DejaVu Sans", "text.parse_math": False}


def case_report_figure(description, identity, result, key_images, validity, created=None):
    """The report page as a matplotlib ``Figure`` (A4 portrait); arguments as :func:`case_report_pdf`."""
    import matplotlib
    from matplotlib.figure import Figure

    created = created or datetime.datetime.now(datetime.timezone.utc)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(8.27, 11.69))
        fig.text(0.06, 0.965, "CranioScan case report", fontsize=16, weight="bold", va="top")
        fig.text(0.94, 0.965, created.strftime("%Y-%m-%d %H:%M UTC"), fontsize=8, ha="right",
                 va="top", color="0.35")
        y = 0.935
        half = (len(description) + 1) // 2
        for column, lines in ((0.06, description[:half]), (0.52, description[half:])):
            for k, line in enumerate(lines):
                fig.text(column, y - k * 0.0155, textwrap.shorten(line, 60, placeholder="…"),
                         fontsize=7.5, va="top")
        y -= half * 0.0155 + 0.01
        for k, line in enumerate(identity[:2]):
            fig.text(0.06, y - k * 0.016, line, fontsize=8, va="top", family="DejaVu Sans Mono"
                     if line.startswith("SHA") else "DejaVu Sans", weight="bold" if k == 0 else None)
        y -= 2 * 0.016 + 0.012

        fig.text(0.06, y, "Series summary", fontsize=10, weight="bold", va="top")
        rows = _summary_rows(result)
        height = 0.021 * (len(rows) + 1)
        ax = fig.add_axes((0.06, y - 0.012 - height, 0.88, height))
        ax.axis("off")
        table = ax.table(cellText=rows, colLabels=["Finding", "Highest probability", "On slice",
                                                   "Threshold", "Flag", "Slices above threshold"],
                         colWidths=[0.2, 0.16, 0.09, 0.1, 0.06, 0.39], loc="upper left",
                         cellLoc="left", bbox=(0, 0, 1, 1))
        table.auto_set_font_size(False)
        table.set_fontsize(7.5)
        for (r, _), cell in table.get_celld().items():
            cell.set_linewidth(0.3)
            if r == 0:
                cell.set_text_props(weight="bold")
        y -= 0.012 + height + 0.02

        fig.text(0.06, y, "Key slices: the top slice of each flagged finding", fontsize=10,
                 weight="bold", va="top")
        images = list(key_images)[:MAX_KEY_SLICES]
        if not images:
            fig.text(0.06, y - 0.025, "No finding reached its threshold on any slice.", fontsize=8.5,
                     va="top")
        footer_top = 0.11
        size = min(0.27, (y - 0.03 - footer_top) / 2 - 0.03)
        for k, (caption, rgb) in enumerate(images):
            r, c = divmod(k, 3)
            left = 0.06 + c * 0.305
            top = y - 0.03 - r * (size + 0.035)
            ax = fig.add_axes((left, top - size, 0.27, size))
            ax.imshow(np.asarray(rgb, dtype=np.uint8), interpolation="lanczos")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(caption, fontsize=7.5, pad=3)

        fig.text(0.06, footer_top, "Validity", fontsize=9, weight="bold", va="top")
        fig.text(0.06, footer_top - 0.017, "\n".join(textwrap.wrap(validity, 125)), fontsize=7,
                 va="top", linespacing=1.4)
        fig.text(0.06, 0.018, identity[2] if len(identity) > 2 else "", fontsize=7, color="0.35")
    return fig


def report_for_case(case, result, card, model_path, model_sha, heatmap_fn,
                    level, width, show_identifiers=False, method_title="Grad-CAM++"):
    """The PDF report of a case: gathers the parts and calls :func:`case_report_pdf`.

    Args:
        case: the viewer's :class:`~cranioscan.ui.state.ActiveCase`.
        result: the :class:`~cranioscan.series_result.SeriesResult` of its series
            (its key slices are the report's).
        card, model_path, model_sha: the model's card, file and SHA-256.
        heatmap_fn: ``(index, class_name) -> (rows, cols)`` map in [0, 1]
            (the dashboard passes its cached Grad-CAM++).
        level, width: the display window in HU for the key slices.
        show_identifiers: print patient identifiers (the viewer's toggle).
        method_title: the maps' method, named in each key slice's caption.

    Returns:
        PDF bytes.
    """
    from . import export, slice_image

    series = case.series
    images = []
    for key in result.key_slices:
        index, name, p = key.index, key.findings[0], key.probability
        heat = heatmap_fn(index, name)
        # The map's peak (as explain.peak, without importing TensorFlow here).
        marker = np.unravel_index(int(np.argmax(heat)), heat.shape) if np.max(heat) > 0 else None
        rgb = slice_image.render_slice(series.hu[index], level, width, heatmap=heat, marker=marker,
                                       colorbar=True)
        names = ", ".join(CLASS_LABELS.get(c, c) for c in key.findings)
        images.append((f"{names}: slice {index + 1}, p {probability(p)}\n"
                       f"{method_title} map ({CLASS_LABELS.get(name, name)})", rgb))
    return case_report_pdf(series_description(series, case.label, show_identifiers),
                           export.model_identity(card, model_path, model_sha), result,
                           images, validity_statement(card))
