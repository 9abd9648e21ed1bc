"""What the dashboard computes or loads once: Streamlit caches as typed functions.

* resources loaded once per server process (``st.cache_resource``): the
  model (:func:`predictor`), demo cases (:func:`demo_case`), the background
  Grad-CAM trace (:func:`warm_up_gradcam`);
* results computed once per content (``st.cache_data``): a series' scores
  keyed by its content hash and the model's SHA-256 (:func:`score`),
  heatmaps (:func:`heatmap`, :func:`rollout`), run folders (:func:`run`) and
  their figures and tables (:func:`roc_figure`, :func:`pr_figure`,
  :func:`calibration_figure`, :func:`class_metrics_table`).

Uploaded studies are never put in a shared cache (see :mod:`.state`); only
their probabilities, keyed by a content hash, are.
"""

__all__ = [
    "config",
    "predictor",
    "prefetch_default_demo",
    "warm_up_gradcam",
    "demo_case",
    "score",
    "heatmap",
    "prefetch_heatmaps",
    "rollout",
    "run_paths",
    "run",
    "roc_figure",
    "pr_figure",
    "calibration_figure",
    "class_metrics_table",
    "current_or_default_case",
    "opening_slice",
    "PREDICT_BATCH",
]

import collections
import concurrent.futures
import os
import threading

import streamlit as st

from .. import demo
from ..evaluation.reports import find_runs, load_run
from ..inference import ModelLoadError, Predictor
from ..run_folder import RunFolder
from ..visualize import case_view, validation_view
from . import config as ui_config
from .state import ActiveCase, active_case, set_case


#: Slices per forward pass when scoring a series.
PREDICT_BATCH = 8


# ------------------------------------------------------------- resources
def config():
    """The dashboard's :class:`~cranioscan.ui.config.AppConfig` (from the environment)."""
    return ui_config.from_env()


@st.cache_resource(show_spinner="Loading the model…", max_entries=2)
def _load_predictor(path, mtime):
    del mtime  # part of the cache key only: a replaced file is reloaded
    return Predictor.load(path)


def predictor(cfg=None):
    """Load the configured model once per server process.

    Returns:
        ``(Predictor, None)``, or ``(None, message)`` when the model cannot be
        loaded (missing file, unreadable file): the dashboard still shows
        images without probabilities.
    """
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
    case = demo.load_demo(key, cache_dir)
    return ActiveCase(key=case_view.content_key(case.series), label=case.spec.title, source="demo",
                      series=case.series, masks=case.masks, labels=case.labels,
                      description=case.spec.description, folder=case.folder,
                      corner_note="real patient, CT-ICH" if case.spec.is_real else "phantom")


@st.cache_resource(show_spinner=False)
def _prefetch(cache_dir):
    return demo.prefetch(demo.DEFAULT_CASE, cache_dir) is not None


def prefetch_default_demo(cfg=None):
    """Once per process: draw the default demo case in the background (first start only)."""
    cfg = cfg or config()
    return _prefetch(str(cfg.cache_dir))


@st.cache_resource(show_spinner=False, max_entries=2)
def _gradcam_warm_up(model_sha, layer, _predictor):
    from .. import explain  # TensorFlow loads on the first map, not at app start

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
    from .. import explain  # TensorFlow loads on the first map, not at app start

    return _gradcam_warm_up(pred.sha256, explain.default_layer(pred), pred)


def demo_case(key, cfg=None):
    """A demo case as an :class:`ActiveCase` (generated on first use, then cached).

    The case is shared by every session (read-only: nothing may modify its
    arrays).
    """
    cfg = cfg or config()
    with st.spinner("Preparing the demo case (first use only)…"):
        return _demo_case(key, str(cfg.cache_dir))


# -------------------------------------------------------------- results
@st.cache_data(show_spinner=False, max_entries=64)
def _read(series_key, model_sha, _predictor, _series):
    del series_key, model_sha
    n = _series.n_slices
    bar = st.progress(0.0, text=f"Scoring {n} slices…")

    def progress(done, total):
        bar.progress(min(1.0, done / max(total, 1)), text=f"Scoring slice {done} of {total}…")

    reading = _predictor.read(_series, batch_size=PREDICT_BATCH, progress=progress)
    bar.empty()
    return reading


def reading(pred, case):
    """``Predictor.read`` of ``case``: ``(probabilities (n, 6), series scores or None,
    context, notes)``; a progress bar while scoring.

    Cached by the series' content hash and ``Predictor.scores_key`` (the
    model files and calibration), so a series is scored once however often
    it is shown or by how many sessions. Demo cases' readings are also kept
    on disk beside the case, so a restarted server shows them at once.
    """
    demo_folder = case.folder if case.source == "demo" else None
    if demo_folder is not None:
        probs = demo.cached_scores(demo_folder, pred.scores_key, case.series.n_slices)
        kept = demo.cached_reading(demo_folder, pred.scores_key)
        if probs is not None and kept is not None:
            return probs, kept["series_scores"], kept["context"], tuple(kept["notes"])
    out = _read(case.key, pred.scores_key, pred, case.series)
    if demo_folder is not None:
        try:
            demo.save_scores(demo_folder, pred.scores_key, out[0],
                             {"series_scores": out[1], "context": out[2], "notes": list(out[3])})
        except OSError:  # a read-only cache only costs the time to score again
            pass
    return out


@st.cache_data(show_spinner="Reading the series' attention across slices…", max_entries=32)
def _series_attention(series_key, model_sha, _predictor, _series):
    del series_key, model_sha
    return _predictor.series_attention(_series)


def series_attention(pred, case):
    """``Predictor.series_attention`` of ``case`` (cached per series and model), or None."""
    return _series_attention(case.key, pred.scores_key, pred, case.series)


def score(pred, case):
    """Probabilities ``(n, 6)`` of every slice of ``case`` (see :func:`reading`)."""
    return reading(pred, case)[0]


@st.cache_data(show_spinner=False, max_entries=128)
def _heatmap(series_key, model_sha, index, class_name, layer, method, _predictor, _series):
    del series_key, model_sha
    return _compute_heatmap(_predictor, _series, index, class_name, layer, method)


#: Methods cheap enough to compute ahead for the neighbouring slices (compiled).
PREFETCH_METHODS = ("gradcam", "gradcam++")
_PREFETCH_MAX = 32
_prefetch_pool = concurrent.futures.ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="cranioscan-cam-prefetch")
_prefetched = collections.OrderedDict()  # (series key, model, index, class, layer, method) -> Future
_prefetch_lock = threading.Lock()


def _compute_heatmap(pred, series, index, class_name, layer, method):
    from .. import explain  # TensorFlow loads on the first map, not at app start

    return explain.gradcam(pred, series, index, class_name, layer=layer, method=method)


def _remember(key, future):
    """Keep ``future`` under ``key``, the newest of at most ``_PREFETCH_MAX`` (hold the lock)."""
    _prefetched[key] = future
    _prefetched.move_to_end(key)
    while len(_prefetched) > _PREFETCH_MAX:
        _prefetched.popitem(last=False)


def heatmap(pred, case, index, class_name, layer, method):
    """Grad-CAM family heatmap ``(rows, cols)`` in [0, 1] of one slice (cached).

    A map computed ahead by :func:`prefetch_heatmaps` is taken from there
    (waiting for it when it is still being computed); a map computed here is
    remembered there too, so that prefetching never computes it again.
    """
    key = (case.key, pred.sha256, int(index), class_name, layer, method)
    with _prefetch_lock:
        future = _prefetched.get(key)
    if future is not None and not future.cancelled():
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - computed again below, where errors surface
            pass
    heat = _heatmap(case.key, pred.sha256, int(index), class_name, layer, method, pred, case.series)
    done = concurrent.futures.Future()
    done.set_result(heat)
    with _prefetch_lock:
        _remember(key, done)
    return heat


def prefetch_heatmaps(pred, case, indices, class_name, layer, method):
    """Compute the maps of ``indices`` (the next slices a reader will see) in the background.

    One worker thread; maps asked for earlier, not asked for now and not
    started yet are dropped, so scrolling far never queues work for slices
    left behind. Maps already computed (ahead or in the foreground) are not
    computed again. Only the compiled methods (:data:`PREFETCH_METHODS`);
    the last ``_PREFETCH_MAX`` maps are kept. Returns the number of maps queued.
    """
    if method not in PREFETCH_METHODS:
        return 0
    n = case.series.n_slices
    wanted = [(case.key, pred.sha256, int(index), class_name, layer, method)
              for index in indices if 0 <= int(index) < n]
    queued = 0
    with _prefetch_lock:
        for key, future in _prefetched.items():
            if key not in wanted:
                future.cancel()  # only those not started yet
        for key in wanted:
            future = _prefetched.get(key)
            if future is not None and not future.cancelled():
                _remember(key, future)
                continue
            _remember(key, _prefetch_pool.submit(_compute_heatmap, pred, case.series, key[2],
                                                 class_name, layer, method))
            queued += 1
    return queued


@st.cache_data(show_spinner=False, max_entries=64)
def _rollout(series_key, model_sha, index, _predictor, _series):
    from .. import explain  # TensorFlow loads on the first map, not at app start

    del series_key, model_sha
    return explain.attention_map(_predictor, _series, index)


def rollout(pred, case, index):
    """Transformer attention rollout ``(rows, cols)`` of one slice (cached)."""
    return _rollout(case.key, pred.sha256, int(index), pred, case.series)


def run_paths(cfg=None):
    """Run folders found under the configured roots (``reports.find_runs``)."""
    cfg = cfg or config()
    return find_runs(*cfg.run_roots)


@st.cache_data(show_spinner="Reading the run folder…", max_entries=16)
def _run(path, mtime):
    del mtime
    return load_run(path)


def _run_mtime(path):
    return os.path.getmtime(RunFolder(path).val_predictions)


def run(path):
    """``reports.load_run(path)``, cached until its predictions file changes."""
    return _run(path, _run_mtime(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_figure(kind, path, mtime, args, _run):
    del path, mtime
    return getattr(validation_view, kind)(_run, *args)


def _cached_view(kind, run_folder):
    return _run_figure(kind, run_folder.path, _run_mtime(run_folder.path), (), run_folder)


def roc_figure(run_folder):
    """``validation_view.roc_figure(run_folder)``, cached until the run's predictions change."""
    return _cached_view("roc_figure", run_folder)


def pr_figure(run_folder):
    """``validation_view.pr_figure(run_folder)``, cached until the run's predictions change."""
    return _cached_view("pr_figure", run_folder)


def calibration_figure(run_folder):
    """``validation_view.calibration_figure(run_folder)``, cached like :func:`roc_figure`."""
    return _cached_view("calibration_figure", run_folder)


def class_metrics_table(run_folder):
    """``validation_view.class_metrics_table(run_folder)``, cached like :func:`roc_figure`."""
    return _cached_view("class_metrics_table", run_folder)


def assess(predictor, case):
    """The :class:`~cranioscan.series_result.SeriesResult` of ``case`` (scores cached as
    :func:`score` keeps them): what every screen and download of the case formats."""
    probs, scores, context, notes = reading(predictor, case)
    return predictor.result(probs, series_scores=scores, context=context, notes=notes)


def opening_slice(predictor, case):
    """The 0-based slice a case opens on: the viewer's choice, for every page that opens it."""
    return assess(predictor, case).opening_slice


def current_or_default_case(cfg=None, predictor=None):
    """The session's case; the default demo case when the session has none yet.

    A default case opened here starts on the slice the viewer would open it
    on (:func:`opening_slice`, with ``predictor``), not on another page's own.
    """
    case = active_case()
    if case is None:
        case = demo_case(demo.DEFAULT_CASE, cfg)
        set_case(case, start_index=opening_slice(predictor, case) if predictor is not None
                 else None)
    return case
