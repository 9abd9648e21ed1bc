"""The review log is private to the account running CranioScan (issue 30, item 7).

Its folder is created 0700 and the file 0600 (the ``-wal`` / ``-shm`` files
SQLite adds take the file's mode), whatever the umask allows; an older log
readable by others is narrowed to 0600 on the next save.
"""

import os
import stat

import numpy as np
import pytest

from cranioscan.inference import summarize_series
from cranioscan.labels import CLASSES
from cranioscan.review import ReviewLog, findings_from_summary, new_entry

SHA = "0123456789abcdef" * 4


def entry():
    found = findings_from_summary(summarize_series(np.full((2, 6), 0.1), {c: 0.5 for c in CLASSES}))
    return new_entry("Dr Ada", "1.2.3", "1.2.3.4", SHA, found, {})


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """A umask of 022, the usual one, under which plain creation gives 0755 / 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_log_folder_is_0700_and_files_0600(tmp_path, open_umask):
    path = tmp_path / "cache" / "review" / "reviews.sqlite"
    log = ReviewLog(path)
    log.save(entry())
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    for extra in path.parent.iterdir():  # reviews.sqlite-wal / -shm while open, if left
        assert mode(extra) & 0o077 == 0, extra.name
    assert len(log.entries()) == 1


def test_existing_readable_log_is_narrowed_on_save(tmp_path, open_umask):
    path = tmp_path / "reviews.sqlite"
    ReviewLog(path).save(entry())
    os.chmod(path, 0o644)
    ReviewLog(path).save(entry())
    assert mode(path) == 0o600
