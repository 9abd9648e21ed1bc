"""Streamlit glue of the dashboard: caches and per-session state.

The only ``cranioscan`` module besides the pages that imports Streamlit. It
holds what several pages share:

* resources loaded once per server process (``st.cache_resource``): the
  model (:func:`predictor`), demo cases (:func:`demo_case`);
* results computed once per content (``st.cache_data``): a series' scores
  keyed by its content hash and the model's SHA-256 (:func:`score`),
  heatmaps (:func:`heatmap`, :func:`rollout`), run folders (:func:`run`);
* the session's current case and slice (:class:`ActiveCase`,
  :func:`active_case`, :func:`set_case`, :func:`slice_index`), kept in
  ``st.session_state`` so that two browser sessions never share a case.

Uploaded studies are never put in a shared cache: they stay in the
uploading session's state (in memory) and only their probabilities, keyed
by a hash, are cached.
"""

__all__ = [
    "ActiveCase",
    "config",
    "predictor",
    "demo_case",
    "prefetch_default_demo",
    "warm_up_gradcam",
    "UploadTooLarge",
    "discover_upload",
    "load_upload",
    "discover_folder",
    "load_folder",
    "score",
    "heatmap",
    "rollout",
    "run_paths",
    "run",
    "run_figure",
    "active_case",
    "set_case",
    "current_or_default_case",
    "slice_index",
    "set_slice_index",
    "slice_widget_value",
    "slice_widget_changed",
    "step_slice",
    "PREDICT_BATCH",
]

import dataclasses
import os
import threading

import streamlit as st

from . import case_view, config as ui_config

#: Slices per forward pass when scoring a series.
PREDICT_BATCH = 8

_CASE = "cs_case"
_SLICE = "cs_slice"  # 0-based current slice (not a widget key: survives page changes)


@dataclasses.dataclass(eq=False)
class ActiveCase:
    """The case a session is looking at.

    Attributes:
        key: content hash of the series (:func:`case_view.content_key`).
        label: what the case is called on screen.
        source: ``"demo"``, ``"upload"`` or ``"folder"``.
        series: the :class:`~cranioscan.dicom.Series`.
        masks: subtype -> bool ``(n, rows, cols)`` ground truth (demo cases),
            or None.
        labels: uint8 ``(n, 6)`` known per-slice labels (demo cases), or None.
        description: known findings (demo cases) or ''.
        folder: the demo case's cache folder (scores are kept there), or None.
    """

    key: str
    label: str
    source: str
    series: object
    masks: dict | None = None
    labels: object = None
    description: str = ""
    folder: object = None

    @property
    def has_truth(self):
        """True when ground-truth masks are known (phantom cases)."""
        return self.masks is not None


# ------------------------------------------------------------- resources
def config():
    """The dashboard's :class:`~cranioscan.ui.config.AppConfig` (from the environment)."""
    return ui_config.from_env()


@st.cache_resource(show_spinner="Loading the model…", max_entries=2)
def _load_predictor(path, mtime):
    from ..inference import Predictor

    del mtime  # part of the cache key only: a replaced file is reloaded
    return Predictor.load(path)


def predictor(cfg=None):
    """Load the configured model once per server process.

    Returns:
        ``(Predictor, None)``, or ``(None, message)`` when the model cannot be
        loaded (missing file, unreadable file): the dashboard still shows
        images without probabilities.
    """
    from ..inference import ModelLoadError

    cfg = cfg or config()
    path = str(cfg.model_path)
    if not os.path.isfile(path):
        return None, (f"No model file at {path}. Train one with `python train.py` or set "
                      "CRANIOSCAN_MODEL to a .keras file.")
    try:
        return _load_predictor(path, os.path.getmtime(path)), None
    except ModelLoadError as exc:
        return None, str(exc)


@st.cache_resource(show_spinner=False, max_entries=8)
def _demo_case(key, cache_dir):
    from . import demo

    case = demo.load_demo(key, cache_dir)
    return ActiveCase(key=case_view.content_key(case.series), label=case.spec.title, source="demo",
                      series=case.series, masks=case.masks, labels=case.labels,
                      description=case.spec.description, folder=case.folder)


@st.cache_resource(show_spinner=False)
def _prefetch(cache_dir):
    from . import demo

    return demo.prefetch(demo.DEFAULT_CASE, cache_dir) is not None


def prefetch_default_demo(cfg=None):
    """Once per process: draw the default demo case in the background (first start only)."""
    cfg = cfg or config()
    return _prefetch(str(cfg.cache_dir))


@st.cache_resource(show_spinner=False, max_entries=2)
def _gradcam_warm_up(model_sha, layer, _predictor):
    from .. import explain

    del model_sha  # cache key only: one warm-up per model and layer
    # Not a daemon: a process that exits while TensorFlow traces in a daemon
    # thread aborts ("terminate called without an active exception"); this
    # way exit waits for the trace (seconds) instead.
    thread = threading.Thread(target=explain.warm_up, args=(_predictor, layer), daemon=False,
                              name=f"cranioscan-gradcam-warm-up-{layer}")
    thread.start()
    return thread


def warm_up_gradcam(pred):
    """Once per model: trace its compiled Grad-CAM on the default layer in the background.

    The first Grad-CAM of a layer otherwise pays for tracing the compiled
    function (about 6 s on two CPU cores for the 224-pixel demo model) when
    the user turns the overlay on; afterwards a map takes about 0.35 s. Call
    it once the page is drawn, so that the trace does not compete with the
    first case's scoring. Returns the (started or finished) thread.
    """
    from .. import explain

    return _gradcam_warm_up(pred.sha256, explain.default_layer(pred), pred)


def demo_case(key, cfg=None):
    """A demo case as an :class:`ActiveCase` (generated on first use, then cached).

    The case is shared by every session (read-only: nothing may modify its
    arrays).
    """
    cfg = cfg or config()
    with st.spinner("Preparing the demo case (first use only)…"):
        return _demo_case(key, str(cfg.cache_dir))


class UploadTooLarge(Exception):
    """The files of one upload exceed the configured cap (message for the user)."""


def _upload_signature(files):
    return tuple((f.name, int(f.size), getattr(f, "file_id", "")) for f in files)


def _session_store(name, signature):
    """Per-session dict for one source; forgets the previous source's entries."""
    store = st.session_state.get(name)
    if store is None or store.get("signature") != signature:
        store = {"signature": signature, "infos": None, "cases": {}}
        st.session_state[name] = store
    return store


def discover_upload(files, cfg=None):
    """Series in a list of uploaded files (headers only; per-session cache).

    Raises:
        UploadTooLarge: the files add up to more than ``cfg.max_upload_mb``.
        DicomLoadError: no DICOM image among them (the loader's message).
    """
    from ..dicom import discover_series

    cfg = cfg or config()
    total = sum(int(f.size) for f in files)
    if total > cfg.max_upload_bytes:
        raise UploadTooLarge(
            f"These {len(files)} files add up to {total / 1024**2:,.0f} MB, more than the "
            f"{cfg.max_upload_mb:,} MB CranioScan accepts in one upload. Upload one series at a "
            "time, or ask the administrator to raise CRANIOSCAN_MAX_UPLOAD_MB.")
    store = _session_store("cs_upload", _upload_signature(files))
    if store["infos"] is None:
        store["infos"] = discover_series(list(files))
    return store["infos"]


def load_upload(files, series_uid=None):
    """Load one series of uploaded files as an :class:`ActiveCase` (kept in this session only)."""
    from ..dicom import load_series

    store = _session_store("cs_upload", _upload_signature(files))
    case = store["cases"].get(series_uid)
    if case is None:
        series = load_series(list(files), series_uid=series_uid)
        names = ", ".join(f.name for f in files[:2])
        if len(files) > 2:
            names += f" and {len(files) - 2} more"
        case = ActiveCase(key=case_view.content_key(series), label=f"Upload: {names}", source="upload",
                          series=series)
        store["cases"] = {series_uid: case}  # keep one series per session in memory
    return case


def discover_folder(path):
    """Series in a server-side folder (per-session cache)."""
    from ..dicom import discover_series

    store = _session_store("cs_folder", str(path))
    if store["infos"] is None:
        store["infos"] = discover_series(str(path))
    return store["infos"]


def load_folder(path, series_uid=None):
    """Load one series of a server-side folder as an :class:`ActiveCase` (this session only)."""
    from ..dicom import load_series

    store = _session_store("cs_folder", str(path))
    case = store["cases"].get(series_uid)
    if case is None:
        series = load_series(str(path), series_uid=series_uid)
        case = ActiveCase(key=case_view.content_key(series), label=f"Folder: {path}", source="folder",
                          series=series)
        store["cases"] = {series_uid: case}
    return case


# -------------------------------------------------------------- results
@st.cache_data(show_spinner=False, max_entries=64)
def _score(series_key, model_sha, _predictor, _series):
    del series_key, model_sha
    n = _series.n_slices
    bar = st.progress(0.0, text=f"Scoring {n} slices…")

    def progress(done, total):
        bar.progress(min(1.0, done / max(total, 1)), text=f"Scoring slice {done} of {total}…")

    probs = _predictor.predict_series(_series, batch_size=PREDICT_BATCH, progress=progress)
    bar.empty()
    return probs


def score(pred, case):
    """Probabilities ``(n, 6)`` of every slice of ``case``; a progress bar while scoring.

    Cached by the series' content hash and the model's SHA-256, so a series
    is scored once however often it is shown or by how many sessions. Demo
    cases' scores are also kept on disk beside the case, so a restarted
    server shows them at once.
    """
    from . import demo

    if case.source == "demo" and case.folder is not None:
        probs = demo.cached_scores(case.folder, pred.sha256, case.series.n_slices)
        if probs is not None:
            return probs
    probs = _score(case.key, pred.sha256, pred, case.series)
    if case.source == "demo" and case.folder is not None:
        try:
            demo.save_scores(case.folder, pred.sha256, probs)
        except OSError:  # a read-only cache only costs the time to score again
            pass
    return probs


@st.cache_data(show_spinner=False, max_entries=128)
def _heatmap(series_key, model_sha, index, class_name, layer, method, _predictor, _series):
    from .. import explain

    del series_key, model_sha
    return explain.gradcam(_predictor, _series, index, class_name, layer=layer, method=method)


def heatmap(pred, case, index, class_name, layer, method):
    """Grad-CAM family heatmap ``(rows, cols)`` in [0, 1] of one slice (cached)."""
    return _heatmap(case.key, pred.sha256, int(index), class_name, layer, method, pred, case.series)


@st.cache_data(show_spinner=False, max_entries=64)
def _rollout(series_key, model_sha, index, _predictor, _series):
    from .. import explain

    del series_key, model_sha
    return explain.attention_map(_predictor, _series, index)


def rollout(pred, case, index):
    """Transformer attention rollout ``(rows, cols)`` of one slice (cached)."""
    return _rollout(case.key, pred.sha256, int(index), pred, case.series)


def run_paths(cfg=None):
    """Run folders found under the configured roots (``reports.find_runs``)."""
    from ..evaluation.reports import find_runs

    cfg = cfg or config()
    return find_runs(*cfg.run_roots)


@st.cache_data(show_spinner="Reading the run folder…", max_entries=16)
def _run(path, mtime):
    from ..evaluation.reports import load_run

    del mtime
    return load_run(path)


def _run_mtime(path):
    from ..evaluation.reports import PREDICTIONS_FILE

    return os.path.getmtime(os.path.join(path, PREDICTIONS_FILE))


def run(path):
    """``reports.load_run(path)``, cached until its predictions file changes."""
    return _run(path, _run_mtime(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_figure(kind, path, mtime, args, _run):
    from . import validation_view

    del path, mtime
    return getattr(validation_view, kind)(_run, *args)


def run_figure(kind, run_folder, *args):
    """``validation_view.<kind>(run_folder, *args)``, cached per run folder (figures, tables)."""
    return _run_figure(kind, run_folder.path, _run_mtime(run_folder.path), tuple(args), run_folder)


# --------------------------------------------------------- session state
def active_case():
    """The session's current :class:`ActiveCase`, or None."""
    return st.session_state.get(_CASE)


def set_case(case, start_index=None):
    """Make ``case`` current; a new case starts at ``start_index`` (default: middle).

    Returns:
        True when the case changed (and the slice was reset).
    """
    previous = st.session_state.get(_CASE)
    st.session_state[_CASE] = case
    if previous is None or previous.key != case.key or _SLICE not in st.session_state:
        n = case.series.n_slices
        set_slice_index(case, n // 2 if start_index is None else start_index)
        return True
    return False


def current_or_default_case(cfg=None):
    """The session's case; the default demo case when the session has none yet."""
    case = active_case()
    if case is None:
        from .demo import DEFAULT_CASE

        case = demo_case(DEFAULT_CASE, cfg)
        set_case(case)
    return case


def slice_index(case):
    """The session's current 0-based slice of ``case`` (clamped to the series)."""
    n = case.series.n_slices
    return min(max(int(st.session_state.get(_SLICE, n // 2)), 0), n - 1)


def set_slice_index(case, index):
    """Move the session to 0-based slice ``index`` of ``case`` (clamped).

    Call before the slice widgets are drawn in a run, or from a callback.
    """
    n = case.series.n_slices
    st.session_state[_SLICE] = min(max(int(index), 0), n - 1)


def slice_widget_value(case, widget_key):
    """Sync a 1-based slice widget to the session's slice; call just before drawing it."""
    st.session_state[widget_key] = slice_index(case) + 1


def slice_widget_changed(widget_key):
    """Widget callback: take the session's slice from a 1-based slice widget."""
    case = active_case()
    if case is not None and widget_key in st.session_state:
        set_slice_index(case, int(st.session_state[widget_key]) - 1)


def step_slice(delta):
    """Widget callback: move the current slice by ``delta`` (clamped)."""
    case = active_case()
    if case is not None:
        set_slice_index(case, slice_index(case) + int(delta))
