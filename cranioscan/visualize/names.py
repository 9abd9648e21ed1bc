"""What downloads and reports call a case: from the series, never from upload file names.

An upload's label on screen is built from its file names
(``"Upload: DOE_JANE_MRN4242_headCT.zip"``), which often carry the patient's
name or record number. Names that leave the screen -- download file names and
the report's case line -- are made here from the series instead: its
description (dropped when it holds the patient's name or ID), and, only while
identifiers are shown, its date and the last digits of its UID; while they
are hidden, a short hash of the UID tells two series apart without naming
them.
"""

__all__ = ["download_stem", "case_title", "MAX_STEM"]

import hashlib
import re

#: Longest download name stem (characters, before ``_slices.csv`` and the like).
MAX_STEM = 60

_SLUG = re.compile(r"[^A-Za-z0-9]+")


def _slug(text, limit):
    return _SLUG.sub("_", str(text or "")).strip("_")[:limit].strip("_")


def _identifier_tokens(meta):
    """Pieces of the patient's name and IDs (3 characters or longer), lower case."""
    tokens = set()
    for key in ("patient_name", "patient_id", "accession_number", "patient_birth_date"):
        value = str(meta.get(key) or "")
        tokens.update(t.lower() for t in re.split(r"[\^\s,._-]+", value) if len(t) >= 3)
        if len(value) >= 3:
            tokens.add(value.lower())
    return tokens


def _description(series):
    """The series description, or None when empty or carrying an identifier."""
    meta = getattr(series, "meta", None) or {}
    text = str(meta.get("series_description") or meta.get("study_description") or "").strip()
    if not text:
        return None
    lowered = text.lower()
    if any(token in lowered for token in _identifier_tokens(meta)):
        return None
    return text


def _series_uid(series):
    meta = getattr(series, "meta", None) or {}
    return str(getattr(series, "series_uid", None) or meta.get("series_uid") or "")


def _date(series):
    meta = getattr(series, "meta", None) or {}
    value = re.sub(r"\D", "", str(meta.get("series_date") or meta.get("study_date") or ""))
    return value[:8] if len(value) >= 8 else ""


def download_stem(case, index=None, show_identifiers=False):
    """A short, safe file name stem for the case's downloads.

    ``cranioscan_<description>[_<date>_<UID tail>]`` or
    ``cranioscan_<description>_<hash>`` while identifiers are hidden, then
    ``_slice<N>`` (N from 1) for one slice; at most :data:`MAX_STEM`
    characters before the slice suffix. Demo cases are named by their title
    (no patient). Upload and folder names never enter it.

    Args:
        case: the :class:`~cranioscan.ui.state.ActiveCase` (``source``, ``label``,
            ``series``).
        index: 0-based slice, or None for the whole series.
        show_identifiers: the viewer's "Show patient identifiers" switch.
    """
    series = case.series
    if getattr(case, "source", "") == "demo":
        parts = [_slug(case.label, 40) or "demo"]
    else:
        parts = [_slug(_description(series), 24) or _slug((series.meta or {}).get("modality"), 8)
                 or "series"]
        uid = _series_uid(series)
        if show_identifiers:
            parts += [_date(series), _slug(uid.replace(".", ""), 64)[-8:]]
        elif uid:
            parts.append(hashlib.sha256(uid.encode()).hexdigest()[:8])
    stem = "cranioscan_" + "_".join(p for p in parts if p)
    stem = stem[:MAX_STEM].rstrip("_")
    return stem + ("" if index is None else f"_slice{int(index) + 1}")


def case_title(case, show_identifiers=False):
    """The case as a report names it.

    A demo case keeps its title. Any other case is named by its series while
    identifiers are hidden (``"Uploaded series: HEAD 5mm, 36 slices"``), and
    by its label (file or folder names, the PACS listing) only while they
    are shown.
    """
    source = getattr(case, "source", "")
    if source == "demo" or show_identifiers:
        return str(case.label)
    what = {"upload": "Uploaded series", "folder": "Series from a server folder",
            "pacs": "PACS series"}.get(source, "Series")
    description = _description(case.series)
    n = case.series.n_slices
    return f"{what}: {description + ', ' if description else ''}{n} slice{'s' if n != 1 else ''}"
