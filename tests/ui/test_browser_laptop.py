"""The viewer on a laptop screen: after an upload, the image, the slice control and the
current slice's probabilities are visible at 1366 x 768 without scrolling (real Chromium)."""

import numpy as np
import pytest

from browser_support import (  # noqa: F401 - fixtures: browser, shots
    BROWSER_MARKS, browser, settle, shots, shown)

from cranioscan.testing.factory import make_series, write_series

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

WIDTH, HEIGHT = 1366, 768


def upload_with_notes(folder):
    """A 12-slice CT series with one slice missing (a reading warning), a second
    series and a file that is not DICOM (notes that can wait)."""
    from cranioscan.testing.factory import head_like_slice

    ct = make_series(12, pixels=lambda i: head_like_slice(128, 128, z_frac=(i + 0.5) / 12, seed=i),
                     series_uid="1.2.826.0.1.3680043.8.498.61", series_description="CT head")
    del ct[5]  # a gap: about one slice missing
    other = make_series(2, pixels=np.zeros((32, 32)), series_uid="1.2.826.0.1.3680043.8.498.62",
                        modality="MR", series_description="localizer")
    paths = write_series(ct, folder / "ct", prefix="ct") + write_series(other, folder / "o",
                                                                        prefix="o")
    junk = folder / "notes.txt"
    junk.write_text("not a DICOM file")
    return paths + [junk]


def inside_viewport(box):
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT \
        and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH


def test_viewer_fits_1366_by_768_after_an_upload(server, browser, shots, tmp_path):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(server)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=180_000)
    settle(page)
    shown(page, "Upload DICOM").click()
    settle(page)
    page.locator('input[type="file"]').first.set_input_files(
        [str(p) for p in upload_with_notes(tmp_path)])
    shown(page, "Loader notes").wait_for(timeout=120_000)
    settle(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "viewer_1366x768.png"))

    image = page.locator('[data-testid="stImage"] img').first
    assert inside_viewport(image.bounding_box()), image.bounding_box()
    heading = shown(page, "probabilities")
    assert inside_viewport(heading.bounding_box()), heading.bounding_box()
    table = heading.locator("xpath=following::*[@data-testid='stDataFrame'][1]")  # its six rows
    assert inside_viewport(table.bounding_box()), table.bounding_box()
    slider = page.locator('[data-testid="stSlider"]').first
    assert inside_viewport(slider.bounding_box()), slider.bounding_box()
    # the warning that changes the reading stays visible, as one line
    missing = shown(page, "Missing slices")
    assert missing.is_visible() and missing.bounding_box()["height"] < 60
