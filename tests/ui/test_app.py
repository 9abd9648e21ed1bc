"""The dashboard: its pure helpers and every page through Streamlit's AppTest.

Pages run against the tiny model and run folders of ``conftest.py`` (set
through ``CRANIOSCAN_*`` environment variables) and the demo cases, which are
generated once per session in a temporary cache. Model, demo cases and
scores are cached by Streamlit for the whole process, so only the first
page run pays for loading them.
"""

import io
import json
import os
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from cranioscan.visualize import card_view, case_view, slice_image
from cranioscan.ui import config as ui_config
from cranioscan import demo
from cranioscan.visualize import text as vis_text, validation_view as vv
from cranioscan.evaluation import metrics
from cranioscan.formats import probability
from cranioscan.dicom import Series
from cranioscan.labels import CLASSES, SUBTYPES
from cranioscan.evaluation.reports import load_run

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app.py")


# ------------------------------------------------------------------ helpers
def small_series(n=4, rows=32, cols=40, seed=0):
    rng = np.random.default_rng(seed)
    hu = rng.normal(30.0, 20.0, (n, rows, cols)).astype(np.float32)
    return Series(hu=hu, positions=np.arange(n) * 5.0, spacing=(0.5, 0.5), slice_thickness=5.0,
                  slice_spacing=5.0, meta={"patient_name": "DOE^JANE", "patient_id": "12345",
                                           "patient_sex": "F", "modality": "CT",
                                           "study_uid": "1.2.3", "kvp": 120.0})


def test_content_key_follows_content_not_identity():
    a, b = small_series(), small_series()
    assert case_view.content_key(a) == case_view.content_key(b)
    b.hu[1, 2, 3] += 1.0
    assert case_view.content_key(a) != case_view.content_key(b)
    c = small_series()
    c.positions = c.positions + 1.0
    assert case_view.content_key(a) != case_view.content_key(c)


def test_window_text_and_preset_name():
    assert slice_image.window_text(40, 80) == "W 80  L 40"
    assert slice_image.window_text(-600.5, 1500) == "W 1500  L -600.5"
    assert slice_image.preset_name(600, 2800) == "bone"
    assert slice_image.preset_name(41, 80) is None


def test_slice_annotations_and_orientation():
    series = small_series()
    assert slice_image.slice_annotations(series, 2) == ["Slice 3 / 4", "Pos 10.0 mm", "Thk 5 mm"]
    with pytest.raises(IndexError, match="outside"):
        slice_image.slice_annotations(series, 4)
    axial = slice_image.orientation_labels([1, 0, 0, 0, 1, 0])
    assert axial == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    flipped = slice_image.orientation_labels([-1, 0, 0, 0, 1, 0])
    assert (flipped["left"], flipped["right"]) == ("L", "R")
    assert slice_image.orientation_labels([np.nan] * 6)["left"] == ""


def test_render_slice_window_overlay_and_text():
    hu = np.linspace(-100, 180, 64 * 64, dtype=np.float32).reshape(64, 64)
    before = hu.copy()
    plain = slice_image.render_slice(hu, 40, 80)
    assert plain.shape == (64, 64, 3) and plain.dtype == np.uint8
    np.testing.assert_array_equal(hu, before)  # the input is not modified
    assert plain[0, 0].tolist() == [0, 0, 0]  # -100 HU below the brain window: black
    assert plain[-1, -1].tolist() == [255, 255, 255]  # 180 HU above it: white
    heat = np.zeros((64, 64), np.float32)
    heat[20:30, 20:30] = 1.0
    over = slice_image.render_slice(hu, 40, 80, heatmap=heat, alpha=0.5, heat_threshold=0.1)
    changed = np.any(over != plain, axis=-1)
    assert changed[20:30, 20:30].all() and not changed[40:, 40:].any()
    mask = np.zeros((64, 64), bool)
    mask[5:15, 40:50] = True
    outlined = slice_image.render_slice(hu, 40, 80, outlines=[(mask, "#00ff00")])
    assert outlined[5, 45].tolist() == [0, 255, 0] and outlined[10, 45].tolist() == plain[10, 45].tolist()
    texted = slice_image.render_slice(hu, 40, 80, corners={"top_left": ["Slice 1 / 1"]})
    assert np.any(texted[:16, :40] != plain[:16, :40])
    with pytest.raises(ValueError, match="heatmap shape"):
        slice_image.render_slice(hu, 40, 80, heatmap=np.zeros((8, 8)))


def test_start_slice_and_probability_tables():
    probs = np.full((5, 6), 0.1)
    assert case_view.start_slice(probs, {"any": 0.5}) == 2  # nothing flagged: the middle
    probs[3, 0] = 0.9
    assert case_view.start_slice(probs, {"any": 0.5}) == 3
    table = case_view.slice_probability_table(probs[3], {c: 0.5 for c in CLASSES})
    assert list(table["Finding"]) == [vis_text.CLASS_LABELS[c] for c in CLASSES]
    assert list(table["Flag"]) == ["▲", "", "", "", "", ""]
    summary = {c: {"max_prob": 0.9, "max_slice": 3, "slices_above": [0, 1, 2, 4]} for c in CLASSES}
    frame = case_view.summary_table(summary)
    assert frame.loc[0, "On slice"] == 4 and frame.loc[0, "Slices above threshold"] == "1–3, 5"
    assert case_view.format_slice_ranges([]) == ""


def test_probability_figure_marker_and_click():
    probs = np.random.default_rng(0).random((12, 6))
    base = case_view.probability_figure(probs, -1)
    assert len(base.data) == 7  # click targets + one line per class
    np.testing.assert_allclose(base.data[1].y, probs[:, 0])
    moved = case_view.mark_slice(base.to_dict(), 4)
    assert moved.layout.shapes[0].x0 == 5 and moved.layout.annotations[0].text == "slice 5"
    assert case_view.clicked_slice({"points": [{"x": 7, "curve_number": 0}]}, 12) == 6
    assert case_view.clicked_slice({"points": [{"x": 40}]}, 12) is None
    assert case_view.clicked_slice({"points": []}, 12) is None
    assert case_view.clicked_slice(None, 12) is None


def test_metadata_hides_identifiers_unless_asked():
    series = small_series()
    hidden = case_view.metadata_table(series).set_index("Field")["Value"]
    assert hidden["Patient name"] == case_view.HIDDEN and hidden["Patient ID"] == case_view.HIDDEN
    assert hidden["Study instance UID"] == case_view.HIDDEN
    assert hidden["Sex"] == "F" and hidden["kVp"] == "120"
    assert "DOE^JANE" not in hidden.to_string()
    shown = case_view.metadata_table(series, show_identifiers=True).set_index("Field")["Value"]
    assert shown["Patient name"] == "DOE^JANE" and shown["Patient ID"] == "12345"


def test_model_notice_and_card_table():
    assert "not for clinical use" in card_view.model_notice({"synthetic": True})
    assert "not for clinical use" in card_view.model_notice({"trained_on": "Synthetic phantoms, v2"})
    assert "no model card" in card_view.model_notice({})
    assert card_view.model_notice({"trained_on": "RSNA 2019", "name": "x"}) is None
    assert card_view.model_notice({"synthetic": True}, loaded=False) is None
    card = {"metrics": {"any": {"auc": 0.9, "auc_ci_low": 0.85, "auc_ci_high": 0.95, "sensitivity": 0.8}},
            "thresholds": {"any": 0.3}}
    table = card_view.card_metrics_table(card)
    assert table.loc[0, "95% CI"] == "0.850–0.950" and table.loc[0, "Threshold"] == 0.3
    assert table.loc[0, "Sensitivity"] == 0.8
    assert card_view.card_metrics_table({}).empty
    # Counts are integers, headers in one case, thresholds in the one probability format.
    counted = card_view.card_metrics_table({
        "metrics": {"any": {"auc": 0.9, "n_pos": 840, "n_neg": 12},
                    "subdural": {"auc": 0.8, "n_pos": 3}},
        "thresholds": {"any": 0.0066}})
    assert list(counted.columns) == ["Finding", "AUC", "95% CI", "Threshold", "Positive slices",
                                     "Negative slices"]
    assert not any(c[:1].islower() for c in counted.columns)
    formats = card_view.card_metrics_formats(counted)
    assert formats["Positive slices"] == "%d" and formats["Negative slices"] == "%d"
    assert formats["Positive slices"] % counted.loc[0, "Positive slices"] == "840"
    assert formats["Threshold"] % counted.loc[0, "Threshold"] == probability(0.0066) == "0.007"
    assert "Finding" not in formats and "95% CI" not in formats
    nested = card_view.card_metrics_table({"metrics": {"classes": card["metrics"]}})
    assert nested.loc[0, "AUC"] == 0.9
    held = {"held_out_evaluation": {
        "auc": {"any": 0.97, "subdural": None}, "auc_ci95": {"any": [0.95, 0.99], "subdural": [None, None]},
        "positives": {"any": 40, "subdural": 0},
        "gradcam_peak_in_mask": {"layer": "conv4_block6_out",
                                 "any": {"fraction_in_mask": 0.85, "n_in_mask": 34, "n_slices": 40}}}}
    table = card_view.held_out_table(held).set_index("Finding")
    assert table.loc["Any hemorrhage", "95% CI"] == "0.950–0.990"
    # A card without the interval's method gets the Wilson interval of its counts.
    assert table.loc["Any hemorrhage", "Grad-CAM peak in lesion"] == (
        "85% (34/40; 95% CI 71%–93%, Wilson score interval on 40 slices)")
    assert table.loc["Subdural", "95% CI"] == "n/a" and np.isnan(table.loc["Subdural", "AUC"])
    assert card_view.held_out_table({}).empty
    assert card_view.localisation_table({}).empty
    assert card_view.localisation_table({"localisation_sweep": {"rows": "broken"}}).empty
    partial = card_view.localisation_table({"localisation_sweep": {"rows": [
        {"layer": "conv3_block3_out", "method": "gradcam", "fraction_in_mask": None}]}})
    assert partial.loc[0, "Peak in lesion"] == "n/a" and partial.loc[0, "Method"] == "Grad-CAM"
    held["held_out_evaluation"]["gradcam_peak_in_mask"]["any"].update(
        ci95=[0.7, 0.95], ci95_method="bootstrap over 24 studies")
    table = card_view.held_out_table(held).set_index("Finding")
    assert table.loc["Any hemorrhage", "Grad-CAM peak in lesion"] == (
        "85% (34/40; 95% CI 70%–95%, bootstrap over 24 studies)")
    # Other methods measured on the same slices get a column each.
    held["held_out_evaluation"]["peak_in_mask_other_methods"] = {
        "gradcam": {"any": {"fraction_in_mask": 0.1, "n_in_mask": 4, "n_slices": 40}},
        "gradcam++": {"any": {"fraction_in_mask": 0.95, "n_in_mask": 38, "n_slices": 40}}}
    table = card_view.held_out_table(held).set_index("Finding")
    assert table.loc["Any hemorrhage", "Grad-CAM peak in lesion"] == (
        "85% (34/40; 95% CI 70%–95%, bootstrap over 24 studies)")
    assert table.loc["Any hemorrhage", "Grad-CAM++ peak in lesion"] == (
        "95% (38/40; 95% CI 83%–99%, Wilson score interval on 40 slices)")
    assert table.loc["Subdural", "Grad-CAM++ peak in lesion"] == "n/a"


def test_config_from_env(tmp_path):
    cfg = ui_config.from_env({}, root=tmp_path)
    assert cfg.model_path == tmp_path / "model" / "best_model.keras"
    assert cfg.run_roots == (str(tmp_path / "runs"), str(tmp_path / "model" / "validation_run"))
    assert not cfg.allow_folder and cfg.max_upload_bytes == 1024 * 1024 * 1024
    cfg = ui_config.from_env({"CRANIOSCAN_RUNS": os.pathsep.join(["a", "/abs/b"]),
                              "CRANIOSCAN_ALLOW_FOLDER": "yes", "CRANIOSCAN_MAX_UPLOAD_MB": "7"},
                             root=tmp_path)
    assert cfg.run_roots == (str(tmp_path / "a"), "/abs/b")
    assert cfg.allow_folder and cfg.max_upload_mb == 7
    with pytest.raises(ValueError, match="CRANIOSCAN_MAX_UPLOAD_MB"):
        ui_config.from_env({"CRANIOSCAN_MAX_UPLOAD_MB": "-3"})


# ------------------------------------------------------------ validation view
def test_validation_figures_match_metrics(tiny_model_dir, runs_root):
    run = load_run(str(tiny_model_dir / "validation_run"))
    other = load_run(str(runs_root / "phantom_small"))
    table = vv.class_metrics_table(run)
    for c, name in enumerate(CLASSES):
        assert table.loc[c, "AUC"] == pytest.approx(metrics.auc_score(run.labels[:, c], run.probs[:, c]))
        assert table.loc[c, "AUC"] == pytest.approx(run.metrics["classes"][name]["auc"])
    low = run.metrics["classes"]["any"]["auc_ci_low"]
    roc = vv.roc_figure(run)
    assert f"{low:.3f}" in roc.data[1].name and len(roc.data) == 1 + len(CLASSES)
    threshold = run.metrics["classes"]["subdural"]["threshold"]
    conf = vv.threshold_summary(run, "subdural", threshold)
    assert conf["sensitivity"] == pytest.approx(run.metrics["classes"]["subdural"]["sensitivity"])
    assert conf["tp"] + conf["fn"] == int(run.labels[:, CLASSES.index("subdural")].sum())
    assert vv.confusion_figure(conf, "subdural").data[0].z[0][0] == conf["tp"]
    compare = vv.compare_table(run, other).set_index("Finding")
    delta = compare.loc[vis_text.CLASS_LABELS["epidural"], "Δ AUC (B − A)"]
    assert delta == pytest.approx(metrics.auc_score(other.labels[:, 1], other.probs[:, 1])
                                  - metrics.auc_score(run.labels[:, 1], run.probs[:, 1]))
    assert len(vv.calibration_figure(run).data) == 1 + len(CLASSES)
    assert len(vv.pr_figure(run).data) == len(CLASSES)
    assert vv.history_figure(run).data[0].name == "loss"


def test_thin_keeps_ends_and_pairs():
    x = np.arange(10_000.0)
    small, = vv.thin(x[:10])
    assert small is x[:10] or np.array_equal(small, x[:10])
    tx, ty = vv.thin(x, 2 * x, max_points=100)
    assert len(tx) == 100 and tx[0] == 0 and tx[-1] == 9999
    np.testing.assert_array_equal(ty, 2 * tx)


# -------------------------------------------------------------------- demo
def test_demo_case_is_cached_consistent_and_loads_cleanly(app_env):
    cache = app_env["CRANIOSCAN_CACHE"]
    case = demo.load_demo("epidural", cache)
    assert case.series.n_slices == demo.demo_spec("epidural").n_slices
    assert case.series.warnings == [] and case.series.skipped == []
    assert case.labels[:, CLASSES.index("epidural")].any()
    # Masks follow the series' slice order: labelled slices hold the mask.
    area = case.masks["epidural"].sum(axis=(1, 2))
    assert np.all(area[case.labels[:, 1] == 1] > 0)
    assert {s: case.masks[s].any() for s in SUBTYPES if s != "epidural"} == {
        s: False for s in SUBTYPES if s != "epidural"}
    stamp = (case.folder / "case.json").stat().st_mtime_ns
    again = demo.load_demo("epidural", cache)  # read from the cache, not regenerated
    assert (again.folder / "case.json").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.series.hu, case.series.hu)
    assert json.loads((case.folder / "case.json").read_text())["synthetic"] is True
    with pytest.raises(KeyError, match="demo cases are"):
        demo.demo_spec("nonexistent")


def test_demo_scores_kept_on_disk_per_model(tmp_path):
    probs = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    assert demo.cached_scores(tmp_path, "ab" * 32, 5) is None
    demo.save_scores(tmp_path, "ab" * 32, probs)
    np.testing.assert_array_equal(demo.cached_scores(tmp_path, "ab" * 32, 5), probs)
    assert demo.cached_scores(tmp_path, "cd" * 32, 5) is None  # another model
    assert demo.cached_scores(tmp_path, "ab" * 32, 6) is None  # another series length
    with pytest.raises(ValueError, match="hex digest"):
        demo.save_scores(tmp_path, "../../etc", probs)


# ------------------------------------------------------------------ pages
@pytest.fixture
def app(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at, kind):
    """The texts of the elements of ``kind`` as shown: markdown escapes of data removed."""
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(e.value)) for e in getattr(at, kind)]


def slice_heading(at):
    return next(m for m in texts(at, "markdown") if m.startswith("**Slice "))


def image_url(at):
    return at.image[0].value[0]


def test_viewer_demo_case_probabilities_slices_and_windows(app):
    at = app
    # The demo case with its probabilities; the model and the demo notice.
    assert at.selectbox(key="demo_key").value == demo.DEFAULT_CASE
    assert any("not for clinical use" in w for w in texts(at, "warning"))
    # One "not for clinical use" warning at a time: the sidebar gives the details as text.
    assert sum("not for clinical use" in w for w in texts(at, "warning")) == 1
    assert not at.sidebar.warning
    assert any("not for clinical use" in str(c.value) for c in at.sidebar.caption)
    assert any("CranioScan tiny test model" in m for m in (str(e.value) for e in at.sidebar.markdown))
    assert len(at.image) == 1 and len(at.get("plotly_chart")) == 1
    frames = [d.value for d in at.dataframe]
    current = next(f for f in frames if "Probability" in f.columns)
    assert list(current["Finding"]) == [vis_text.CLASS_LABELS[c] for c in CLASSES]
    assert current["Probability"].between(0, 1).all()
    summary = next(f for f in frames if "Slices above threshold" in f.columns)
    assert len(summary) == len(CLASSES)
    assert "Known findings of this phantom: Subdural" in texts(at, "caption")
    # The series verdict is read first (the tiny model reads slices one at a time: it says so).
    assert "No series verdict: this model reads slices one at a time." in texts(at, "info")
    # The demo case's scores were kept beside it for the next server start.
    case = at.session_state["cs_case"]
    assert list(case.folder.glob("scores-*.npy")), "demo scores not cached on disk"

    # Moving the slice: slider and buttons, image redrawn.
    url = image_url(at)
    at.slider(key="slice_no").set_value(10).run()
    assert slice_heading(at) == "**Slice 10 probabilities**"
    assert image_url(at) != url
    at.button(key="next").click().run()
    assert slice_heading(at) == "**Slice 11 probabilities**" and at.slider(key="slice_no").value == 11
    at.button(key="prev").click().run()
    at.button(key="prev").click().run()
    assert slice_heading(at) == "**Slice 9 probabilities**"

    # Windows: a preset sets level and width; editing them makes the window custom.
    url = image_url(at)
    at.radio(key="win_preset").set_value("bone").run()
    assert (at.number_input(key="win_level").value, at.number_input(key="win_width").value) == (600, 2800)
    assert image_url(at) != url
    at.number_input(key="win_width").set_value(1500).run()
    assert at.radio(key="win_preset").value == "custom"
    at.radio(key="win_preset").set_value("subdural").run()
    assert at.number_input(key="win_level").value == 80
    assert not at.exception


def test_viewer_gradcam_overlay_truth_and_metadata(app, monkeypatch):
    from cranioscan import explain
    from cranioscan.ui import caches

    at = app
    url = image_url(at)
    drawn, render = [], slice_image.render_slice  # the maps the viewer draws, in order
    monkeypatch.setattr(slice_image, "render_slice", lambda hu, *a, **k: drawn.append(
        k.get("heatmap")) or render(hu, *a, **k))
    at.toggle(key="cam_on").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="cam_method").value == case_view.OVERLAY_METHOD == "gradcam++"
    # The 64-pixel test model: no stage has 14 cells across, so the finest one.
    assert "conv3_block4_out" in at.selectbox(key="cam_layer").value
    assert image_url(at) != url
    # The map drawn is explain.gradcam's for this slice, not a neighbour's.
    opening = at.slider(key="slice_no").value
    at.slider(key="slice_no").set_value(2).run()  # both neighbours exist
    series, index = at.session_state["cs_case"].series, at.slider(key="slice_no").value - 1
    predictor, _ = caches.predictor()
    own, neighbour = (explain.gradcam(predictor, series, i, "any", layer="conv3_block4_out",
                                      method="gradcam++")
                       for i in (index, index + 1 if index + 1 < series.n_slices else index - 1))
    assert np.abs(own - neighbour).max() > 0.05  # the check below can tell them apart
    np.testing.assert_allclose(drawn[-1], own, atol=1e-4)
    at.slider(key="slice_no").set_value(opening).run()
    cam_url = image_url(at)
    at.selectbox(key="cam_method").set_value("gradcam").run()
    assert image_url(at) != cam_url
    at.toggle(key="cam_on").set_value(False).run()
    assert image_url(at) == url  # back to the plain slice
    # Ground truth outline (phantom): drawn on a slice holding the lesion, gone when off.
    masks = at.session_state["cs_case"].masks
    lesion_slices = np.flatnonzero(np.any([m.any(axis=(1, 2)) for m in masks.values()], axis=0))
    at.slider(key="slice_no").set_value(int(lesion_slices[0]) + 1).run()
    plain = image_url(at)
    at.toggle(key="truth_on").set_value(True).run()
    assert not at.exception
    assert image_url(at) != plain
    at.toggle(key="truth_on").set_value(False).run()
    assert image_url(at) == plain
    # Metadata: identifiers hidden until asked for.
    meta = next(d.value for d in at.dataframe if "Field" in d.value.columns).set_index("Field")["Value"]
    assert meta["Patient name"] == case_view.HIDDEN and meta["Modality"] == "CT"
    at.toggle(key="show_ids").set_value(True).run()
    meta = next(d.value for d in at.dataframe if "Field" in d.value.columns).set_index("Field")["Value"]
    assert meta["Patient name"] == "PHANTOM^SYNTHETIC"


def test_viewer_traces_the_default_gradcam_in_the_background(app_env, monkeypatch):
    import threading

    from streamlit.testing.v1 import AppTest

    from cranioscan import explain
    from cranioscan.ui import caches

    calls, original = [], explain.warm_up

    def recording_warm_up(predictor, layer):
        calls.append((layer, threading.current_thread().name))
        original(predictor, layer)

    monkeypatch.setattr(explain, "warm_up", recording_warm_up)
    caches._gradcam_warm_up.clear()
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.toggle(key="cam_on").value  # nobody asked for a map yet
    for thread in threading.enumerate():
        if thread.name.startswith("cranioscan-gradcam-warm-up"):
            thread.join(timeout=300)
    predictor, _ = caches.predictor()
    layer = explain.default_layer(predictor)
    assert calls == [(layer, f"cranioscan-gradcam-warm-up-{layer}")]
    at.slider(key="slice_no").set_value(2).run()
    assert len(calls) == 1  # once per model and layer, not once per rerun


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def _phantom_files(tmp_path, seed, folder):
    from cranioscan.phantom import make_study, write_series

    study = make_study(seed, matrix=64, n_slices=6, normal=True)
    paths = write_series(study, tmp_path / folder)
    return [(f"{folder}/{os.path.basename(p)}", open(p, "rb").read()) for p in paths]


def test_upload_errors_are_messages_not_tracebacks(app):
    at = app
    at.radio(key="source").set_value("Upload DICOM").run()
    assert any("Drop the files" in i for i in texts(at, "info"))
    at.file_uploader(key="uploads").set_value([("notes.txt", b"not a dicom file", "text/plain")]).run()
    assert not at.exception
    errors = texts(at, "error")
    assert any("No DICOM images found" in e and "notes.txt" in e for e in errors), errors
    big = b"\0" * (6 * 1024 * 1024)  # the tests cap uploads at 5 MB
    at.file_uploader(key="uploads").set_value([("huge.zip", big, "application/zip")]).run()
    assert not at.exception
    assert any("more than the 5 MB" in e for e in texts(at, "error")), texts(at, "error")


def test_upload_zip_with_two_series_lets_the_user_pick(app, tmp_path):
    at = app
    files = _phantom_files(tmp_path, 11, "a") + _phantom_files(tmp_path, 12, "b")
    at.radio(key="source").set_value("Upload DICOM").run()
    at.file_uploader(key="uploads").set_value([("study.zip", _zip(files), "application/zip")]).run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.selectbox(key="upload_series")
    assert len(picker.options) == 2
    heading = re.fullmatch(r"\*\*Slice (\d+) probabilities\*\*", slice_heading(at))
    assert heading and 1 <= int(heading.group(1)) <= picker.value.n_files, slice_heading(at)
    first_url = image_url(at)
    picker.set_value(picker.options[1]).run()
    assert not at.exception
    assert image_url(at) != first_url
    assert at.slider(key="slice_no").max == 6


def test_attention_page_maps_and_ground_truth(app):
    at = app
    case = at.session_state["cs_case"]
    lesion_slice = int(np.argmax(case.masks["subdural"].sum(axis=(1, 2))))
    at.session_state["cs_slice"] = lesion_slice
    at.switch_page("pages/attention.py").run()
    assert not at.exception, [e.message for e in at.exception]
    at.selectbox(key="att_class").set_value("subdural").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [c for img in at.image for c in img.captions if c]  # the colour bar has none
    assert any("ring marks each map's peak" in c for c in texts(at, "caption"))
    for title in ("Grad-CAM", "Grad-CAM++", "Score-CAM", "Attention rollout"):
        assert any(c.startswith(title + " ·") for c in captions), captions
    assert sum("stage" in c for c in captions) == 2  # stage 3 and stage 4
    # The row of stages opens on the viewer's overlay method.
    assert at.selectbox(key="att_stage_method").value == case_view.OVERLAY_METHOD
    assert sum(c.startswith("Grad-CAM++, stage") for c in captions) == 2
    assert all("peak inside the lesion" in c or "peak outside the lesion" in c for c in captions)
    notes = texts(at, "caption")
    assert any(n.startswith("Grad-CAM asks") for n in notes)
    assert any(n.startswith(f"Slice {lesion_slice + 1} of") and "known lesion on this slice" in n
               for n in notes)


def test_validation_page_shows_the_shipped_run(app):
    at = app
    at.switch_page("pages/validation.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "shipped model" in at.selectbox(key="run_a").format_func(at.selectbox(key="run_a").value)
    table = at.dataframe[0].value
    assert list(table["Finding"]) == [vis_text.CLASS_LABELS[c] for c in CLASSES]
    run = load_run(at.selectbox(key="run_a").value)
    assert table["AUC"].to_numpy() == pytest.approx([run.metrics["classes"][c]["auc"] for c in CLASSES])
    charts = at.get("plotly_chart")
    assert len(charts) >= 6  # ROC, PR, calibration, confusion, operating point, comparison...
    roc = json.loads(charts[0].proto.spec)
    low = run.metrics["classes"]["any"]["auc_ci_low"]
    assert "95% CI" in roc["layout"]["title"]["text"]
    assert any(f"[{low:.3f}–" in trace.get("name", "") for trace in roc["data"])
    # The threshold control: sensitivity follows the threshold.
    metric = lambda label: next(m.value for m in at.metric if m.label == label)  # noqa: E731
    at.selectbox(key="thr_class").set_value("any").run()
    slider = next(s for s in at.slider if s.key and s.key.startswith("thr_") and s.key.endswith("_any"))
    slider.set_value(0.0).run()
    assert metric("Sensitivity") == "1.000"
    slider = next(s for s in at.slider if s.key and s.key.endswith("_any"))
    slider.set_value(1.0).run()
    expected = vv.threshold_summary(run, "any", 1.0)
    assert metric("Specificity") == f"{expected['specificity']:.3f}"
    # The comparison with the other run.
    assert at.selectbox(key="run_b").value.endswith("phantom_small")
    compare = next(d.value for d in at.dataframe if "Δ AUC (B − A)" in d.value.columns)
    assert isinstance(compare, pd.DataFrame) and len(compare) == len(CLASSES) + 2


def test_model_card_page(app):
    at = app
    at.switch_page("pages/model_card.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "CranioScan tiny test model" in texts(at, "subheader")
    assert any("synthetic head CT phantoms" in e for e in texts(at, "error"))
    body = "\n".join(texts(at, "markdown"))
    assert "Tests of the dashboard only." in body and "synthetic phantoms (cranioscan.phantom)" in body
    assert "`python train.py --data phantom --out runs/tiny`" in body
    assert "3 epochs, 2 minutes on 2 CPU cores, no GPU" in body
    assert "`abababababab…` (trained on earlier phantoms" in body
    assert "Tiny fixture: three quick epochs." in texts(at, "caption")
    table = at.dataframe[0].value
    assert len(table) == len(CLASSES) and table["AUC"].between(0, 1).all()
    held_out = at.dataframe[1].value.set_index("Finding")
    assert held_out.loc["Subdural", "Grad-CAM peak in lesion"] == (
        "50% (5/10; 95% CI 24%–76%, Wilson score interval on 10 slices)")
    assert any("Target AUC ≥ 0.95 for every class: not met." in c for c in texts(at, "caption"))
    sweep = at.dataframe[2].value
    assert sweep.to_dict("records") == [{
        "Layer": "conv3_block4_out", "Method": "Grad-CAM++", "Peak in lesion": "80% (95% CI 49%–94%, Wilson score interval on 10 slices)",
        "In air": 1, "In bone": 0, "In soft tissue": 1}]
    assert any(c.startswith("2 synthetic phantom studies · peak in the lesion grown by 5 mm")
               for c in texts(at, "caption"))


def test_without_a_model_the_viewer_still_shows_images(app_env, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CRANIOSCAN_MODEL", str(tmp_path / "missing.keras"))
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("No model file" in str(e.value) for e in at.sidebar.error)
    assert any("No model is loaded" in i for i in texts(at, "info"))
    assert len(at.image) == 1
    at.switch_page("pages/model_card.py").run()
    assert any("No model file" in e for e in texts(at, "error"))


def test_training_facts_from_the_card():
    assert card_view.training_facts({}) == [("Training command", "unknown")]
    facts = dict(card_view.training_facts({
        "command": "python train.py --data phantom", "epochs_run": 7,
        "epoch_minutes_total": 94.2, "hardware": "2 CPU cores",
        "sampling": "uniform over the training slices",
        "initialised_from": {"sha256": "b3e21a8305a4" + "0" * 52,
                             "model_card": {"trained_on": "phantoms"}}}))
    assert facts["Training command"] == "`python train.py --data phantom`"
    assert facts["Training"] == "7 epochs, 94 minutes on 2 CPU cores"
    assert facts["Sampling"].startswith("uniform")
    assert facts["Continued from"].startswith("`b3e21a8305a4…`") and "phantoms" in facts[
        "Continued from"]
    one = dict(card_view.training_facts({"epochs_run": 1, "epoch_minutes_total": 7.2,
                                      "hardware": "jax 0.11.2 on NVIDIA H200"}))
    assert one["Training"] == "1 epoch, 7 minutes on jax 0.11.2 on NVIDIA H200"


@pytest.mark.parametrize("page", ["pages/viewer.py", "pages/attention.py", "pages/validation.py",
                                  "pages/model_card.py"])
def test_a_bookmarked_page_on_a_fresh_server_still_runs_inside_app_py(app_env, monkeypatch, page):
    # A fresh server is in Streamlit's pages/ folder mode until a run calls
    # st.navigation (cranioscan.ui.streamlit_fixes.enter_through_app): without the
    # page's guard, this first visit would show the page without app.py's
    # demo-model notice.
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    assert sum("not for clinical use" in str(w.value) for w in at.warning) == 1
    assert any("CranioScan tiny test model" in str(m.value) for m in at.sidebar.markdown)
    assert PagesManager.uses_pages_directory is False
