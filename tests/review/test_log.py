"""The review log: append-only with history, readable, exported as CSV, safe with several writers."""

import csv
import io
import multiprocessing
import sqlite3

import numpy as np
import pytest

from cranioscan.inference import summarize_series
from cranioscan.labels import CLASSES
from cranioscan.review import (CSV_COLUMNS, SCHEMA_VERSION, ReviewError, ReviewLog,
                               findings_from_summary, new_entry, resolve_path, to_csv)

SHA = "0123456789abcdef" * 4
STUDY = "1.2.826.0.1.3680043.8.498.1"


def probs():
    """Two slices: any 0.9 and intraparenchymal 0.7 flagged at 0.5, subdural 0.6 on slice 2."""
    return np.array([[0.9, 0.1, 0.7, 0.0, 0.2, 0.3],
                     [0.2, 0.1, 0.1, 0.0, 0.2, 0.6]])


def findings(thresholds=None):
    thresholds = thresholds or {c: 0.5 for c in CLASSES}
    return findings_from_summary(summarize_series(probs(), thresholds))


def entry(series="1.2.3.4", reader="Dr Ada", answers=None, missed=("subarachnoid",), note="", sha=SHA):
    answers = answers or {"any": "agree", "intraparenchymal": "disagree", "subdural": "agree"}
    return new_entry(reader, STUDY, series, sha, findings(), answers, missed=missed, note=note)


def test_findings_from_summary_flags_as_the_viewer_does():
    got = findings({c: 0.5 for c in CLASSES} | {"subdural": 0.65})
    assert [f.finding for f in got] == list(CLASSES)
    assert [f.flagged for f in got] == [True, False, True, False, False, False]
    assert got[5].probability == pytest.approx(0.6) and got[5].threshold == pytest.approx(0.65)
    assert got[5].max_slice == 2 and got[0].max_slice == 1  # 1-based, as on screen


def test_new_entry_refuses_incomplete_or_contradictory_answers():
    with pytest.raises(ReviewError, match="reader's name"):
        entry(reader="  ")
    with pytest.raises(ReviewError, match="1 still unanswered: subdural"):
        new_entry("Dr Ada", STUDY, "1.2.3.4", SHA, findings(),
                  {"any": "agree", "intraparenchymal": "agree"}, required=True)
    with pytest.raises(ReviewError, match="any flagged by the model"):
        entry(missed=("any",))
    with pytest.raises(ReviewError, match="epidural not flagged"):
        entry(answers={"any": "agree", "intraparenchymal": "agree", "subdural": "agree",
                       "epidural": "agree"})
    with pytest.raises(ReviewError, match="unknown missed finding stroke"):
        entry(missed=("stroke",))
    with pytest.raises(ReviewError, match="SeriesInstanceUID"):
        entry(series="")
    with pytest.raises(ReviewError, match="SHA-256"):
        entry(sha="abc")
    with pytest.raises(ReviewError, match="answer 'maybe'"):
        entry(answers={"any": "maybe", "intraparenchymal": "agree", "subdural": "agree"})


def test_save_appends_and_keeps_the_history(tmp_path):
    log = ReviewLog(tmp_path / "sub" / "reviews.sqlite")
    assert log.entries() == [] and log.latest("1.2.3.4") is None  # nothing saved, no file made
    assert not log.path.exists()
    first = log.save(entry(note="first look"))
    other = log.save(entry(series="1.2.3.5", reader="Dr Bo"))
    second = log.save(entry(answers={"any": "agree", "intraparenchymal": "agree", "subdural": "agree"},
                            missed=(), note="changed my mind"))
    assert (first.entry_id, other.entry_id, second.entry_id) == (1, 2, 3)
    history = log.history("1.2.3.4")
    assert [e.entry_id for e in history] == [1, 3]
    assert history[0].note == "first look" and history[0].answers() == {
        "any": "agree", "intraparenchymal": "disagree", "subdural": "agree", "subarachnoid": "missed"}
    assert log.latest("1.2.3.4") == second
    assert [e.entry_id for e in log.latest_per_series()] == [2, 3]
    assert [e.entry_id for e in log.entries()] == [1, 2, 3]
    back = log.entries()[0]
    assert back.study_uid == STUDY and back.model_sha256 == SHA and back.reader == "Dr Ada"
    assert back.saved_at.endswith("Z") and back.saved_at[:4].isdigit()
    assert [f.probability for f in back.findings] == pytest.approx([0.9, 0.1, 0.7, 0.0, 0.2, 0.6])
    assert back.findings == first.findings  # what was saved is what is read


def test_the_file_refuses_changes_and_deletions(tmp_path):
    log = ReviewLog(tmp_path / "reviews.sqlite")
    log.save(entry())
    conn = sqlite3.connect(log.path)
    for statement in ("UPDATE entries SET reader = 'X'", "DELETE FROM entries",
                      "UPDATE findings SET answer = 'agree'", "DELETE FROM findings"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert log.entries()[0].reader == "Dr Ada" and len(log.entries()[0].findings) == 6


def test_schema_version_wal_and_no_patient_columns(tmp_path):
    log = ReviewLog(tmp_path / "reviews.sqlite")
    log.save(entry())
    conn = sqlite3.connect(log.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for table in ("entries", "findings")
               for row in conn.execute(f"PRAGMA table_info({table})")}
    conn.close()
    assert columns == {"id", "saved_at", "reader", "study_uid", "series_uid", "model_sha256", "note",
                       "entry_id", "finding", "probability", "threshold", "flagged", "max_slice",
                       "answer"}
    assert not any("patient" in c or "accession" in c for c in columns)


def test_files_that_are_not_this_log_give_clear_messages(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ReviewError, match=r"junk\.sqlite cannot be read as SQLite"):
        ReviewLog(junk).save(entry())
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE patients (name TEXT)")
    with pytest.raises(ReviewError, match="not a CranioScan review log .*patients"):
        ReviewLog(other).save(entry())
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 7")
    with pytest.raises(ReviewError, match="schema version 7, written by a newer CranioScan"):
        ReviewLog(newer).entries()


def test_path_from_the_environment_or_the_cache(tmp_path):
    assert resolve_path(tmp_path, environ={}) == tmp_path / "review" / "reviews.sqlite"
    assert resolve_path(tmp_path, environ={"CRANIOSCAN_REVIEW_DB": str(tmp_path / "x.db")}) == \
        tmp_path / "x.db"
    assert resolve_path(tmp_path, environ={"CRANIOSCAN_REVIEW_DB": "logs/r.db"}, root=tmp_path / "repo") \
        == tmp_path / "repo" / "logs" / "r.db"


def test_csv_has_one_row_per_entry_and_finding(tmp_path):
    log = ReviewLog(tmp_path / "reviews.sqlite")
    log.save(entry(note='=HYPERLINK("x"), then "quoted", and\na second line'))
    log.save(entry(series="1.2.3.5", reader="Dr Bo", missed=()))
    text = to_csv(log.entries())
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 12
    assert [r["finding"] for r in rows[:6]] == list(CLASSES)
    first = {r["finding"]: r for r in rows[:6]}
    assert first["any"]["answer"] == "agree" and first["any"]["flagged"] == "1"
    assert first["intraparenchymal"]["answer"] == "disagree"
    assert first["subarachnoid"]["answer"] == "missed" and first["subarachnoid"]["flagged"] == "0"
    assert first["epidural"]["answer"] == ""
    assert float(first["subdural"]["probability"]) == pytest.approx(0.6)
    assert first["subdural"]["max_slice"] == "2" and float(first["subdural"]["threshold"]) == 0.5
    # The note survives quotes and new lines; a formula is defused for spreadsheets.
    assert first["any"]["note"] == '\'=HYPERLINK("x"), then "quoted", and\na second line'
    assert {r["entry_id"] for r in rows} == {"1", "2"} and rows[6]["reader"] == "Dr Bo"
    assert rows[6]["series_uid"] == "1.2.3.5" and rows[6]["study_uid"] == STUDY
    assert rows[0]["model_sha256"] == SHA


def _writer(path, worker, n_saves):
    """Child process: ``n_saves`` reviews by one reader, each in its own transaction."""
    log = ReviewLog(path)
    for k in range(n_saves):
        log.save(entry(series=f"1.2.3.{worker}.{k}", reader=f"reader {worker}", note=f"{worker}/{k}"))


def test_several_writer_processes_lose_nothing(tmp_path):
    """4 processes x 50 saves at once into one new file: 200 entries, 1200 findings, none mixed."""
    path = tmp_path / "shared" / "reviews.sqlite"
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow
    workers = [context.Process(target=_writer, args=(str(path), w, 50)) for w in range(4)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0, 0, 0, 0]
    entries = ReviewLog(path).entries()
    assert len(entries) == 200
    assert sorted(e.entry_id for e in entries) == list(range(1, 201))
    assert sorted(e.note for e in entries) == sorted(f"{w}/{k}" for w in range(4) for k in range(50))
    for e in entries:
        worker, k = e.note.split("/")
        assert e.series_uid == f"1.2.3.{worker}.{k}" and e.reader == f"reader {worker}"
        assert len(e.findings) == 6
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 1200
