"""The viewer's download buttons: thin Streamlit glue over :mod:`.export` and :mod:`.case_report`.

Each file is made only when its button is clicked (``st.download_button``
with a callable), so moving through the slices costs nothing extra.
"""

__all__ = ["download_row"]

import streamlit as st

from . import caches, case_report, case_view, export
from .text import METHOD_TITLES


def download_row(case, index, rgb, predictor=None, probs=None, thresholds=None, level=40.0,
                 width=80.0):
    """A row of download buttons under the viewer's image.

    Args:
        case: the :class:`~cranioscan.ui.state.ActiveCase` on screen.
        index: 0-based slice on screen.
        rgb: ``uint8 (rows, cols, 3)`` view as drawn (window, overlay, text).
        predictor: the loaded :class:`~cranioscan.inference.Predictor`, or
            None (then only the image can be downloaded).
        probs: ``(n, 6)`` probabilities of the case, or None.
        thresholds: dict class -> threshold.
        level, width: the display window in HU (for the report's key slices).
    """
    stem = export.file_stem(case.label)
    if predictor is None or probs is None:
        identity = ["Model: none loaded (image only)"]
        st.download_button("View (PNG)", lambda: export.view_png(rgb, identity), key="dl_png",
                           file_name=export.file_stem(case.label, index) + ".png", mime="image/png",
                           on_click="ignore", icon=":material/image:")
        return
    thresholds = dict(thresholds or {})
    identity = export.model_identity(predictor.card, predictor.path, predictor.sha256)
    show_ids = bool(st.session_state.get("show_ids", False))

    def report():
        from .. import explain

        layer = explain.default_layer(predictor)
        return case_report.report_for_case(
            case, predictor.summarize(probs), thresholds, predictor.card, predictor.path,
            predictor.sha256,
            lambda i, c: caches.heatmap(predictor, case, i, c, layer, case_view.OVERLAY_METHOD),
            level, width, show_identifiers=show_ids,
            method_title=METHOD_TITLES[case_view.OVERLAY_METHOD])

    columns = st.columns(4)
    columns[0].download_button(
        "Slices (CSV)", lambda: export.slices_csv(case.series, probs, thresholds, identity),
        key="dl_slices", file_name=f"{stem}_slices.csv", mime="text/csv", on_click="ignore",
        icon=":material/table:", width="stretch",
        help="Every slice's probabilities, numbered from 1; the model and thresholds in the header.")
    columns[1].download_button(
        "Summary (CSV)",
        lambda: export.summary_csv(predictor.summarize(probs), thresholds, identity),
        key="dl_summary", file_name=f"{stem}_summary.csv", mime="text/csv", on_click="ignore",
        icon=":material/summarize:", width="stretch", help="The series summary table.")
    columns[2].download_button(
        "View (PNG)", lambda: export.view_png(rgb, identity), key="dl_png",
        file_name=export.file_stem(case.label, index) + ".png", mime="image/png", on_click="ignore",
        icon=":material/image:", width="stretch",
        help="This slice as shown: window, overlay, annotations and the model's name.")
    columns[3].download_button(
        "Report (PDF)", report, key="dl_report", file_name=f"{stem}_report.pdf",
        mime="application/pdf", on_click="ignore", icon=":material/picture_as_pdf:", width="stretch",
        help="One page: the series, the model, the summary, the key slices with their maps "
             "and what the model is valid for. Patient identifiers only when shown below.")
