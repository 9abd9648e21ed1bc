"""Scrolling like a PACS viewer, in a real browser (headless Chromium).

The slice navigator (``cranioscan/ui/slice_nav.py``) against ``streamlit run
app.py`` with the tiny test model and the 28-slice demo phantom: ten key
presses 50 ms apart move exactly ten slices, so do ten mouse-wheel notches
over the image (and the page does not scroll), PageDown / PageUp move ten,
Home / End go to the ends, and the slider still works.
"""

import re

import pytest

from browser_support import (  # noqa: F401 - fixtures: browser
    BROWSER_MARKS, browser, open_app, settle, shown, slice_heading)

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

N_SLICES = 28  # the default demo case (cranioscan.demo)


def wait_slice(page, number, timeout=60_000):
    """Wait until the viewer's table heading names slice ``number`` and the page is idle."""
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('p, span, div')].some(
                e => e.innerText === 'Slice {number} probabilities')""", timeout=timeout)
    settle(page, quiet_ms=400)
    assert slice_heading(page) == number


def scroll_offsets(page):
    """scrollTop of every scrolled element of the page (the page's scroll state)."""
    return page.evaluate(
        """() => [document.scrollingElement, ...document.querySelectorAll('*')]
                 .filter(e => e && e.scrollTop > 0).map(e => e.scrollTop)""")


def test_keys_and_wheel_step_one_slice_each_at_repeat_rate(server, browser):
    page = open_app(browser, server)
    page.get_by_role("heading", name="Case viewer").click()  # focus on the page, not a widget

    page.keyboard.press("Home")
    wait_slice(page, 1)

    for _ in range(10):  # key repeat: 50 ms apart, faster than a rerun
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(50)
    wait_slice(page, 11)

    for _ in range(10):
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(50)
    wait_slice(page, 1)

    # Ten wheel notches over the image: ten slices, and the page stays where it was.
    box = page.locator('[data-testid="stImage"] img').first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    before = scroll_offsets(page)
    for _ in range(10):
        page.mouse.wheel(0, 100)
        page.wait_for_timeout(50)
    wait_slice(page, 11)
    assert scroll_offsets(page) == before
    for _ in range(10):
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(50)
    wait_slice(page, 1)
    assert scroll_offsets(page) == before

    # PageDown / PageUp: ten slices; End / Home: the ends.
    page.get_by_role("heading", name="Case viewer").click()
    page.keyboard.press("PageDown")
    wait_slice(page, 11)
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")  # past the end: stops at the last slice
    wait_slice(page, N_SLICES)
    page.keyboard.press("PageUp")
    wait_slice(page, N_SLICES - 10)
    page.keyboard.press("Home")
    wait_slice(page, 1)
    page.keyboard.press("End")
    wait_slice(page, N_SLICES)
    assert page.locator('[data-testid="stException"]').count() == 0

    # The slider still works, and the keys continue from where it went.
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowLeft")  # the slider's own key (the navigator leaves it alone)
    wait_slice(page, N_SLICES - 1)
    page.get_by_role("heading", name="Case viewer").click()
    page.keyboard.press("ArrowUp")
    wait_slice(page, N_SLICES - 2)
    assert shown(page, re.compile(r"^Opened on ")).is_visible()
    page.close()
