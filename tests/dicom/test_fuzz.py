"""A bounded fuzz campaign against the loader, in CI (about a minute).

Runs ``bench/fuzz_loader.py`` (mutated phantom slices in five transfer
syntaxes, plus ``../shared/realct`` slices when present) in a child process
with a 4 GiB address-space limit, so that an allocation the caps should have
stopped, a hang or a decoder that aborts the interpreter all fail the test.
The contract checked for every case: ``DicomLoadError``, or a load with
finite HU, within 5 s. The long campaign is the same script with a larger
``--count`` (see bench/README.md).
"""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fuzz_loader.py"


@pytest.mark.slow
def test_bounded_fuzz_campaign_keeps_the_loader_contract():
    done = subprocess.run([sys.executable, str(SCRIPT), "--seed", "18", "--count", "5000"],
                          capture_output=True, text=True, timeout=900)
    report = done.stdout[-4000:]
    assert done.returncode == 0, report + done.stderr[-2000:]
    assert "5000 cases" in report and "FAIL" not in report
    assert "DicomLoadError" in report and "loaded" in report  # both outcomes were reached
