"""Keep TensorFlow's instantiated functions alive between Streamlit script runs.

After every script run, Streamlit (1.67) calls ``keras.backend.clear_session()``
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
"""

__all__ = ["keep_keras_session"]

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
