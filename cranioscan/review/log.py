"""The reader's review log: an append-only SQLite file with every review ever saved.

One :class:`ReviewLog` per file (stdlib ``sqlite3``). Each save is one short
``BEGIN IMMEDIATE`` transaction on a fresh connection, in WAL mode with a
busy timeout, so several dashboard sessions (threads or processes) can save
at once without losing an entry. Entries are never changed or deleted:
triggers refuse ``UPDATE`` and ``DELETE``; a reader who changes their mind
saves again, and the newest entry of a series is its current review (the
older ones stay as its history).

Where the file lives: ``CRANIOSCAN_REVIEW_DB`` when set, else
``<cache folder>/review/reviews.sqlite`` (the cache folder is
``CRANIOSCAN_CACHE``, default ``.cache``); see :func:`resolve_path`.

Who can read it: only the account running CranioScan. The log's folder is
created mode 0700 and the file 0600 (SQLite gives its ``-wal`` and
``-shm`` files the file's mode); a log found readable by others is
narrowed to 0600 when it is next written.

Schema version 1 (``PRAGMA user_version``):

``entries``
    ``id`` (integer, ascending with time of save), ``saved_at`` (UTC, ISO
    8601), ``reader``, ``study_uid``, ``series_uid``, ``model_sha256``,
    ``note``.
``findings``
    ``entry_id``, ``finding`` (class name), ``probability``, ``threshold``,
    ``flagged`` (0/1), ``max_slice`` (1-based), ``answer`` (``agree``,
    ``disagree``, ``missed`` or NULL); one row per class and entry.

No patient name, patient ID, birth date or accession number is stored.
"""

__all__ = ["SCHEMA_VERSION", "DEFAULT_NAME", "ReviewLog", "resolve_path"]

import os
import sqlite3
from pathlib import Path

from ..defaults import REPO_ROOT
from ..labels import CLASSES
from .entry import FindingReview, ReviewEntry, ReviewError
from .private_sqlite import connect

SCHEMA_VERSION = 1
#: The log's file under the cache folder when ``CRANIOSCAN_REVIEW_DB`` is unset.
DEFAULT_NAME = Path("review") / "reviews.sqlite"

_TRIGGER = ("CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {VERB} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'the review log is append-only'); END")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        saved_at TEXT NOT NULL,
        reader TEXT NOT NULL,
        study_uid TEXT NOT NULL,
        series_uid TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS entries_series ON entries (series_uid, id)",
    """CREATE TABLE IF NOT EXISTS findings (
        entry_id INTEGER NOT NULL REFERENCES entries (id),
        finding TEXT NOT NULL,
        probability REAL NOT NULL,
        threshold REAL NOT NULL,
        flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
        max_slice INTEGER NOT NULL,
        answer TEXT CHECK (answer IN ('agree', 'disagree', 'missed')),
        PRIMARY KEY (entry_id, finding))""",
    *(_TRIGGER.format(table=t, verb=v, VERB=v.upper())
      for t in ("entries", "findings") for v in ("update", "delete")),
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


def resolve_path(cache_dir, environ=None, root=REPO_ROOT):
    """The log's path: ``CRANIOSCAN_REVIEW_DB`` if set, else ``cache_dir/review/reviews.sqlite``.

    Args:
        cache_dir: the dashboard's cache folder (``AppConfig.cache_dir``).
        environ: mapping of environment variables (default ``os.environ``).
        root: folder a relative ``CRANIOSCAN_REVIEW_DB`` is resolved against
            (the repository root, as for the other settings).
    """
    env = os.environ if environ is None else environ
    chosen = env.get("CRANIOSCAN_REVIEW_DB")
    if not chosen:
        return Path(cache_dir) / DEFAULT_NAME
    path = Path(os.path.expanduser(chosen))
    return path if path.is_absolute() else Path(root) / path


class ReviewLog:
    """The review log in one SQLite file (created with its folder on first save).

    Every method opens its own connection and closes it, so one object may
    be shared by threads, and many processes may use the same file.
    """

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"ReviewLog({str(self.path)!r})"

    # ------------------------------------------------------------ connection
    def _connect(self, create):
        """An open connection (see :func:`.private_sqlite.connect`), or None."""
        return connect(self.path, create, _SCHEMA, SCHEMA_VERSION, ReviewError, "review log")

    # ----------------------------------------------------------------- write
    def save(self, entry):
        """Append ``entry`` (checked first) in one transaction; returns it with its ``entry_id``.

        Raises:
            ReviewError: the entry is incomplete, or the file is not a review log.
        """
        entry.check()
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO entries (saved_at, reader, study_uid, series_uid, model_sha256, note) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (entry.saved_at, entry.reader, entry.study_uid, entry.series_uid,
                     entry.model_sha256, entry.note))
                entry_id = cursor.lastrowid
                conn.executemany(
                    "INSERT INTO findings (entry_id, finding, probability, threshold, flagged, "
                    "max_slice, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(entry_id, f.finding, float(f.probability), float(f.threshold), int(f.flagged),
                      int(f.max_slice), f.answer) for f in entry.findings])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return ReviewEntry(**{**entry.__dict__, "entry_id": entry_id})

    # ------------------------------------------------------------------ read
    def _read(self, where="", args=()):
        conn = self._connect(create=False)
        if conn is None:
            return []
        try:
            rows = conn.execute(
                "SELECT id, saved_at, reader, study_uid, series_uid, model_sha256, note FROM entries "
                f"{where} ORDER BY id", args).fetchall()
            findings = {}
            ids = [r[0] for r in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for row in conn.execute(
                        "SELECT entry_id, finding, probability, threshold, flagged, max_slice, answer "
                        f"FROM findings WHERE entry_id IN ({','.join('?' * len(chunk))})", chunk):
                    findings.setdefault(row[0], {})[row[1]] = FindingReview(
                        finding=row[1], probability=row[2], threshold=row[3], flagged=bool(row[4]),
                        max_slice=row[5], answer=row[6])
        except sqlite3.DatabaseError as exc:
            raise ReviewError(f"the review log {self.path} cannot be read: {exc}") from exc
        finally:
            conn.close()
        return [ReviewEntry(entry_id=r[0], saved_at=r[1], reader=r[2], study_uid=r[3], series_uid=r[4],
                            model_sha256=r[5], note=r[6],
                            findings=tuple(findings.get(r[0], {})[c] for c in CLASSES))
                for r in rows]

    def entries(self):
        """Every entry, oldest first (an empty list while nothing is saved)."""
        return self._read()

    def history(self, series_uid):
        """Every entry of one series, oldest first."""
        return self._read("WHERE series_uid = ?", (str(series_uid),))

    def latest(self, series_uid):
        """The newest entry of one series (any reader), or None."""
        found = self.history(series_uid)
        return found[-1] if found else None

    def latest_per_series(self):
        """The newest entry of each series, oldest series first."""
        newest = {}
        for entry in self.entries():
            newest[entry.series_uid] = entry
        return sorted(newest.values(), key=lambda e: e.entry_id)
