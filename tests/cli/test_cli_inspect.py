"""Tests of ``python -m cranioscan inspect`` run as a subprocess."""

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import MRImageStorage

from cranioscan.cli import main as cli

from cranioscan.testing.factory import make_series, write_series

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "cranioscan", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def field(text, label):
    match = re.search(rf"^\s+{label}:\s+(.*)$", text, re.MULTILINE)
    assert match, f"no '{label}' line in:\n{text}"
    return match.group(1)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tilted 6-slice CT with one slice missing, an MR series and a junk file."""
    root = tmp_path_factory.mktemp("study")
    z = [0, 5, 10, 15, 25, 30]  # 20 missing
    ct = make_series(6, positions=z, tilt_deg=10.0, series_uid="1.2.3.100",
                     pixels=lambda i: np.full((6, 8), 1024 + 10 * i), spacing=(0.7, 0.6),
                     thickness=4.0, series_description="Head 5mm")
    mr = make_series(2, series_uid="1.2.3.200", modality="MR", sop_class=MRImageStorage,
                     series_description="T2")
    write_series(ct, root / "ct")
    write_series(mr, root / "mr")
    (root / "notes.txt").write_text("not an image")
    return root


def test_inspect_prints_series_geometry_warnings_and_skips(study):
    proc = run("inspect", study)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Series found: 2" in out
    assert re.search(r"\* 1\.2\.3\.100\s+CT\s+'Head 5mm'\s+6 files", out)
    assert re.search(r"- 1\.2\.3\.200\s+MR\s+'T2'\s+2 files\s+\[not loadable: is MR, not CT\]", out)
    assert field(out, "slices") == "6"
    assert field(out, "matrix") == "6 x 8 (rows x columns)"
    assert field(out, "pixel spacing") == "0.7 x 0.6 mm (row x column)"
    assert field(out, "slice thickness") == "4 mm"
    c = math.cos(math.radians(10.0))  # table steps of 5 / 10 mm seen along the tilted normal
    lo, med, hi = map(float, re.findall(r"[\d.]+", field(out, "slice spacing")))
    assert (lo, med, hi) == pytest.approx((5 * c, 5 * c, 10 * c), abs=1e-3)
    assert float(field(out, "gantry tilt").split()[0]) == pytest.approx(10.0, abs=0.01)
    first, last = map(float, re.findall(r"-?[\d.]+", field(out, "positions"))[:2])
    assert last - first == pytest.approx(30 * c, abs=1e-3)
    assert field(out, "HU range") == "0 to 50"
    assert "holds 2 series" in out
    assert "Gantry tilt of 10.0 degrees" in out
    assert re.search(r"Missing slices: .*gap of 9\.85 mm between slices 4 and 5 of 6", out)
    assert re.search(r"Skipped files: 1\n  - .*notes\.txt: not a DICOM file", out)


def test_inspect_series_option_and_errors(study, tmp_path):
    proc = run("inspect", study, "--series", "1.2.3.200")
    assert proc.returncode == 2
    assert "is MR, not CT" in proc.stderr and "Traceback" not in proc.stderr

    proc = run("inspect", tmp_path / "missing")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_inspect_parser_can_be_extended():
    """Another command registers like inspect does, through SUBCOMMANDS."""
    calls = []

    def add_echo_parser(subparsers):
        p = subparsers.add_parser("echo")
        p.add_argument("word")
        p.set_defaults(func=lambda args: calls.append(args.word) or 3)

    original = list(cli.SUBCOMMANDS)
    try:
        cli.SUBCOMMANDS.append(add_echo_parser)
        assert cli.main(["echo", "hi"]) == 3 and calls == ["hi"]
    finally:
        cli.SUBCOMMANDS[:] = original
    with pytest.raises(SystemExit) as exc:
        cli.main(["inspect"])  # PATH is required: argparse exits with 2
    assert exc.value.code == 2


def test_inspect_gives_each_slices_own_thickness_and_position(tmp_path):
    from cranioscan.testing.factory import mixed_thickness_series

    write_series(mixed_thickness_series(), tmp_path)
    proc = run("inspect", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert field(out, "slice thickness") == "4 mm (slices 1–15), 7 mm (16–28)"
    assert "slices 1–15 at 4.0 mm, 16–28 at 7.0 mm; odd gap of 5.5 mm between slices 15 and 16" in out
    table = out.split("Slices (inferior to superior, numbered from 1 as in the viewer):\n")[1]
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [int(r[0]) for r in rows] == list(range(1, 29))
    assert [float(r[2]) for r in rows] == [4.0] * 15 + [7.0] * 13
    assert [float(r[1]) for r in rows[13:17]] == [52.0, 56.0, 61.5, 68.5]
    assert rows[0][3] == "-" and float(rows[15][3]) == 5.5
    assert "Slices (" not in run("inspect", tmp_path, "--no-slices").stdout


def test_inspect_escapes_control_characters_in_names(tmp_path):
    """A file name or description with ANSI escapes and newlines is shown, not sent."""
    datasets = make_series(3, pixels=np.zeros((4, 4)),
                           series_description="Head\x1b[31m RED\nInjected: line")
    paths = write_series(datasets, tmp_path)
    paths[1].rename(tmp_path / "slice\x1b[2J\rname.dcm")
    (tmp_path / "junk\x1b]0;title\x07.txt").write_text("not dicom")
    proc = run("inspect", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\r" not in proc.stdout and "\x07" not in proc.stdout
    assert "Head\\x1b[31m RED\\nInjected: line" in proc.stdout
    assert "slice\\x1b[2J\\rname.dcm" in proc.stdout
    assert "junk\\x1b]0;title\\x07.txt: not a DICOM file" in proc.stdout
    assert not any(line.startswith("Injected") for line in proc.stdout.splitlines())
