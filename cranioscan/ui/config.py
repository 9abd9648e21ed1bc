"""Dashboard settings read from environment variables (no Streamlit import).

The dashboard (``streamlit run app.py``) reads where the model, the run
folders and the demo-case cache live from the environment, so that a
deployment, a test or a benchmark can point it elsewhere without editing
code. Every variable is optional:

``CRANIOSCAN_MODEL``
    the ``.keras`` model to load (default ``model/best_model.keras``).
``CRANIOSCAN_RUNS``
    run folders or folders of run folders for the validation page,
    separated by ``os.pathsep`` (default ``runs`` and
    ``model/validation_run``).
``CRANIOSCAN_CACHE``
    where generated demo cases are kept (default ``.cache`` in the
    repository, which git ignores).
``CRANIOSCAN_ALLOW_FOLDER``
    ``1`` enables the "local folder" source (a path on the server's disk);
    off by default, because anyone reaching the page could read any folder
    the server can.
``CRANIOSCAN_MAX_UPLOAD_MB``
    cap on the total size of one upload (default 1024 MB); uploads are
    kept in memory only.
``CRANIOSCAN_TIMING``
    ``1`` shows the server-side time of each slice redraw under the image.

Relative paths are resolved against the repository root (the folder holding
``app.py``), not the working directory.
"""

__all__ = ["REPO_ROOT", "AppConfig", "from_env"]

import dataclasses
import os
from pathlib import Path

from ..defaults import DEFAULT_MODEL, DEFAULT_RUN_ROOTS, REPO_ROOT

#: The repository root: the folder above the ``cranioscan`` package.

_TRUE = {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """Resolved dashboard settings.

    Attributes:
        model_path: absolute path of the ``.keras`` model.
        run_roots: absolute paths searched by ``reports.find_runs``.
        cache_dir: absolute path of the demo-case cache.
        allow_folder: whether a server-side folder path may be loaded.
        max_upload_mb: cap on the total size of one upload, in MB.
        show_timing: whether to show redraw times under the image.
    """

    model_path: Path
    run_roots: tuple
    cache_dir: Path
    allow_folder: bool = False
    max_upload_mb: int = 1024
    show_timing: bool = False

    @property
    def max_upload_bytes(self):
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb) * 1024 * 1024


def _resolve(path, root):
    path = Path(os.path.expanduser(str(path)))
    return path if path.is_absolute() else (root / path)


def from_env(environ=None, root=REPO_ROOT):
    """Read :class:`AppConfig` from ``environ`` (default ``os.environ``).

    Raises:
        ValueError: ``CRANIOSCAN_MAX_UPLOAD_MB`` is not a positive integer.
    """
    env = os.environ if environ is None else environ
    root = Path(root)
    model = env.get("CRANIOSCAN_MODEL") or DEFAULT_MODEL
    runs = env.get("CRANIOSCAN_RUNS")
    roots = [r for r in runs.split(os.pathsep) if r] if runs else list(DEFAULT_RUN_ROOTS)
    cache = env.get("CRANIOSCAN_CACHE") or ".cache"
    raw_cap = env.get("CRANIOSCAN_MAX_UPLOAD_MB") or "1024"
    try:
        cap = int(raw_cap)
    except ValueError:
        cap = 0
    if cap <= 0:
        raise ValueError(f"CRANIOSCAN_MAX_UPLOAD_MB must be a positive whole number of MB, got {raw_cap!r}")
    return AppConfig(
        model_path=_resolve(model, root),
        run_roots=tuple(str(_resolve(r, root)) for r in roots),
        cache_dir=_resolve(cache, root),
        allow_folder=str(env.get("CRANIOSCAN_ALLOW_FOLDER", "")).strip().lower() in _TRUE,
        max_upload_mb=cap,
        show_timing=str(env.get("CRANIOSCAN_TIMING", "")).strip().lower() in _TRUE,
    )
