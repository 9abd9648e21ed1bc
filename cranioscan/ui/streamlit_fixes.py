"""Two fixes to how Streamlit (1.67) runs the dashboard's scripts.

**Keep TensorFlow's instantiated functions alive between script runs**
(``keep_keras_session``). After every script run, Streamlit calls
``keras.backend.clear_session()``
(``streamlit.runtime.scriptrunner.script_runner._clean_problem_modules``), to
stop apps that build a model on every rerun from filling memory. On the
TensorFlow backend that also clears the eager context's kernel cache, so the
next call of every ``tf.function`` instantiates and optimises (Grappler) its
graph again. For the dashboard that meant: every click, slider move or window
change was followed by a Grad-CAM that cost about 1.9 s on two CPU cores
instead of 0.35 s (the compiled Grad-CAM of the 224-pixel demo model), and
scoring a series paid the same toll (8 slices: 2.1 s instead of 1.2 s).
The dashboard builds its models once per server process (``st.cache_resource``)
and never on a rerun, so the clearing saves no memory and only costs time.
``keep_keras_session`` replaces Streamlit's cleanup with one that does the
rest of its job (closing ``matplotlib.pyplot`` figures) and leaves Keras and
TensorFlow alone.

**Run every page inside ``app.py``** (``enter_through_app``). Because the
pages live in a folder named ``pages/``, Streamlit starts each server in its
older folder mode and leaves it only when a script run calls
``st.navigation``. Until then, a first visit to a page's own address (a
bookmarked ``/viewer`` after the server restarted) runs ``pages/viewer.py``
on its own: ``app.py`` never runs, so the page has no demo-model notice, no
model in the sidebar, the narrow layout, and a cleared Keras session.
"""

__all__ = ["keep_keras_session", "enter_through_app"]

import sys

#: Attribute that marks our cleanup. A mark rather than an identity check:
#: when Streamlit reloads an edited local module, this module's function is a
#: new object, and the installed one must still not be taken for Streamlit's.
_MARK = "_cranioscan_keeps_keras_session"

#: Streamlit's own cleanup function, once ``keep_keras_session`` replaced it.
_STREAMLIT_CLEANUP = None


def _close_pyplot_figures():
    """Streamlit's post-run cleanup without ``keras.backend.clear_session``."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


setattr(_close_pyplot_figures, _MARK, True)


def keep_keras_session():
    """Stop Streamlit from clearing the Keras session after each script run.

    Idempotent and process-wide (it changes a function in Streamlit's script
    runner module); call it at the top of the app script.

    Returns:
        True when Streamlit's cleanup is (now) the CranioScan one; False when
        this Streamlit has no such hook (a later version may have dropped or
        renamed it), in which case nothing is changed.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return False
    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        return False
    if not getattr(current, _MARK, False):
        global _STREAMLIT_CLEANUP
        _STREAMLIT_CLEANUP = current
        script_runner._clean_problem_modules = _close_pyplot_figures
    return True


def enter_through_app():
    """Rerun the page through ``app.py`` when Streamlit ran it on its own.

    Call it first on every page. Inside ``app.py`` (the normal case) it does
    nothing. When Streamlit still runs in its ``pages/`` folder mode, it
    leaves that mode the way ``st.navigation`` does (``PagesManager``'s
    process-wide flag) and reruns: the rerun executes ``app.py``, whose
    ``st.navigation`` picks the same page from the address.

    Returns:
        False when nothing had to be done (including a Streamlit without
        that flag); otherwise it does not return (``st.rerun``).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return False
    if not getattr(PagesManager, "uses_pages_directory", False):
        return False
    PagesManager.uses_pages_directory = False
    import streamlit as st

    st.rerun()
