"""The dashboard tests' shared server.

Starting ``streamlit run app.py`` and its first script run (TensorFlow, the
model, the default demo case) is the largest fixed cost of a real-browser test
module. The modules that need no setting of their own share this one server;
a module that sets one (a review log, a PACS) imports the module-scoped
``server`` of ``browser_support`` instead, which takes precedence.
"""

import pytest

from browser_support import dashboard_env, running_dashboard


@pytest.fixture(scope="session")
def server(app_env, tmp_path_factory):
    """``streamlit run app.py`` on a free localhost port for the session; yields its URL."""
    with running_dashboard(dashboard_env(app_env),
                           tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url
