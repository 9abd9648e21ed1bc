"""Series of any length in the Case viewer and on the Attention maps page.

Real DICOM (``cranioscan.testing.factory``) uploaded through Streamlit's
AppTest with the tiny model of ``conftest.py``: a single slice (no slider,
every panel shown), two slices, and a long thin-slice series (300 slices of
0.625 mm on a small matrix). Also the navigator's value parsing and the
viewer's note on the slice it opened on.
"""

import os

import numpy as np
import pytest

from cranioscan.testing.factory import head_like_slice, make_series, to_bytes
from cranioscan.labels import CLASSES
from cranioscan.visualize import case_view
from cranioscan.ui import slice_nav

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app.py")


def dicom_files(n, step=5.0, size=64):
    """``n`` real CT slices ``step`` mm apart as ``(name, bytes, mime)`` uploads."""
    datasets = make_series(n, dz=step, thickness=step, spacing=(3.5, 3.5), intercept=-1024.0,
                           pixels=lambda i: head_like_slice(size, size, z_frac=(i + 0.5) / n, seed=i))
    return [(f"slice_{i:03d}.dcm", to_bytes(ds), "application/dicom") for i, ds in enumerate(datasets)]


def upload(n, step=5.0):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.radio(key="source").set_value("Upload DICOM").run()
    at.file_uploader(key="uploads").set_value(dicom_files(n, step)).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at, kind):
    return [str(e.value) for e in getattr(at, kind)]


def panels_shown(at, n):
    """Image, slice table, chart, summary and metadata are all on the viewer."""
    assert len(at.image) == 1
    frames = [d.value for d in at.dataframe]
    assert any("Probability" in f.columns for f in frames)
    summary = next(f for f in frames if "Slices above threshold" in f.columns)
    assert len(summary) == len(CLASSES)
    assert any("Field" in f.columns for f in frames)  # metadata
    # The chart along the series; a single slice has its table instead (an empty chart
    # inviting a click says nothing).
    assert len(at.get("plotly_chart")) == (1 if n > 1 else 0)
    assert any(c.startswith("Opened on") and f"of {n}" in c for c in texts(at, "caption"))


def test_nav_target_parses_and_clamps():
    assert slice_nav.nav_target({"index": 4, "seq": 7}, 10) == (4, 7)
    assert slice_nav.nav_target({"index": 40, "seq": 1}, 10) == (9, 1)
    assert slice_nav.nav_target({"index": -3, "seq": 2}, 10) == (0, 2)
    assert slice_nav.nav_target({"index": 0}, 1) == (0, 0)
    assert slice_nav.nav_target(None, 10) is None
    assert slice_nav.nav_target({"seq": 1}, 10) is None
    assert slice_nav.nav_target({"index": "x"}, 10) is None


def test_frontend_ships_with_the_package():
    assert (slice_nav.FRONTEND / "index.html").is_file()
    assert "nav.js" in (slice_nav.FRONTEND / "index.html").read_text()
    import tomllib

    with open(os.path.join(os.path.dirname(APP), "pyproject.toml"), "rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["cranioscan"]
    assert "**/*.html" in patterns and "**/*.js" in patterns


def test_start_note_says_why():
    probs = np.full((30, 6), 0.1)
    assert case_view.start_note(probs, {"any": 0.5}) == (
        "Opened on the middle slice, 16 of 30: no slice reaches the 'any hemorrhage' threshold (0.500).")
    probs[11, 0] = 0.93
    assert case_view.start_note(probs, {"any": 0.5}) == (
        "Opened on slice 12 of 30: the slice with the highest 'any hemorrhage' probability "
        "(0.930, threshold 0.500).")


def test_single_slice_shows_every_panel_without_a_slider(app_env):
    at = upload(1)
    panels_shown(at, 1)
    assert len(at.slider) == 0 or all(s.key != "slice_no" for s in at.slider)
    assert "Single slice: nothing to scroll." in texts(at, "caption")
    assert "**Slice 1 probabilities**" in texts(at, "markdown")
    # The Attention maps page on the same single slice.
    at.switch_page("pages/attention.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert all(s.key != "att_slice" for s in at.slider)
    assert any(c.startswith("Slice 1 of 1") for c in texts(at, "caption"))
    assert len(at.image) >= 4


def test_two_slices_scroll(app_env):
    at = upload(2)
    panels_shown(at, 2)
    slider = at.slider(key="slice_no")
    assert (slider.min, slider.max) == (1, 2)
    at.slider(key="slice_no").set_value(1).run()
    assert "**Slice 1 probabilities**" in texts(at, "markdown")
    at.button(key="next").click().run()
    assert "**Slice 2 probabilities**" in texts(at, "markdown")
    assert at.button(key="next").disabled
    at.switch_page("pages/attention.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="att_slice").max == 2 and at.slider(key="att_slice").value == 2


@pytest.mark.slow
def test_long_thin_series_loads_scores_and_scrolls(app_env):
    at = upload(300, step=0.625)
    panels_shown(at, 300)
    assert at.slider(key="slice_no").max == 300
    case = at.session_state["cs_case"]
    assert case.series.n_slices == 300
    assert np.allclose(np.diff(case.series.positions), 0.625)
    at.slider(key="slice_no").set_value(299).run()
    assert "**Slice 299 probabilities**" in texts(at, "markdown")
    assert not at.exception
