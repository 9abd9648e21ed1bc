"""Downloads and readable maps in a real browser (headless Chromium), and their screenshots.

Uses the server, browser and helpers of ``browser_support.py``. Every
download is clicked as a user would and the file the browser receives is
read back: the CSV files with pandas, the PNG with Pillow, the PDF with
pypdf. With ``CRANIOSCAN_SCREENSHOTS=docs/screenshots`` (and the shipped
model) it also writes the pictures of the real-patient demo cases::

    CRANIOSCAN_SCREENSHOTS=docs/screenshots python3 -m pytest tests/ui/test_browser_maps.py
"""

import io
import os
import re

import numpy as np
import pytest

from browser_support import (  # noqa: F401 - fixtures: browser, shots
    BROWSER_MARKS, browser, demo_picker, goto_slice, open_app, open_demo_options, settle, shots, shown)

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


#: Largest screenshot kept in the repository, in bytes.
MAX_PICTURE_BYTES = 400_000


def shrink_png(path, limit=MAX_PICTURE_BYTES):
    """Re-save a PNG over ``limit`` bytes with an adaptive 256-colour palette (no dithering)."""
    from PIL import Image

    if path.stat().st_size <= limit:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    small.save(path, optimize=True)


@pytest.fixture(scope="module", autouse=True)
def modest_pictures(shots):  # noqa: F811 - fixture from test_browser
    """After the module: every screenshot in the folder (test_browser's too) kept under the cap."""
    yield
    for path in sorted(shots.glob("*.png")):
        shrink_png(path)


def download(page, label, timeout=180_000):
    """Click the download button called ``label``; returns the bytes the browser saved."""
    button = page.get_by_test_id("stDownloadButton").filter(has_text=label).first
    with page.expect_download(timeout=timeout) as info:
        button.click()
    path = info.value.path()
    return info.value.suggested_filename, open(path, "rb").read()


def test_downloads_from_the_viewer(server, browser):  # noqa: F811 - fixtures from test_browser
    import pandas as pd
    from PIL import Image
    from pypdf import PdfReader

    page = open_app(browser, server)
    number = int(re.search(r"\d+", shown(page, re.compile(r"^Slice \d+ probabilities$"))
                           .inner_text()).group())
    name, data = download(page, "Slices (CSV)")
    assert name.endswith("_slices.csv")
    assert b"# Model: CranioScan tiny test model" in data and b"# Thresholds (model card): any " in data
    table = pd.read_csv(io.BytesIO(data), comment="#")
    assert table["slice"].iloc[0] == 1 and table["prob_any"].between(0, 1).all()

    name, data = download(page, "Summary (CSV)")
    summary = pd.read_csv(io.BytesIO(data), comment="#")
    assert list(summary["finding"])[0] == "Any hemorrhage" and "slices_above_threshold" in summary

    name, data = download(page, "View (PNG)")
    assert name.endswith(f"_slice{number}.png")
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    shown_width = page.locator('[data-testid="stImage"] img').first.evaluate("img => img.naturalWidth")
    assert image.shape[1] == shown_width and image.shape[0] > shown_width  # the model's footer below

    name, data = download(page, "Report (PDF)")
    assert name.endswith("_report.pdf") and data[:5] == b"%PDF-"
    text = " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())
    assert "CranioScan tiny test model" in text and "Series summary" in text
    assert "not for clinical use" in text.lower()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_colour_bar_under_the_map_and_real_patient_screenshots(server, browser, shots):  # noqa: F811
    """Grad-CAM on real CT-ICH patients: the colour bar is drawn; pictures of them and their maps."""
    from PIL import Image

    page = open_app(browser, server)
    image = page.locator('[data-testid="stImage"] img').first
    plain_height = image.evaluate("img => img.naturalHeight")
    for title, slice_number, picture in (
            ("Real patient: intraparenchymal", None, "viewer_real_intraparenchymal.png"),
            ("Real patient: no hemorrhage", None, "viewer_real_normal.png")):  # epidural: test_browser
        open_demo_options(page)
        page.get_by_role("option", name=re.compile(title)).click()
        shown(page, re.compile("Radiologists' labels of this patient")).wait_for(timeout=180_000)
        settle(page, timeout=300_000)
        if slice_number:
            goto_slice(page, slice_number)
        if not page.get_by_text("ResNet layer").filter(visible=True).count():
            shown(page, "Grad-CAM heatmap").click()
            shown(page, "ResNet layer").wait_for(timeout=120_000)
        settle(page, timeout=300_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        # The colour bar strip is drawn below the slice when the map is on.
        assert image.evaluate("img => img.naturalHeight") > plain_height
        page.screenshot(path=str(shots / picture))
        shrink_png(shots / picture)
        assert (shots / picture).stat().st_size <= MAX_PICTURE_BYTES, picture
        assert Image.open(shots / picture).size == (1440, 1000)

    page.get_by_role("link", name="Attention maps").first.click()
    shown(page, "Four ways to ask").wait_for(timeout=180_000)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 7",
        timeout=300_000)  # the colour bar, four methods and two ResNet stages
    settle(page, timeout=300_000)
    shown(page, "ring marks each map's peak").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(shots / "attention_real.png"), full_page=True)
    shrink_png(shots / "attention_real.png")
    assert (shots / "attention_real.png").stat().st_size <= MAX_PICTURE_BYTES
    page.close()
