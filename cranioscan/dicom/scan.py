"""Finding the series a worklist holds: every file's header parsed once, kept for loading.

:func:`find_series` walks folders (recursively, in any layout including the
flat RSNA one), parses each file's header once with the loader's
:func:`~cranioscan.dicom.header.read_header`, and groups the images by
SeriesInstanceUID (images without one, as anonymised or defaced exports
write them, by their folder). Each group is a :class:`SeriesJob` whose
``source`` :func:`~cranioscan.dicom.load_series` loads without parsing its
files again; the headers are held compact (about 12 KB per file) from the
walk until loading. A .zip archive or a single file given directly is
listed with :func:`~cranioscan.dicom.discover_series` and read again when
its series is loaded: holding every archive's bytes from the walk to the
scoring would cost their whole size in memory.

Every entry that is not a series to load is a :class:`Problem` with a
one-line reason: a path that does not exist, a special file (FIFO, device),
a folder that cannot be read, a file that is not a DICOM image, a damaged
zip, a series that is not CT. One bad entry never hides the rest. The PACS
worklist (:mod:`cranioscan.pacs.worklist`) lists series on a PACS as the
same :class:`SeriesJob` and :class:`Problem`.

Only reads: nothing under the given paths is written, moved or extracted.
"""

__all__ = ["Problem", "SeriesJob", "find_series"]

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from .assemble import RETAINED_KEYWORDS
from .header import ScannedFiles, read_header
from .load import discover_series
from .sources import MAX_FILE_BYTES, DicomLoadError, SourceFile, _too_large, file_kind


@dataclass
class SeriesJob:
    """One series to load (and score): ``load_series(source, series_uid=series_uid)``.

    Attributes:
        label: names it in messages: where it is and its series UID.
        source: a :class:`~cranioscan.dicom.header.ScannedFiles` (parsed
            headers of a folder's series), the zip / file path, or a callable
            returning the source when its turn comes (a PACS series).
        series_uid: what to pass to ``load_series`` (None: the source holds
            this series only, or it has no UID).
        display: where it was found, for tables: the folder holding its
            files relative to the parent of the folder given (``study1/CT``),
            the zip or file path, or the PACS URL of the series.
        study_uid: its StudyInstanceUID ("" when the files carry none).
    """

    label: str
    source: object
    series_uid: str | None = None
    display: str = ""
    study_uid: str = ""


@dataclass(frozen=True)
class Problem:
    """A path, file or series of a worklist that is not scored, and why.

    ``kind`` is ``"file"`` (one file or folder left out: not DICOM,
    unreadable, damaged zip ...) or ``"series"`` (a series that could not be
    scored, or is not CT); ``where`` names it; ``reason`` is one line.
    ``status`` is ``"skipped"`` for what was left out on purpose and
    ``"error"`` for what should have been scored and could not be.
    """

    kind: str
    where: str
    reason: str
    series_uid: str = ""
    study_uid: str = ""
    status: str = "skipped"


def _job(where, source, uid, study_uid, series_uid=None):
    return SeriesJob(label=f"{where} (series {uid or 'without UID'})", source=source,
                     series_uid=series_uid, display=where, study_uid=study_uid)


def _special_file_reason(path):
    """Why ``path`` is not a regular file (FIFO, device, socket, broken link), or None."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except OSError as exc:
        return f"could not be opened ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return f"{file_kind(mode)}, not a file: not read"


def _header(path):
    """``(compact Header, None)`` of one file on disk, or ``(None, reason)``."""
    reason = _special_file_reason(path)
    if reason:
        return None, reason
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        return None, _too_large(size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header, reason = read_header(SourceFile(name=path, path=Path(path)))
    if header is None:
        return None, reason
    return header.compact(RETAINED_KEYWORDS), None


def _walk(folder, problems):
    """Regular files under ``folder`` (sorted); unreadable folders are left out."""

    def unreadable(exc):
        problems.append(Problem("file", exc.filename or str(folder),
                                f"folder could not be read ({exc.strerror or exc}); its files "
                                "were not scored"))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(names):
            yield os.path.join(root, name)


def _folder_series(folder, problems):
    """The series of a folder's files (recursively), one header parse each."""
    groups = {}
    for path in _walk(folder, problems):
        if path.lower().endswith(".zip"):
            groups.setdefault(("zip", path), [])
            continue
        header, reason = _header(path)
        if header is None:
            problems.append(Problem("file", path, reason))
            continue
        uid = header.series_uid
        key = (uid, header.study_uid, (header.f["Modality"] or "").upper(),
               "" if uid else os.path.dirname(path))
        groups.setdefault(key, []).append(header)
    found = []
    for key, headers in groups.items():
        if key[0] == "zip":
            found.extend(_file_series(key[1], problems))
            continue
        uid, study_uid, modality, _folder = key
        common = os.path.commonpath([os.path.dirname(h.file.name) for h in headers])
        where = os.path.relpath(common, os.path.dirname(os.path.abspath(folder)))
        if modality and modality != "CT":
            problems.append(Problem("series", where, f"left out: it is {modality}, not CT",
                                    uid, study_uid))
            continue
        found.append(_job(where, ScannedFiles(headers), uid, study_uid))
    return found


def _file_series(path, problems):
    """The CT series in one file or zip; a damaged or unreadable one is left out."""
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
    found = []
    for info in infos:
        if not info.is_ct:
            problems.append(Problem("series", str(path), f"left out: {info.label()} {info.problem}",
                                    info.uid, info.study_uid))
            continue
        found.append(_job(str(path), path, info.uid, info.study_uid, info.uid or None))
    return found


def find_series(paths):
    """The series to load under ``paths`` and every entry that is not one.

    Args:
        paths: folders (searched recursively), .zip archives, DICOM files.

    Returns:
        ``(jobs, problems)``: :class:`SeriesJob` in a stable order (walk
        order, files sorted by name), and a :class:`Problem` (``"skipped"``)
        for each path that does not exist or cannot be read, each file that
        is not a DICOM image, each damaged zip and each series that is not
        CT (reasons in the loader's words where it gives them).
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
            in_folder = _folder_series(path, problems)
            if not in_folder and len(problems) == before:
                problems.append(Problem("file", str(raw),
                                        "the folder is empty: it contains no files"))
            jobs.extend(in_folder)
        else:
            jobs.extend(_file_series(path, problems))
    return jobs, problems
