"""The audit log: who searched or wrote to the PACS, and who downloaded what, and when.

An append-only SQLite file beside the review log, kept the same way
(:mod:`.log`): one short ``BEGIN IMMEDIATE`` transaction per record on a
fresh connection, WAL mode, a busy timeout; triggers refuse ``UPDATE`` and
``DELETE``; the folder is created 0700 and the file 0600 (a file found
readable by others is narrowed to 0600 when next written).

Where the file lives: ``CRANIOSCAN_AUDIT_DB`` when set, else
``<cache folder>/review/audit.sqlite``; see :func:`resolve_audit_path`.

Schema version 1 (``PRAGMA user_version``), table ``events``: ``id``
(ascending with time), ``at`` (UTC, ISO 8601), ``who`` (the signed-in
user, or the typed reader name / ``"unauthenticated"`` without sign-in),
``action`` (one of :data:`ACTIONS`), ``study_uid`` (a DICOM UID, or empty
where the action concerns no one study), ``series_uid`` (likewise),
``detail`` (a short free text: a file kind, a count; never a patient name,
patient ID or query text).
"""

__all__ = ["ACTIONS", "AuditError", "AuditEvent", "AuditLog", "resolve_audit_path"]

import datetime as _dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..defaults import REPO_ROOT
from ..uids import is_dicom_uid
from .private_sqlite import connect

SCHEMA_VERSION = 1
#: The audit file under the cache folder when ``CRANIOSCAN_AUDIT_DB`` is unset.
DEFAULT_NAME = Path("review") / "audit.sqlite"
#: What can be recorded.
ACTIONS = ("pacs_query", "pacs_retrieve", "pacs_send", "download")
MAX_WHO, MAX_DETAIL = 200, 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        study_uid TEXT NOT NULL DEFAULT '',
        series_uid TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '')""",
    *(f"CREATE TRIGGER IF NOT EXISTS events_no_{verb} BEFORE {verb.upper()} ON events "
      "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
      for verb in ("update", "delete")),
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


class AuditError(RuntimeError):
    """The audit log cannot be written or read, or an event is malformed."""


@dataclass(frozen=True)
class AuditEvent:
    """One recorded action."""

    event_id: int
    at: str
    who: str
    action: str
    study_uid: str = ""
    series_uid: str = ""
    detail: str = ""


def resolve_audit_path(cache_dir, environ=None, root=REPO_ROOT):
    """``CRANIOSCAN_AUDIT_DB`` if set (relative to the repository root), else ``cache_dir/review/audit.sqlite``."""
    env = os.environ if environ is None else environ
    chosen = env.get("CRANIOSCAN_AUDIT_DB")
    if not chosen:
        return Path(cache_dir) / DEFAULT_NAME
    path = Path(os.path.expanduser(chosen))
    return path if path.is_absolute() else Path(root) / path


def _uid(value, what):
    value = "" if value is None else str(value)
    if value and not is_dicom_uid(value):
        raise AuditError(f"the {what} is not a DICOM UID")
    return value


class AuditLog:
    """The audit log in one SQLite file (created with its folder on the first record)."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"AuditLog({str(self.path)!r})"

    def _connect(self, create):
        """An open connection (see :func:`.private_sqlite.connect`), or None."""
        return connect(self.path, create, _SCHEMA, SCHEMA_VERSION, AuditError, "audit log")

    def record(self, who, action, study_uid="", series_uid="", detail=""):
        """Append one event stamped with the current UTC time; returns it as an :class:`AuditEvent`.

        Raises:
            AuditError: an unknown action, an empty or overlong ``who``, a
                UID that is not a DICOM UID, or a file that is not an audit log.
        """
        who = str(who or "").strip()
        if not who or len(who) > MAX_WHO:
            raise AuditError("an audit event needs who did it (at most "
                             f"{MAX_WHO} characters)")
        if action not in ACTIONS:
            raise AuditError(f"unknown audit action {action!r}")
        study_uid, series_uid = _uid(study_uid, "study UID"), _uid(series_uid, "series UID")
        detail = str(detail or "")[:MAX_DETAIL]
        at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO events (at, who, action, study_uid, series_uid, detail) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (at, who, action, study_uid, series_uid, detail))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"the audit log {self.path} cannot be written: {exc}") from exc
        finally:
            conn.close()
        return AuditEvent(cursor.lastrowid, at, who, action, study_uid, series_uid, detail)

    def events(self):
        """Every event, oldest first (an empty list while nothing is recorded)."""
        conn = self._connect(create=False)
        if conn is None:
            return []
        try:
            rows = conn.execute("SELECT id, at, who, action, study_uid, series_uid, detail "
                                "FROM events ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"the audit log {self.path} cannot be read: {exc}") from exc
        finally:
            conn.close()
        return [AuditEvent(*row) for row in rows]
