"""Reader agreement: counts, proportions and disagreements from hand-made review entries."""

import math

import pytest

from cranioscan.labels import CLASSES
from cranioscan.review import (FindingReview, ReviewEntry, agreement_by_finding, disagreements,
                               latest_per_reader_series, wilson_interval)

SHA_A, SHA_B = "a" * 64, "b" * 64


def make(entry_id, reader, series, answers, note="", sha=SHA_A, flagged=("any", "subdural")):
    """An entry whose flagged classes get ``answers[class]``; other classes 'missed' if listed."""
    findings = tuple(FindingReview(finding=c, probability=0.8 if c in flagged else 0.1, threshold=0.5,
                                   flagged=c in flagged, max_slice=3, answer=answers.get(c))
                     for c in CLASSES)
    return ReviewEntry(saved_at=f"2026-12-01T10:00:{entry_id:02d}.000000Z", reader=reader,
                       study_uid="1.2", series_uid=series, model_sha256=sha, findings=findings,
                       note=note, entry_id=entry_id)


def by_name(rows):
    return {r.finding: r for r in rows}


def test_wilson_interval_hand_values():
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 4)[0] == 0.0 and wilson_interval(4, 4)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_only_the_newest_entry_per_reader_and_series_counts():
    entries = [
        make(1, "Dr Ada", "s1", {"any": "disagree", "subdural": "disagree"}),
        make(2, "Dr Bo", "s1", {"any": "agree", "subdural": "disagree"}, note="thin crescent?"),
        make(3, "dr ada ", "s1", {"any": "agree", "subdural": "agree"}),  # Ada again: replaces 1
        make(4, "Dr Ada", "s2", {"any": "agree", "subdural": "agree", "epidural": "missed"},
             note="small EDH left"),
        make(5, "Dr Ada", "s3", {"any": "agree", "subdural": "agree"}, sha=SHA_B),
    ]
    current = latest_per_reader_series(list(reversed(entries)))  # input order does not matter
    assert [e.entry_id for e in current] == [2, 3, 4, 5]
    assert [e.entry_id for e in latest_per_reader_series(entries, SHA_B)] == [5]

    rows = by_name(agreement_by_finding(entries))
    assert (rows["any"].flags, rows["any"].agreed, rows["any"].disagreed) == (4, 4, 0)
    assert rows["any"].proportion == 1.0 and rows["any"].reviews == 4
    sdh = rows["subdural"]
    assert (sdh.flags, sdh.agreed, sdh.disagreed, sdh.proportion) == (4, 3, 1, 0.75)
    assert (sdh.ci_low, sdh.ci_high) == pytest.approx(wilson_interval(3, 4))
    edh = rows["epidural"]
    assert (edh.flags, edh.missed) == (0, 1) and math.isnan(edh.proportion)

    only_a = by_name(agreement_by_finding(entries, model_sha256=SHA_A))
    assert only_a["subdural"].flags == 3 and only_a["subdural"].proportion == pytest.approx(2 / 3)


def test_disagreements_list_rejected_flags_and_missed_findings():
    entries = [
        make(1, "Dr Ada", "s1", {"any": "disagree", "subdural": "disagree"}),  # superseded by 3
        make(2, "Dr Bo", "s1", {"any": "agree", "subdural": "disagree"}, note="thin crescent?"),
        make(3, "Dr Ada", "s1", {"any": "agree", "subdural": "agree"}),
        make(4, "Dr Ada", "s2", {"any": "agree", "subdural": "agree", "epidural": "missed"},
             note="small EDH left"),
    ]
    found = disagreements(entries)
    assert [(d.reader, d.series_uid, d.finding, d.answer, d.note) for d in found] == [
        ("Dr Bo", "s1", "subdural", "disagree", "thin crescent?"),
        ("Dr Ada", "s2", "epidural", "missed", "small EDH left"),
    ]
    assert found[0].probability == 0.8 and found[1].probability == 0.1 and found[0].threshold == 0.5
    assert disagreements([]) == [] and all(r.flags == 0 for r in agreement_by_finding([]))
