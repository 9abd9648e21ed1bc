"""Where CranioScan looks for its files by default: one home for paths and defaults."""

__all__ = ["REPO_ROOT", "DEFAULT_MODEL", "DEFAULT_RUN_ROOTS", "MODEL_FILE"]

from pathlib import Path

from .run_folder import MODEL_FILE, VALIDATION_RUN

#: The CranioScan checkout (the folder holding ``cranioscan/`` and ``model/``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The shipped model, relative to the working directory or else to the checkout.
DEFAULT_MODEL = f"model/{MODEL_FILE}"

#: Run folders (or folders of run folders) the validation page lists by default.
DEFAULT_RUN_ROOTS = ("runs", f"model/{VALIDATION_RUN}")
