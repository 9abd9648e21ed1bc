"""What a ``predict`` worklist holds: the CT series to score, and every entry that is not one.

``find_series(paths)`` walks folders (recursively, in any layout including
the flat RSNA one), .zip archives and single files, reads one header per
file, and returns the CT series to score as :class:`SeriesJob` and every
other entry as a :class:`Problem` with a one-line reason: a file that is not
DICOM or cannot be opened, a special file (FIFO, device), a folder that
cannot be read, a damaged zip, a series that is not CT. One bad entry never
hides the rest: the walk goes on.

``check_output(path)`` says, before any scoring, why a results file could
not be written (a folder, a file in the way of its folder, no permission).

Only reads: nothing under the given paths is written, moved or extracted.
"""

__all__ = ["Problem", "SeriesJob", "check_output", "find_series"]

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..dicom.sniff import could_be_dicom


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


def _special_file_reason(path):
    """Why ``path`` is not a regular file (FIFO, device, socket, broken link), or None."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except OSError as exc:
        return f"could not be opened ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return f"{kind}, not a file: not read"


def _series_key(path):
    """``((series_uid, study_uid, modality, folder), None)`` of a DICOM image, or ``(None, reason)``.

    ``folder`` is empty unless the image has no SeriesInstanceUID (anonymised
    or defaced exports drop it): such images are grouped by their folder.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    reason = _special_file_reason(path)
    if reason:
        return None, reason
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        return None, f"could not be opened ({exc.strerror or exc})"
    if not could_be_dicom(head):  # a large non-DICOM file costs 132 bytes, not a parse
        return None, "not a DICOM file"
    tags = ["SeriesInstanceUID", "StudyInstanceUID", "Modality", "Rows"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forced = False
        try:
            try:
                ds = dcmread(path, stop_before_pixels=True, specific_tags=tags)
            except InvalidDicomError:  # no preamble: old systems write bare datasets
                forced = True
                ds = dcmread(path, stop_before_pixels=True, specific_tags=tags, force=True)
            series_uid = str(ds.get("SeriesInstanceUID", "") or "")
            study_uid = str(ds.get("StudyInstanceUID", "") or "")
            modality = str(ds.get("Modality", "") or "").upper()
            is_image = "Rows" in ds
        except OSError as exc:
            return None, f"could not be opened ({exc.strerror or exc})"
        except Exception:  # noqa: BLE001 - whatever pydicom raises, it is not readable DICOM
            return None, "not a DICOM file"
    if not series_uid and not (is_image or study_uid):
        return None, "not a DICOM file" if forced else "not a DICOM image (no series or study UID)"
    folder = "" if series_uid else os.path.dirname(path)
    return (series_uid, study_uid, modality, folder), None


def _walk(folder, problems):
    """Regular files under ``folder`` (sorted); unreadable folders become problems."""

    def unreadable(exc):
        problems.append(Problem("file", exc.filename or str(folder),
                                f"folder could not be read ({exc.strerror or exc}); its files "
                                "were not scored"))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(names):
            yield os.path.join(root, name)


def _folder_jobs(folder, problems):
    """Group a folder's files (recursively) by series, one header read each."""
    groups = {}
    for path in _walk(folder, problems):
        if path.lower().endswith(".zip"):
            groups.setdefault(("zip", path), [])
            continue
        key, reason = _series_key(path)
        if key is None:
            problems.append(Problem("file", path, reason))
        else:
            groups.setdefault(key, []).append(path)
    jobs = []
    for key, paths in groups.items():
        if key[0] == "zip":
            jobs.extend(_file_jobs(key[1], problems))
            continue
        series_uid, study_uid, modality, _folder = key
        common = os.path.commonpath([os.path.dirname(p) for p in paths])
        where = os.path.relpath(common, os.path.dirname(os.path.abspath(folder)))
        label = f"{where} (series {series_uid or 'without UID'})"
        if modality and modality != "CT":
            problems.append(Problem("series", where, f"left out: it is {modality}, not CT",
                                    series_uid, study_uid))
            continue
        jobs.append(SeriesJob(label=label, source=paths, display=where, study_uid=study_uid))
    return jobs


def _file_jobs(path, problems):
    """The CT series in one file or zip; a damaged or unreadable one is a problem."""
    from ..dicom import DicomLoadError, discover_series

    reason = _special_file_reason(path)
    if reason:
        problems.append(Problem("file", str(path), reason))
        return []
    try:
        infos = discover_series(path)
    except DicomLoadError as exc:
        message = str(exc)  # the loader names the file; the problem line names it already
        message = message.removeprefix(f"'{path}' is ").removeprefix(f"{path}: ")
        problems.append(Problem("file", str(path), message))
        return []
    jobs = []
    for info in infos:
        if not info.is_ct:
            problems.append(Problem("series", str(path), f"left out: {info.label()} {info.problem}",
                                    info.uid, info.study_uid))
            continue
        jobs.append(SeriesJob(label=f"{path} (series {info.uid or 'without UID'})", source=path,
                              series_uid=info.uid or None, display=str(path),
                              study_uid=info.study_uid))
    return jobs


def find_series(paths):
    """The series to score under ``paths`` and every entry that is not one.

    Args:
        paths: folders (searched recursively), .zip archives, DICOM files.

    Returns:
        ``(jobs, problems)``: the :class:`SeriesJob` list in a stable order,
        and a :class:`Problem` for each path that does not exist or cannot be
        read, each file that is not DICOM, each damaged zip and each series
        that is not CT (reasons in the loader's words where it gives them).
    """
    jobs, problems = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            problems.append(Problem("file", str(raw), "does not exist: no such file or folder"))
        elif path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                problems.append(Problem("file", str(raw), "folder could not be read "
                                        "(permission denied); its files were not scored"))
                continue
            before = len(problems)
            found = _folder_jobs(path, problems)
            if not found and len(problems) == before:
                problems.append(Problem("file", str(raw), "the folder is empty: it contains no files"))
            jobs.extend(found)
        else:
            jobs.extend(_file_jobs(path, problems))
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
