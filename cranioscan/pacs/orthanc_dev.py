"""A throwaway Orthanc PACS on loopback, for development and tests.

``OrthancServer`` starts Debian's ``Orthanc`` (package ``orthanc``) with the
DICOMweb plugin (package ``orthanc-dicomweb``) on 127.0.0.1, on a free HTTP
port, with the DICOM (DIMSE) server disabled, storage in a temporary folder
removed on stop, and optional HTTP basic authentication (``users``), so that
tests can check a wrong password gives 401. It waits until the server
answers and stops it cleanly (context manager, and ``atexit`` for a
forgotten one).

From a shell (loads phantom demo studies and waits until Ctrl-C, SIGTERM or
SIGHUP, each of which stops Orthanc and deletes its storage)::

    python -m cranioscan.pacs.orthanc_dev --phantoms 2
    CRANIOSCAN_DICOMWEB_PASSWORD=... python -m cranioscan.pacs.orthanc_dev --user reader

prints the DICOMweb URL to give ``CRANIOSCAN_DICOMWEB_URL``.
"""

__all__ = [
    "OrthancServer",
    "OrthancUnavailable",
    "find_orthanc",
    "find_dicomweb_plugin",
    "free_port",
    "upload_files",
    "upload_phantoms",
    "main",
    "password_for",
]

import argparse
import atexit
import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from ..dicom.header import peek
from ..dicom.write import to_bytes
from ..launch import free_port  # one port picker for every server the project starts
from ..phantom import make_study, study_seed_for
from ..phantom.dicom_writer import series_datasets

#: Where Debian puts the DICOMweb plugin (``dpkg -L orthanc-dicomweb``).
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                     "/usr/lib/orthanc/libOrthancDicomWeb.so")


class OrthancUnavailable(RuntimeError):
    """Orthanc or its DICOMweb plugin is not installed, or it did not start (message says which)."""


def find_orthanc():
    """Path of the Orthanc executable, or None when it is not installed."""
    found = shutil.which("Orthanc")
    if found:
        return found
    return "/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None


def find_dicomweb_plugin():
    """Path of ``libOrthancDicomWeb.so`` (any version suffix), or None."""
    for path in PLUGIN_CANDIDATES:
        if os.path.exists(path):
            return path
    for folder in ("/usr/share/orthanc/plugins", "/usr/lib/orthanc"):
        for path in sorted(Path(folder).glob("libOrthancDicomWeb.so*")) if os.path.isdir(folder) \
                else []:
            return str(path)
    return None


class OrthancServer:
    """One Orthanc process on 127.0.0.1 with DICOMweb; ``with OrthancServer() as pacs: ...``.

    Attributes:
        port: its HTTP port.
        url: ``http://127.0.0.1:PORT`` (the REST API).
        dicomweb_url: ``url + "/dicom-web"`` (QIDO-RS, WADO-RS, STOW-RS).
        users: ``{name: password}`` for HTTP basic authentication, or None
            (no authentication).
        auth: ``(name, password)`` of the first user, or None.
    """

    def __init__(self, users=None, port=None, start_timeout=30.0):
        self.users = dict(users) if users else None
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb_url = self.url + "/dicom-web"
        self.auth = next(iter(self.users.items())) if self.users else None
        self.start_timeout = float(start_timeout)
        self._proc = None
        self._folder = None
        self._log = None

    def config(self, folder):
        """The Orthanc configuration (a dict written as JSON) for storage in ``folder``."""
        plugin = find_dicomweb_plugin()
        return {
            "Name": "CRANIOSCAN_DEV",
            "StorageDirectory": str(Path(folder) / "storage"),
            "IndexDirectory": str(Path(folder) / "storage"),
            "HttpPort": self.port,
            "RemoteAccessAllowed": False,  # loopback clients only
            "DicomServerEnabled": False,  # no DIMSE port: DICOMweb only
            "DicomPort": 0,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users or {},
            "HttpTimeout": 30,
            "StableAge": 1,
            "Plugins": [plugin] if plugin else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        }

    def start(self):
        """Start Orthanc and wait until its DICOMweb answers; return self."""
        exe, plugin = find_orthanc(), find_dicomweb_plugin()
        if exe is None or plugin is None:
            missing = " and ".join(n for n, p in (("orthanc", exe), ("orthanc-dicomweb", plugin))
                                   if p is None)
            raise OrthancUnavailable(f"Orthanc is not installed: apt-get install {missing}")
        self._folder = tempfile.mkdtemp(prefix="cranioscan-orthanc-")
        config_path = Path(self._folder) / "orthanc.json"
        config_path.write_text(json.dumps(self.config(self._folder), indent=1))
        self._log = open(Path(self._folder) / "orthanc.log", "wb")
        self._proc = subprocess.Popen([exe, str(config_path)], stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)
        self._wait_ready()
        return self

    def _wait_ready(self):
        """Wait until DICOMweb answers 200; raise with Orthanc's own log when it cannot."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:  # read before stop(), which forgets the process
                self._fail(f"Orthanc exited at start (code {code})")
            try:
                answer = requests.get(self.dicomweb_url + "/studies", auth=self.auth, timeout=2)
                if answer.status_code == 200:
                    return
                if answer.status_code == 404 and requests.get(
                        self.url + "/system", auth=self.auth, timeout=2).status_code == 200:
                    # The REST API is up (plugins load before it), DICOMweb is not there.
                    self._fail(f"Orthanc answers but not its DICOMweb root "
                               f"{self.dicomweb_url} (HTTP 404): is the plugin loaded with "
                               f"Root /dicom-web/?")
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self._fail(f"Orthanc did not answer within {self.start_timeout:.0f} s")

    def _fail(self, what):
        log = self.log_tail()
        self.stop()
        raise OrthancUnavailable(f"{what}; the end of its log:\n{log}")

    def log_tail(self, n_chars=2000):
        """The end of Orthanc's log (text), for error messages."""
        try:
            return (Path(self._folder) / "orthanc.log").read_bytes()[-n_chars:].decode(
                "utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def stop(self):
        """Stop Orthanc (SIGTERM, then SIGKILL after 10 s) and delete its storage. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        atexit.unregister(self.stop)

    @property
    def folder(self):
        """The temporary folder holding its configuration, log and storage (None once stopped)."""
        return self._folder

    @property
    def running(self):
        """True while the Orthanc process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start() if self._proc is None else self

    def __exit__(self, *exc):
        self.stop()

    # ----------------------------------------------------------- content
    def upload(self, blobs):
        """Store DICOM files (``bytes`` each) through the REST API; return Orthanc's answers."""
        return upload_files(self.url, blobs, auth=self.auth)

    def clear(self):
        """Delete every study stored in this Orthanc."""
        for study in requests.get(self.url + "/studies", auth=self.auth, timeout=10).json():
            requests.delete(f"{self.url}/studies/{study}", auth=self.auth, timeout=10)


def upload_files(url, blobs, auth=None, timeout=30):
    """POST each DICOM file (bytes) to Orthanc's ``/instances``; return the JSON answers.

    Raises:
        RuntimeError: Orthanc refused a file (the status and its answer).
    """
    answers = []
    with requests.Session() as session:
        session.auth = auth
        for blob in blobs:
            answer = session.post(url + "/instances", data=blob, timeout=timeout,
                                  headers={"Content-Type": "application/dicom"})
            if answer.status_code != 200:
                raise RuntimeError(f"Orthanc refused a file: HTTP {answer.status_code} "
                                   f"{answer.text[:200]}")
            answers.append(answer.json())
    return answers


def phantom_blobs(index, seed=0, matrix=128, n_slices=None, accession=None, study_date=None):
    """DICOM files (bytes, inferior first) of phantom demo study ``index`` (a small matrix).

    Each phantom gets patient ID ``PHANTOM-<index>``, accession number
    ``ACC<index>`` and, unless given, study date ``2024-01-(index+1)``, so
    that every query field has something to find.
    """
    study = make_study(study_seed_for(seed, index), matrix=matrix, n_slices=n_slices)
    blobs = []
    for _sop, ds in series_datasets(study):
        ds.PatientID = f"PHANTOM-{index:03d}"
        ds.PatientName = f"PHANTOM^SYNTHETIC^{index:03d}"
        ds.AccessionNumber = accession or f"ACC{index:04d}"
        ds.StudyDate = study_date or f"202401{index + 1:02d}"
        blobs.append(to_bytes(ds))
    return blobs


def upload_phantoms(server, n_studies, seed=0, matrix=128, n_slices=None):
    """Store ``n_studies`` phantom studies in ``server``; return their StudyInstanceUIDs."""
    uids = []
    for index in range(n_studies):
        blobs = phantom_blobs(index, seed=seed, matrix=matrix, n_slices=n_slices)
        server.upload(blobs)
        uids.append(str(peek(blobs[0], ["StudyInstanceUID"]).StudyInstanceUID))
    return uids


#: Where ``main`` reads the password of ``--user`` (the dashboard reads the same variable).
PASSWORD_ENV = "CRANIOSCAN_DICOMWEB_PASSWORD"
#: Signals that stop the server as Ctrl-C does: its storage is deleted, Orthanc does not outlive it.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """A stop signal (SIGTERM, SIGHUP) arrived; raised inside the main loop."""


def _stop_on_signal(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def password_for(user, environ=None, ask=None, interactive=None):
    """The password of ``user``: from ``$CRANIOSCAN_DICOMWEB_PASSWORD``, else typed at a prompt.

    Never from the command line, where every local user reads it in ``ps``.

    Raises:
        ValueError: no password in the environment and no terminal to ask on.
    """
    environ = os.environ if environ is None else environ
    if environ.get(PASSWORD_ENV):
        return environ[PASSWORD_ENV]
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise ValueError(f"no password for user {user!r}: set {PASSWORD_ENV} "
                         "(or run it in a terminal to be asked)")
    if ask is None:
        ask = getpass.getpass
    password = ask(f"Password for {user}: ")
    if not password:
        raise ValueError("an empty password")
    return password


def main(argv=None):
    """``python -m cranioscan.pacs.orthanc_dev``: run a development Orthanc until Ctrl-C,
    SIGTERM or SIGHUP; each stops Orthanc and deletes its storage."""
    parser = argparse.ArgumentParser(
        prog="python -m cranioscan.pacs.orthanc_dev",
        description="Start a throwaway Orthanc (DICOMweb) on 127.0.0.1 for trying CranioScan's "
                    "PACS source; its storage is deleted when it stops (Ctrl-C, SIGTERM, "
                    "SIGHUP).")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--phantoms", type=int, default=2, metavar="N",
                        help="phantom demo studies to load (default: 2)")
    parser.add_argument("--matrix", type=int, default=256, help="phantom matrix (default: 256)")
    parser.add_argument("--user", default=None, metavar="NAME",
                        help="require HTTP basic authentication as NAME (default: none); the "
                             f"password comes from ${PASSWORD_ENV} or is asked for, never "
                             "from the command line")
    args = parser.parse_args(argv)
    users = None
    if args.user:
        if ":" in args.user:
            parser.error(f"--user takes a name only: a password on the command line shows in "
                         f"ps; set {PASSWORD_ENV} or type it when asked")
        try:
            users = {args.user: password_for(args.user)}
        except ValueError as exc:
            parser.error(str(exc))
    previous = {sig: signal.signal(sig, _stop_on_signal) for sig in STOP_SIGNALS}
    server = OrthancServer(users=users, port=args.port)
    try:
        try:
            server.start()
        except OrthancUnavailable as exc:
            print(f"orthanc_dev: error: {exc}", file=sys.stderr)
            return 2
        print(f"Orthanc is running; loading {args.phantoms} phantom studies ...", flush=True)
        upload_phantoms(server, args.phantoms, matrix=args.matrix)
        print(f"DICOMweb: {server.dicomweb_url}\nREST / web UI: {server.url}/app/explorer.html\n"
              f"Storage (deleted when it stops): {server.folder}\n"
              f"Try: CRANIOSCAN_DICOMWEB_URL={server.dicomweb_url} python3 -m streamlit run app.py"
              "\nCtrl-C (or SIGTERM, SIGHUP) stops it and deletes its storage.", flush=True)
        while server.running:
            time.sleep(0.5)
        print("orthanc_dev: Orthanc stopped on its own; the end of its log:\n"
              + server.log_tail(), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stopped) as exc:
        print(f"orthanc_dev: stopping ({exc or 'Ctrl-C'})", file=sys.stderr, flush=True)
        return 0
    finally:
        for sig in STOP_SIGNALS:  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
