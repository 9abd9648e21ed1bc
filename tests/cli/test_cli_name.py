"""``cranioscan --help`` names the command ``cranioscan`` (issue 27, item 6)."""

import os
import shutil
import subprocess
import sys

import pytest

from cranioscan.cli.main import build_parser


def test_the_parser_calls_itself_cranioscan():
    assert build_parser().format_usage().startswith("usage: cranioscan ")
    assert build_parser("python -m cranioscan").format_usage().startswith(
        "usage: python -m cranioscan ")


@pytest.mark.skipif(shutil.which("cranioscan") is None, reason="the console script is not installed")
def test_console_script_help_names_cranioscan():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(["cranioscan", "--help"], capture_output=True, text=True, timeout=120,
                         env=env, check=True).stdout
    assert out.startswith("usage: cranioscan ") and "python -m" not in out.splitlines()[0]
    module = subprocess.run([sys.executable, "-m", "cranioscan", "--help"], capture_output=True,
                            text=True, timeout=120, env=env, check=True).stdout
    assert module.startswith("usage: python -m cranioscan ")
