"""The case report as PDF, laid out by reportlab's platypus (no Streamlit import).

:func:`case_report_pdf` lays out what it is given: the series described
without patient identifiers unless asked for, the model's name and model
file SHA-256, the series summary table, the key slices of the series'
:class:`~cranioscan.series_result.SeriesResult` (one image per slice, naming
every flagged finding it stands for) with their maps, and the model's
validity statement. Platypus flows the text and tables: long names and
values wrap inside their cells, tables keep to the frame, and what does not
fit on the first A4 page continues on a second. :func:`report_for_case`
gathers those parts from a case and a model, with the maps from a function
the caller passes (the dashboard's cached Grad-CAM), and returns the PDF
bytes.
"""

__all__ = [
    "MAX_KEY_SLICES",
    "series_description",
    "validity_statement",
    "case_report_pdf",
    "report_for_case",
]

import datetime
import io
import os
from xml.sax.saxutils import escape

import numpy as np

from ..formats import probability
from ..labels import CLASSES
from ..series_result import MAX_KEY_SLICES
from . import card_view, case_view, export, names, slice_image
from .text import CLASS_LABELS

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
    """The report as PDF bytes: A4 pages laid out by platypus.

    Args:
        description: lines from :func:`series_description` (the first is
            ``"Case: …"``, then ``"Field: value"``).
        identity: ``cranioscan.visualize.export.model_identity`` lines (name,
            SHA-256, one-line notice).
        result: the series' :class:`~cranioscan.series_result.SeriesResult`.
        key_images: ``[(caption, uint8 (rows, cols, 3)), ...]``: the key
            slices as drawn, one per slice (at most :data:`MAX_KEY_SLICES`).
        validity: :func:`validity_statement` text.
        created: the time printed on the page (default: now, UTC).

    Returns:
        bytes of a PDF with searchable text (embedded TrueType fonts); one
        page when everything fits, more when it does not.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import (Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer,
                                    Table, TableStyle)

    created = created or datetime.datetime.now(datetime.timezone.utc)
    styles = _styles()
    margin = 14 * mm
    page_w, page_h = A4
    frame_w = page_w - 2 * margin
    footer = identity[2] if len(identity) > 2 else ""

    def on_page(canvas, doc):  # the notice and the page number, below the frame
        canvas.saveState()
        canvas.setFont(_FONT, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        text = footer if canvas.stringWidth(footer, _FONT, 7) < frame_w - 20 * mm else \
            footer[: int(len(footer) * (frame_w - 20 * mm) / canvas.stringWidth(footer, _FONT, 7))]
        canvas.drawString(margin, 8 * mm, text)
        canvas.drawRightString(page_w - margin, 8 * mm, f"Page {doc.page}")
        canvas.restoreState()

    story = []
    title = Table([[Paragraph("CranioScan case report", styles["title"]),
                    Paragraph(created.strftime("%Y-%m-%d %H:%M UTC"), styles["date"])]],
                  colWidths=[frame_w * 0.7, frame_w * 0.3])
    title.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    story += [title, Spacer(1, 3 * mm)]

    lines = list(description)
    if lines and lines[0].startswith("Case:"):
        story.append(Paragraph("<b>Case:</b> " + _text(lines[0][5:].strip()), styles["body"]))
        lines = lines[1:]
    pairs = [line.split(": ", 1) if ": " in line else [line, ""] for line in lines]
    half = (len(pairs) + 1) // 2
    rows = []
    for k in range(half):
        row = []
        for pair in (pairs[k], pairs[k + half] if k + half < len(pairs) else None):
            row += ([Paragraph(_text(pair[0]), styles["label"]), Paragraph(_text(pair[1]),
                                                                           styles["small"])]
                    if pair else ["", ""])
        rows.append(row)
    if rows:
        widths = [frame_w * w for w in (0.17, 0.33, 0.17, 0.33)]
        table = Table(rows, colWidths=widths, hAlign="LEFT")
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                   ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                                   ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
        story.append(table)
    story.append(Spacer(1, 2.5 * mm))
    if identity:
        story.append(Paragraph("<b>Model:</b> " + _text(identity[0].split(": ", 1)[-1]),
                               styles["body"]))
    if len(identity) > 1:
        label, _, value = identity[1].partition(": ")
        story.append(Paragraph(f"<b>{_text(label)}:</b> <font name='{_MONO}'>{_text(value)}</font>",
                               styles["body"]))

    # The verdict first, then the flagged slices (the summary and key slices below).
    story += [Spacer(1, 3 * mm), Paragraph("Series verdict", styles["heading"]),
              Paragraph(_text(result.verdict_sentence()), styles["body"])]
    story += [Paragraph(_text(note), styles["small"]) for note in result.notes]
    story += [Spacer(1, 3 * mm), Paragraph("Series summary", styles["heading"])]
    header = ["Finding", "Highest probability", "On slice", "Threshold", "Flag",
              "Slices above threshold"]
    cells = [[Paragraph(h, styles["header"]) for h in header]]
    cells += [[Paragraph(_text(v), styles["small"]) for v in row] for row in _summary_rows(result)]
    summary = Table(cells, colWidths=[frame_w * w for w in (0.2, 0.15, 0.09, 0.11, 0.07, 0.38)],
                    repeatRows=1, hAlign="LEFT")
    summary.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
                                 ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                                 ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                 ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                                 ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    story.append(summary)

    # What the model is valid for, on the first page whatever follows.
    story += [Spacer(1, 3 * mm), KeepTogether([Paragraph("Validity", styles["heading"]),
                                               Paragraph(_text(validity), styles["small"])])]
    story += [Spacer(1, 3 * mm),
              Paragraph("Key slices: one image per slice, naming every flagged finding it is the "
                        "top slice of", styles["heading"])]
    images = list(key_images)[:MAX_KEY_SLICES]
    if not images:
        story.append(Paragraph("No finding reached its threshold on any slice.", styles["body"]))
    per_row, gap = 3, 6 * mm
    cell_w = min((frame_w - (per_row - 1) * gap) / per_row, 52 * mm)  # two rows fit page 1
    for start in range(0, len(images), per_row):
        row = []
        for caption, rgb in images[start:start + per_row]:
            rgb = np.asarray(rgb, dtype=np.uint8)
            height = cell_w * rgb.shape[0] / max(rgb.shape[1], 1)
            row.append([Image(io.BytesIO(_png(rgb)), width=cell_w, height=height),
                        Spacer(1, 1 * mm),
                        Paragraph("<br/>".join(_text(part) for part in str(caption).split("\n")),
                                  styles["caption"])])
        row += [""] * (per_row - len(row))
        grid = Table([row], colWidths=[cell_w + (gap if k < per_row - 1 else 0)
                                       for k in range(per_row)], hAlign="LEFT")
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                  ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                  ("RIGHTPADDING", (0, 0), (-1, -1), gap),
                                  ("TOPPADDING", (0, 0), (-1, -1), 2),
                                  ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
        story.append(KeepTogether([grid]))


    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=margin, rightMargin=margin,
                            topMargin=margin, bottomMargin=margin + 4 * mm,
                            title="CranioScan case report", author="CranioScan",
                            creator="CranioScan")
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


#: Fonts embedded as TrueType (matplotlib's DejaVu, which every install has):
#: text stays searchable, and ▲, ≥ and – print.
_FONT, _BOLD, _MONO = "CranioSans", "CranioSans-Bold", "CranioMono"


def _register_fonts():
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT in pdfmetrics.getRegisteredFontNames():
        return
    import matplotlib

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    for name, file in ((_FONT, "DejaVuSans.ttf"), (_BOLD, "DejaVuSans-Bold.ttf"),
                       (_MONO, "DejaVuSansMono.ttf")):
        pdfmetrics.registerFont(TTFont(name, os.path.join(folder, file)))
    addMapping(_FONT, 0, 0, _FONT)
    addMapping(_FONT, 1, 0, _BOLD)
    addMapping(_FONT, 0, 1, _FONT)
    addMapping(_FONT, 1, 1, _BOLD)


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    _register_fonts()
    # wordWrap "CJK" breaks anywhere when a word is wider than its cell (a
    # 64-digit SHA-256, a UID, a series description without spaces).
    base = ParagraphStyle("base", fontName=_FONT, fontSize=8, leading=10, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", base, fontName=_BOLD, fontSize=15, leading=19),
        "date": ParagraphStyle("date", base, fontSize=8, alignment=2, textColor="#555555"),
        "heading": ParagraphStyle("heading", base, fontName=_BOLD, fontSize=10, leading=13,
                                  spaceAfter=2),
        "body": ParagraphStyle("body", base, fontSize=8, leading=10.5),
        "label": ParagraphStyle("label", base, fontName=_BOLD, fontSize=7.5, leading=9.5),
        "header": ParagraphStyle("header", base, fontName=_BOLD, fontSize=7.5, leading=9.5,
                                 wordWrap=None),  # headings wrap between words only
        "small": ParagraphStyle("small", base, fontSize=7.5, leading=9.5),
        "caption": ParagraphStyle("caption", base, fontSize=7, leading=8.8, alignment=1),
    }


def _text(value):
    """Data as literal text in a paragraph: ``<``, ``>`` and ``&`` escaped, never markup."""
    return escape(str(value))


def _png(rgb):
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


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
    series = case.series
    images = []
    for key in result.key_slices:
        index, name, p = key.index, key.findings[0], key.probability
        heat = heatmap_fn(index, name)
        # The map's peak (as explain.peak, without importing TensorFlow here).
        marker = np.unravel_index(int(np.argmax(heat)), heat.shape) if np.max(heat) > 0 else None
        rgb = slice_image.render_slice(series.hu[index], level, width, heatmap=heat, marker=marker,
                                       colorbar=True)
        stands_for = ", ".join(CLASS_LABELS.get(c, c) for c in key.findings)
        images.append((f"{stands_for}: slice {index + 1}, p {probability(p)}\n"
                       f"{method_title} map ({CLASS_LABELS.get(name, name)})", rgb))
    title = names.case_title(case, show_identifiers)  # never upload file names while hidden
    return case_report_pdf(series_description(series, title, show_identifiers),
                           export.model_identity(card, model_path, model_sha), result,
                           images, validity_statement(card))
