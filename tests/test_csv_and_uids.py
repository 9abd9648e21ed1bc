"""Spreadsheet formula injection and DICOM UID checks (issue 30, item 4).

Every CSV CranioScan writes goes through :func:`cranioscan.formats.csv_cell`
(OWASP's rule: text starting with ``= + - @``, tab or CR gets a leading
``'``), while numbers, negative ones included, stay numbers. UIDs are
accepted only as DICOM UIDs (digits and dots, at most 64 characters): in a
review, in PACS calls and on the command line.
"""

import argparse
import csv
import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cranioscan.formats import csv_cell, csv_frame, csv_number, csv_row
from cranioscan.uids import dicom_uid, is_dicom_uid, uid_argument

REPO = Path(__file__).resolve().parents[1]
PAYLOADS = ['=HYPERLINK("http://127.0.0.1/?leak","Open")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1,1)", "\t=1+1", "\r=1+1"]
SHA = "0123456789abcdef" * 4


# ------------------------------------------------------------ the cell rule
@pytest.mark.parametrize("text", PAYLOADS)
def test_formula_text_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-12.500", csv_number(-0.25), "-3", "0.5", "1.2.840.10008",
                                   "CT head", "", -4.5, 3, None, np.float32(-1.5)])
def test_numbers_and_plain_text_are_unchanged(value):
    assert csv_cell(value) is value or csv_cell(value) == value


def test_rows_and_frames_keep_their_shape():
    assert csv_row({"a": "=1", "b": -2.0}) == {"a": "'=1", "b": -2.0}
    assert csv_row(["@x", "-1.000000"]) == ["'@x", "-1.000000"]
    frame = pd.DataFrame({"patient": ["=evil", "P1"], "prob": [-0.5, 0.25]})
    safe = csv_frame(frame)
    assert safe["patient"].tolist() == ["'=evil", "P1"]
    assert safe["prob"].tolist() == [-0.5, 0.25] and frame["patient"][0] == "=evil"


def test_every_csv_writer_in_the_library_goes_through_the_cell_rule():
    # One writer rule for all: a module that writes CSV also uses csv_row /
    # csv_frame / csv_cell. Caches read back only by the program are listed.
    internal = {"cranioscan/train/rsna.py", "cranioscan/train/mixed_data.py"}
    writes = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\.to_csv\(")
    unguarded = []
    for path in sorted((REPO / "cranioscan").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        if name in internal or name == "cranioscan/formats.py" or not writes.search(text):
            continue
        if not re.search(r"\bcsv_(row|frame|cell)\b", text):
            unguarded.append(name)
    assert unguarded == []


# ------------------------------------------------------------- the writers
def test_dashboard_csv_neutralises_text_and_keeps_negative_positions():
    from cranioscan.visualize import export

    data = export._csv_bytes(["# CranioScan export"], ["finding", "position_mm"],
                             [[PAYLOADS[0], csv_number(-12.5, 3)]]).decode("utf-8")
    row = list(csv.reader(io.StringIO(data.split("\n", 1)[1])))[1]
    assert row == ["'" + PAYLOADS[0], "-12.500"]


def test_review_export_neutralises_every_text_cell():
    from cranioscan.review.entry import FindingReview, ReviewEntry
    from cranioscan.review.export import to_csv

    findings = tuple(FindingReview(c, 0.7, 0.5, True, 1, "agree") for c in
                     ("any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid",
                      "subdural"))
    # An entry as an older log may hold it (written before UIDs were checked).
    old = ReviewEntry(saved_at="2026-01-01T00:00:00Z", reader="@reader", study_uid=PAYLOADS[0],
                      series_uid="+1.2", model_sha256=SHA, findings=findings, note="-note",
                      entry_id=1)
    rows = list(csv.DictReader(io.StringIO(to_csv([old]))))
    assert rows[0]["study_uid"] == "'" + PAYLOADS[0] and rows[0]["series_uid"] == "'+1.2"
    assert rows[0]["reader"] == "'@reader" and rows[0]["note"] == "'-note"
    assert rows[0]["probability"] == "0.700000"


# ----------------------------------------------------------------- the UIDs
@pytest.mark.parametrize("uid", ["1.2.840.10008.5.1.4.1.1.2", "2.25." + "9" * 59, "0", "1.02.3"])
def test_dicom_uids_are_accepted(uid):
    assert is_dicom_uid(uid) and dicom_uid(uid) == uid and uid_argument(uid) == uid


@pytest.mark.parametrize("uid", ["", "=1+1", "1.2.3 ", "1..2", ".1.2", "1.2.", "../etc",
                                 "1.2.abc", "2.25." + "9" * 60, None, 1.2])
def test_other_text_is_not_a_uid(uid):
    assert not is_dicom_uid(uid)
    with pytest.raises(ValueError, match="not a DICOM UID"):
        dicom_uid(uid, "StudyInstanceUID")
    if isinstance(uid, str):
        with pytest.raises(argparse.ArgumentTypeError, match="not a DICOM UID"):
            uid_argument(uid)


def test_review_entry_refuses_a_formula_as_uid():
    from cranioscan.inference import summarize_series
    from cranioscan.labels import CLASSES
    from cranioscan.review import ReviewError, findings_from_summary, new_entry

    found = findings_from_summary(summarize_series(np.full((2, 6), 0.1), {c: 0.5 for c in CLASSES}))
    assert new_entry("Dr Ada", "1.2.3", "1.2.3.4", SHA, found, {}).series_uid == "1.2.3.4"
    for study, series in ((PAYLOADS[0], "1.2.3.4"), ("1.2.3", "1.2.3.4; DROP")):
        with pytest.raises(ReviewError, match="no usable"):
            new_entry("Dr Ada", study, series, SHA, found, {})


@pytest.mark.parametrize("call", [
    lambda c: c.series_of("../../studies"),
    lambda c: c.series("1.2.3", "=HYPERLINK(1)"),
    lambda c: c.retrieve_files("1.2.3", "1.2.3.4?x=1"),
])
def test_pacs_client_refuses_a_non_uid_before_any_request(call):
    from cranioscan.pacs.client import PacsClient, PacsError
    from cranioscan.pacs.config import PacsConfig

    # Port 9 on loopback (discard): nothing listens, so a request would fail
    # with "cannot reach"; the UID check must answer first.
    with PacsClient(PacsConfig(url="http://127.0.0.1:9/dicom-web", connect_timeout=1)) as client:
        with pytest.raises(PacsError, match="not a DICOM UID"):
            call(client)


@pytest.mark.parametrize("argv", [
    ["predict", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "=1+1", "--out", "r.csv"],
    ["predict", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "1.2",
     "--series", "1.2/../3", "--out", "r.csv"],
    ["inspect", ".", "--series", "@x"],
])
def test_command_line_refuses_a_non_uid(argv, capsys):
    from cranioscan.cli import main as cli

    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2 and "not a DICOM UID" in capsys.readouterr().err
