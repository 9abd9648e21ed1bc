"""Slice navigation like a PACS viewer: keys and mouse wheel, beside the slider.

:func:`slice_controls` draws a page's slice controls for a case: nothing to
scroll on a single slice (a caption says so), otherwise the slider (and the
previous / next buttons on the viewer) plus the navigator component
(``frontend/slice_nav``: plain HTML/JS, no build step). The component listens
in the page for Up/Down/Left/Right (one slice), PageUp/PageDown (ten),
Home/End (the ends) and for mouse-wheel notches over the slice image (one
slice each, the page does not scroll), and sends the server an absolute
0-based target ``{"index": i, "seq": k}``, so presses made while the server
is still drawing are coalesced into the next target and none is lost.
The server acknowledges ``seq`` in the component's next render.
"""

__all__ = ["FRONTEND", "nav_target", "slice_controls"]

import functools
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from . import state as ui_state

#: The component's static frontend (index.html, nav.js), shipped as package data.
FRONTEND = Path(__file__).resolve().parent / "frontend" / "slice_nav"

_component = components.declare_component("cranioscan_slice_nav", path=str(FRONTEND))


def nav_target(value, n_slices):
    """The 0-based slice a navigator value asks for, or None.

    Args:
        value: what the component sent: ``{"index": int, "seq": int}`` (or
            None before the first key press).
        n_slices: slices in the series (>= 1).

    Returns:
        ``(index, seq)`` with ``index`` clamped to ``0..n_slices - 1``, or
        None for a missing or malformed value.
    """
    if not isinstance(value, dict):
        return None
    try:
        index, seq = int(value["index"]), int(value.get("seq", 0))
    except (KeyError, TypeError, ValueError):
        return None
    return min(max(index, 0), max(int(n_slices), 1) - 1), seq


def _ack_key(key):
    return f"{key}__ack"


def _nav_changed(key):
    """Component callback: move the session's slice to the navigator's target."""
    case = ui_state.active_case()
    if case is None:
        return
    target = nav_target(st.session_state.get(key), case.series.n_slices)
    if target is not None:
        ui_state.set_slice_index(case, target[0])
        st.session_state[_ack_key(key)] = target[1]


def slice_controls(case, slider_key, buttons=True, nav_key=None, container=None):
    """Draw the slice controls of ``case`` into ``container`` (default: here).

    A series of one slice gets a caption instead (a slider needs two values).
    Otherwise: ◀ slider ▶ (``buttons=True``; button keys ``prev`` / ``next``)
    or the slider alone, synced to the session's slice (:mod:`.state`), and
    the key / wheel navigator below it.

    Args:
        case: the :class:`~.state.ActiveCase`.
        slider_key: widget key of the 1-based slice slider.
        buttons: draw previous / next buttons around the slider.
        nav_key: widget key of the navigator (default ``slider_key + "_nav"``).
        container: a Streamlit container (a column) or None.
    """
    box = container if container is not None else st.container()
    n = case.series.n_slices
    index = ui_state.slice_index(case)
    if n == 1:
        box.caption("Single slice: nothing to scroll.")
        return
    with box:
        ui_state.slice_widget_value(case, slider_key)
        changed = functools.partial(ui_state.slice_widget_changed, slider_key)
        if buttons:
            prev_col, slider_col, next_col = st.columns([1, 6, 1], vertical_alignment="center")
            prev_col.button("◀", key="prev", help="Previous slice (↑ or ← key, wheel up)",
                            on_click=ui_state.step_slice, args=(-1,), disabled=index == 0,
                            width="stretch")
            slider_col.slider("Slice", 1, n, key=slider_key, label_visibility="collapsed",
                              on_change=changed)
            next_col.button("▶", key="next", help="Next slice (↓ or → key, wheel down)",
                            on_click=ui_state.step_slice, args=(1,), disabled=index == n - 1,
                            width="stretch")
        else:
            st.slider("Slice", 1, n, key=slider_key, on_change=changed)
        nav_key = nav_key or f"{slider_key}_nav"
        _component(n=n, index=index, ack=int(st.session_state.get(_ack_key(nav_key), 0)),
                   key=nav_key, default=None, on_change=functools.partial(_nav_changed, nav_key),
                   tab_index=-1)
