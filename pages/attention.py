"""Attention maps: four explanation methods side by side, and one method across ResNet stages.

Uses the case and slice of the case viewer (the default demo case when none
was opened). On phantom cases the known lesion is outlined on every map and
the caption says whether the map's peak falls inside it.
"""

import streamlit as st

from cranioscan import explain
from cranioscan.formats import markdown_literal as md, probability
from cranioscan.labels import CLASSES
from cranioscan.ui import caches, slice_nav, state as ui_state
from cranioscan.ui.page import page_setup
from cranioscan.visualize import case_view, overlay, slice_image, text as vis_text

cfg, predictor, model_error = page_setup()

st.header("Attention maps")
if predictor is None:
    st.error(model_error, icon=":material/error:")
    st.stop()

case = caches.current_or_default_case(cfg, predictor)
series = case.series
n = series.n_slices
level, width = ui_state.window()

top = st.columns([3, 2, 2], vertical_alignment="bottom")
top[0].markdown(f"**{md(case.label)}**  \n{slice_image.window_text(level, width)} (window of the case viewer)")
class_name = top[1].selectbox("Finding to explain", CLASSES, key="att_class", persist_state="session",
                              format_func=vis_text.CLASS_LABELS.get)
slice_nav.slice_controls(case, "att_slice", buttons=False, container=top[2])
index = ui_state.slice_index(case)

probs = caches.score(predictor, case)
mask = case_view.truth_mask(case.masks, class_name, index) if case.has_truth else None
has_lesion = mask is not None and mask.any()
st.caption(
    f"Slice {index + 1} of {n}: model probability of {vis_text.CLASS_LABELS[class_name].lower()} "
    f"{probability(probs[index, CLASSES.index(class_name)])}"
    + ((" · known lesion on this slice" if has_lesion else " · no known lesion of this type on this slice")
       if case.has_truth else ""))
if case.has_truth:
    st.caption(vis_text.TRUTH_NOTE)


def show_map(container, title, heat, note=None):
    """One map over the slice, with the ground-truth check in the caption."""
    marker = explain.peak(heat) if heat.max() > 0 else None
    outlines = [(mask, "#00e5ff")] if has_lesion else []
    rgb = slice_image.render_slice(series.hu[index], level, width, heatmap=heat,
                                   outlines=outlines, marker=marker)
    verdict = ""
    if has_lesion:
        inside = explain.peak_in_mask(heat, mask, series.spacing, dilate_mm=5.0,
                                      hu=series.hu[index])
        verdict = " · peak inside the lesion ✓" if inside else " · peak outside the lesion ✗"
    elif heat.max() <= 0:
        verdict = " · empty map (no evidence found)"
    where = explain.peak_tissue(heat, series.hu[index])
    if where in ("outside the head", "bone"):
        verdict += f" · peak {'on bone' if where == 'bone' else where}"
    with container:
        st.image(rgb, caption=f"{title}{verdict}", width="stretch")
        warning = explain.peak_note(heat, series.hu[index])
        if warning:
            st.warning(warning, icon=":material/my_location:")
        if note:
            st.caption(note)


st.subheader("Four ways to ask where the network looked")
st.image(slice_image.colorbar_legend(480), width=480)
st.caption("The colours of every map below; a ring marks each map's peak.")
default_layer = explain.default_layer(predictor)
st.caption(f"Class activation maps on {default_layer} "
           f"({predictor.model.get_layer(default_layer).output.shape[1]} cells across); "
           "compare the ResNet stages below.")
columns = st.columns(4)
for column, method in zip(columns, explain.METHODS):
    with column, st.spinner(f"{vis_text.METHOD_TITLES[method]}…"):
        heat = caches.heatmap(predictor, case, index, class_name, default_layer, method)
    show_map(column, vis_text.METHOD_TITLES[method], heat, vis_text.METHOD_NOTES[method])
with columns[3], st.spinner("Attention rollout…"):
    try:
        heat = caches.rollout(predictor, case, index)
    except ValueError as exc:  # a model without Transformer blocks
        st.info(f"No attention rollout: {md(exc)}")
    else:
        show_map(columns[3], vis_text.METHOD_TITLES["rollout"], heat, vis_text.METHOD_NOTES["rollout"])

st.subheader("One method across ResNet stages")
st.caption(vis_text.STAGE_NOTE)
method = st.selectbox("Method", explain.METHODS, key="att_stage_method", persist_state="session",
                      format_func=vis_text.METHOD_TITLES.get,
                      index=explain.METHODS.index(case_view.OVERLAY_METHOD))
layers = list(explain.available_layers(predictor).items())
per_row = overlay.grid_columns(len(layers))
for start in range(0, len(layers), per_row):  # as many columns as maps, up to four a row
    for column, (label, layer) in zip(st.columns(per_row), layers[start:start + per_row]):
        with column, st.spinner(f"{label}…"):
            heat = caches.heatmap(predictor, case, index, class_name, layer, method)
        show_map(column, f"{vis_text.METHOD_TITLES[method]}, {label}", heat)

st.subheader("Which neighbours it looked at")
attention = caches.series_attention(predictor, case)
if attention is None:
    st.info("No attention across slices: this model reads slices one at a time, or the series "
            "has a single slice.", icon=":material/info:")
else:
    weights, row_of = attention
    st.plotly_chart(case_view.series_attention_figure(weights, row_of, index),
                    key="series_attention", config={"displayModeBar": False})
    st.caption(vis_text.SERIES_ATTENTION_NOTE)
