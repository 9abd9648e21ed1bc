"""The case viewer's PACS source through Streamlit's AppTest, against the real Orthanc."""

import os

import pytest

from cranioscan.pacs.client import StudyHit
from cranioscan.review.audit import AuditLog
from cranioscan.ui import pacs_source
from cranioscan.visualize.case_view import HIDDEN

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


def test_study_table_hides_identifiers_unless_asked():
    hits = [StudyHit("1.2.3", patient_id="P1", patient_name="DOE^JANE", accession_number="A9",
                     study_date="20240105", description="CT HEAD", modalities=("CT",),
                     n_series=2, n_instances=60)]
    hidden = pacs_source.study_table(hits).iloc[0]
    assert [hidden[c] for c in ("Patient ID", "Patient name", "Accession", "Study date",
                                "Study UID")] == [HIDDEN] * 5
    assert (hidden["Description"], hidden["Images"]) == ("CT HEAD", 60)
    shown = pacs_source.study_table(hits, show_identifiers=True).iloc[0]
    assert (shown["Patient name"], shown["Study date"]) == ("DOE^JANE", "2024-01-05")
    assert "P1" not in pacs_source.study_label(hits, 0)
    assert "P1" in pacs_source.study_label(hits, 0, show_identifiers=True)


@pytest.fixture
def pacs_app(app_env, pacs, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CRANIOSCAN_AUDIT_DB", str(tmp_path / "audit" / "audit.sqlite"))
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_URL", pacs.url)
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_USER", "cranio")
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_PASSWORD", "scan")
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    at.radio(key="source").set_value(pacs_source.PACS_SOURCE).run()
    return at


def _search(at, **fields):
    for key, value in fields.items():
        at.text_input(key=f"pacs_{key}").set_value(value)
    at.button(key="pacs_search").click().run()
    assert not at.exception, [e.message for e in at.exception]


def test_search_retrieve_and_score(pacs_app, pacs, tmp_path):
    at = pacs_app
    _search(at, patient_id="PHANTOM-001")
    table = at.dataframe[0].value
    assert len(table) == 1 and table.iloc[0]["Patient ID"] == HIDDEN
    at.toggle(key="pacs_show_ids").set_value(True).run()
    assert at.dataframe[0].value.iloc[0]["Patient ID"] == "PHANTOM-001"
    assert len(at.selectbox(key="pacs_series").options) == 1
    assert not [b for b in at.button if b.label == "Send results to the PACS"]  # nothing yet
    at.button(key="pacs_retrieve").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(m.startswith("**Slice ") for m in (str(e.value) for e in at.markdown))
    assert at.slider(key="slice_no").max == pacs.n_slices
    assert [b for b in at.button if b.label == "Send results to the PACS"]  # explicit, not sent

    # Each PACS search (and the studies it showed), listing, retrieval and send is in the
    # audit log: who, which study and series, what; never the query's text.
    at.button(key="pacs_send").click().run()
    assert not at.exception, [e.message for e in at.exception]
    series = at.session_state["cs_pacs"]["case"].series
    study, series_uid = series.study_uid, series.series_uid
    events = AuditLog(tmp_path / "audit" / "audit.sqlite").events()
    assert [(e.who, e.action, e.study_uid, e.series_uid) for e in events] == [
        ("not signed in", "pacs_query", "", ""), ("not signed in", "pacs_query", study, ""),
        ("not signed in", "pacs_query", study, ""),
        ("not signed in", "pacs_retrieve", study, series_uid),
        ("not signed in", "pacs_send", study, series_uid)]
    assert events[0].detail == "study search by patient_id"  # the field, not its value
    assert not any("PHANTOM" in e.detail for e in events)


def test_pacs_failures_are_messages(pacs_app, pacs, monkeypatch):
    at = pacs_app
    _search(at, patient_id="NOBODY")
    assert any("No CT study matches" in str(w.value) for w in at.warning)
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_PASSWORD", "wrong")
    _search(at, patient_id="PHANTOM-000")
    assert any("HTTP 401" in str(e.value) for e in at.error), [e.value for e in at.error]
    monkeypatch.delenv("CRANIOSCAN_DICOMWEB_URL")
    at.run()
    assert any("No PACS is configured" in str(i.value) for i in at.info)
