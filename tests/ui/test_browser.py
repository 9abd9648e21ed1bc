"""The dashboard in a real browser: headless Chromium against ``streamlit run app.py``.

Starts the server on a free localhost port with the tiny test model, then
drives Debian's Chromium through Playwright: the demo case loads with its
probabilities, the arrow key and the next button move the slice, Grad-CAM
turns on, a second browser session keeps its own case, and every page
renders. Screenshots go to a temporary folder, or to the folder named by
``CRANIOSCAN_SCREENSHOTS``; in that case the model and runs named by
``CRANIOSCAN_MODEL`` / ``CRANIOSCAN_RUNS``, else the shipped model
(``model/best_model.keras``) and its runs, are used when present, which is
how the README's pictures are made::

    CRANIOSCAN_SCREENSHOTS=docs/screenshots python3 -m pytest tests/ui/test_browser.py

Skipped, with the reason, when ``/usr/bin/chromium`` or the ``playwright``
package is missing (``.ci/run`` installs Chromium).
"""

import os
import re

import pytest

from browser_support import (  # noqa: F401 - fixtures: browser, shots
    BROWSER_MARKS, browser, demo_picker, goto_slice, open_app, settle, shots, shown,
    slice_heading)

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def test_viewer_slice_keys_gradcam_and_pages(server, browser, shots, app_env):
    page = open_app(browser, server)
    # The demo case shows with its probabilities, the notice and the chart.
    assert demo_picker(page).input_value() == "Demo: subdural hematoma"
    shown(page, "Crescent of acute blood").wait_for()
    shown(page, "not for clinical use").wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1
    start = slice_heading(page)

    # The keyboard: an arrow key moves one slice (focus on the page body).
    page.get_by_role("heading", name="Case viewer").click()
    key, step = ("ArrowLeft", -1) if start > 1 else ("ArrowRight", 1)
    page.keyboard.press(key)
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('p, span, div')].some(
                e => e.innerText === 'Slice {start + step} probabilities')""", timeout=30_000)
    settle(page)
    assert slice_heading(page) == start + step

    # The previous / next buttons.
    target = start + step
    button = page.get_by_role("button", name=re.compile("◀" if target > 1 else "▶"))
    button.first.click()
    settle(page)
    assert slice_heading(page) == target + (-1 if target > 1 else 1)

    if os.environ.get("CRANIOSCAN_SCREENSHOTS"):
        # Pictures for the README: the slice where the known bleed is largest, outlined.
        from cranioscan import demo

        case = demo.load_demo(demo.DEFAULT_CASE, app_env["CRANIOSCAN_CACHE"])
        area = sum(mask.sum(axis=(1, 2)) for mask in case.masks.values())
        goto_slice(page, int(area.argmax()) + 1)
        shown(page, "Known lesion outline").click()
        settle(page)

    # Grad-CAM on: the method picker appears and the image is redrawn.
    shown(page, "Grad-CAM heatmap").click()
    shown(page, "ResNet layer").wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(shots / "viewer.png"))

    # The other pages render without an exception.
    for title, marker, name in (("Attention maps", "Four ways to ask", "attention.png"),
                                ("Validation", "Precision–recall", "validation.png"),
                                ("Model card", "Intended use", "model_card.png")):
        page.get_by_role("link", name=title).first.click()
        shown(page, marker).wait_for(timeout=180_000)
        if name == "attention.png":  # four methods and two ResNet stages
            page.wait_for_function(
                "() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 6",
                timeout=300_000)
        settle(page, timeout=300_000)
        assert page.locator('[data-testid="stException"]').count() == 0, title
        page.screenshot(path=str(shots / name))
    page.close()


def test_real_patient_demo_case(server, browser, shots):
    """A real CT-ICH patient from the demo picker: labels, credit, and the map on it."""
    page = open_app(browser, server)
    demo_picker(page).click()
    page.get_by_role("option", name=re.compile("Real patient: epidural")).click()
    shown(page, "radiologists marked an epidural hematoma").wait_for(timeout=180_000)
    settle(page, timeout=300_000)
    shown(page, "Radiologists' labels of this patient: Epidural").wait_for()
    assert page.get_by_text(re.compile("CC BY 4.0")).count() >= 1
    goto_slice(page, 18)  # within the radiologists' positive slices (13-26 of 34)
    shown(page, "Grad-CAM heatmap").click()
    shown(page, "ResNet layer").wait_for(timeout=60_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(shots / "viewer_real.png"))
    page.close()


def test_two_sessions_keep_their_own_case(server, browser):
    first = open_app(browser, server)
    second = open_app(browser, server)
    # The second session switches to another demo case.
    demo_picker(second).click()
    second.get_by_role("option", name="Demo: no hemorrhage").click()
    shown(second, "A head without hemorrhage").wait_for(timeout=120_000)
    settle(second)
    # The first session still shows its own case, also after a rerun of its own.
    before = slice_heading(first)
    first.get_by_role("button", name=re.compile("◀" if before > 1 else "▶")).first.click()
    settle(first)
    assert slice_heading(first) != before
    assert first.get_by_text("Crescent of acute blood").count() >= 1
    assert first.get_by_text("A head without hemorrhage").count() == 0
    first.close()
    second.close()
