"""Start the dashboard in a child process: ``streamlit run app.py`` on a free localhost port.

For the real-browser tests and the benchmarks, which drive the server that a
user would start. No Streamlit import.
"""

__all__ = ["free_port", "start_dashboard"]

import socket
import subprocess
import sys
import time
import urllib.request

from .defaults import REPO_ROOT


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(env, timeout=90.0, stdout=subprocess.DEVNULL, app="app.py"):
    """Run ``streamlit run app.py`` headless and wait until it answers its health check.

    Args:
        env: the child's environment (``CRANIOSCAN_*`` settings).
        timeout: seconds to wait for ``/_stcore/health``.
        stdout: where the server's output goes (a file object, or DEVNULL).
        app: the script, relative to the repository root.

    Returns:
        ``(process, url)``.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout``
            (the process is killed).
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO_ROOT, env=env, stdout=stdout, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"streamlit did not answer its health check in {timeout:.0f} s")
