"""``load_series`` from a script without ``if __name__ == "__main__":``.

A user's first script, or a notebook exported to .py, has no main guard.
Worker processes started by :mod:`multiprocessing` (spawn, forkserver)
import the caller's ``__main__`` again, so such a script's top level ran once
more in every worker (3 times for one ``load_series`` call on 2 cores), and
the workers then died. These tests run such a script in a fresh interpreter
and check that its top level ran exactly once while the JPEG-Lossless slices
were still decoded by more than one worker process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cranioscan.testing.factory import head_like_slice, jpeg_lossless_dataset, make_series, write_series

pytest.importorskip("gdcm", reason="python-gdcm is not installed (requirements.txt)")

REPO = Path(__file__).resolve().parents[2]

#: The user's script: no main guard; its top level leaves one line per run in a file.
UNGUARDED = """\
import json
import sys

from cranioscan.dicom import decode_pool, load_series

folder, marker = sys.argv[1], sys.argv[2]
with open(marker, "a") as fh:
    fh.write("top level ran\\n")
series = load_series(folder)
batch = getattr(decode_pool, "last_batch", None)
print(json.dumps({
    "slices": series.n_slices,
    "per_worker": getattr(batch, "per_worker", {}),
    "lost": getattr(batch, "lost", None),
}))
"""

N_SLICES = 12


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.fixture(scope="module")
def jpeg_series(tmp_path_factory):
    """A folder of 12 JPEG-Lossless slices (64x64), enough for the worker pool (MIN_BATCH 8)."""
    folder = tmp_path_factory.mktemp("jpeg_lossless")
    datasets = make_series(N_SLICES, pixels=lambda i: head_like_slice(64, 64, 0.2 + 0.05 * i, i))
    write_series([jpeg_lossless_dataset(ds) for ds in datasets], folder)
    return folder


def _run_unguarded(tmp_path, folder, how):
    """Run the script as a file or from stdin in a fresh interpreter; return (lines, report)."""
    marker = tmp_path / "top_level_runs.txt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    if how == "file":
        script = tmp_path / "first_script.py"
        script.write_text(UNGUARDED)
        command, stdin = [sys.executable, str(script), str(folder), str(marker)], None
    else:
        command, stdin = [sys.executable, "-", str(folder), str(marker)], UNGUARDED
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=180)
    lines = marker.read_text().splitlines() if marker.exists() else []
    assert done.returncode == 0, done.stderr[-2000:]
    return lines, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(_cores() < 2, reason="parallel decoding needs 2 CPU cores")
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_unguarded_script_runs_once_and_decodes_in_parallel(tmp_path, jpeg_series, how):
    lines, report = _run_unguarded(tmp_path, jpeg_series, how)
    assert lines == ["top level ran"]  # the workers never ran the caller's __main__
    assert report["slices"] == N_SLICES
    assert report["lost"] is False  # no worker died: GDCM decoded the batch
    decoded = {pid: n for pid, n in report["per_worker"].items() if n > 0}
    assert len(decoded) >= 2, report  # more than one worker process decoded slices
    assert sum(decoded.values()) == N_SLICES
