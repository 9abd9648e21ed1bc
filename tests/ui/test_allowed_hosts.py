"""DNS rebinding: the real server refuses a WebSocket whose Host is not a loopback name.

A page on ``evil.example`` whose DNS answer is switched to 127.0.0.1 makes
the browser send ``Host: evil.example:PORT`` with a matching ``Origin``, so
the same-origin check alone lets it in. ``server.allowedHosts`` in
``.streamlit/config.toml`` names the loopback hosts only. The test starts
``streamlit run app.py`` and speaks the WebSocket upgrade by hand, so that
the Host and Origin headers are exactly the attacker's.
"""

import socket
from urllib.parse import urlparse

import pytest

from browser_support import running_dashboard

pytestmark = pytest.mark.slow

#: A WebSocket key as RFC 6455 section 4.1 asks for (16 bytes, base64).
_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture(scope="module")
def dashboard(app_env, tmp_path_factory):
    """``streamlit run app.py`` with the repository's config; yields ``(host, port)``."""
    import os

    with running_dashboard({**os.environ, **app_env},
                           tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        parsed = urlparse(url)
        yield parsed.hostname, parsed.port


def upgrade_status(address, host_header, origin):
    """HTTP status code of a WebSocket upgrade to ``/_stcore/stream``.

    Args:
        address: ``(ip, port)`` the TCP connection goes to.
        host_header: the ``Host`` header sent (e.g. ``"evil.example:8501"``).
        origin: the ``Origin`` header sent.

    Returns:
        The status code of the server's first response line (101 = accepted),
        or 0 when the server closed the connection without a status line.
    """
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host_header}\r\n"
               f"Origin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {_KEY}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: streamlit\r\n\r\n")
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request.encode("ascii"))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    return int(line.split()[1]) if line.startswith("HTTP/") else 0


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_loopback_host_gets_a_websocket(dashboard, name):
    # The control: the same request from the app's own address is accepted,
    # so the refusal below is the Host check and not a malformed upgrade.
    ip, port = dashboard
    assert upgrade_status((ip, port), f"{name}:{port}", f"http://{name}:{port}") == 101


@pytest.mark.parametrize("name", ["evil.example", "10.0.0.5", "localhost.evil.example"])
def test_foreign_host_with_matching_origin_gets_no_websocket(dashboard, name):
    ip, port = dashboard
    assert upgrade_status((ip, port), f"{name}:{port}", f"http://{name}:{port}") != 101
