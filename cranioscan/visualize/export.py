"""What the case viewer lets a person take away: CSV tables and the current view as PNG.

Pure functions returning ``bytes`` for ``st.download_button`` (no Streamlit
import). Slices are numbered from 1 as on screen. Every file names the model
that produced it: the CSV files in ``#`` comment lines at the top (read them
with ``pandas.read_csv(..., comment="#")``), the PNG in a footer burned into
the pixels. The PDF case report is in :mod:`cranioscan.visualize.case_report`.
"""

__all__ = [
    "model_identity",
    "csv_header",
    "slices_csv",
    "summary_csv",
    "view_png",
    "file_stem",
]

import csv
import io
import re

import numpy as np

from ..card_text import identity_lines
from ..formats import csv_header as format_csv_header, csv_number, csv_row
from ..labels import CLASSES
from . import case_view
from .slice_image import add_footer

def model_identity(card, path, sha256):
    """``["Model: NAME", "SHA-256: <64 hex>", "<validity one-liner>"]`` for files and reports.

    Args:
        card: the model card dict (``Predictor.card``; {} when absent).
        path: the model file (its name stands in when the card has none).
        sha256: hex digest of the model file.
    """
    return identity_lines(card, path, sha256)


def csv_header(identity, thresholds, classes=CLASSES, result=None):
    """``#`` comment lines naming the model, the series verdict (first, when
    ``result`` is given) and the thresholds of the ▲ flags
    (:func:`cranioscan.formats.csv_header`, shared with the command line)."""
    return format_csv_header(identity, thresholds, classes,
                             None if result is None else result.verdict_sentence())


def _csv_bytes(header, columns, rows):
    text = io.StringIO()
    text.write("\n".join(header) + "\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(csv_row(row) for row in rows)  # no cell runs as a spreadsheet formula
    return text.getvalue().encode("utf-8")


def slices_csv(series, result, identity):
    """Per-slice probabilities of a series as CSV.

    Args:
        series: the :class:`~cranioscan.dicom.Series` scored.
        result: its :class:`~cranioscan.series_result.SeriesResult`
            (probabilities, thresholds and flags).
        identity: :func:`model_identity` lines.

    Returns:
        UTF-8 CSV: the :func:`csv_header` lines, then the columns ``slice``
        (from 1), ``position_mm``, ``thickness_mm``, ``prob_<class>`` and
        ``flagged`` (classes at or above their threshold, ``;``-separated).
    """
    classes, probs = result.classes, np.asarray(result.probabilities, dtype=np.float64)
    n = series.n_slices
    if probs.shape != (n, len(classes)):
        raise ValueError(f"expected probabilities of shape ({n}, {len(classes)}), got {probs.shape}")
    columns = ["slice", "position_mm", "thickness_mm"] + [f"prob_{c}" for c in classes] + ["flagged"]
    rows = []
    for k in range(n):
        rows.append([k + 1, csv_number(series.positions[k], 3), csv_number(series.thickness_at(k), 3)]
                    + [csv_number(p) for p in probs[k]] + [";".join(result.slice_flags(k))])
    return _csv_bytes(csv_header(identity, result.thresholds, classes, result), columns, rows)


def summary_csv(result, identity):
    """The series summary (the viewer's table) as CSV.

    Args:
        result: the series' :class:`~cranioscan.series_result.SeriesResult`.
        identity: :func:`model_identity` lines.

    Returns:
        UTF-8 CSV: header lines, then ``finding, highest_probability,
        on_slice`` (from 1), ``threshold, flagged`` (yes/no),
        ``slices_above_threshold`` (runs such as ``3–5, 9``) and ``count``.
    """
    classes, thresholds = result.classes, result.thresholds
    table = case_view.summary_table(result.summary(), classes=classes, thresholds=thresholds)
    columns = ["finding", "series_score", "series_threshold", "series_verdict",
               "highest_probability", "on_slice", "threshold", "flagged",
               "slices_above_threshold", "count"]
    rows = []
    findings = result.findings
    for name, row in zip(classes, table.to_dict("records")):
        t, f = thresholds.get(name), findings[name]
        verdict = "" if f.verdict is None else ("yes" if f.verdict else "no")
        rows.append([row["Finding"], csv_number(f.series_score), csv_number(f.series_threshold),
                     verdict, csv_number(row["Highest probability"]), row["On slice"],
                     csv_number(t) if t is not None else "", "yes" if f.flagged else "no",
                     row["Slices above threshold"], row["Count"]])
    return _csv_bytes(csv_header(identity, thresholds, classes, result), columns, rows)


def view_png(rgb, identity):
    """The view on screen as PNG, with the model's identity burned in below it.

    Args:
        rgb: ``uint8 (rows, cols, 3)`` image as drawn by
            :func:`cranioscan.visualize.slice_image.render_slice` (window, overlay,
            outlines, annotations and colour bar already in the pixels).
        identity: :func:`model_identity` lines (the SHA-256 is shortened to
            16 characters to fit).

    Returns:
        PNG bytes of ``(rows + footer, cols, 3)``.
    """
    from PIL import Image

    lines = [re.sub(r"^SHA-256: ([0-9a-f]{16})[0-9a-f]+$", r"SHA-256: \1…", line) for line in identity]
    out = add_footer(np.asarray(rgb, dtype=np.uint8), lines)
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def file_stem(label, index=None):
    """A safe file name stem: ``"cranioscan_<label>[_slice<N>]"`` (N from 1)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", str(label)).strip("_")[:60] or "case"
    return f"cranioscan_{stem}" + ("" if index is None else f"_slice{int(index) + 1}")
