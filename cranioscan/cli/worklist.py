"""What a ``predict`` worklist holds: the CT series to score, and every entry that is not one.

``find_series(paths)`` formats what :func:`cranioscan.dicom.scan.find_series`
finds (folders walked recursively in any layout including the flat RSNA one,
.zip archives and single files; one header parse per file, kept for loading)
as :class:`SeriesJob` to score and a :class:`Problem` with a one-line reason
for every other entry: a file that is not DICOM or cannot be opened, a
special file (FIFO, device), a folder that cannot be read, a damaged zip, a
series that is not CT. One bad entry never hides the rest.

``check_output(path)`` says, before any scoring, why a results file could
not be written (a folder, a file in the way of its folder, no permission).

Only reads: nothing under the given paths is written, moved or extracted.
"""

__all__ = ["Problem", "SeriesJob", "check_output", "find_series"]

import os
from dataclasses import dataclass
from pathlib import Path

from ..dicom import scan


@dataclass
class SeriesJob:
    """One series to score: ``load_series(source, series_uid=series_uid)``.

    ``label`` names it in messages (the folder or file and the series UID);
    ``display`` is the ``source`` column of the CSV files.
    """

    label: str
    source: object
    series_uid: str | None = None
    display: str = ""
    study_uid: str = ""


@dataclass(frozen=True)
class Problem:
    """A file, folder or series of the worklist that is not scored, and why.

    ``kind`` is ``"file"`` (one file or folder left out: not DICOM,
    unreadable, damaged zip ...) or ``"series"`` (a series that could not be
    scored, or is not CT); ``where`` names it; ``reason`` is one line.
    ``status`` is ``"skipped"`` for what was left out on purpose and
    ``"error"`` for what should have been scored and could not be; the CSV
    and the terminal both say it.
    """

    kind: str
    where: str
    reason: str
    series_uid: str = ""
    study_uid: str = ""
    status: str = "skipped"


def find_series(paths):
    """The series to score under ``paths`` and every entry that is not one.

    Args:
        paths: folders (searched recursively), .zip archives, DICOM files.

    Returns:
        ``(jobs, problems)``: the :class:`SeriesJob` list in a stable order,
        and a :class:`Problem` (status ``"skipped"``) for each path that does
        not exist or cannot be read, each file that is not DICOM, each
        damaged zip and each series that is not CT (reasons in the loader's
        words where it gives them).
    """
    found, left_out = scan.find_series(paths)
    jobs = [SeriesJob(label=f"{f.where} (series {f.uid or 'without UID'})", source=f.source,
                      series_uid=f.series_uid, display=f.where, study_uid=f.study_uid)
            for f in found]
    problems = [Problem(entry.kind, entry.where, entry.reason, entry.series_uid, entry.study_uid)
                for entry in left_out]
    return jobs, problems


def check_output(path):
    """Why a results file could not be written at ``path``, or None when it can.

    Checked before any scoring, so a wrong ``--out`` costs nothing: the path
    must not be a folder; an existing file must be writable; otherwise the
    nearest existing folder above it must be a folder (not a file in the way)
    and writable, so the missing folders can be made.
    """
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder; give a file name such as {path / 'results.csv'}"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} exists and cannot be written"
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{path} cannot be created: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created: the folder {parent} is not writable"
    return None
