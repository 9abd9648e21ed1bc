"""The audit log (cranioscan.review.audit): append-only, private, who / when / study UID / action."""

import os
import sqlite3
import stat

import pytest

from cranioscan.review.audit import ACTIONS, AuditError, AuditLog, resolve_audit_path

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = "1.2.826.0.1.3680043.8.498.2"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_records_who_when_which_study_and_what(tmp_path):
    log = AuditLog(tmp_path / "audit" / "audit.sqlite")
    assert log.events() == []  # nothing recorded yet, and no file made by reading
    assert not log.path.exists()
    first = log.record("ada@hospital.example", "pacs_query", STUDY, detail="study found by a search")
    log.record("ada@hospital.example", "pacs_send", STUDY, SERIES, detail="2 datasets")
    log.record("bob@hospital.example", "download", STUDY, SERIES, detail="report (PDF)")
    events = log.events()
    assert [(e.who, e.action, e.study_uid, e.series_uid) for e in events] == [
        ("ada@hospital.example", "pacs_query", STUDY, ""),
        ("ada@hospital.example", "pacs_send", STUDY, SERIES),
        ("bob@hospital.example", "download", STUDY, SERIES)]
    assert events[0] == first and first.event_id == 1
    assert first.at.endswith("+00:00") and first.at[:4].isdigit()  # UTC, ISO 8601
    assert events[2].detail == "report (PDF)"


def test_append_only_and_private(tmp_path):
    old = os.umask(0o022)
    try:
        log = AuditLog(tmp_path / "logs" / "audit.sqlite")
        log.record("ada", "download", detail="review log (CSV)")
    finally:
        os.umask(old)
    assert mode(log.path.parent) == 0o700 and mode(log.path) == 0o600
    conn = sqlite3.connect(log.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE events SET who = 'mallory'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert [e.who for e in log.events()] == ["ada"]


def test_a_readable_log_is_narrowed_on_the_next_record(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record("ada", "pacs_query")
    os.chmod(log.path, 0o644)
    log.record("ada", "pacs_query")
    assert mode(log.path) == 0o600


@pytest.mark.parametrize("who, action, study, message", [
    ("", "download", "", "who did it"),
    ("ada", "delete_everything", "", "unknown audit action"),
    ("ada", "download", "=HYPERLINK(1)", "not a DICOM UID"),
])
def test_malformed_events_are_refused(tmp_path, who, action, study, message):
    log = AuditLog(tmp_path / "audit.sqlite")
    with pytest.raises(AuditError, match=message):
        log.record(who, action, study)
    assert log.events() == []
    assert set(ACTIONS) == {"pacs_query", "pacs_retrieve", "pacs_send", "download"}


def test_not_an_audit_log(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="not a CranioScan audit log"):
        AuditLog(path).record("ada", "download")


def test_where_it_lives(tmp_path):
    assert resolve_audit_path(tmp_path, {}) == tmp_path / "review" / "audit.sqlite"
    assert resolve_audit_path(tmp_path, {"CRANIOSCAN_AUDIT_DB": str(tmp_path / "a.sqlite")}) \
        == tmp_path / "a.sqlite"
    assert resolve_audit_path(tmp_path, {"CRANIOSCAN_AUDIT_DB": "logs/a.sqlite"}, root=tmp_path) \
        == tmp_path / "logs" / "a.sqlite"
