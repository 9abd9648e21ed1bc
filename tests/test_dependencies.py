"""Dependencies: lower bounds past published advisories, and a hash-locked file (issue 30, item 8).

``requirements.txt`` must not admit a release with a known advisory of the
packages below, and ``requirements-lock.txt`` must pin every package with
its hashes, at versions that satisfy ``requirements.txt`` and are past the
same advisories. ``docs/security.md`` says how to audit them and the
README offers the lock file.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]

#: package -> (last vulnerable release, first fixed release, advisories).
ADVISORIES = {
    "keras": ("3.13.2", "3.14.0", "CVE-2025-8747, CVE-2025-9906, CVE-2026-1462"),
    "pydicom": ("3.0.1", "3.0.2", "CVE-2026-32711"),
    "requests": ("2.32.3", "2.32.4", "CVE-2024-47081"),
    "pillow": ("10.2.0", "10.3.0", "CVE-2024-28219"),
    "tqdm": ("4.66.2", "4.66.3", "CVE-2024-34062"),
    "scikit-learn": ("1.4.2", "1.5.0", "CVE-2024-5206"),
    "authlib": ("1.6.11", "1.7.2", "CVE-2026-27962, CVE-2026-41425, CVE-2026-44681"),
}


def requirements(path):
    """``{canonical name: Requirement}`` of a requirements file (comments, options skipped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            found[canonicalize_name(req.name)] = req
    return found


def lock_pins(path):
    """``{canonical name: (version, [sha256, ...])}`` of a pip-compile / uv hash-locked file."""
    text = path.read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", block)
        if match:
            pins[canonicalize_name(match.group(1))] = (
                match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


@pytest.mark.parametrize("name", sorted(ADVISORIES))
def test_lower_bounds_exclude_releases_with_advisories(name):
    vulnerable, fixed, advisories = ADVISORIES[name]
    spec = requirements(REPO / "requirements.txt")[canonicalize_name(name)].specifier
    assert not spec.contains(vulnerable, prereleases=True), f"{name} {vulnerable}: {advisories}"
    assert spec.contains(fixed), f"{name} {fixed} must stay installable"


def test_lock_file_pins_everything_with_hashes():
    wanted = requirements(REPO / "requirements.txt")
    pins = lock_pins(REPO / "requirements-lock.txt")
    assert len(pins) >= len(wanted)
    for name, req in wanted.items():
        assert name in pins, f"{name} is not in requirements-lock.txt"
        assert req.specifier.contains(pins[name][0], prereleases=True), (name, pins[name][0])
    for name, (version, hashes) in pins.items():
        assert hashes, f"{name}=={version} has no --hash"
    for name, (_, fixed, advisories) in ADVISORIES.items():
        assert Version(pins[canonicalize_name(name)][0]) >= Version(fixed), advisories


def test_docs_say_how_to_install_locked_and_audit():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    security = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements-lock.txt" in readme
    assert "docs/security.md" in readme
    assert "pip-audit" in security and "requirements-lock.txt" in security
