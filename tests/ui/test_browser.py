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
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
# Read at import, before the app_env fixture points these at the test model.
_OUTER_ENV = {name: os.environ.get(name) for name in ("CRANIOSCAN_MODEL", "CRANIOSCAN_RUNS")}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} not found: install Debian's chromium package "
                              "(.ci/run does) to run the real-browser test"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(app_env, tmp_path_factory):
    """``streamlit run app.py`` on a free localhost port; yields its URL."""
    port = _free_port()
    env = {**os.environ, **app_env, "CRANIOSCAN_TIMING": "1", "PYTHONUNBUFFERED": "1"}
    if os.environ.get("CRANIOSCAN_SCREENSHOTS"):
        # Pictures for people: the model and runs given by the caller, else the shipped ones.
        shipped = (REPO / "model" / "best_model.keras").is_file()
        for name, value in _OUTER_ENV.items():
            if value:
                env[name] = value
            elif shipped:
                env.pop(name)
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start in 90 s; log:\n{log_path.read_text()[-3000:]}")
    if proc.poll() is not None:
        pytest.fail(f"streamlit exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("CRANIOSCAN_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def settle(page, timeout=120_000, quiet_ms=1500):
    """Wait until the page has shown no spinner, skeleton or stale element for ``quiet_ms``.

    (A script run shows a spinner per slow step, with short gaps between
    them, so one quiet moment is not enough.)
    """
    page.wait_for_function(
        """(quietMs) => {
            const busy = document.querySelector(
                '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSpinner"], '
                + '[data-testid="stSkeleton"], [data-stale="true"]');
            const now = performance.now();
            if (busy || window.__csQuietSince === undefined) {
                window.__csQuietSince = busy ? undefined : now;
                return false;
            }
            return now - window.__csQuietSince >= quietMs;
        }""", arg=quiet_ms, timeout=timeout, polling=100)
    page.evaluate("() => { window.__csQuietSince = undefined; }")


def shown(page, text):
    """First visible element with ``text`` (a string or a compiled regex)."""
    return page.get_by_text(text).filter(visible=True).first


def demo_picker(page):
    """The demo-case select box (a combobox input holding the chosen title)."""
    return page.get_by_role("combobox", name=re.compile("Demo case")).first


def slice_heading(page):
    """Number N of the 'Slice N probabilities' heading."""
    text = shown(page, re.compile(r"^Slice \d+ probabilities$")).inner_text()
    return int(re.search(r"\d+", text).group())


def goto_slice(page, number):
    """Step with the arrow keys to slice ``number`` (1-based)."""
    page.get_by_role("heading", name="Case viewer").click()
    for _ in range(200):
        now = slice_heading(page)
        if now == number:
            return
        page.keyboard.press("ArrowLeft" if now > number else "ArrowRight")
        expected = now - 1 if now > number else now + 1
        page.wait_for_function(
            f"""() => [...document.querySelectorAll('p, span, div')].some(
                    e => e.innerText === 'Slice {expected} probabilities')""", timeout=60_000)
        settle(page, quiet_ms=300)
    raise AssertionError(f"could not reach slice {number}")


def open_app(browser, url):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(url)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=180_000)
    settle(page)
    return page


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
        from cranioscan.ui import demo

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
