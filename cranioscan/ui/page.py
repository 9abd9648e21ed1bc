"""The preamble every dashboard page runs: :func:`page_setup`."""

__all__ = ["page_setup"]

from . import caches
from .streamlit_fixes import enter_through_app


def page_setup(model=True):
    """Run a page's preamble; returns ``(cfg, predictor, model_error)``.

    A bookmarked page address on a fresh server runs ``app.py`` first
    (:func:`~.streamlit_fixes.enter_through_app`); then the settings and the
    model, loaded once per server process (``predictor`` None and
    ``model_error`` a message when it cannot be loaded). ``model=False``: a
    page that shows no model output skips it (``(cfg, None, None)``).
    """
    enter_through_app()
    cfg = caches.config()
    if not model:
        return cfg, None, None
    predictor, model_error = caches.predictor(cfg)
    return cfg, predictor, model_error
