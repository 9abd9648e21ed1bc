"""The development Orthanc (``cranioscan.pacs.orthanc_dev``): failures name their cause,
the password stays off the command line, and every stop signal stops Orthanc."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cranioscan.pacs import orthanc_dev
from cranioscan.pacs.orthanc_dev import (OrthancServer, OrthancUnavailable, find_dicomweb_plugin,
                                         find_orthanc)

REPO = Path(__file__).resolve().parents[2]
needs_orthanc = pytest.mark.skipif(
    find_orthanc() is None or find_dicomweb_plugin() is None,
    reason="Orthanc with its DICOMweb plugin is not installed "
           "(apt-get install orthanc orthanc-dicomweb; .ci/run does)")


# ------------------------------------------------------------ start failures
def test_an_orthanc_that_exits_at_start_gives_its_own_reason(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "Orthanc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"E0101 Bad file format: $1 is not what I expected\"\n"
                    "exit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(orthanc_dev, "find_dicomweb_plugin", lambda: str(tmp_path / "dw.so"))
    server = OrthancServer(start_timeout=20)
    with pytest.raises(OrthancUnavailable) as caught:
        server.start()
    message = str(caught.value)
    assert "exited at start (code 3)" in message
    assert "E0101 Bad file format" in message and "orthanc.json is not what I expected" in message
    assert server.folder is None and not server.running  # storage removed, nothing left


@needs_orthanc
def test_a_wrong_dicomweb_root_is_an_error_not_a_wait(monkeypatch):
    class WrongRoot(OrthancServer):
        def config(self, folder):
            config = super().config(folder)
            config["DicomWeb"]["Root"] = "/dicomweb/"
            return config

    server = WrongRoot(start_timeout=60)
    started = time.monotonic()
    with pytest.raises(OrthancUnavailable, match=r"not its DICOMweb root .*/dicom-web \(HTTP 404"):
        server.start()
    assert time.monotonic() - started < 50  # told at once, not after the whole start timeout
    assert server.folder is None and not server.running


# ------------------------------------------------------------------ password
def test_the_password_comes_from_the_environment_or_a_prompt():
    env = {orthanc_dev.PASSWORD_ENV: "from-env"}
    assert orthanc_dev.password_for("reader", env, ask=pytest.fail) == "from-env"
    asked = []
    typed = orthanc_dev.password_for("reader", {}, ask=lambda p: asked.append(p) or "typed",
                                     interactive=True)
    assert (typed, asked) == ("typed", ["Password for reader: "])
    with pytest.raises(ValueError, match=orthanc_dev.PASSWORD_ENV):
        orthanc_dev.password_for("reader", {}, ask=pytest.fail, interactive=False)
    with pytest.raises(ValueError, match="empty"):
        orthanc_dev.password_for("reader", {}, ask=lambda p: "", interactive=True)


def test_a_password_on_the_command_line_is_refused(capsys, monkeypatch):
    monkeypatch.setattr(orthanc_dev, "OrthancServer", pytest.fail)  # nothing may start
    with pytest.raises(SystemExit) as stopped:
        orthanc_dev.main(["--user", "reader:secret", "--phantoms", "0"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "shows in ps" in err and orthanc_dev.PASSWORD_ENV in err


# ------------------------------------------------------------------- signals
def _orthanc_pids(folder):
    """PIDs of live processes whose command line names ``folder`` (the Orthanc it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder) in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@needs_orthanc
@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_each_stop_signal_stops_orthanc_and_deletes_its_storage(stop):
    env = {**os.environ, orthanc_dev.PASSWORD_ENV: "s3cret", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cranioscan.pacs.orthanc_dev", "--phantoms", "0", "--user",
         "reader"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        printed = {}
        for line in proc.stdout:
            key, _, value = line.partition(": ")
            printed[key] = value.strip()
            if key.startswith("Storage"):
                break
        assert "DICOMweb" in printed, (printed, proc.stderr.read() if proc.poll() else "")
        url, folder = printed["DICOMweb"], Path(printed["Storage (deleted when it stops)"])
        assert "s3cret" not in " ".join(proc.args)
        assert requests.get(url + "/studies", timeout=5).status_code == 401
        assert requests.get(url + "/studies", auth=("reader", "s3cret"), timeout=5).status_code \
            == 200
        (orthanc_pid,) = _orthanc_pids(folder)
        proc.send_signal(stop)
        assert proc.wait(timeout=40) == 0, proc.stderr.read()
        assert not folder.exists()
        assert _orthanc_pids(folder) == [], f"Orthanc {orthanc_pid} outlived orthanc_dev"
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/studies", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
