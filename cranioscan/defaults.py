"""Where CranioScan looks for its files by default: one home for paths and defaults."""

__all__ = ["REPO_ROOT", "DEFAULT_MODEL", "DEFAULT_RUN_ROOTS", "MODEL_FILE"]

from pathlib import Path

#: The CranioScan checkout (the folder holding ``cranioscan/`` and ``model/``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: File name of a trained model in a run folder and in ``model/``.
MODEL_FILE = "best_model.keras"

#: The shipped model, relative to the working directory or else to the checkout.
DEFAULT_MODEL = f"model/{MODEL_FILE}"

#: Run folders (or folders of run folders) the validation page lists by default.
DEFAULT_RUN_ROOTS = ("runs", "model/validation_run")
