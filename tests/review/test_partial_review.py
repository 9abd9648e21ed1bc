"""A review can be saved with any subset of answers (issue 27, item 5)."""

import numpy as np
import pytest

from cranioscan.inference import summarize_series
from cranioscan.labels import CLASSES
from cranioscan.review import ReviewError, ReviewLog, findings_from_summary, new_entry, to_csv
from cranioscan.ui.review_panel import answers_text

SHA = "0123456789abcdef" * 4
STUDY, SERIES = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"


def five_flags():
    """A phantom-like series where the model flags five findings."""
    probs = np.array([[0.9, 0.8, 0.7, 0.6, 0.6, 0.1]])
    return findings_from_summary(summarize_series(probs, {c: 0.5 for c in CLASSES}))


@pytest.mark.parametrize("answers", [{}, {"any": "agree"},
                                     {"any": "agree", "epidural": "disagree", "subarachnoid": "agree"}])
def test_any_subset_of_answers_is_saved_and_the_rest_stored_unanswered(tmp_path, answers):
    findings = five_flags()
    assert sum(f.flagged for f in findings) == 5
    log = ReviewLog(tmp_path / "reviews.sqlite")
    saved = log.save(new_entry("Dr Ada", STUDY, SERIES, SHA, findings, answers))
    back = log.latest(SERIES)
    assert back == saved and back.answers() == answers
    flagged = [f.finding for f in findings if f.flagged]
    assert back.unanswered() == [c for c in flagged if c not in answers]
    rows = [r for r in to_csv(log.entries()).splitlines()[1:] if r]
    assert len(rows) == len(CLASSES)  # every finding stored, answered or not
    if len(answers) < len(flagged):
        assert "unanswered: " in answers_text(back)


def test_a_required_answer_lists_every_one_missing():
    with pytest.raises(ReviewError) as caught:
        new_entry("Dr Ada", STUDY, SERIES, SHA, five_flags(), {"epidural": "agree"}, required=True)
    message = str(caught.value)
    assert "4 still unanswered" in message
    for name in ("any", "intraparenchymal", "intraventricular", "subarachnoid"):
        assert name in message
    # Only the required ones are asked for.
    with pytest.raises(ReviewError, match="1 still unanswered: any$"):
        new_entry("Dr Ada", STUDY, SERIES, SHA, five_flags(), {}, required=("any", "subdural"))
