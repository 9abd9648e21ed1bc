"""The reader's review: what a reader answered to the model's flags, kept and measured.

- :mod:`.entry`: one review (:class:`ReviewEntry`, its per-class
  :class:`FindingReview`), built from the viewer's series summary and checked;
- :mod:`.log`: the append-only SQLite log (:class:`ReviewLog`, WAL mode,
  one short transaction per save) and where it lives (:func:`resolve_path`);
- :mod:`.export`: the log as CSV (:func:`to_csv`, columns :data:`CSV_COLUMNS`);
- :mod:`.agreement`: per finding, how often readers agreed with the model,
  and the disagreements (pure functions).

Only DICOM UIDs identify a series here: never a patient's name or ID.
"""

from .agreement import (Disagreement, FindingAgreement, agreement_by_finding, disagreements,
                        latest_per_reader_series, wilson_interval)
from .entry import (AGREE, DISAGREE, MISSED, FindingReview, ReviewEntry, ReviewError,
                    findings_from_result, findings_from_summary, new_entry)
from .export import CSV_COLUMNS, to_csv
from .log import SCHEMA_VERSION, ReviewLog, resolve_path

__all__ = [
    "AGREE", "DISAGREE", "MISSED", "FindingReview", "ReviewEntry", "ReviewError",
    "findings_from_result", "findings_from_summary", "new_entry", "ReviewLog", "SCHEMA_VERSION", "resolve_path",
    "CSV_COLUMNS", "to_csv", "FindingAgreement", "Disagreement", "latest_per_reader_series",
    "agreement_by_finding", "disagreements", "wilson_interval",
]
