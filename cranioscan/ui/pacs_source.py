"""The case viewer's "PACS (DICOMweb)" source: search, pick a series, retrieve, send results.

:func:`choose` draws the search form (patient ID, name, accession number,
study date range; CT studies only), the studies and series found (patient
identifiers hidden unless asked for, as in the metadata table), and a
Retrieve button that fetches the series into this session's memory with a
progress bar and loads it as an upload is. It returns the retrieved
:class:`~cranioscan.ui.state.ActiveCase` (``source == "pacs"``), which the
page scores and shows like any other. Once a PACS series is shown, a "Send
results to the PACS" button stores the key images and the structured report
(:mod:`cranioscan.pacs.results`); nothing is ever sent without that click.

Every search, series listing, retrieval and send is first recorded in the
audit log (who, when, the study UID, the action; :mod:`.auth`); a search
also records each study it found. No query text is recorded.

The PACS comes from the ``CRANIOSCAN_DICOMWEB_*`` environment variables
(:mod:`cranioscan.pacs.config`). :func:`study_table` and
:func:`series_table` are pure.
"""

__all__ = ["PACS_SOURCE", "choose", "series_label", "series_table", "study_label", "study_table"]

import pandas as pd
import streamlit as st

from ..dicom import load_series
from ..formats import markdown_literal as md
from ..pacs.client import PacsClient, PacsError
from ..pacs.config import ENV_URL, from_env
from ..pacs.results import build_results, source_headers
from ..review.audit import AuditError
from ..visualize import case_view
from ..visualize.card_view import model_name
from ..visualize.case_view import HIDDEN, content_key
from . import auth, caches
from .state import ActiveCase

#: The label of this source in the viewer's source choice.
PACS_SOURCE = "PACS (DICOMweb)"

_STORE = "cs_pacs"  # session: {"hits", "series", "case", "headers", "sent"}


# ------------------------------------------------------------------ tables
def _shown(value, show):
    return (value or "—") if show or not value else HIDDEN


def _date(text):
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text or "") == 8 else (text or "")


def study_table(hits, show_identifiers=False):
    """Studies found as a table; patient ID, name, accession, date and UID hidden unless asked.

    Args:
        hits: list of :class:`~cranioscan.pacs.client.StudyHit`.
        show_identifiers: show the identifying columns' values.

    Returns:
        DataFrame, one row per study, numbered from 1 as :func:`study_label`.
    """
    rows = [{"#": k, "Patient ID": _shown(h.patient_id, show_identifiers),
             "Patient name": _shown(h.patient_name, show_identifiers),
             "Accession": _shown(h.accession_number, show_identifiers),
             "Study date": _shown(_date(h.study_date), show_identifiers),
             "Description": h.description or "—", "Modalities": ", ".join(h.modalities) or "—",
             "Series": h.n_series, "Images": h.n_instances,
             "Study UID": _shown(h.study_uid, show_identifiers)}
            for k, h in enumerate(hits, start=1)]
    return pd.DataFrame(rows, columns=["#", "Patient ID", "Patient name", "Accession", "Study date",
                                       "Description", "Modalities", "Series", "Images",
                                       "Study UID"])


def study_label(hits, index, show_identifiers=False):
    """One line naming study ``index`` (0-based) of ``hits`` for a picker."""
    h = hits[index]
    who = f" · {h.patient_id} · {_date(h.study_date)}" if show_identifiers else ""
    return (f"Study {index + 1}{who} · {h.description or 'no description'} · "
            f"{h.n_instances or '?'} images")


def series_table(hits, show_identifiers=False):
    """CT series of a study as a table (series UID hidden unless asked)."""
    rows = [{"#": k, "Number": h.series_number or "—", "Description": h.description or "—",
             "Modality": h.modality, "Images": h.n_instances,
             "Series UID": _shown(h.series_uid, show_identifiers)}
            for k, h in enumerate(hits, start=1)]
    return pd.DataFrame(rows, columns=["#", "Number", "Description", "Modality", "Images",
                                       "Series UID"])


def series_label(hit):
    """One line naming a series for a picker."""
    return (f"{hit.series_number or '–'}: {hit.description or 'no description'} "
            f"({hit.n_instances or '?'} images)")


# ------------------------------------------------------------------ widgets
def _clicked(where, label, key, **kwargs):
    """``st.button`` whose click is kept as a flag set by its callback.

    The button's own return value is lost when the script reruns (``st.rerun``)
    before this code is reached, as the viewer can; the flag is not. Returns
    True once, in the run that follows the click.
    """
    def flag():
        st.session_state[f"{key}_clicked"] = True

    where.button(label, key=key, on_click=flag, **kwargs)
    return bool(st.session_state.pop(f"{key}_clicked", False))


def _store():
    return st.session_state.setdefault(_STORE, {"hits": None, "case": None, "headers": None,
                                                "sent": None})


def _client():
    return PacsClient(from_env())


def _series_of(store, study_uid):
    """The CT series of a study, asked of the PACS once per search (kept in the session)."""
    known = store.setdefault("series", {})
    if study_uid not in known:
        auth.record("pacs_query", study_uid, detail="series of the study")
        with _client() as client:
            known[study_uid] = client.series_of(study_uid)
    return known[study_uid]


def _search_form():
    """The search fields and button; returns the fields when Search is clicked, else None."""
    c1, c2, c3 = st.columns(3)
    patient_id = c1.text_input("Patient ID", key="pacs_patient_id")
    name = c2.text_input("Patient name", key="pacs_patient_name",
                         help="Start of the name; DOE^JOHN or 'doe john'.")
    accession = c3.text_input("Accession number", key="pacs_accession")
    c4, c5 = st.columns([3, 1], vertical_alignment="bottom")
    dates = c4.date_input("Study date (from – to)", value=(), key="pacs_dates",
                          format="YYYY-MM-DD", min_value=pd.Timestamp("1980-01-01").date())
    if not _clicked(c5, "Search", key="pacs_search", icon=":material/search:", width="stretch"):
        return None
    dates = tuple(dates or ())
    return {"patient_id": patient_id, "patient_name": name, "accession_number": accession,
            "date_from": dates[0] if dates else "", "date_to": dates[-1] if dates else ""}


def _retrieve(client, hit):
    """Retrieve ``hit`` with a progress bar; return ``(ActiveCase, headers)``."""
    auth.record("pacs_retrieve", hit.study_uid, hit.series_uid)
    bar = st.progress(0.0, text="Retrieving from the PACS…")

    def progress(done, total):
        fraction = min(done / total, 1.0) if total else 0.0
        bar.progress(fraction, text=f"Retrieved {done} of {total or '?'} images")

    files = client.retrieve_files(hit.study_uid, hit.series_uid, progress=progress)
    bar.progress(1.0, text=f"Retrieved {len(files)} images; loading…")
    series = load_series(files, series_uid=hit.series_uid)
    headers = source_headers(files)
    bar.empty()
    label = f"PACS: {hit.description or 'series'} ({series.n_slices} slices)"
    case = ActiveCase(key=content_key(series), label=label, source="pacs", series=series)
    return case, headers


def _send_button(predictor, store):
    """The explicit "Send results to the PACS" button for the PACS case shown."""
    from .. import explain  # TensorFlow loads on the first map, not at app start

    case = store["case"]
    clicked = _clicked(
        st, "Send results to the PACS", key="pacs_send", icon=":material/upload:",
        help="Stores key images with the model's map (marked RESEARCH USE - NOT FOR DIAGNOSIS) "
             "and a structured report of the findings in this study, in two new series.")
    if clicked:
        with st.spinner("Building key images and the report, and sending them…"):
            layer = explain.default_layer(predictor)
            datasets = build_results(  # the maps the viewer has already drawn come from its cache
                predictor, case.series, store["headers"], caches.assess(predictor, case),
                model_name(predictor.card, caches.config().model_path),
                heatmap=lambda i, c: caches.heatmap(predictor, case, i, c, layer,
                                                    case_view.OVERLAY_METHOD))
            auth.record("pacs_send", case.series.study_uid, case.series.series_uid,
                        detail=f"{len(datasets)} datasets (key images and a structured report)")
            with _client() as client:
                client.store(datasets)
        store["sent"] = (case.key, len(datasets) - 1)
    if store["sent"] and store["sent"][0] == case.key:
        st.success(f"Sent to the PACS: {store['sent'][1]} key image(s) and a structured report, "
                   "in new series of this study.", icon=":material/check_circle:")


def choose(predictor=None):
    """Draw the PACS source; return the retrieved ActiveCase, or None before one is retrieved.

    Errors of the PACS (unreachable, refused, missing, not CT, timed out)
    are shown as messages; a load error of the retrieved files is raised
    (``DicomLoadError``) for the page to show as it does for an upload.
    """
    store = _store()
    try:
        config = from_env()
    except ValueError as exc:
        st.error(f"PACS settings: {md(exc)}", icon=":material/error:")
        return None
    if not config.configured:
        st.info(f"No PACS is configured. Set {ENV_URL} to its DICOMweb address before starting "
                "the dashboard (docs/pacs.md); `python -m cranioscan.pacs.orthanc_dev` starts a "
                "test PACS loaded with phantoms.", icon=":material/info:")
        return None
    st.caption(f"PACS: {md(config.url)} · CT studies only · images stay in this session's memory")
    for line in config.security_warnings:  # a protection that is off is said on the page
        st.warning(line, icon=":material/lock_open:")
    try:
        query = _search_form()
        if query is not None:
            fields = ", ".join(name for name, value in query.items() if value) or "no field"
            actor = auth.who()
            auth.record("pacs_query", detail=f"study search by {fields}", actor=actor)
            with _client() as client:
                store["hits"] = client.search_studies(**query)
            store["series"] = {}
            for hit in store["hits"]:  # which studies the search showed
                auth.record("pacs_query", hit.study_uid, detail="study found by a search",
                            actor=actor)
        hits = store["hits"]
        if hits is not None and not hits:
            st.warning("No CT study matches this search.", icon=":material/search_off:")
        if hits:
            show = st.toggle("Show patient identifiers", key="pacs_show_ids",
                             help="Names, IDs, dates and UIDs are hidden unless you ask "
                                  "to see them.")
            st.dataframe(study_table(hits, show), hide_index=True, width="stretch")
            index = st.selectbox("Study", range(len(hits)), key="pacs_study",
                                 format_func=lambda i: study_label(hits, i, show))
            series = _series_of(store, hits[index].study_uid)
            st.dataframe(series_table(series, show), hide_index=True, width="stretch")
            pick = st.selectbox("Series", range(len(series)), key="pacs_series",
                                format_func=lambda i: series_label(series[i]))
            if _clicked(st, "Retrieve and score", key="pacs_retrieve", type="primary",
                        icon=":material/download:"):
                with _client() as client:
                    store["case"], store["headers"] = _retrieve(client, series[pick])
        if store["case"] is not None and predictor is not None:
            _send_button(predictor, store)
    except PacsError as exc:
        st.error(md(exc), icon=":material/cloud_off:")
    except AuditError as exc:  # nothing is asked of the PACS unless it is recorded
        st.error(f"Not done: the audit log cannot be written ({md(exc)}).", icon=":material/error:")
    return store["case"]
