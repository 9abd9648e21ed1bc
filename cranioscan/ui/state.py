"""Per-session state of the dashboard: the case, its slice and the window.

Kept in ``st.session_state`` so that two browser sessions never share a case:

* the current case (:class:`ActiveCase`, :func:`active_case`, :func:`set_case`);
* its slice (:func:`slice_index`, :func:`set_slice_index` and the widget
  callbacks), 0-based, surviving page changes;
* the display window (:func:`window`, :func:`init_window` and the callbacks
  :func:`apply_preset`, :func:`window_edited`);
* studies uploaded or read from a server folder (:func:`discover_upload`,
  :func:`load_upload`, :func:`discover_folder`, :func:`load_folder`): they
  stay in the session's memory, never in a shared cache.

Caches shared by all sessions are :mod:`.caches`.
"""

__all__ = [
    "ActiveCase",
    "UploadTooLarge",
    "discover_upload",
    "load_upload",
    "discover_folder",
    "load_folder",
    "active_case",
    "set_case",
    "slice_index",
    "set_slice_index",
    "slice_widget_value",
    "slice_widget_changed",
    "step_slice",
    "upload_folded",
    "fold_upload",
    "reopen_upload",
    "widget_state",
    "record_slice_view_ms",
    "SLICE_VIEW_MS",
    "WINDOW_PRESET_KEY",
    "WINDOW_LEVEL_KEY",
    "WINDOW_WIDTH_KEY",
    "init_window",
    "window",
    "window_preset",
    "apply_preset",
    "window_edited",
]

import dataclasses

import streamlit as st

from ..dicom import discover_series, load_series
from ..formats import markdown_literal
from ..visualize import case_view
from ..visualize.slice_image import preset_name
from ..windowing import PRESETS
from . import config as ui_config


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
        corner_note: what the image's corner says the case is ("phantom",
            "real patient, CT-ICH") for demo cases, else ''.
        origin: ``(source, series_uid)`` the series was read from (uploaded
            files or a folder), for the de-identified DICOM export; None for
            demo and PACS cases.
    """

    key: str
    label: str
    source: str
    series: object
    masks: dict | None = None
    labels: object = None
    description: str = ""
    folder: object = None
    corner_note: str = ""
    origin: object = None

    @property
    def has_truth(self):
        """True when ground-truth masks are known (phantom cases)."""
        return self.masks is not None


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


def _discover(store_name, signature, source):
    store = _session_store(store_name, signature)
    if store["infos"] is None:
        store["infos"] = discover_series(source)
    return store["infos"]


def _load(store_name, signature, source, series_uid, label, kind):
    store = _session_store(store_name, signature)
    case = store["cases"].get(series_uid)
    if case is None:
        with st.spinner(f"Reading the slices of {markdown_literal(label)}…"):
            series = load_series(source, series_uid=series_uid)
        case = ActiveCase(key=case_view.content_key(series), label=label, source=kind,
                          series=series, origin=(source, series.series_uid or series_uid))
        store["cases"] = {series_uid: case}  # keep one series per session in memory
    return case


def discover_upload(files, cfg=None):
    """Series in a list of uploaded files (headers only; per-session cache).

    Raises:
        UploadTooLarge: the files add up to more than ``cfg.max_upload_mb``.
        DicomLoadError: no DICOM image among them (the loader's message).
    """
    cfg = cfg or ui_config.from_env()
    total = sum(int(f.size) for f in files)
    if total > cfg.max_upload_bytes:
        raise UploadTooLarge(
            f"These {len(files)} files add up to {total / 1024**2:,.0f} MB, more than the "
            f"{cfg.max_upload_mb:,} MB CranioScan accepts in one upload. Upload one series at a "
            "time, or ask the administrator to raise CRANIOSCAN_MAX_UPLOAD_MB.")
    return _discover("cs_upload", _upload_signature(files), list(files))


def load_upload(files, series_uid=None):
    """Load one series of uploaded files as an :class:`ActiveCase` (kept in this session only)."""
    names = ", ".join(f.name for f in files[:2])
    if len(files) > 2:
        names += f" and {len(files) - 2} more"
    return _load("cs_upload", _upload_signature(files), list(files), series_uid,
                 f"Upload: {names}", "upload")


def discover_folder(path):
    """Series in a server-side folder (per-session cache)."""
    return _discover("cs_folder", str(path), str(path))


def load_folder(path, series_uid=None):
    """Load one series of a server-side folder as an :class:`ActiveCase` (this session only)."""
    return _load("cs_folder", str(path), str(path), series_uid, f"Folder: {path}", "folder")


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


# ------------------------------------------------------------------ window
#: Widget keys of the window controls (the case viewer's radio and inputs).
WINDOW_PRESET_KEY = "win_preset"
WINDOW_LEVEL_KEY = "win_level"
WINDOW_WIDTH_KEY = "win_width"
#: The window a session starts with.
DEFAULT_PRESET = "brain"


def init_window():
    """Give the session the default window (brain) unless it has one."""
    st.session_state.setdefault(WINDOW_PRESET_KEY, DEFAULT_PRESET)
    st.session_state.setdefault(WINDOW_LEVEL_KEY, PRESETS[DEFAULT_PRESET][0])
    st.session_state.setdefault(WINDOW_WIDTH_KEY, PRESETS[DEFAULT_PRESET][1])


def window():
    """The session's ``(level, width)`` in HU (the default window when none is set)."""
    level, width = PRESETS[DEFAULT_PRESET]
    return (st.session_state.get(WINDOW_LEVEL_KEY, level),
            st.session_state.get(WINDOW_WIDTH_KEY, width))


def window_preset():
    """The session's preset name, ``"custom"`` for a window no preset has."""
    return st.session_state.get(WINDOW_PRESET_KEY, DEFAULT_PRESET)


def apply_preset():
    """Widget callback: set level and width from the chosen preset."""
    name = st.session_state[WINDOW_PRESET_KEY]
    if name in PRESETS:
        st.session_state[WINDOW_LEVEL_KEY], st.session_state[WINDOW_WIDTH_KEY] = PRESETS[name]


def window_edited():
    """Widget callback: name the preset of an edited level/width (``"custom"`` for none)."""
    name = preset_name(st.session_state[WINDOW_LEVEL_KEY], st.session_state[WINDOW_WIDTH_KEY])
    st.session_state[WINDOW_PRESET_KEY] = name or "custom"


# ------------------------------------------------------------------- the viewer's upload row
_UPLOAD_OPEN = "cs_upload_open"  # False once a single-series upload is folded to one line


def upload_folded():
    """True while the loaded upload is shown as one line (until "Replace")."""
    return st.session_state.get(_UPLOAD_OPEN, True) is False


def fold_upload():
    """Fold the uploader to one line: a single-series upload is loaded."""
    st.session_state[_UPLOAD_OPEN] = False


def reopen_upload():
    """Widget callback of "Replace": show the uploader again."""
    st.session_state[_UPLOAD_OPEN] = True


def widget_state(key):
    """What Streamlit keeps for widget ``key`` (a chart's selection, say), or None."""
    return st.session_state.get(key)


#: Session key of the last slice view's server time in ms (the benchmark reads it).
SLICE_VIEW_MS = "cs_slice_view_ms"


def record_slice_view_ms(elapsed_ms):
    """Keep the server-side time of the last slice view, in milliseconds."""
    st.session_state[SLICE_VIEW_MS] = float(elapsed_ms)
