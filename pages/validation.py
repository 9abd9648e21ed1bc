"""Validation: ROC, precision-recall and calibration of a run; thresholds; two runs compared.

Reads run folders written by ``train.py`` (``runs/*``) and the shipped
model's validation run (``model/validation_run``); figures come from
``cranioscan.validation_view``.
"""

import hashlib
import os

import streamlit as st

from cranioscan.formats import markdown_literal as md
from cranioscan.labels import CLASSES
from cranioscan.ui import agreement_view, caches
from cranioscan.ui.page import page_setup
from cranioscan.visualize import text as vis_text, validation_view as vv

cfg, _, _ = page_setup(model=False)
shipped = os.path.normpath(str(cfg.model_path.parent / "validation_run"))

st.header("Validation")
paths = caches.run_paths(cfg)
if not paths:
    st.info("No run folders found in " + ", ".join(f"`{r}`" for r in cfg.run_roots) + ". Train a "
            "model with `python train.py --data phantom --out runs/NAME`, or set CRANIOSCAN_RUNS.")
    st.stop()


def run_name(path):
    name = os.path.basename(os.path.normpath(path))
    parent = os.path.basename(os.path.dirname(os.path.normpath(path)))
    return f"{parent}/{name}" + (" — shipped model" if os.path.normpath(path) == shipped else "")


default = paths.index(shipped) if shipped in paths else 0
path_a = st.selectbox("Run", paths, index=default, key="run_a", persist_state="session", format_func=run_name)
try:
    run = caches.run(path_a)
except (OSError, ValueError, KeyError) as exc:
    st.error(f"This run folder cannot be read: {md(exc)}", icon=":material/error:")
    st.stop()
st.caption(md(vv.run_label(run)) + f" · `{vv.display_path(run.path)}`")
cv_summary = vv.cross_validation_summary(run)
if cv_summary:
    st.info(cv_summary, icon=":material/science:")

PCT = st.column_config.NumberColumn(format="%.3f")
st.dataframe(caches.class_metrics_table(run), hide_index=True, width="stretch",
             column_config={"AUC": PCT, "Average precision": PCT, "Threshold": PCT,
                            "Sensitivity": PCT, "Specificity": PCT})

curve_tab, cal_tab, thr_tab, cmp_tab, hist_tab = st.tabs(
    ["ROC and precision–recall", "Calibration", "Thresholds", "Compare runs", "Training"])

with curve_tab:
    roc_col, pr_col = st.columns(2)
    roc_col.plotly_chart(caches.roc_figure(run), key="roc_fig")
    roc_col.caption("Intervals: 95% bootstrap over studies (from the run's metrics.json). Slices of "
                    "one study are correlated, so studies, not slices, are resampled.")
    pr_col.plotly_chart(caches.pr_figure(run), key="pr_fig")
    pr_col.caption("A useless model's precision equals the prevalence; rare findings have low "
                   "precision at any useful sensitivity.")
with cal_tab:
    cal_col, note_col = st.columns([3, 2])
    cal_col.plotly_chart(caches.calibration_figure(run), key="cal_fig")
    note_col.markdown("**Reading the calibration plot**")
    note_col.caption("Points on the diagonal: a predicted 0.3 means 30% of such slices are "
                     "positive. Below the diagonal the model is over-confident, above it "
                     "under-confident. Marker size: slices in the bin. ECE: expected calibration "
                     "error, the average gap weighted by the slices in each bin; for a "
                     "cross-validation run the cross-fitted figure (each fold calibrated on the "
                     "others), the same number as the summary above and the model card.")

with thr_tab:
    run_tag = hashlib.blake2b(run.path.encode(), digest_size=4).hexdigest()
    thresholds = vv.default_thresholds(run)
    class_name = st.selectbox("Finding", CLASSES, key="thr_class", persist_state="session",
                              format_func=vis_text.CLASS_LABELS.get)
    threshold = st.slider(f"Threshold for {vis_text.CLASS_LABELS[class_name].lower()}",
                          **vv.threshold_slider_args(thresholds[class_name]),
                          key=f"thr_{run_tag}_{class_name}",
                          persist_state="session",
                          help="A slice is called positive when its probability is at least this. "
                               "Starts at the run's chosen operating point.")
    conf = vv.threshold_summary(run, class_name, threshold)
    cols = st.columns(4)
    for col, (label, key) in zip(cols, (("Sensitivity", "sensitivity"), ("Specificity", "specificity"),
                                       ("PPV", "ppv"), ("NPV", "npv"))):
        value = conf[key]
        col.metric(label, "n/a" if value != value else f"{value:.3f}")
    left, right = st.columns(2)
    left.plotly_chart(vv.confusion_figure(conf, class_name), key="conf_fig")
    right.plotly_chart(vv.operating_point_figure(run, class_name, threshold), key="op_fig")
    st.caption("Rates measured on the data the threshold was chosen on are optimistic.")

with cmp_tab:
    others = [p for p in paths if p != path_a]
    if not others:
        st.info(vv.ONE_RUN_NOTE, icon=":material/compare_arrows:")
        folds = vv.fold_table(run)
        if not folds.empty:
            st.markdown("**Meanwhile, this run's cross-validation folds compared**")
            st.dataframe(folds, hide_index=True, width="stretch",
                         column_config={c: PCT for c in folds.columns if c.startswith("AUC")})
            st.caption("Each fold's patients scored by the model that never saw them: the "
                       "spread between folds is how much the figures move with the patients.")
    else:
        path_b = st.selectbox("Compare with", others, key="run_b", persist_state="session",
                              format_func=run_name)
        run_b = caches.run(path_b)
        table = vv.compare_table(run, run_b)
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: PCT for c in table.columns if c.startswith(("AUC", "Δ"))})
        cmp_class = st.selectbox("Finding", CLASSES, key="cmp_class", persist_state="session",
                                 format_func=vis_text.CLASS_LABELS.get)
        st.plotly_chart(vv.compare_roc_figure(run, run_b, cmp_class), key="cmp_fig")
        a_col, b_col = st.columns(2)
        a_col.plotly_chart(caches.roc_figure(run), key="cmp_roc_a")
        b_col.plotly_chart(caches.roc_figure(run_b), key="cmp_roc_b")

with hist_tab:
    figure = vv.history_figure(run)
    if figure is None:
        st.info("\n\n".join(vv.training_notes(run)), icon=":material/history:")
    else:
        st.plotly_chart(figure, key="hist_fig")
    st.dataframe(vv.describe_config(run), hide_index=True, width="stretch")

# ---------------------------------------------------------- reader agreement
st.divider()
agreement_view.show(cfg)
