"""Who may reach the dashboard: the loopback rule without sign-in, the opt-in, the sign-in gate.

Pure checks of ``cranioscan.ui.auth.exposure`` and ``is_loopback``, and
``app.py`` through Streamlit's AppTest with the server address set as
``--server.address`` sets it (the gate stops the run before the model loads).
The real sign-in through an OpenID Connect provider is in
``test_browser_sign_in.py``.
"""

from pathlib import Path

import pytest

from cranioscan.ui.auth import ENV_ALLOW_NETWORK, exposure, is_loopback

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1",
                                     "[::1]", "::ffff:127.0.0.1"])
def test_loopback_addresses(address):
    assert is_loopback(address)
    assert exposure(address, sign_in=False, environ={}).allowed


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.5",
                                     "cranioscan.hospital.example", "127.0.0.1.nip.io"])
def test_network_addresses_are_refused_without_sign_in(address):
    assert not is_loopback(address)
    access = exposure(address, sign_in=False, environ={})
    assert not access.allowed and not access.sign_in
    assert "Refusing to serve without sign-in" in access.message
    assert ENV_ALLOW_NETWORK in access.message and "[auth]" in access.message
    if not address:  # Streamlit then listens everywhere: said so
        assert "every network interface" in access.message


def test_the_opt_in_serves_with_a_banner():
    access = exposure("0.0.0.0", sign_in=False, environ={ENV_ALLOW_NETWORK: "1"})
    assert access.allowed and not access.sign_in
    assert "without sign-in on 0.0.0.0" in access.message
    for off in ("0", "", "no"):
        assert not exposure("0.0.0.0", False, {ENV_ALLOW_NETWORK: off}).allowed


def test_sign_in_allows_any_address_without_a_banner():
    for address in ("0.0.0.0", "127.0.0.1"):
        access = exposure(address, sign_in=True, environ={})
        assert access.allowed and access.sign_in and access.message == ""


@pytest.fixture
def server_address():
    """Set ``server.address`` as ``streamlit run --server.address`` does; restored after."""
    from streamlit import config

    saved = config.get_option("server.address")
    yield lambda value: config.set_option("server.address", value)
    config.set_option("server.address", saved)


def test_app_refuses_on_the_network_without_sign_in(server_address, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv(ENV_ALLOW_NETWORK, raising=False)
    server_address("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and "Refusing to serve without sign-in on 0.0.0.0" in at.error[0].value
    assert not at.sidebar.markdown and not at.warning  # no model, no page: only the refusal
    assert [t.value for t in at.title] == ["CranioScan"] and not at.subheader and not at.button


def test_app_asks_for_sign_in_first_when_auth_is_configured(server_address):
    from streamlit.testing.v1 import AppTest

    server_address("0.0.0.0")  # sign-in makes a network address acceptable
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                          "cookie_secret": "x" * 32, "client_id": "cranioscan",
                          "client_secret": "s", "server_metadata_url":
                          "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.error and not at.sidebar.markdown  # nothing of the app before sign-in
    assert [s.value for s in at.subheader] == ["Sign in"]


def test_app_serves_on_the_network_by_the_opt_in_and_says_so(app_env, server_address, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ENV_ALLOW_NETWORK, "1")
    server_address("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error
    banners = [w.value for w in at.warning if "without sign-in" in w.value]
    assert len(banners) == 1 and "served without sign-in on 0.0.0.0" in banners[0]
    assert "Case viewer" in [h.value for h in at.subheader]  # the app itself is served
