"""Case viewer (landing page): slices, windows, probabilities and Grad-CAM.

Layout only: loading, scoring, explanations and drawing are in
``cranioscan`` (``ui_state``, ``viewer``, ``explain``). Moving through the
slices, changing the window or the overlay reruns only ``slice_view`` (a
fragment): the series is never scored again.
"""

import logging
import time

import streamlit as st

from cranioscan import demo
from cranioscan.dicom import DicomLoadError
from cranioscan.formats import PROBABILITY_FORMAT, markdown_literal as md
from cranioscan.labels import CLASSES
from cranioscan.ui import caches, downloads, pacs_source, review_panel, slice_nav, state as ui_state
from cranioscan.ui.page import page_setup
from cranioscan.visualize import case_view, overlay, slice_image, text as vis_text

cfg, predictor, _ = page_setup()
log = logging.getLogger("cranioscan.app")

DEMO, UPLOAD, FOLDER = "Demo cases", "Upload DICOM", "Folder on the server"
PRESET_LABELS = {"brain": "Brain", "subdural": "Subdural", "bone": "Bone", "stroke": "Stroke",
                 "soft_tissue": "Soft tissue", "custom": "Custom"}

ui_state.init_window()


# ------------------------------------------------------------------ source
def pick_series(infos, key):
    """A series picker when a source holds several CT series; returns a UID or None."""
    loadable = [info for info in infos if info.is_ct]
    if len(loadable) <= 1:
        return None
    default = max(range(len(loadable)), key=lambda i: loadable[i].n_files)
    chosen = st.selectbox(
        "Series", loadable, index=default, key=key,
        format_func=lambda i: f"{i.series_number or '–'}: {i.description or 'no description'} "
                              f"({i.n_files} images, {i.rows}×{i.cols})")
    return chosen.uid


def choose_case():
    """The source controls; returns the chosen ActiveCase or None."""
    sources = [DEMO, UPLOAD] + ([FOLDER] if cfg.allow_folder else []) + [pacs_source.PACS_SOURCE]
    left, right = st.columns([1, 3], vertical_alignment="top")
    source = left.radio("Source", sources, key="source", persist_state="session")
    with right:
        try:
            if source == DEMO:
                keys = [spec.key for spec in demo.DEMO_CASES]
                key = st.selectbox("Demo case (phantoms and real CT-ICH patients, known findings)", keys,
                                   index=keys.index(demo.DEFAULT_CASE), key="demo_key",
                                   persist_state="session",
                                   format_func=lambda k: demo.demo_spec(k).title)
                return caches.demo_case(key, cfg)
            if source == pacs_source.PACS_SOURCE:
                return pacs_source.choose(predictor)
            if source == UPLOAD:
                previous = ui_state.active_case()
                if (previous is not None and previous.source == "upload"
                        and ui_state.upload_folded()):
                    # Loaded: one line, so that the image fits a laptop screen.
                    row = st.columns([5, 1], vertical_alignment="center")
                    row[0].markdown(f"**{md(previous.label)}**")
                    row[1].button("Replace", key="upload_replace", icon=":material/upload:",
                                  on_click=ui_state.reopen_upload,
                                  help="Show the uploader again to load other files.")
                    return previous
                files = st.file_uploader(
                    "DICOM files of one study (select all files of the series), or a .zip",
                    accept_multiple_files=True, key="uploads", max_upload_size=cfg.max_upload_mb,
                    help=f"Files stay in this server's memory for this browser session only "
                         f"(at most {cfg.max_upload_mb:,} MB in all).")
                if not files:
                    previous = ui_state.active_case()
                    if previous is not None and previous.source == "upload":
                        st.caption(f"Showing {md(previous.label)}. Drop files to replace it.")
                        return previous
                    st.info("Drop the files of a head CT series here, or a .zip holding them.")
                    return None
                infos = ui_state.discover_upload(files, cfg)
                case = ui_state.load_upload(files, pick_series(infos, "upload_series"))
                if len([i for i in infos if i.is_ct]) <= 1:  # nothing left to choose: fold it away
                    opened = caches.opening_slice(predictor, case) if predictor is not None else None
                    ui_state.set_case(case, start_index=opened)
                    ui_state.fold_upload()
                    st.rerun()
                return case
            path = st.text_input("Folder on the server", key="folder_path", persist_state="session",
                                 placeholder="/path/to/series")
            if not path:
                return None
            infos = ui_state.discover_folder(path)
            return ui_state.load_folder(path, pick_series(infos, "folder_series"))
        except (DicomLoadError, ui_state.UploadTooLarge) as exc:
            st.error(md(exc), icon=":material/error:")
        except Exception as exc:  # noqa: BLE001 - a clinician sees a message, not a traceback
            log.exception("loading a study failed")
            st.error(f"CranioScan could not read these files ({type(exc).__name__}: {md(exc)}).",
                     icon=":material/error:")
    return None


def loader_notes(series):
    """One line per warning that changes the reading; the rest in a collapsed note."""
    notes = list(series.warnings)
    for line in case_view.reading_warnings(notes):  # one line each, always in view
        st.markdown(f":orange[:material/warning: {md(line)}]")
    if notes or series.skipped:
        title = f"Loader notes: {len(notes)} warning(s), {len(series.skipped)} file(s) skipped"
        with st.expander(title, expanded=False, icon=":material/info:"):
            for note in notes:
                st.warning(md(note))
            if series.skipped:
                st.dataframe(case_view.skipped_table(series.skipped), hide_index=True,
                             width="stretch")


def reading_panel(case, result):
    """The verdict first, then how the series was read and what the loader noticed."""
    if result is None:
        st.info("No model is loaded: images only, without probabilities.")
    else:
        verdict = result.verdict
        (st.error if verdict and verdict["any"] else st.info)(
            result.verdict_sentence(), icon=":material/gavel:")
        for note in result.notes:
            st.caption(note)
    loader_notes(case.series)


# ------------------------------------------------------------------- image
def chart_clicked(n_slices):
    state = ui_state.widget_state("prob_chart")
    index = case_view.clicked_slice(state["selection"] if state else None, n_slices)
    if index is not None:
        ui_state.set_slice_index(ui_state.active_case(), index)


@st.cache_data(show_spinner=False, max_entries=16)
def chart_base(series_key, model_sha, _probs):
    del series_key, model_sha
    return case_view.probability_figure(_probs, -1).to_dict()


@st.fragment
def slice_view(case, result):
    started = time.perf_counter()
    series = case.series
    n = series.n_slices
    index = ui_state.slice_index(case)
    image_col, side_col = st.columns([9, 11], gap="medium")
    # The right column reads top-down: the verdict and notes, this slice's
    # probabilities, then the controls (filled first: the image needs them).
    reading_box, probs_box, controls = (side_col.container(), side_col.container(),
                                        side_col.container())
    with reading_box:
        reading_panel(case, result)

    with controls:
        st.markdown("**Window**")
        st.radio("Preset", list(PRESET_LABELS), key=ui_state.WINDOW_PRESET_KEY, persist_state="session",
                 horizontal=True, format_func=PRESET_LABELS.get, on_change=ui_state.apply_preset,
                 label_visibility="collapsed")
        lc, wc = st.columns(2)
        lc.number_input("Level (HU)", key=ui_state.WINDOW_LEVEL_KEY, persist_state="session",
                        step=5.0, format="%.0f", on_change=ui_state.window_edited)
        wc.number_input("Width (HU)", key=ui_state.WINDOW_WIDTH_KEY, persist_state="session",
                        min_value=1.0, step=10.0, format="%.0f", on_change=ui_state.window_edited)
        level, width = ui_state.window()

        heat, outlines, cam_text = None, [], ""
        alpha = overlay.DEFAULT_OPACITY
        if predictor is not None:
            st.markdown("**Overlay**")
            cam_on = st.toggle("Grad-CAM heatmap", key="cam_on", persist_state="session",
                               help="Where the network's evidence for the chosen finding lies.")
            if cam_on:
                from cranioscan import explain  # TensorFlow loads on the first map, not at page load

                layers = explain.available_layers(predictor)
                c1, c2 = st.columns(2)
                cam_class = c1.selectbox("Finding", CLASSES, key="cam_class",
                                         persist_state="session", format_func=vis_text.CLASS_LABELS.get)
                method = c2.selectbox("Method", explain.METHODS, key="cam_method",
                                      persist_state="session", format_func=vis_text.METHOD_TITLES.get,
                                      index=explain.METHODS.index(case_view.OVERLAY_METHOD))
                c3, c4 = st.columns(2)
                names = list(layers.values())
                layer_label = c3.selectbox(
                    "ResNet layer", list(layers), key="cam_layer", persist_state="session",
                    index=names.index(explain.default_layer(predictor)))
                alpha = c4.slider("Opacity at the peak", 0.1, 0.9, overlay.DEFAULT_OPACITY, 0.05,
                                  key="cam_alpha", persist_state="session",
                                  help="The map fades in from transparent at its low end.")
                with st.spinner(f"Computing {vis_text.METHOD_TITLES[method]}…"):
                    heat = caches.heatmap(predictor, case, index, cam_class, layers[layer_label], method)
                caches.prefetch_heatmaps(predictor, case, (index + 1, index - 1), cam_class,
                                         layers[layer_label], method)  # the slices a scroll reaches next
                cam_text = f"{vis_text.METHOD_TITLES[method]}: {vis_text.CLASS_SHORT[cam_class]}"
                peak_warning = explain.peak_note(heat, series.hu[index])
                if peak_warning:  # where the map points, in words
                    st.warning(peak_warning, icon=":material/my_location:")
        if case.has_truth:
            if st.toggle("Known lesion outline (phantom ground truth)", key="truth_on",
                         persist_state="session"):
                outlines = [(case.masks[s][index], vis_text.CLASS_COLORS[s])
                            for s in case.masks if case.masks[s][index].any()]

    with probs_box:
        if result is not None:
            st.markdown(f"**Slice {index + 1} probabilities**")
            st.dataframe(
                case_view.slice_probability_table(result.probabilities[index], result.thresholds),
                hide_index=True,
                width="stretch",
                column_config={
                    "Probability": st.column_config.ProgressColumn(
                        "Probability", min_value=0.0, max_value=1.0, format=PROBABILITY_FORMAT),
                    "Threshold": st.column_config.NumberColumn("Threshold", format=PROBABILITY_FORMAT,
                                                               width="small",
                                                               help="Operating threshold (model card)"),
                    "Flag": st.column_config.TextColumn(
                        "Flag", width="small",
                        help="▲: the probability reaches the operating threshold"),
                })
            st.caption(case_view.start_note(result.probabilities, result.thresholds),
                       help="Where the viewer opens a new series.")

    with image_col:
        corners = {
            "top_left": slice_image.slice_annotations(series, index),
            "top_right": [slice_image.window_text(level, width),
                          PRESET_LABELS.get(ui_state.window_preset(), "")],
            "bottom_left": [cam_text],
            "bottom_right": [case.corner_note],
        }
        rgb = slice_image.render_slice(series.hu[index], level, width, heatmap=heat, alpha=alpha,
                                       outlines=outlines, corners=corners, colorbar=True,
                                       sides=slice_image.orientation_labels(series.orientation))
        st.image(slice_image.png_bytes(rgb), width="stretch")
        slice_nav.slice_controls(case, "slice_no")
        if result is not None:
            if n > 1:
                figure = case_view.mark_slice(
                    chart_base(case.key, predictor.scores_key, result.probabilities), index)
                st.plotly_chart(figure, key="prob_chart", on_select=lambda: chart_clicked(n),
                                selection_mode="points", config={"displayModeBar": False})
                st.caption("Probability of each finding along the series: click to go to a "
                           "slice.")
            else:  # a chart along one slice would be empty
                st.caption("One slice: its probabilities are in the table beside the image.")
        downloads.download_row(case, index, rgb, predictor, result, level, width)

    elapsed_ms = (time.perf_counter() - started) * 1000
    ui_state.record_slice_view_ms(elapsed_ms)
    if cfg.show_timing:
        st.caption(f"slice view drawn in {elapsed_ms:.0f} ms on the server")


# -------------------------------------------------------------------- page
st.subheader("Case viewer")
case = choose_case()
if case is None:
    st.stop()
if case.description:
    st.caption(case.description)

result = None
if predictor is not None:
    result = caches.assess(predictor, case)
    ui_state.set_case(case, start_index=result.opening_slice)
else:
    ui_state.set_case(case)

slice_view(case, result)

if result is not None:
    st.subheader("Series summary")
    st.dataframe(
        case_view.summary_table(result.summary(), thresholds=result.thresholds), hide_index=True,
        width="stretch",
        column_config={
            "Highest probability": st.column_config.ProgressColumn(
                "Highest probability", min_value=0.0, max_value=1.0, format=PROBABILITY_FORMAT),
            "Threshold": st.column_config.NumberColumn("Threshold", format=PROBABILITY_FORMAT),
        })
    if case.labels is not None:
        known = [vis_text.CLASS_LABELS[c] for j, c in enumerate(CLASSES) if j and case.labels[:, j].any()]
        whose = "radiologists' labels of this patient" if case.masks is None else \
            "known findings of this phantom"
        st.caption(whose[0].upper() + whose[1:] + ": " + (", ".join(known) or "none"))

with st.expander("DICOM metadata", icon=":material/badge:"):
    show_ids = st.toggle("Show patient identifiers", key="show_ids",
                         help="Names, IDs, dates and UIDs are hidden unless you ask to see them.")
    st.dataframe(case_view.metadata_table(case.series, show_identifiers=show_ids), hide_index=True,
                 width="stretch")

# ---------------------------------------------------------- reader's review
review_panel.show(case, result, predictor.sha256 if predictor is not None else None, cfg)

if predictor is not None:
    caches.warm_up_gradcam(predictor)  # after drawing: the first overlay is then quick
