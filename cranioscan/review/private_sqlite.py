"""A private SQLite file for CranioScan's logs (the review log and the audit log).

One way to open such a file: its folder created 0700 and the file 0600 before
SQLite opens it (the WAL and SHM files take the file's mode), an older file
readable by others narrowed to 0600 when it is next written, the schema
created once whoever of several writers gets there first, WAL journaling,
and every failure turned into the caller's error class with a message
naming the file.
"""

__all__ = ["FOLDER_MODE", "FILE_MODE", "BUSY_TIMEOUT_S", "connect"]

import os
import sqlite3

#: Modes of the log's folder and file: the account's own.
FOLDER_MODE, FILE_MODE = 0o700, 0o600
#: How long a write waits for another writer before giving up (seconds).
BUSY_TIMEOUT_S = 30.0


def _create_private_file(path):
    """Create the folder (0700) and an empty file (0600) before SQLite opens it."""
    folder = path.parent
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another writer made it first
            pass
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass


def _narrow_mode(path):
    """An older file readable by others becomes 0600 (best effort)."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except OSError:
        pass


def _create_schema(conn, path, schema, error, what):
    """Create the tables (once, whoever of several writers gets there first)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if version == 0 and tables:
            raise error(f"{path} is an SQLite file but not a CranioScan {what} "
                        f"(it holds tables {', '.join(t[0] for t in tables)})")
        if version == 0:
            for statement in schema:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path, create, schema, schema_version, error, what):
    """Open the log at ``path``.

    Args:
        path: ``pathlib.Path`` of the SQLite file.
        create: make the file and its tables when missing (a write); else a
            missing or empty log gives None (a read).
        schema: SQL statements creating the tables; the last sets
            ``PRAGMA user_version``.
        schema_version: the version this CranioScan reads and writes.
        error: the exception class raised (``ReviewError``, ``AuditError``).
        what: the log's name in messages ("review log", "audit log").

    Returns:
        an ``sqlite3.Connection`` in autocommit mode, or None (see ``create``).

    Raises:
        ``error``: the file cannot be opened, is not SQLite, is another
        program's database or has a newer schema; the message names it.
    """
    if not path.exists():
        if not create:
            return None
        _create_private_file(path)
    elif create:
        _narrow_mode(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise error(f"cannot open the {what} {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema_version:
            raise error(f"the {what} {path} has schema version {version}, written by a newer "
                        f"CranioScan; this one reads version {schema_version}")
        if version < schema_version:
            if not create:
                conn.close()
                return None
            _create_schema(conn, path, schema, error, what)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise error(f"the {what} {path} cannot be read as SQLite: {exc}") from exc
    except error:
        conn.close()
        raise
    return conn
