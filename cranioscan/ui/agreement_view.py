"""The Validation page's "Reader agreement" view: readers' answers to the model's flags.

Reads the review log the Case viewer writes (:mod:`.review_panel`) and shows,
per finding, how often readers agreed with the model's flags (newest review
per reader and series, :mod:`cranioscan.review.agreement`), then every
disagreement and missed finding. Series are named by the end of their UID
unless the user asks for the whole UIDs, as elsewhere in the dashboard.
"""

__all__ = ["agreement_table", "disagreement_table", "model_choices", "show"]

import pandas as pd
import streamlit as st

from ..formats import PROBABILITY_FORMAT, interval, markdown_literal as md, plural
from ..review import ReviewError, agreement_by_finding, disagreements
from ..visualize import text as vis_text
from .review_panel import review_log

_ANSWERS = {"disagree": "Disagrees with the flag", "missed": "Missed by the model"}


def agreement_table(rows):
    """:class:`~cranioscan.review.FindingAgreement` rows as a table (one row per finding)."""
    return pd.DataFrame({
        "Finding": [vis_text.CLASS_LABELS[r.finding] for r in rows],
        "Flags answered": [r.flags for r in rows],
        "Agreed": [r.agreed for r in rows],
        "Disagreed": [r.disagreed for r in rows],
        "Agreement": [r.proportion for r in rows],
        "95% interval": [interval(r.ci_low, r.ci_high, digits=2, missing="–") for r in rows],
        "Marked missed": [r.missed for r in rows],
    })


def _short_uid(uid):
    return uid if len(uid) <= 10 else "…" + uid[-8:]


def disagreement_table(found, show_uids=False):
    """:class:`~cranioscan.review.Disagreement` rows as a table, UIDs shortened unless asked."""
    name = (lambda uid: uid) if show_uids else _short_uid
    return pd.DataFrame({
        "Saved (UTC)": [d.saved_at[:19].replace("T", " ") for d in found],
        "Reader": [d.reader for d in found],
        "Series": [name(d.series_uid) for d in found],
        "Finding": [vis_text.CLASS_LABELS[d.finding] for d in found],
        "Probability": [d.probability for d in found],
        "Threshold": [d.threshold for d in found],
        "Reader's answer": [_ANSWERS[d.answer] for d in found],
        "Note": [d.note for d in found],
    }, columns=["Saved (UTC)", "Reader", "Series", "Finding", "Probability", "Threshold",
                "Reader's answer", "Note"])


def model_choices(entries):
    """Model SHA-256s in the log, most recently used first, with their entry counts."""
    counts, last = {}, {}
    for k, e in enumerate(entries):
        counts[e.model_sha256] = counts.get(e.model_sha256, 0) + 1
        last[e.model_sha256] = k
    return sorted(counts.items(), key=lambda item: -last[item[0]])


def show(cfg):
    """Draw the "Reader agreement" section from the review log of ``cfg``."""
    st.subheader("Reader agreement")
    log = review_log(cfg)
    try:
        entries = log.entries()
    except ReviewError as exc:
        st.error(f"The review log cannot be read: {md(exc)}.", icon=":material/error:")
        return
    if not entries:
        st.info("No review saved yet: readers agree or disagree with the model's flags in the Case "
                "viewer, under each series.", icon=":material/rate_review:")
        return
    choices = model_choices(entries)
    labels = {sha: f"model {sha[:12]}… ({count} reviews)" for sha, count in choices}
    sha = st.selectbox("Model", [None] + [s for s, _ in choices], index=1, key="agreement_model",
                       format_func=lambda s: "All models" if s is None else labels[s],
                       help="Two models flag different findings: by default the model reviewed last.")
    rows = agreement_by_finding(entries, model_sha256=sha)
    st.dataframe(agreement_table(rows), hide_index=True, width="stretch",
                 column_config={"Agreement": st.column_config.NumberColumn(format="percent")})
    readers = {e.reader.strip().casefold() for e in entries if sha is None or e.model_sha256 == sha}
    st.caption(f"{plural(rows[0].reviews, 'review')} by {plural(len(readers), 'reader')}: each reader "
               "counts once per series, with their newest review. Agreement: share of flagged "
               "findings the readers confirmed (95% Wilson interval). This is readers' opinion, not "
               "ground truth.")
    found = disagreements(entries, model_sha256=sha)
    st.markdown(f"**Disagreements** ({len(found)})")
    if not found:
        st.caption("Readers agreed with every flag and marked no missed finding.")
        return
    show_uids = st.toggle("Show full series UIDs", key="agreement_uids")
    st.dataframe(disagreement_table(found, show_uids), hide_index=True, width="stretch",
                 column_config={"Probability": st.column_config.NumberColumn(format=PROBABILITY_FORMAT),
                                "Threshold": st.column_config.NumberColumn(format=PROBABILITY_FORMAT)})
