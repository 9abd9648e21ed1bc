"""The viewer's download buttons: thin Streamlit glue over :mod:`.export` and :mod:`.case_report`.

Each file is made only when its button is clicked (``st.download_button``
with a callable), so moving through the slices costs nothing extra. Each
click is recorded in the audit log first (who, when, the series' UIDs, which
file: :func:`cranioscan.ui.auth.audited`).
"""

__all__ = ["download_row"]

import streamlit as st

from ..deidentify import deidentified_zip
from ..visualize import case_report, case_view, export, names
from . import auth, caches
from ..visualize.text import METHOD_TITLES


def download_row(case, index, rgb, predictor=None, result=None, level=40.0, width=80.0):
    """A row of download buttons under the viewer's image.

    Args:
        case: the :class:`~cranioscan.ui.state.ActiveCase` on screen.
        index: 0-based slice on screen.
        rgb: ``uint8 (rows, cols, 3)`` view as drawn (window, overlay, text).
        predictor: the loaded :class:`~cranioscan.inference.Predictor`, or
            None (then only the image can be downloaded).
        result: the case's :class:`~cranioscan.series_result.SeriesResult`, or None.
        level, width: the display window in HU (for the report's key slices).
    """
    show_ids = bool(st.session_state.get("show_ids", False))
    uids = (getattr(case.series, "study_uid", ""), getattr(case.series, "series_uid", ""))
    stem = names.download_stem(case, show_identifiers=show_ids)  # never the upload's file names
    if predictor is None or result is None:
        identity = ["Model: none loaded (image only)"]
        png = auth.audited(lambda: export.view_png(rgb, identity), "view (PNG)", *uids)
        st.download_button("View (PNG)", png, key="dl_png",
                           file_name=names.download_stem(case, index, show_ids) + ".png",
                           mime="image/png", on_click="ignore", icon=":material/image:")
        deidentified_button(case, stem)
        return
    identity = export.model_identity(predictor.card, predictor.path, predictor.sha256)

    def report():
        from .. import explain  # TensorFlow loads on the first map, not at app start

        layer = explain.default_layer(predictor)
        return case_report.report_for_case(
            case, result, predictor.card, predictor.path,
            predictor.sha256,
            lambda i, c: caches.heatmap(predictor, case, i, c, layer, case_view.OVERLAY_METHOD),
            level, width, show_identifiers=show_ids,
            method_title=METHOD_TITLES[case_view.OVERLAY_METHOD])

    columns = st.columns(4)
    columns[0].download_button(
        "Slices (CSV)",
        auth.audited(lambda: export.slices_csv(case.series, result, identity), "slices (CSV)", *uids),
        key="dl_slices", file_name=f"{stem}_slices.csv", mime="text/csv", on_click="ignore",
        icon=":material/table:", width="stretch",
        help="Every slice's probabilities, numbered from 1; the model and thresholds in the header.")
    columns[1].download_button(
        "Summary (CSV)",
        auth.audited(lambda: export.summary_csv(result, identity), "summary (CSV)", *uids),
        key="dl_summary", file_name=f"{stem}_summary.csv", mime="text/csv", on_click="ignore",
        icon=":material/summarize:", width="stretch", help="The series summary table.")
    columns[2].download_button(
        "View (PNG)", auth.audited(lambda: export.view_png(rgb, identity), "view (PNG)", *uids),
        key="dl_png",
        file_name=names.download_stem(case, index, show_ids) + ".png", mime="image/png",
        on_click="ignore",
        icon=":material/image:", width="stretch",
        help="This slice as shown: window, overlay, annotations and the model's name.")
    columns[3].download_button(
        "Report (PDF)", auth.audited(report, "report (PDF)", *uids), key="dl_report",
        file_name=f"{stem}_report.pdf",
        mime="application/pdf", on_click="ignore", icon=":material/picture_as_pdf:", width="stretch",
        help="The series, the model, the summary, what the model is valid for and the key "
             "slices with their maps (one image per slice; a second page when they need it). "
             "Patient identifiers only when shown below.")
    deidentified_button(case, stem)


def deidentified_button(case, stem):
    """The series' DICOM files, de-identified by the PS3.15 Basic Profile, as a zip.

    Offered for uploads and server folders (where the files are at hand);
    the zip is made only when the button is clicked.
    """
    if getattr(case, "origin", None) is None:
        return

    def make():
        source, series_uid = case.origin
        return deidentified_zip(source, series_uid)[0]

    st.download_button(
        "De-identified DICOM (zip)",
        auth.audited(make, "de-identified DICOM (zip)", case.series.study_uid,
                     case.series.series_uid), key="dl_deid", file_name=f"{stem}_deidentified.zip",
        mime="application/zip", on_click="ignore", icon=":material/shield_person:",
        help="This series' DICOM files with the identifying attributes of the DICOM PS3.15 Basic "
             "Profile removed or replaced (names, IDs, dates, UIDs, institution, private tags); "
             "pixel data unchanged.")

