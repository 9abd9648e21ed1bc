"""The reader's review in the dashboard, through Streamlit's AppTest.

The panel alone (a small real ``Series`` with its UIDs, probabilities
summarised as the viewer does) saves, refuses an incomplete review, lists
the series' history and offers the log as CSV; the Validation page's
"Reader agreement" view reads the same log; and in the whole app a review
saved in the Case viewer shows on the Validation page.
"""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from cranioscan.inference import summarize_series
from cranioscan.labels import CLASSES
from cranioscan.review import ReviewLog, findings_from_summary, new_entry
from cranioscan.review.audit import AuditLog
from cranioscan.ui import review_panel


APP = str(Path(__file__).resolve().parents[2] / "app.py")
SHA = "ab" * 32
PROBS = [[0.9, 0.1, 0.7, 0.0, 0.2, 0.3], [0.2, 0.1, 0.1, 0.0, 0.2, 0.6]]  # any, IPH, SDH flagged at 0.5


def panel_script(probs, sha):
    """The panel on a 2-slice series with UIDs (run by AppTest as a page)."""
    import numpy as np

    from cranioscan.dicom import Series
    from cranioscan.inference import summarize_series
    from cranioscan.ui import config, review_panel, state

    series = Series(hu=np.zeros((2, 8, 8), np.float32), positions=np.array([0.0, 5.0]),
                    spacing=(0.5, 0.5), series_uid="1.2.826.0.1.3680043.8.498.2",
                    study_uid="1.2.826.0.1.3680043.8.498.1")
    case = state.ActiveCase(key="k", label="two slices", source="upload", series=series)
    from cranioscan.labels import CLASSES
    from cranioscan.series_result import ModelIdentity, SeriesResult

    result = SeriesResult(np.array(probs), {c: 0.5 for c in CLASSES},
                          ModelIdentity("test model", sha, 64, "not for clinical use"))
    review_panel.show(case, result, sha, config.from_env())


@pytest.fixture
def log_path(tmp_path, monkeypatch):
    path = tmp_path / "logs" / "reviews.sqlite"
    monkeypatch.setenv("CRANIOSCAN_REVIEW_DB", str(path))
    monkeypatch.setenv("CRANIOSCAN_AUDIT_DB", str(tmp_path / "logs" / "audit.sqlite"))
    return path


@pytest.fixture
def downloads(monkeypatch):
    """What Streamlit was handed for each download button: file name -> bytes, or the
    callable that makes them on click (deferred data)."""
    seen, original = {}, MediaFileManager.add
    original_deferred = MediaFileManager.add_deferred

    def recording_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        seen[file_name] = data_callable
        return original_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording_deferred)

    def recording_add(self, path_or_data, mimetype, coordinates, file_name=None,
                      is_for_static_download=False):
        if is_for_static_download:
            seen[file_name] = path_or_data
        return original(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", recording_add)
    return seen


def radio(at, finding):
    return next(r for r in at.radio if r.key and r.key.endswith("_" + finding))


def test_panel_saves_shows_history_and_downloads_the_log(log_path, downloads):
    at = AppTest.from_function(panel_script, args=(PROBS, SHA), default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [r.label.split(":")[0] for r in at.radio] == ["Any hemorrhage", "Intraparenchymal", "Subdural"]
    assert radio(at, "subdural").label == "Subdural: 0.600 ≥ threshold 0.500 (highest on slice 2)"
    assert at.multiselect[0].options == ["Epidural", "Intraventricular", "Subarachnoid"]
    assert any("No review of this series yet" in c.value for c in at.caption)
    assert at.get("download_button")[0].proto.disabled  # nothing to download yet

    # Without a name and answers nothing is saved, and the message says why.
    at.button[0].click().run()
    shown = [e.value.replace("\\", "") for e in at.error]  # markdown escapes read as text
    assert shown == ["Not saved: enter the reader's name before saving a review."]
    at.text_input(key=review_panel.READER_KEY).input("Dr Ada").run()
    # Any subset of answers is saved; the flags left open are stored unanswered and named.
    radio(at, "any").set_value("agree")
    at.button[0].click().run()
    assert not at.error
    assert at.success[0].value.replace("\\", "").endswith(
        "2 flagged findings left unanswered: intraparenchymal, subdural.")
    assert ReviewLog(log_path).entries()[0].unanswered() == ["intraparenchymal", "subdural"]

    radio(at, "intraparenchymal").set_value("disagree")
    radio(at, "subdural").set_value("agree")
    at.multiselect[0].set_value(["subarachnoid"])
    at.text_area[0].input("IPH is beam hardening")
    at.button[0].click().run()
    assert not at.error and "Review saved (entry 2" in at.success[0].value.replace("\\", "")
    history = at.dataframe[0].value
    assert list(history["Reader"]) == ["Dr Ada", "Dr Ada"]
    assert history.loc[0, "Answers"] == "any ICH agree; IPH disagree; SDH agree; missed: SAH"
    assert history.loc[0, "Note"] == "IPH is beam hardening" and history.loc[0, "Model SHA-256"] == SHA[:12]

    # The log on disk holds what the reader saw and said.
    partial, saved = ReviewLog(log_path).entries()
    assert partial.answers() == {"any": "agree"}
    assert saved.series_uid == "1.2.826.0.1.3680043.8.498.2" and saved.model_sha256 == SHA
    assert [f.probability for f in saved.findings] == pytest.approx([0.9, 0.1, 0.7, 0.0, 0.2, 0.6])
    assert saved.answers() == {"any": "agree", "intraparenchymal": "disagree", "subdural": "agree",
                               "subarachnoid": "missed"}

    # A second save is a new entry; both show, newest first; the name is asked once.
    assert at.text_input(key=review_panel.READER_KEY).value == "Dr Ada"
    radio(at, "intraparenchymal").set_value("agree")
    at.button[0].click().run()
    assert list(at.dataframe[0].value["Answers"]) == [
        "any ICH agree; IPH agree; SDH agree; missed: SAH",
        "any ICH agree; IPH disagree; SDH agree; missed: SAH",
        "any ICH agree; unanswered: IPH, SDH"]
    assert len(ReviewLog(log_path).history("1.2.826.0.1.3680043.8.498.2")) == 3

    # The download is the whole log as CSV, one row per entry and finding; the click
    # (the deferred data being made) is recorded in the audit log under the typed name.
    audit = AuditLog(log_path.parent / "audit.sqlite")
    assert audit.events() == []
    data = downloads[review_panel.CSV_NAME]()
    assert [(e.who, e.action, e.detail) for e in audit.events()] == [
        ("not signed in (Dr Ada)", "download", "review log (CSV)")]
    rows = list(csv.DictReader(io.StringIO(data.decode() if isinstance(data, bytes) else data)))
    assert len(rows) == 18 and [r["finding"] for r in rows[:6]] == list(CLASSES)
    assert {r["entry_id"] for r in rows} == {"1", "2", "3"}
    assert rows[2]["flagged"] == "1" and rows[2]["answer"] == ""  # stored unanswered
    assert rows[8]["answer"] == "disagree" and rows[14]["answer"] == "agree"
    assert rows[10]["answer"] == "missed" and rows[0]["reader"] == "Dr Ada"


def test_panel_without_model_or_uids_says_so(log_path):
    def script():
        import numpy as np

        from cranioscan.dicom import Series
        from cranioscan.inference import summarize_series
        from cranioscan.ui import config, review_panel, state

        series = Series(hu=np.zeros((1, 4, 4), np.float32), positions=np.zeros(1), spacing=(1, 1))
        case = state.ActiveCase(key="k", label="no uids", source="upload", series=series)
        review_panel.show(case, None, None, config.from_env())
        from cranioscan.labels import CLASSES
        from cranioscan.series_result import ModelIdentity, SeriesResult

        result = SeriesResult(np.full((1, 6), 0.9), {c: 0.5 for c in CLASSES},
                              ModelIdentity("test model", "ab" * 32, 64, "not for clinical use"))
        review_panel.show(case, result, "ab" * 32, config.from_env())

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception
    assert "no model is loaded" in at.info[0].value
    assert "cannot be reviewed" in at.warning[0].value and not at.button


def agreement_script():
    from cranioscan.ui import agreement_view, config

    agreement_view.show(config.from_env())


def test_validation_agreement_view_reads_the_log(log_path):
    at = AppTest.from_function(agreement_script, default_timeout=60).run()
    assert not at.exception and "No review saved yet" in at.info[0].value

    findings = findings_from_summary(summarize_series(np.array(PROBS), 0.5))
    log = ReviewLog(log_path)
    answers = {"any": "agree", "intraparenchymal": "disagree", "subdural": "agree"}
    log.save(new_entry("Dr Ada", "1.2", "1.2.3.1", SHA, findings, answers, note="old view"))
    log.save(new_entry("Dr Ada", "1.2", "1.2.3.1", SHA, findings, dict(answers, intraparenchymal="agree")))
    log.save(new_entry("Dr Bo", "1.2", "1.2.3.1", SHA, findings, answers, ["epidural"], "EDH at vertex"))
    log.save(new_entry("Dr Bo", "1.2", "1.2.3.2", "cd" * 32, findings, dict(answers, any="disagree")))

    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="agreement_model").value == "cd" * 32  # the model reviewed last
    at.selectbox(key="agreement_model").set_value(SHA).run()
    table = at.dataframe[0].value.set_index("Finding")
    assert table.loc["Intraparenchymal", ["Flags answered", "Agreed", "Disagreed"]].tolist() == [2, 1, 1]
    assert table.loc["Intraparenchymal", "Agreement"] == pytest.approx(0.5)
    assert table.loc["Any hemorrhage", "Agreed"] == 2 and table.loc["Epidural", "Marked missed"] == 1
    assert table.loc["Epidural", "95% interval"] == "–"
    assert any("2 reviews by 2 readers: each reader counts once per series" in c.value for c in at.caption)
    found = at.dataframe[1].value
    assert list(zip(found["Reader"], found["Finding"], found["Reader's answer"])) == [
        ("Dr Bo", "Epidural", "Missed by the model"),
        ("Dr Bo", "Intraparenchymal", "Disagrees with the flag")]
    assert found.loc[0, "Note"] == "EDH at vertex"
    assert list(found["Series"]) == ["1.2.3.1", "1.2.3.1"]  # short UIDs stay whole

    at.selectbox(key="agreement_model").set_value(None).run()
    assert at.dataframe[0].value.set_index("Finding").loc["Any hemorrhage", "Disagreed"] == 1


def test_whole_app_review_saved_in_viewer_shows_on_validation(app_env, tmp_path, monkeypatch):
    """The real viewer on the default demo case with the tiny model, then the Validation page."""
    monkeypatch.setenv("CRANIOSCAN_REVIEW_DB", str(tmp_path / "reviews.sqlite"))
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    case = at.session_state["cs_case"]
    at.text_input(key=review_panel.READER_KEY).input("Dr Ada").run()
    for r in at.radio:
        if r.key and r.key.startswith("review_"):
            r.set_value("disagree")
    at.text_area(key=next(t.key for t in at.text_area if t.key.startswith("review_"))).input("phantom")
    next(b for b in at.button if b.label == "Save review").click().run()
    assert not at.exception and any("Review saved" in s.value for s in at.success), \
        [e.value for e in at.error]
    (saved,) = ReviewLog(tmp_path / "reviews.sqlite").entries()
    assert saved.series_uid == case.series.series_uid and saved.study_uid == case.series.study_uid
    from cranioscan.inference import file_sha256
    assert saved.model_sha256 == file_sha256(app_env["CRANIOSCAN_MODEL"])
    assert saved.note == "phantom" and saved.reader == "Dr Ada"

    at.switch_page("pages/validation.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(s.value == "Reader agreement" for s in at.subheader)
    table = next(d.value for d in at.dataframe if "Flags answered" in d.value.columns)
    flagged = [f.finding for f in saved.findings if f.flagged]
    assert int(table["Disagreed"].sum()) == len(flagged) and int(table["Agreed"].sum()) == 0
