"""The Case viewer's review panel: the reader answers the model's flags for one series.

:func:`show` draws, below the viewer's other panels: the reader's name
(entered once per browser session), agree / disagree per flagged finding,
the findings the reader sees and the model missed, a note and a Save button;
the reader is the signed-in account when sign-in is configured
(:mod:`.auth`), else a typed name;
then every saved review of this series and a download of the whole log as
CSV. Entries go to the append-only log of :mod:`cranioscan.review`
(``CRANIOSCAN_REVIEW_DB``, default ``<cache>/review/reviews.sqlite``),
keyed by the series' DICOM UIDs, never by patient name or ID.
"""

__all__ = ["READER_KEY", "review_log", "answers_text", "history_table", "show"]

import hashlib

import pandas as pd
import streamlit as st

from ..formats import markdown_literal as md, probability
from ..review import (AGREE, DISAGREE, ReviewError, ReviewLog, findings_from_result, new_entry,
                      resolve_path, to_csv)
from ..review.entry import MAX_NOTE, MAX_READER
from ..visualize import text as vis_text
from . import auth
from .auth import READER_KEY

CSV_NAME = "cranioscan_review_log.csv"
_ANSWER_TITLES = {AGREE: "Agree", DISAGREE: "Disagree"}


def review_log(cfg):
    """The :class:`~cranioscan.review.ReviewLog` of these settings (``cfg.cache_dir``, environment)."""
    return ReviewLog(resolve_path(cfg.cache_dir))


def answers_text(entry):
    """The reader's answers in one line: ``"SDH agree; IPH disagree; missed: EDH"``."""
    parts = [f"{vis_text.CLASS_SHORT[f.finding]} {f.answer}" for f in entry.findings
             if f.answer in (AGREE, DISAGREE)]
    missed = [vis_text.CLASS_SHORT[f.finding] for f in entry.findings if f.answer == "missed"]
    if missed:
        parts.append("missed: " + ", ".join(missed))
    open_flags = [vis_text.CLASS_SHORT[name] for name in entry.unanswered()]
    if open_flags:
        parts.append("unanswered: " + ", ".join(open_flags))
    return "; ".join(parts) or "nothing flagged, nothing missed"


def history_table(entries):
    """The entries of one series, newest first, as the panel lists them."""
    return pd.DataFrame({
        "Saved (UTC)": [e.saved_at[:19].replace("T", " ") for e in reversed(entries)],
        "Reader": [e.reader for e in reversed(entries)],
        "Answers": [answers_text(e) for e in reversed(entries)],
        "Note": [e.note for e in reversed(entries)],
        "Model SHA-256": [e.model_sha256[:12] for e in reversed(entries)],
    }, columns=["Saved (UTC)", "Reader", "Answers", "Note", "Model SHA-256"])


def _finding_label(f):
    return (f"{vis_text.CLASS_LABELS[f.finding]}: {probability(f.probability)} ≥ threshold "
            f"{probability(f.threshold)} "
            f"(highest on slice {f.max_slice})")


def _message_key(tag):
    return f"review_{tag}_message"


def _save(log, series, findings, model_sha256, tag, reader=None):
    """Save-button callback: save the form's answers; the outcome is shown by :func:`_form`.

    (A callback, run before the page, so that the answers are saved once
    per click whatever else reruns the page.)
    """
    state = st.session_state
    if reader is None:  # no sign-in: the typed name
        reader = state.get(READER_KEY) or ""
    answers = {f.finding: state.get(f"review_{tag}_{f.finding}") for f in findings if f.flagged}
    try:
        entry = new_entry(reader, series.study_uid, series.series_uid,
                          model_sha256, findings, {k: v for k, v in answers.items() if v is not None},
                          state.get(f"review_{tag}_missed") or (), state.get(f"review_{tag}_note") or "")
        saved = log.save(entry)
    except ReviewError as exc:
        state[_message_key(tag)] = ("error", f"Not saved: {exc}.")
        return
    text = f"Review saved (entry {saved.entry_id}, {saved.saved_at[:19].replace('T', ' ')} UTC)"
    open_flags = saved.unanswered()
    if open_flags:
        text += (f"; {len(open_flags)} flagged finding{'s' if len(open_flags) != 1 else ''} left "
                 "unanswered: " + ", ".join(vis_text.CLASS_LABELS[n].lower() for n in open_flags))
    state[_message_key(tag)] = ("success", text + ".")


def _form(log, series, findings, model_sha256, tag, reader=None):
    """The answers form; the Save button appends an entry to ``log``."""
    flagged = [f for f in findings if f.flagged]
    unflagged = [f.finding for f in findings if not f.flagged]
    with st.form(key=f"review_form_{tag}", border=True):
        if flagged:
            st.markdown("**Findings the model flagged**: do you agree?")
        else:
            st.caption("The model flagged no finding on this series.")
        for f in flagged:
            st.radio(_finding_label(f), [AGREE, DISAGREE], index=None, horizontal=True,
                     format_func=_ANSWER_TITLES.get, key=f"review_{tag}_{f.finding}")
        st.multiselect("Findings you see that the model did not flag", unflagged,
                       format_func=vis_text.CLASS_LABELS.get, key=f"review_{tag}_missed")
        st.text_area("Note", key=f"review_{tag}_note", max_chars=MAX_NOTE, height=80)
        st.form_submit_button("Save review", type="primary", icon=":material/save:",
                              key=f"review_save_{tag}", on_click=_save,
                              args=(log, series, findings, model_sha256, tag, reader))
    outcome = st.session_state.pop(_message_key(tag), None)
    if outcome is not None:
        kind, text = outcome
        if kind == "error":
            st.error(md(text), icon=":material/error:")
        else:
            st.success(md(text), icon=":material/check_circle:")


def show(case, result, model_sha256, cfg):
    """Draw the review panel of ``case``'s series.

    Args:
        case: the viewer's :class:`~.state.ActiveCase`.
        result: the series' :class:`~cranioscan.series_result.SeriesResult`, or
            None when no model is loaded (then there is nothing to review).
        model_sha256: hex SHA-256 of the model file that gave ``result``.
        cfg: the dashboard's :class:`~.config.AppConfig` (where the log lives).
    """
    st.subheader("Reader's review")
    if result is None or not model_sha256:
        st.info("Reviews answer the model's flags: no model is loaded.")
        return
    series = case.series
    if not (series.series_uid and series.study_uid):
        st.warning("This series has no StudyInstanceUID or SeriesInstanceUID: reviews are kept by "
                   "these UIDs, so this series cannot be reviewed.", icon=":material/warning:")
        return
    log = review_log(cfg)
    st.caption("Saved in the review log with this series' DICOM UIDs (no patient name or ID), the "
               "model file's SHA-256 and the probabilities and thresholds shown. Saving again adds "
               "an entry; earlier ones stay as history.")
    reader = auth.signed_in_user()  # None without sign-in
    if reader is not None:
        st.markdown(f"**Reader:** {md(reader)} (signed in)")
    else:
        st.text_input("Reader", key=READER_KEY, persist_state="session", max_chars=MAX_READER,
                      placeholder="Your name (asked once per session)")
    tag = hashlib.blake2b(series.series_uid.encode(), digest_size=6).hexdigest()
    _form(log, series, findings_from_result(result), model_sha256, tag, reader)
    try:
        everything = log.entries()
    except ReviewError as exc:
        st.error(f"The review log cannot be read: {md(exc)}.", icon=":material/error:")
        return
    history = [entry for entry in everything if entry.series_uid == series.series_uid]
    if history:
        st.markdown(f"**Reviews of this series** ({len(history)}; the newest first is the current one)")
        st.dataframe(history_table(history), hide_index=True, width="stretch")
    else:
        st.caption("No review of this series yet.")
    csv_text = to_csv(everything)
    st.download_button("Download the review log (CSV)",
                       auth.audited(lambda: csv_text, "review log (CSV)"), file_name=CSV_NAME,
                       mime="text/csv", key="review_csv", on_click="ignore",
                       icon=":material/download:", disabled=not everything,
                       help=f"All {len(everything)} saved reviews, one row per review and finding.")
