"""Text from the data is shown as text, in a real browser (issue 30, item 3).

Headless Chromium uploads a real DICOM upload to ``streamlit run app.py``:
a CT series, plus an MR series whose SeriesDescription is markdown with an
image pointing at a beacon HTTP server started here, bold text and a link.
The loader's note lists that other series in a warning. The test checks
that the beacon is never asked for anything, that the note shows the
description character for character, and that no image, bold text or
disguised link came out of it (a bare address may be autolinked by GFM,
reading as the address itself).

Skipped, with the reason, when ``/usr/bin/chromium`` or ``playwright`` is
missing.
"""

import http.server
import threading
import time

import numpy as np
import pytest

from browser_support import (  # noqa: F401 - fixtures: browser, shots
    BROWSER_MARKS, browser, open_app, settle, shots, shown)

from cranioscan.testing.factory import make_series, write_series

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


class _Beacon(http.server.BaseHTTPRequestHandler):
    """Records the path of every request it gets and answers 404."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.hits.append(self.path)
        self.send_error(404)

    do_HEAD = do_POST = do_GET

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def beacon():
    """A local HTTP server that records requests; yields ``(port, hits)``."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Beacon)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], httpd.hits
    httpd.shutdown()
    httpd.server_close()


def payload(port):
    """The SeriesDescription: an image, bold text and a link, all pointing at the beacon."""
    return (f"![b](http://127.0.0.1:{port}/beacon.png) **BOLD** "
            f"[link](http://127.0.0.1:{port}/x)")


def upload_files(folder, text):
    """A 4-slice CT series and a 1-image MR series described as ``text``; their paths."""
    ct = make_series(4, pixels=np.full((32, 32), 40.0), series_uid="1.2.826.0.1.3680043.8.498.51",
                     series_description="CT head")
    mr = make_series(1, pixels=np.zeros((32, 32)), series_uid="1.2.826.0.1.3680043.8.498.52",
                     modality="MR", series_description=text)
    return (write_series(ct, folder / "ct", prefix="ct")
            + write_series(mr, folder / "mr", prefix="mr"))


def test_series_description_markdown_is_shown_literally(server, browser, beacon, tmp_path):
    port, hits = beacon
    text = payload(port)
    page = open_app(browser, server)
    shown(page, "Upload DICOM").click()
    settle(page)
    page.locator('input[type="file"]').first.set_input_files(
        [str(p) for p in upload_files(tmp_path, text)])
    shown(page, "Loader notes").wait_for(timeout=120_000)
    settle(page)
    shown(page, "Loader notes").click()  # the notes open on demand
    settle(page)
    time.sleep(2.0)  # time for any image request to leave the browser

    assert hits == [], f"the browser fetched {hits} from the beacon"
    alerts = page.locator('[data-testid="stAlert"]')
    notes = [alerts.nth(k).inner_text() for k in range(alerts.count())]
    assert any(text in note for note in notes), notes
    assert page.locator(f'img[src*="127.0.0.1:{port}"]').count() == 0
    assert alerts.locator("strong, b, img").count() == 0
    # No disguised link: "[link](url)" stays text. A bare URL in the text may be
    # made clickable by GFM's autolinking, but then it reads as its own address.
    links = page.locator(f'a[href*="127.0.0.1:{port}"]')
    for k in range(links.count()):
        assert links.nth(k).inner_text() == links.nth(k).get_attribute("href")

