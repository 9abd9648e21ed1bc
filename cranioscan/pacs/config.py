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
  (test servers only);
* ``CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT`` / ``CRANIOSCAN_DICOMWEB_READ_TIMEOUT``:
  seconds (defaults 5 and 60); every request gives up after them.
"""

__all__ = ["PacsConfig", "ENV_URL", "from_env"]

import os
from dataclasses import dataclass, replace

ENV_URL = "CRANIOSCAN_DICOMWEB_URL"
_FALSE = {"0", "false", "no", "off"}


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
    """

    url: str = ""
    username: str | None = None
    password: str | None = None
    token: str | None = None
    verify: bool | str = True
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    @property
    def configured(self):
        """True when a URL is set."""
        return bool(self.url)

    @property
    def timeout(self):
        """``(connect, read)`` seconds, as ``requests`` takes them."""
        return (self.connect_timeout, self.read_timeout)

    def with_url(self, url):
        """A copy pointing at ``url`` (authentication and timeouts kept)."""
        return replace(self, url=str(url).rstrip("/"))

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
        ValueError: a timeout is not a positive number, or the CA bundle
            file does not exist (the message names the variable).
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
    return PacsConfig(
        url=env.get(ENV_URL, "").strip().rstrip("/"),
        username=env.get("CRANIOSCAN_DICOMWEB_USER") or None,
        password=env.get("CRANIOSCAN_DICOMWEB_PASSWORD") or None,
        token=env.get("CRANIOSCAN_DICOMWEB_TOKEN") or None,
        verify=verify,
        connect_timeout=_seconds(env, "CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT", 5.0),
        read_timeout=_seconds(env, "CRANIOSCAN_DICOMWEB_READ_TIMEOUT", 60.0),
    )
