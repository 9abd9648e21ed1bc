"""What a ``predict`` worklist holds: the CT series to score, and every entry that is not one.

``find_series(paths)`` is :func:`cranioscan.dicom.scan.find_series`: folders
walked recursively in any layout including the flat RSNA one, .zip
archives and single files, one header parse per file kept for loading; it
returns :class:`SeriesJob` to score and a :class:`Problem` with a one-line
reason for every other entry (a file that is not DICOM or cannot be opened,
a special file, a folder that cannot be read, a damaged zip, a series that
is not CT). The scoring loop adds its own problems (status ``"error"``).

``check_output(path)`` says, before any scoring, why a results file could
not be written (a folder, a file in the way of its folder, no permission).

Only reads: nothing under the given paths is written, moved or extracted.
"""

__all__ = ["Problem", "SeriesJob", "check_output", "find_series"]

import os
from pathlib import Path

from ..dicom.scan import Problem, SeriesJob, find_series


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
