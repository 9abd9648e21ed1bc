"""Sign-in in a real browser: Streamlit's st.login against a real OpenID Connect provider.

The test starts an OpenID Connect provider of its own (``oidc-provider-mock``
from PyPI: discovery, authorization-code flow, signed ID tokens, all on
127.0.0.1, no internet), writes an ``[auth]`` secrets file for it into a
temporary folder (Streamlit's ``secrets.files`` option, through
``STREAMLIT_SECRETS_FILES``), starts ``streamlit run app.py`` with the tiny
test model and drives headless Chromium through Playwright:

- a visitor who is not signed in sees only the sign-in page, whatever page
  address they ask for (no page links, no image, no model, no review);
- after signing in at the provider, the review is saved under the signed-in
  account (its e-mail claim), not a typed name, and downloading the review
  log is recorded in the audit log under that account.

Skipped like the other browser tests without Chromium or Playwright, and
without ``oidc-provider-mock`` (requirements-dev.txt).
"""

import os
import secrets

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
oidc = pytest.importorskip("oidc_provider_mock",
                           reason="oidc-provider-mock is not installed (requirements-dev.txt)")

from browser_support import (  # noqa: E402,F401 - fixture: browser
    BROWSER_MARKS, browser, running_dashboard, settle, shown)

from cranioscan.review import ReviewLog  # noqa: E402
from cranioscan.review.audit import AuditLog  # noqa: E402

pytestmark = BROWSER_MARKS

EMAIL = "ada.lovelace@hospital.example"


@pytest.fixture(scope="module")
def provider():
    """A real OpenID Connect provider on 127.0.0.1 with one user; yields its issuer URL."""
    saved = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback, for the test only
    user = oidc.User(sub="ada", claims={"email": EMAIL, "name": "Ada Lovelace"})
    with oidc.run_server_in_thread(port=0, user_claims=[user]) as server:
        yield f"http://127.0.0.1:{server.server_port}"
    if saved is None:
        os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
    else:
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = saved


@pytest.fixture(scope="module")
def signed_server(app_env, provider, tmp_path_factory):
    """``streamlit run app.py`` with ``[auth]`` for ``provider``; yields ``(url, review db, audit db)``."""
    folder = tmp_path_factory.mktemp("signin")
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'  # Streamlit fills in its port
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "cranioscan-test"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    os.chmod(secrets_file, 0o600)
    review_db, audit_db = folder / "logs" / "reviews.sqlite", folder / "logs" / "audit.sqlite"
    env = {**os.environ, **app_env, "PYTHONUNBUFFERED": "1",
           "STREAMLIT_SECRETS_FILES": str(secrets_file),
           "CRANIOSCAN_REVIEW_DB": str(review_db), "CRANIOSCAN_AUDIT_DB": str(audit_db)}
    log_path = folder / "streamlit.log"
    with running_dashboard(env, log_path) as url:
        yield url, review_db, audit_db, log_path


def assert_only_the_sign_in_page(page):
    shown(page, "Sign in with your hospital account to continue.").wait_for(timeout=120_000)
    settle(page)
    assert page.get_by_role("button", name="Sign in").count() == 1
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert page.get_by_role("link", name="Validation").count() == 0
    assert page.locator('[data-testid="stImage"]').count() == 0
    body = page.locator("body").inner_text()
    for app_text in ("Case viewer", "Reader's review", "Model:", "Attention maps", "Demo case"):
        assert app_text not in body, app_text
    assert page.locator('[data-testid="stException"]').count() == 0


def test_visitor_not_signed_in_sees_only_the_sign_in_page(signed_server, browser):
    url = signed_server[0]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        for path in ("", "/attention", "/validation", "/model_card", "/no_such_page"):
            page.goto(url + path)
            assert_only_the_sign_in_page(page)
    finally:
        context.close()


def test_signed_in_reader_is_recorded_in_the_review_and_audit_logs(signed_server, provider,
                                                                     browser, tmp_path):
    url, review_db, audit_db, log_path = signed_server
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(url)
        assert_only_the_sign_in_page(page)
        page.get_by_role("button", name="Sign in").click()
        # The provider's own authorization page: pick the user there.
        page.wait_for_url(f"{provider}/**", timeout=60_000)
        page.get_by_role("button", name="ada", exact=True).click()
        # Back in the dashboard, signed in.
        page.wait_for_url(f"{url}/**", timeout=60_000)
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=180_000)
        settle(page)
        shown(page, f"Signed in as {EMAIL}").wait_for()

        # The review: no name to type; the reader is the account.
        shown(page, "Reader's review").scroll_into_view_if_needed()
        assert page.get_by_label("Reader", exact=True).count() == 0
        shown(page, f"{EMAIL} (signed in)").wait_for()
        form = page.locator('[data-testid="stForm"]')
        groups = form.get_by_role("radiogroup")
        for k in range(groups.count()):
            groups.nth(k).get_by_text("Agree", exact=True).click()
        form.get_by_role("button", name="Save review").click()
        settle(page)
        shown(page, "Review saved (entry 1").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        (saved,) = ReviewLog(review_db).entries()
        assert saved.reader == EMAIL

        # A download is recorded in the audit log under the account.
        with page.expect_download() as info:
            page.get_by_role("button", name="Download the review log (CSV)").click()
        info.value.save_as(tmp_path / "log.csv")
        assert EMAIL in (tmp_path / "log.csv").read_text()
        events = AuditLog(audit_db).events()
        assert [(e.who, e.action, e.detail) for e in events] == [
            (EMAIL, "download", "review log (CSV)")]

        # Another browser, not signed in, still sees only the sign-in page.
        stranger = browser.new_context()
        try:
            other = stranger.new_page()
            other.goto(url)
            assert_only_the_sign_in_page(other)
        finally:
            stranger.close()
    except Exception:
        print(log_path.read_text()[-4000:])
        raise
    finally:
        context.close()
