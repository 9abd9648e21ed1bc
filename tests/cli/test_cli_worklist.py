"""What predict's worklist finds (cranioscan.cli.worklist): series, and every entry left out."""

import os

import numpy as np
import pytest

from cranioscan.cli.worklist import check_output, find_series
from cranioscan.testing.factory import make_series, write_series


def series_folder(folder, uid="1.2.3.50"):
    write_series(make_series(3, series_uid=uid, pixels=np.zeros((4, 4))), folder)
    return folder


@pytest.fixture
def deny(monkeypatch):
    """Make folders unreadable: chmod 000, and for root (who reads them anyway) an OS error.

    The tests run as root in CI, where permissions do not stop reads; there the
    PermissionError that ``os.scandir`` and ``os.access`` give an ordinary user is
    raised for the denied folders, the exact error the walk would meet.
    """
    denied = []
    real_scandir, real_access = os.scandir, os.access

    def scandir(path="."):
        if os.path.abspath(path) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    def access(path, mode, **kwargs):
        if os.path.abspath(path) in denied:
            return False
        return real_access(path, mode, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "access", access)

    def deny_folder(path):
        denied.append(os.path.abspath(path))
        os.chmod(path, 0)

    yield deny_folder
    for path in denied:
        os.chmod(path, 0o755)


def test_unreadable_subfolder_is_reported_and_the_rest_found(tmp_path, deny):
    series_folder(tmp_path / "good")
    locked = series_folder(tmp_path / "locked", uid="1.2.3.51")
    deny(locked)
    jobs, problems = find_series([tmp_path])
    assert [len(job.source) for job in jobs] == [3]
    [problem] = problems
    assert problem.where == str(locked)
    assert problem.reason.startswith("folder could not be read (Permission denied)")


def test_unreadable_top_folder_is_not_called_empty(tmp_path, deny):
    locked = series_folder(tmp_path / "locked")
    deny(locked)
    jobs, [problem] = find_series([locked])
    assert jobs == []
    assert "could not be read (permission denied)" in problem.reason
    assert "empty" not in problem.reason


def test_empty_missing_and_special_entries(tmp_path):
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo")
    jobs, problems = find_series([tmp_path / "empty", tmp_path / "nope", tmp_path / "fifo"])
    assert jobs == []
    assert [p.reason for p in problems] == [
        "the folder is empty: it contains no files",
        "does not exist: no such file or folder",
        "a named pipe (FIFO), not a file: not read",
    ]


def test_check_output(tmp_path):
    assert check_output(tmp_path / "new" / "deeper" / "r.csv") is None  # folders can be made
    (tmp_path / "old.csv").write_text("a")
    assert check_output(tmp_path / "old.csv") is None
    assert "is a folder" in check_output(tmp_path)
    assert "is a file, not a folder" in check_output(tmp_path / "old.csv" / "r.csv")
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_images_without_series_uid_are_scored_grouped_by_their_folder(tmp_path):
    """Anonymised or defaced exports drop the UIDs: such images are still a series per folder."""
    for folder in ("a", "b"):
        datasets = make_series(2, pixels=np.zeros((4, 4)))
        for ds in datasets:
            del ds.SeriesInstanceUID
            del ds.StudyInstanceUID
        write_series(datasets, tmp_path / folder)
    (tmp_path / "a" / "notes.txt").write_text("not an image")

    jobs, problems = find_series([tmp_path])

    assert sorted(job.display.rsplit("/", 1)[-1] for job in jobs) == ["a", "b"]
    assert all("without UID" in job.label and len(job.source) == 2 for job in jobs)
    assert [(p.where.rsplit("/", 1)[-1], p.reason) for p in problems] == [("notes.txt", "not a DICOM file")]
