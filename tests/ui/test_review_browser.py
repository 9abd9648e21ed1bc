"""The reader's review in a real browser: saved in the Case viewer, seen on the Validation page.

Headless Chromium against ``streamlit run app.py`` with the tiny test model
(the server and browser helpers of ``test_browser.py``) and a review log of
its own (``CRANIOSCAN_REVIEW_DB`` in a temporary folder): the reader types
a name, answers every flagged finding of the default demo case, writes a
note and saves; the history lists the entry; the downloaded CSV holds it;
the Validation page's "Reader agreement" counts it. Skipped like
``test_browser.py`` without Chromium or Playwright.
"""

import csv
import os

import pytest

from browser_support import (  # noqa: F401 - fixtures: server, browser
    BROWSER_MARKS, browser, open_app, server, settle, shown)

from cranioscan.review import ReviewLog

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module", autouse=True)
def review_db(tmp_path_factory):
    """A fresh review log for this module's server (set before ``server`` starts it)."""
    path = tmp_path_factory.mktemp("review") / "reviews.sqlite"
    saved = os.environ.get("CRANIOSCAN_REVIEW_DB")
    os.environ["CRANIOSCAN_REVIEW_DB"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("CRANIOSCAN_REVIEW_DB", None)
    else:
        os.environ["CRANIOSCAN_REVIEW_DB"] = saved


def test_review_saved_exported_and_shown_on_validation(server, browser, review_db, tmp_path):
    page = open_app(browser, server)
    shown(page, "Reader's review").scroll_into_view_if_needed()
    form = page.locator('[data-testid="stForm"]')
    assert form.count() == 1

    # The name, once; then an answer to every flag: agree, except the first one.
    page.get_by_label("Reader", exact=True).fill("Dr Ada")
    page.get_by_label("Reader", exact=True).press("Enter")
    settle(page)
    groups = form.get_by_role("radiogroup")
    n_flags = groups.count()
    for k in range(n_flags):
        groups.nth(k).get_by_text("Disagree" if k == 0 else "Agree", exact=True).click()
    form.get_by_label("Note").fill("checked in the browser")
    form.get_by_role("button", name="Save review").click()
    settle(page)
    shown(page, "Review saved (entry 1").wait_for(timeout=60_000)
    shown(page, "Reviews of this series (1; the newest first is the current one)").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0

    # What the file holds: the reader, the demo case's UIDs, every answer given.
    (saved,) = ReviewLog(review_db).entries()
    assert saved.reader == "Dr Ada" and saved.note == "checked in the browser"
    flagged = [f for f in saved.findings if f.flagged]
    assert len(flagged) == n_flags
    assert [f.answer for f in flagged] == ["disagree"] + ["agree"] * (n_flags - 1)

    # The download is the log as CSV.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the review log (CSV)").click()
    target = tmp_path / "log.csv"
    info.value.save_as(target)
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["reader"] for r in rows} == {"Dr Ada"}
    assert {r["series_uid"] for r in rows} == {saved.series_uid}
    assert [r["answer"] for r in rows if r["flagged"] == "1"] == [f.answer for f in flagged]

    # The Validation page counts it.
    page.get_by_role("link", name="Validation").first.click()
    shown(page, "Reader agreement").wait_for(timeout=180_000)
    settle(page, timeout=300_000)
    shown(page, "1 review by 1 reader: each reader counts once per series").wait_for()
    if n_flags:
        shown(page, "Disagreements (1)").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
