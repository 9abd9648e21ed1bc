"""Shared parts of the real-browser tests: the server, Chromium and page helpers.

``server`` starts ``streamlit run app.py`` on a free localhost port with the
tiny test model (the ``app_env`` fixture): once per session for the modules
that need no settings of their own (``tests/ui/conftest.py``), once per module
for those that import it from here; ``browser`` launches Debian's
headless Chromium through Playwright. Test modules import the fixtures and
helpers they use, and set ``pytestmark = BROWSER_MARKS`` plus
``pytest.importorskip("playwright.sync_api", ...)``.
"""

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from cranioscan.launch import start_dashboard

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
# Read at import, before the app_env fixture points these at the test model.
_OUTER_ENV = {name: os.environ.get(name) for name in ("CRANIOSCAN_MODEL", "CRANIOSCAN_RUNS")}

#: Marks of every real-browser test module (skipped without Chromium).
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} not found: install Debian's chromium package "
                              "(.ci/run does) to run the real-browser test"),
]


def dashboard_env(app_env):
    """The server's environment: this process's, the test fixtures' settings and timing on."""
    env = {**os.environ, **app_env, "CRANIOSCAN_TIMING": "1", "PYTHONUNBUFFERED": "1"}
    if os.environ.get("CRANIOSCAN_SCREENSHOTS"):
        # Pictures for people: the model and runs given by the caller, else the shipped ones.
        shipped = (REPO / "model" / "best_model.keras").is_file()
        for name, value in _OUTER_ENV.items():
            if value:
                env[name] = value
            elif shipped:
                env.pop(name)
    return env


@pytest.fixture(scope="module")
def server(app_env, tmp_path_factory):
    """A server of this module's own (``streamlit run app.py``); yields its URL.

    For a module that sets a setting of its own (a review log, a PACS) before
    the server starts; the others share the session's server
    (``tests/ui/conftest.py``) by not importing this fixture.
    """
    with running_dashboard(dashboard_env(app_env),
                           tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@contextlib.contextmanager
def running_dashboard(env, log_path):
    """``streamlit run app.py`` on a free localhost port with ``env``; yields its URL.

    A server that does not come up fails the test with the tail of its log;
    the server is stopped (terminated, then killed after 15 s) on leaving.
    """
    log = open(log_path, "w")
    try:
        proc, url = start_dashboard(env, timeout=90, stdout=log)
    except RuntimeError as exc:
        log.close()
        pytest.fail(f"{exc}; log:\n{Path(log_path).read_text()[-3000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

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


def open_demo_options(page, tries=3):
    """Open the demo-case list. With the overlay on, the first click can land while the
    slice view redraws and the list does not open (a known glitch): click again."""
    for _ in range(tries):
        demo_picker(page).click()
        try:
            page.get_by_role("option").first.wait_for(timeout=3_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: not open yet
            continue
    raise AssertionError("the demo-case list did not open")


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
