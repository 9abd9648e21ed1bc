"""Who may use the dashboard, and who they are: sign-in, the loopback rule, the audit log.

- **Sign-in** (Streamlit's own ``st.login``, OpenID Connect through Authlib)
  is on when ``.streamlit/secrets.toml`` (or a file named by Streamlit's
  ``secrets.files`` option) holds an ``[auth]`` section. Then every page
  asks for sign-in first: :func:`gate` replaces the app's pages by one
  sign-in page until ``st.user.is_logged_in``, and the reader of the review
  log is the signed-in account (:func:`signed_in_user`).
- **Without** ``[auth]`` the dashboard serves only on a loopback address.
  :func:`gate` reads the address the server actually listens on
  (``st.get_option("server.address")``, which ``--server.address`` and
  ``STREAMLIT_SERVER_ADDRESS`` set) and refuses to show anything else when
  it is not loopback, unless ``CRANIOSCAN_ALLOW_UNAUTHENTICATED_NETWORK=1``
  was set on purpose; then every page says so in a banner.
- **Audit**: PACS queries, retrievals and sends, and downloads, are appended
  to the audit log (:mod:`cranioscan.review.audit`) by :func:`record` and
  :func:`audited`.

:func:`exposure` and :func:`is_loopback` are pure (tested without a server).
"""

__all__ = ["ENV_ALLOW_NETWORK", "READER_KEY", "Access", "audit_log", "audited", "auth_configured", "exposure",
           "gate", "is_loopback", "record", "signed_in_user", "sidebar_account", "who"]

import ipaddress
import os
from dataclasses import dataclass

import streamlit as st

from ..review.audit import AuditLog, resolve_audit_path
from ..review.entry import MAX_READER
from ..uids import is_dicom_uid
from . import caches

#: The opt-in to serve without sign-in on a non-loopback address.
ENV_ALLOW_NETWORK = "CRANIOSCAN_ALLOW_UNAUTHENTICATED_NETWORK"
_TRUE = {"1", "true", "yes", "on"}
#: ID-token claims naming the signed-in reader, in order of preference.
READER_CLAIMS = ("email", "preferred_username", "name", "sub")
#: Session key of the reader name typed in the review form (who acts when nobody signed in).
READER_KEY = "review_reader"


@dataclass(frozen=True)
class Access:
    """How this page is served.

    Attributes:
        allowed: whether the app's pages may be shown.
        sign_in: whether sign-in (``[auth]``) is configured.
        message: why not (when refused), or the banner every page shows
            (serving unauthenticated on the network by the opt-in); else "".
    """

    allowed: bool
    sign_in: bool
    message: str = ""


def is_loopback(address):
    """Whether a ``server.address`` value listens on loopback only.

    An empty address is not: Streamlit then listens on every interface.
    """
    text = str(address or "").strip().strip("[]")
    if not text:
        return False
    if text.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False  # a host name other than localhost: whatever it resolves to, not assumed
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def exposure(address, sign_in, environ=None):
    """:class:`Access` for a server on ``address``, with or without sign-in configured.

    Args:
        address: ``server.address`` as the server runs (``None`` or "" = all interfaces).
        sign_in: whether ``[auth]`` is configured.
        environ: environment mapping (default ``os.environ``), for the opt-in.
    """
    env = os.environ if environ is None else environ
    if sign_in or is_loopback(address):
        return Access(True, bool(sign_in))
    shown = str(address or "").strip() or "every network interface"
    if str(env.get(ENV_ALLOW_NETWORK, "")).strip().lower() in _TRUE:
        return Access(True, False, (
            f"This dashboard is served without sign-in on {shown}: anyone who can reach it on "
            f"the network can use it, its PACS connection and its logs ({ENV_ALLOW_NETWORK} "
            "is set). Configure sign-in ([auth] in .streamlit/secrets.toml, docs/security.md) "
            "or serve on 127.0.0.1."))
    return Access(False, False, (
        f"Refusing to serve without sign-in on {shown}: this address is reachable from the "
        "network. Either configure sign-in ([auth] in .streamlit/secrets.toml; "
        "docs/security.md), or restart on a loopback address (server.address = \"127.0.0.1\", "
        f"the default in .streamlit/config.toml), or set {ENV_ALLOW_NETWORK}=1 to serve "
        "unauthenticated on the network on purpose."))


def auth_configured():
    """Whether Streamlit's secrets hold an ``[auth]`` section (sign-in on)."""
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError)
        return False
    return bool(section)


def _logged_in():
    """``st.user.is_logged_in``, False where Streamlit has not set it (fails closed)."""
    return bool(st.user.get("is_logged_in", False))


def signed_in_user():
    """The signed-in account (its e-mail, else username, name or subject), or None."""
    if not auth_configured() or not _logged_in():
        return None
    for claim in READER_CLAIMS:
        value = st.user.get(claim)
        if value:
            return str(value).strip()[:MAX_READER]
    return None


def who():
    """Who acts, for the audit log: the signed-in account, else the typed reader name, marked."""
    user = signed_in_user()
    if user:
        return user
    typed = str(st.session_state.get(READER_KEY) or "").strip()
    return f"not signed in ({typed[:120]})" if typed else "not signed in"


def _sign_in_page():
    st.title("CranioScan")
    st.subheader("Sign in")
    st.write("Intracranial hemorrhage review on head CT. Sign in with your hospital account "
             "to continue.")
    if st.button("Sign in", type="primary", icon=":material/login:", key="auth_sign_in"):
        st.login()


def _refused_page(message):
    def page():
        st.title("CranioScan")
        st.error(message, icon=":material/gpp_bad:")
    return page


def gate():
    """Allow the app's pages, or show only the sign-in (or refusal) page and stop.

    Call once in ``app.py``, right after ``st.set_page_config`` and before
    anything else is drawn or loaded. Returns the :class:`Access` when the
    pages may be shown.
    """
    sign_in = auth_configured()
    access = exposure(st.get_option("server.address"), sign_in)
    if not access.allowed:
        st.navigation([st.Page(_refused_page(access.message), title="Not served",
                               url_path="not-served")], position="hidden").run()
        st.stop()
    if sign_in and not _logged_in():
        # The only page: whatever address is asked for, the sign-in page answers it.
        st.navigation([st.Page(_sign_in_page, title="Sign in", url_path="sign-in")],
                      position="hidden").run()
        st.stop()
    return access


def sidebar_account(access):
    """The signed-in account and a Sign out button (in the sidebar), when sign-in is on."""
    if not access.sign_in:
        return
    st.caption(f"Signed in as {signed_in_user() or 'an account without a name'}")
    if st.button("Sign out", icon=":material/logout:", key="auth_sign_out"):
        st.logout()


# ------------------------------------------------------------------ audit
def audit_log(cfg=None):
    """The :class:`~cranioscan.review.audit.AuditLog` of these settings."""
    if cfg is None:
        cfg = caches.config()
    return AuditLog(resolve_audit_path(cfg.cache_dir))


def _uid_or_blank(value):
    value = str(value or "")
    return value if is_dicom_uid(value) else ""


def record(action, study_uid="", series_uid="", detail="", actor=None, cfg=None):
    """Append one event to the audit log (raises ``AuditError`` when it cannot be written).

    UIDs that are not DICOM UIDs (an upload's own tags) are recorded blank.
    """
    return audit_log(cfg).record(actor or who(), action, _uid_or_blank(study_uid),
                                 _uid_or_blank(series_uid), detail)


def audited(make, detail, study_uid="", series_uid=""):
    """``make`` (a download's deferred data callable) that first records the download.

    Who and where are taken now, in the script run: the callable itself runs
    later, outside it, when the button is clicked.
    """
    actor, log = who(), audit_log()
    study_uid, series_uid = _uid_or_blank(study_uid), _uid_or_blank(series_uid)

    def run():
        log.record(actor, "download", study_uid, series_uid, detail)
        return make()
    return run
