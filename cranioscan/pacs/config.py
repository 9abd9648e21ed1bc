"""Where the PACS is and how to reach it: :class:`PacsConfig` from the environment.

Environment variables (all optional except the URL):

* ``CRANIOSCAN_DICOMWEB_URL``: the DICOMweb root, e.g.
  ``https://pacs.example.org/dicom-web`` (QIDO-RS, WADO-RS and STOW-RS
  under it);
* ``CRANIOSCAN_DICOMWEB_USER`` and ``CRANIOSCAN_DICOMWEB_PASSWORD``: HTTP
  basic authentication;
* ``CRANIOSCAN_DICOMWEB_TOKEN``: a bearer token (instead of basic);
* ``CRANIOSCAN_DICOMWEB_CA_BUNDLE``: a CA bundle file to verify the server's
  TLS certificate; ``CRANIOSCAN_DICOMWEB_VERIFY=0`` turns verification off
  (test servers only; a warning says so while it is off);
* ``CRANIOSCAN_DICOMWEB_ALLOW_HTTP=1``: allow plain ``http://`` to a host
  that is not this machine (images, patient names and credentials then
  cross the network unencrypted); without it only ``https://`` or a
  loopback address (127.0.0.1, ::1, localhost) is accepted;
* ``CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT`` / ``CRANIOSCAN_DICOMWEB_READ_TIMEOUT``:
  seconds (defaults 5 and 60); every request gives up after them.

Credentials never go in the URL: ``https://user:password@host/...`` is
refused (the URL is shown in captions, error messages and CSV files, and
``argv`` is visible to every user of the machine in ``ps``), and the
message does not repeat it.
"""

__all__ = ["PacsConfig", "ENV_URL", "ENV_ALLOW_HTTP", "check_url", "from_env"]

import ipaddress
import os
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

ENV_URL = "CRANIOSCAN_DICOMWEB_URL"
ENV_ALLOW_HTTP = "CRANIOSCAN_DICOMWEB_ALLOW_HTTP"
_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}
#: Said while TLS verification is off (dashboard banner, command-line warning).
TLS_OFF_WARNING = ("TLS verification of the PACS is off (CRANIOSCAN_DICOMWEB_VERIFY=0): "
                   "anyone on the network path can pose as the PACS and read the images, the "
                   "patient names and the credentials. Set CRANIOSCAN_DICOMWEB_CA_BUNDLE "
                   "instead outside a test setup.")


def _is_loopback(host):
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url, allow_http=False):
    """``url`` when it is a usable DICOMweb root; else ``ValueError`` that never repeats it whole.

    Args:
        url: the DICOMweb root ('' is returned as it is: no PACS configured).
        allow_http: accept ``http://`` to a host that is not loopback.

    Raises:
        ValueError: the URL carries a user name or password (the message
            says where credentials go and does not echo the URL), is not
            http(s), or is plain http to another machine without
            ``allow_http``.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError("the PACS URL cannot be parsed; give the DICOMweb root such as "
                         "https://pacs.example.org/dicom-web") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("the PACS URL carries a user name or password, which would show in "
                         "messages, files and the process list; remove it from the URL and set "
                         "CRANIOSCAN_DICOMWEB_USER and CRANIOSCAN_DICOMWEB_PASSWORD (or "
                         "CRANIOSCAN_DICOMWEB_TOKEN) in the environment instead")
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("The PACS URL must start with http:// or https:// and name a host, "
                         "e.g. https://pacs.example.org/dicom-web")
    if parts.scheme == "http" and not allow_http and not _is_loopback(host):
        raise ValueError(f"plain http:// to {host} would send images, patient data and "
                         f"credentials unencrypted; use https://, or set {ENV_ALLOW_HTTP}=1 "
                         "to allow it on a network you trust")
    return url


@dataclass(frozen=True)
class PacsConfig:
    """How to reach one DICOMweb server.

    Attributes:
        url: DICOMweb root URL ('' when none is configured).
        username, password: HTTP basic authentication, or None.
        token: bearer token, or None (used instead of basic when set).
        verify: True (system CAs), False (no TLS verification) or the path
            of a CA bundle file.
        connect_timeout, read_timeout: seconds, for every request.
        allow_http: plain ``http://`` to a non-loopback host is allowed
            (:func:`check_url`).
    """

    url: str = ""
    username: str | None = None
    password: str | None = None
    token: str | None = None
    verify: bool | str = True
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    allow_http: bool = False

    @property
    def configured(self):
        """True when a URL is set."""
        return bool(self.url)

    @property
    def timeout(self):
        """``(connect, read)`` seconds, as ``requests`` takes them."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def security_warnings(self):
        """Lines to show while a protection is off (list of str, empty when none is)."""
        return [TLS_OFF_WARNING] if self.verify is False and self.configured else []

    def with_url(self, url):
        """A copy pointing at ``url`` (authentication and timeouts kept).

        Raises:
            ValueError: see :func:`check_url`.
        """
        url = str(url).rstrip("/")
        return replace(self, url=check_url(url, self.allow_http))

    def __repr__(self):  # never print secrets
        auth = "token" if self.token else "basic" if self.username else "none"
        return (f"PacsConfig(url={self.url!r}, auth={auth}, verify={self.verify!r}, "
                f"timeout={self.timeout})")


def _seconds(env, name, default):
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {text!r}")
    return value


def from_env(env=None):
    """Read :class:`PacsConfig` from ``env`` (default ``os.environ``).

    Raises:
        ValueError: a timeout is not a positive number, the CA bundle
            file does not exist (the message names the variable), or the
            URL is refused by :func:`check_url`.
    """
    env = os.environ if env is None else env
    verify = True
    bundle = env.get("CRANIOSCAN_DICOMWEB_CA_BUNDLE", "").strip()
    if bundle:
        if not os.path.isfile(bundle):
            raise ValueError(f"CRANIOSCAN_DICOMWEB_CA_BUNDLE: no such file: {bundle}")
        verify = bundle
    elif env.get("CRANIOSCAN_DICOMWEB_VERIFY", "").strip().lower() in _FALSE:
        verify = False
    allow_http = env.get(ENV_ALLOW_HTTP, "").strip().lower() in _TRUE
    return PacsConfig(
        url=check_url(env.get(ENV_URL, "").strip().rstrip("/"), allow_http),
        allow_http=allow_http,
        username=env.get("CRANIOSCAN_DICOMWEB_USER") or None,
        password=env.get("CRANIOSCAN_DICOMWEB_PASSWORD") or None,
        token=env.get("CRANIOSCAN_DICOMWEB_TOKEN") or None,
        verify=verify,
        connect_timeout=_seconds(env, "CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT", 5.0),
        read_timeout=_seconds(env, "CRANIOSCAN_DICOMWEB_READ_TIMEOUT", 60.0),
    )
