"""The review log as CSV: one row per saved entry and finding.

Columns (:data:`CSV_COLUMNS`), in this order:

``entry_id``
    the log's number of the entry (ascending with the time of saving).
``saved_at_utc``
    UTC time of the save, ISO 8601 (``2026-12-01T14:30:05.123456Z``).
``reader``
    the reader's name as entered.
``study_uid``, ``series_uid``
    StudyInstanceUID and SeriesInstanceUID of the series reviewed.
``model_sha256``
    SHA-256 of the model file that gave the probabilities.
``finding``
    class name (``any``, ``epidural``, ...): six rows per entry.
``probability``
    the series' highest slice probability shown, 0-1.
``threshold``
    the operating threshold shown, 0-1.
``flagged``
    1 when the model flagged the finding (probability >= threshold), else 0.
``max_slice``
    1-based slice of the highest probability.
``answer``
    ``agree`` / ``disagree`` (flagged findings), ``missed`` (a finding the
    reader sees and the model did not flag) or empty.
``note``
    the reader's free text, repeated on each of the entry's rows.

Every cell goes through :func:`cranioscan.formats.csv_cell`: text a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or CR) is written with a leading ``'``.
"""

__all__ = ["CSV_COLUMNS", "to_csv", "csv_rows"]

import csv
import io

from ..formats import csv_row

CSV_COLUMNS = ("entry_id", "saved_at_utc", "reader", "study_uid", "series_uid", "model_sha256",
               "finding", "probability", "threshold", "flagged", "max_slice", "answer", "note")


def csv_rows(entries):
    """One dict per (entry, finding), keys :data:`CSV_COLUMNS`, entries in the given order."""
    for entry in entries:
        for f in entry.findings:
            yield csv_row({
                "entry_id": entry.entry_id, "saved_at_utc": entry.saved_at,
                "reader": entry.reader, "study_uid": entry.study_uid,
                "series_uid": entry.series_uid, "model_sha256": entry.model_sha256,
                "finding": f.finding, "probability": f"{f.probability:.6f}",
                "threshold": f"{f.threshold:.6f}", "flagged": int(f.flagged),
                "max_slice": f.max_slice, "answer": f.answer or "", "note": entry.note,
            })


def to_csv(entries):
    """The entries as CSV text (header line first, ``\\r\\n`` line ends as the csv module writes)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_rows(entries))
    return out.getvalue()
