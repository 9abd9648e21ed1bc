"""How often readers agreed with the model's flags: pure functions on review entries.

Each reader counts once per series: only the newest entry of each
(reader, series) pair is used (:func:`latest_per_reader_series`); older
entries are history. Reader names are compared without case and surrounding
spaces. Optionally only the entries made with one model file (its SHA-256)
are used, since two models flag different findings.

Per finding (:func:`agreement_by_finding`): of the flags readers answered,
how many they agreed with, the proportion with its 95% Wilson interval, and
how many times readers marked the finding as missed by the model. The
disagreements themselves are listed by :func:`disagreements`.
"""

__all__ = ["FindingAgreement", "Disagreement", "latest_per_reader_series", "agreement_by_finding",
           "disagreements", "wilson_interval"]

import dataclasses
import math

from ..evaluation.metrics import wilson_interval  # noqa: F401 (re-exported: the readers' agreement interval)
from ..labels import CLASSES
from .entry import AGREE, DISAGREE, MISSED


@dataclasses.dataclass(frozen=True)
class FindingAgreement:
    """Readers' agreement with the model's flags of one finding.

    Attributes:
        finding: class name.
        flags: flags readers answered (agree + disagree).
        agreed, disagreed: answers of each kind.
        proportion: ``agreed / flags`` (NaN without flags).
        ci_low, ci_high: 95% Wilson interval of ``proportion`` (NaN without flags).
        missed: times readers marked the finding where the model did not flag it.
        reviews: (reader, series) reviews counted.
    """

    finding: str
    flags: int
    agreed: int
    disagreed: int
    proportion: float
    ci_low: float
    ci_high: float
    missed: int
    reviews: int


@dataclasses.dataclass(frozen=True)
class Disagreement:
    """One finding where a reader's answer differs from the model.

    Attributes:
        saved_at: UTC time of the entry.
        reader: the reader's name.
        study_uid, series_uid: the series.
        finding: class name.
        probability, threshold: what the reader was shown.
        answer: ``"disagree"`` (a flag the reader rejects) or ``"missed"``
            (a finding the reader sees and the model did not flag).
        note: the entry's note.
        model_sha256: the model file's SHA-256.
    """

    saved_at: str
    reader: str
    study_uid: str
    series_uid: str
    finding: str
    probability: float
    threshold: float
    answer: str
    note: str
    model_sha256: str


def latest_per_reader_series(entries, model_sha256=None):
    """The newest entry of each (reader, series) pair, in the order of saving.

    Args:
        entries: :class:`~.entry.ReviewEntry` objects (any order; ``entry_id``
            orders them, else ``saved_at``).
        model_sha256: keep only entries made with this model file (None: all).
    """
    def order(entry):
        return (entry.entry_id is None, entry.entry_id or 0, entry.saved_at)

    newest = {}
    for entry in sorted(entries, key=order):
        if model_sha256 is None or entry.model_sha256 == model_sha256:
            newest[(entry.reader.strip().casefold(), entry.series_uid)] = entry
    return sorted(newest.values(), key=order)


def agreement_by_finding(entries, model_sha256=None, classes=CLASSES):
    """One :class:`FindingAgreement` per class, from the newest entry per (reader, series)."""
    current = latest_per_reader_series(entries, model_sha256)
    out = []
    for name in classes:
        answers = [f.answer for e in current for f in e.findings if f.finding == name]
        agreed, disagreed = answers.count(AGREE), answers.count(DISAGREE)
        flags = agreed + disagreed
        low, high = wilson_interval(agreed, flags)
        out.append(FindingAgreement(finding=name, flags=flags, agreed=agreed, disagreed=disagreed,
                                    proportion=agreed / flags if flags else math.nan,
                                    ci_low=low, ci_high=high, missed=answers.count(MISSED),
                                    reviews=len(current)))
    return out


def disagreements(entries, model_sha256=None):
    """Every disagreement and missed finding of the newest entry per (reader, series).

    Returns:
        list of :class:`Disagreement`, in the order of saving, then of ``CLASSES``.
    """
    out = []
    for entry in latest_per_reader_series(entries, model_sha256):
        for f in entry.findings:
            if f.answer in (DISAGREE, MISSED):
                out.append(Disagreement(saved_at=entry.saved_at, reader=entry.reader,
                                        study_uid=entry.study_uid, series_uid=entry.series_uid,
                                        finding=f.finding, probability=f.probability,
                                        threshold=f.threshold, answer=f.answer, note=entry.note,
                                        model_sha256=entry.model_sha256))
    return out
