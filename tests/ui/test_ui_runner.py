"""Streamlit's post-run cleanup must not clear the Keras session in the dashboard.

Streamlit calls ``keras.backend.clear_session()`` after every script run,
which makes TensorFlow instantiate and optimise every compiled function again
on its next call (``cranioscan.ui.streamlit_fixes``). These tests run real scripts
through AppTest with Streamlit's cleanup function restored afterwards.
"""

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from streamlit.runtime.scriptrunner import script_runner  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from cranioscan.ui import streamlit_fixes as ui_runner  # noqa: E402

PLAIN = "import streamlit as st\nst.write('plain page')\n"
KEEPING = ("from cranioscan.ui import streamlit_fixes as ui_runner\n"
           "ui_runner.keep_keras_session()\n"
           "import matplotlib.pyplot as plt\n"
           "plt.figure()\n"
           "import streamlit as st\n"
           "st.write('page that keeps the Keras session')\n")


@pytest.fixture
def clear_session_calls(monkeypatch):
    """Streamlit's own cleanup in place (restored after the test), clear_session counted."""
    genuine = ui_runner._STREAMLIT_CLEANUP or script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", genuine)
    monkeypatch.setattr(ui_runner, "_STREAMLIT_CLEANUP", None)
    calls = []
    original = keras.backend.clear_session
    monkeypatch.setattr(keras.backend, "clear_session",
                        lambda *a, **k: (calls.append(1), original(*a, **k)))
    return calls


def run(script):
    at = AppTest.from_string(script, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_streamlit_clears_the_keras_session_after_every_run(clear_session_calls):
    # The behaviour ui_runner works around; if a Streamlit release drops it,
    # this fails and ui_runner can go.
    at = run(PLAIN)
    at.run()
    assert len(clear_session_calls) == 2


def test_keep_keras_session_stops_the_clearing_and_still_closes_figures(clear_session_calls):
    plt.close("all")
    at = run(KEEPING)
    at.run()
    assert clear_session_calls == []
    assert plt.get_fignums() == []  # the figure the script opened was closed after the run
    assert script_runner._clean_problem_modules is ui_runner._close_pyplot_figures
    assert ui_runner._STREAMLIT_CLEANUP is not None


def test_keep_keras_session_is_idempotent(clear_session_calls):
    assert ui_runner.keep_keras_session() is True
    replaced = ui_runner._STREAMLIT_CLEANUP
    assert ui_runner.keep_keras_session() is True
    assert ui_runner._STREAMLIT_CLEANUP is replaced  # Streamlit's function, not ours
    assert script_runner._clean_problem_modules is ui_runner._close_pyplot_figures


def test_keep_keras_session_leaves_an_unknown_streamlit_alone(monkeypatch):
    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    assert ui_runner.keep_keras_session() is False
    assert not hasattr(script_runner, "_clean_problem_modules")


# --------------------------------------------------------- pages run in app.py
SHELL = ("import streamlit as st\n"
         "page = st.navigation([st.Page('pages/first.py', default=True),\n"
         "                      st.Page('pages/second.py')])\n"
         "st.sidebar.write('shell of app.py')\n"
         "page.run()\n")
GUARDED = ("from cranioscan.ui import streamlit_fixes as ui_runner\n"
           "ui_runner.enter_through_app()\n"
           "import streamlit as st\n"
           "st.write('second page')\n")


def bookmarked_second_page(tmp_path, monkeypatch, second_page):
    """AppTest of a fresh server whose first visit is the address of ``pages/second.py``.

    A fresh server is in Streamlit's ``pages/`` folder mode until a run calls
    ``st.navigation``; the flag is process-wide, so it is set here (and
    restored afterwards) rather than relying on the order of the tests.
    """
    from streamlit.runtime.pages_manager import PagesManager

    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(SHELL)
    (tmp_path / "pages" / "first.py").write_text("import streamlit as st\nst.write('first page')\n")
    (tmp_path / "pages" / "second.py").write_text(second_page)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    at = AppTest.from_file(str(tmp_path / "app.py"), default_timeout=60)
    at.switch_page("pages/second.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at, PagesManager


def test_a_fresh_server_runs_a_bookmarked_page_without_app_py(tmp_path, monkeypatch):
    # The behaviour enter_through_app works around; if a Streamlit release
    # drops the pages/ folder mode, this fails and enter_through_app can go.
    at, _ = bookmarked_second_page(tmp_path, monkeypatch, "import streamlit as st\n"
                                                         "st.write('second page')\n")
    assert [m.value for m in at.markdown] == ["second page"]
    assert [m.value for m in at.sidebar.markdown] == []


def test_enter_through_app_runs_the_bookmarked_page_inside_app_py(tmp_path, monkeypatch):
    at, pages_manager = bookmarked_second_page(tmp_path, monkeypatch, GUARDED)
    assert [m.value for m in at.sidebar.markdown] == ["shell of app.py"]
    assert [m.value for m in at.markdown if m.value.endswith("page")] == ["second page"]
    assert pages_manager.uses_pages_directory is False
    # Inside app.py it does nothing.
    assert ui_runner.enter_through_app() is False
