"""One reader's review of one series: what the model showed and what the reader answered.

A :class:`ReviewEntry` holds what is stored per save (see :mod:`.log`): the
reader's name, the series' StudyInstanceUID and SeriesInstanceUID (never a
patient name or ID), the model file's SHA-256, and per class of
``cranioscan.labels.CLASSES`` one :class:`FindingReview`: the probability
and threshold the reader was shown, whether the model flagged the finding,
and the reader's answer. :func:`findings_from_summary` turns the viewer's
series summary (``Predictor.summarize``) into those findings.

Answers: a flagged finding is answered ``"agree"`` or ``"disagree"``, or
left unanswered (``None``, stored as such: a reader may save what they have
read so far); a finding the model did not flag may be marked ``"missed"``
by the reader (the reader sees it, the model did not) or left unanswered.
Where a workflow requires answers (``new_entry(required=...)``), the message
names every finding still unanswered.
"""

__all__ = [
    "AGREE",
    "DISAGREE",
    "MISSED",
    "FindingReview",
    "ReviewEntry",
    "ReviewError",
    "findings_from_result",
    "findings_from_summary",
    "new_entry",
]

import dataclasses
import datetime
import math
import re

from ..labels import CLASSES
from ..uids import is_dicom_uid

AGREE, DISAGREE, MISSED = "agree", "disagree", "missed"
#: Longest reader name and note kept (characters); longer input is refused.
MAX_READER, MAX_NOTE = 200, 5000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ReviewError(ValueError):
    """A review that cannot be saved or read; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class FindingReview:
    """What the reader saw and answered for one class.

    Attributes:
        finding: class name (``cranioscan.labels.CLASSES``).
        probability: the series' highest slice probability shown, in [0, 1].
        threshold: the operating threshold shown, in [0, 1].
        flagged: True when the model flagged the finding (``probability >=
            threshold``).
        max_slice: 1-based slice of the highest probability (0 when unknown).
        answer: ``"agree"`` / ``"disagree"`` or None (flagged findings:
            None is unanswered), ``"missed"`` or None (findings the model
            did not flag).
    """

    finding: str
    probability: float
    threshold: float
    flagged: bool
    max_slice: int = 0
    answer: str | None = None

    def check(self):
        """Raise :class:`ReviewError` when a field is out of range or the answer does not fit."""
        if self.finding not in CLASSES:
            raise ReviewError(f"unknown finding {self.finding!r}; expected one of {', '.join(CLASSES)}")
        for name in ("probability", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
                raise ReviewError(f"{self.finding}: {name} must be a number in [0, 1], got {value!r}")
        allowed = (AGREE, DISAGREE, None) if self.flagged else (MISSED, None)
        if self.answer not in allowed:
            raise ReviewError(f"{self.finding}: answer {self.answer!r} does not fit a "
                              f"{'flagged' if self.flagged else 'not flagged'} finding "
                              f"(expected {' or '.join(str(a) for a in allowed if a)} or "
                              "no answer)")


@dataclasses.dataclass(frozen=True)
class ReviewEntry:
    """One saved review (one row of the log, with its findings).

    Attributes:
        saved_at: UTC time of the save, ISO 8601 with microseconds and ``Z``
            (``"2026-12-01T14:30:05.123456Z"``).
        reader: the reader's name as entered.
        study_uid: StudyInstanceUID of the series.
        series_uid: SeriesInstanceUID of the series.
        model_sha256: hex SHA-256 of the model file that gave the probabilities.
        findings: one :class:`FindingReview` per class, in ``CLASSES`` order.
        note: the reader's free text ('' for none).
        entry_id: the log's number of the entry (None before it is saved).
    """

    saved_at: str
    reader: str
    study_uid: str
    series_uid: str
    model_sha256: str
    findings: tuple
    note: str = ""
    entry_id: int | None = None

    def check(self):
        """Raise :class:`ReviewError` naming the first field that cannot be stored."""
        if not self.reader.strip():
            raise ReviewError("enter the reader's name before saving a review")
        if len(self.reader) > MAX_READER:
            raise ReviewError(f"the reader's name is longer than {MAX_READER} characters")
        if len(self.note) > MAX_NOTE:
            raise ReviewError(f"the note is longer than {MAX_NOTE} characters ({len(self.note)})")
        for name in ("study_uid", "series_uid"):
            value = getattr(self, name)
            if not is_dicom_uid(value):
                tag = "StudyInstanceUID" if name == "study_uid" else "SeriesInstanceUID"
                raise ReviewError(f"this series has no usable {tag} ({value!r}): a review is kept "
                                  "by the series' DICOM UIDs")
        if not _SHA256.match(self.model_sha256 or ""):
            raise ReviewError(f"model SHA-256 must be 64 lowercase hex digits, got {self.model_sha256!r}")
        if tuple(f.finding for f in self.findings) != CLASSES:
            raise ReviewError(f"a review needs one finding per class in the order {', '.join(CLASSES)}")
        for finding in self.findings:
            finding.check()

    def answers(self):
        """dict class -> answer, for the classes the reader answered."""
        return {f.finding: f.answer for f in self.findings if f.answer is not None}

    def unanswered(self):
        """Classes the model flagged that the reader left unanswered, in ``CLASSES`` order."""
        return [f.finding for f in self.findings if f.flagged and f.answer is None]


def findings_from_result(result):
    """Findings (without answers) of a :class:`~cranioscan.series_result.SeriesResult`,
    in ``CLASSES`` order; ``flagged`` is the result's own decision (the
    viewer's ▲ flag), never decided again here."""
    found = result.findings
    return tuple(FindingReview(finding=name, probability=float(found[name].max_prob),
                               threshold=float(found[name].threshold),
                               flagged=found[name].flagged, max_slice=found[name].max_slice + 1)
                 for name in CLASSES)


def findings_from_summary(summary):
    """Findings (without answers) from a series summary, in ``CLASSES`` order.

    Args:
        summary: ``SeriesResult.summary()`` (or ``Predictor.summarize``):
            class -> ``{"max_prob", "max_slice" (0-based), "slices_above",
            "threshold"}``.

    Returns:
        tuple of :class:`FindingReview`; ``flagged`` is read from the
        summary's flagged slices (decided in :mod:`cranioscan.series_result`),
        not decided again here.
    """
    return tuple(FindingReview(finding=name, probability=float(summary[name]["max_prob"]),
                               threshold=float(summary[name]["threshold"]),
                               flagged=bool(summary[name]["slices_above"]),
                               max_slice=int(summary[name]["max_slice"]) + 1)
                 for name in CLASSES)


def utc_now():
    """The current UTC time as :attr:`ReviewEntry.saved_at` writes it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_entry(reader, study_uid, series_uid, model_sha256, findings, answers, missed=(), note="",
              required=()):
    """A checked :class:`ReviewEntry` stamped with the current UTC time.

    Args:
        reader: the reader's name (surrounding spaces dropped).
        study_uid, series_uid: the series' DICOM UIDs.
        model_sha256: hex SHA-256 of the model file.
        findings: :func:`findings_from_summary` output (answers ignored).
        answers: class -> ``"agree"`` / ``"disagree"`` for flagged findings;
            any subset (a flagged finding without an answer is stored
            unanswered).
        missed: classes the model did not flag that the reader sees.
        note: free text.
        required: flagged classes that must be answered (``True``: all
            flagged classes); none by default.

    Raises:
        ReviewError: a required answer is missing (the message lists every
            one missing), an answer does not fit, a missed finding was
            flagged, or a field cannot be stored (the message says which).
    """
    missed = set(missed)
    strange = sorted(missed - set(CLASSES))
    if strange:
        raise ReviewError(f"unknown missed finding {', '.join(strange)}; expected one of {', '.join(CLASSES)}")
    flagged = {f.finding for f in findings if f.flagged}
    wrong = sorted(missed & flagged)
    if wrong:
        raise ReviewError(f"{', '.join(wrong)} flagged by the model: answer agree or disagree "
                          "instead of marking it missed")
    unknown = sorted(set(answers) - flagged)
    if unknown:
        raise ReviewError(f"{', '.join(unknown)} not flagged by the model: mark it missed instead")
    answers = {k: v for k, v in answers.items() if v is not None}
    required = flagged if required is True else set(required) & flagged
    missing = [name for name in CLASSES if name in required and name not in answers]
    if missing:
        raise ReviewError(f"answer agree or disagree for every flagged finding; "
                          f"{len(missing)} still unanswered: {', '.join(missing)}")
    done = [dataclasses.replace(f, answer=answers.get(f.finding) if f.flagged else
                                (MISSED if f.finding in missed else None)) for f in findings]
    entry = ReviewEntry(saved_at=utc_now(), reader=str(reader).strip(), study_uid=str(study_uid or ""),
                        series_uid=str(series_uid or ""), model_sha256=str(model_sha256 or ""),
                        findings=tuple(done), note=str(note or "").strip())
    entry.check()
    return entry
