"""The run folder's file names, spelled once: :class:`RunFolder` turns a folder into paths.

A training run folder (``python train.py ... --out runs/NAME``) holds
``config.json``, ``history.csv``, ``best_model.keras``,
``val_predictions.csv``, ``metrics.json``, ``roc.json`` and PNG plots (the
layout of ``docs/training.md``, which the validation page and other tools
read), with ``split.csv``, ``data_report.txt``, ``pr.json`` and
``init_from.json`` beside them. The out-of-fold folder that
``cranioscan crossval`` writes adds ``folds.json`` and ``calibration.json``.
The model folder (``model/``) holds the shipped ``best_model.keras`` with
``model_card.json``, ``series_model.keras`` and its ``validation_run/``. A
series cross-validation folder (``cranioscan.train.series_trainer``) holds
``recipe.json``, ``oof.npz`` and a ``fold<k>/`` per member.

Every writer and reader takes these names from here; the names on disk are
the contract and do not change. Standard library only, so any module may
import it.
"""

__all__ = ["MODEL_FILE", "CARD_FILE", "SERIES_MODEL_FILE", "VALIDATION_RUN", "RunFolder",
           "read_json", "write_json", "train_command"]

import dataclasses
import json
import os

#: The trained (or shipped) slice model, in a run folder and in ``model/``.
MODEL_FILE = "best_model.keras"

#: The model card beside a model file.
CARD_FILE = "model_card.json"

#: The series model beside the shipped slice model.
SERIES_MODEL_FILE = "series_model.keras"

#: The sub-folder of ``model/`` holding the shipped model's validation run.
VALIDATION_RUN = "validation_run"

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Paths of the files in one run folder (nothing is read or created).

    Attributes:
        path: the folder (a ``str``; a path-like is converted).
    """

    path: str

    def __post_init__(self):
        object.__setattr__(self, "path", os.fspath(self.path))

    def _file(self, name):
        return os.path.join(self.path, name)

    @property
    def name(self):
        """The folder's own name (``runs/demo/`` -> ``"demo"``): a run's title."""
        return os.path.basename(os.path.normpath(self.path))

    # --- a training run (train.py) -----------------------------------------
    @property
    def config(self):
        """``config.json``: the resolved command-line options."""
        return self._file("config.json")

    @property
    def history(self):
        """``history.csv``: one row per epoch (Keras ``CSVLogger``)."""
        return self._file("history.csv")

    @property
    def model(self):
        """``best_model.keras``: the best epoch's model, without optimizer state."""
        return self._file(MODEL_FILE)

    @property
    def model_state(self):
        """``best_model.keras.json``: the best epoch, monitor and value (``BestModelSaver``)."""
        return self.model + ".json"

    @property
    def val_predictions(self):
        """``val_predictions.csv``: one row per validation slice (ids, labels, probabilities)."""
        return self._file("val_predictions.csv")

    @property
    def metrics(self):
        """``metrics.json``: per-class AUC with interval, threshold, sensitivity, specificity."""
        return self._file("metrics.json")

    @property
    def roc(self):
        """``roc.json``: per class ``fpr``, ``tpr``, ``thresholds``."""
        return self._file("roc.json")

    @property
    def pr(self):
        """``pr.json``: per class precision-recall curve and average precision."""
        return self._file("pr.json")

    def plot(self, name):
        """``<name>.png`` (``"roc"``, ``"pr"``, ``"reliability"``)."""
        return self._file(f"{name}.png")

    @property
    def split(self):
        """``split.csv``: each slice's split (``train`` or ``val``)."""
        return self._file("split.csv")

    @property
    def data_report(self):
        """``data_report.txt``: what the data adapter kept, dropped and counted."""
        return self._file("data_report.txt")

    @property
    def init_from(self):
        """``init_from.json``: the weights a run started from (``--init-from``)."""
        return self._file("init_from.json")

    @property
    def backup(self):
        """``backup/``: Keras ``BackupAndRestore`` state, so a run resumes."""
        return self._file("backup")

    @property
    def cache(self):
        """``cache/``: the preprocessed slice cache when ``--cache-dir`` is not given."""
        return self._file("cache")

    def finished(self):
        """Whether the run wrote its validation predictions (what the validation page reads)."""
        return os.path.isfile(self.val_predictions)

    # --- the out-of-fold folder (cranioscan crossval) ----------------------
    @property
    def folds(self):
        """``folds.json``: per fold its run folder, command, seeds and patients."""
        return self._file("folds.json")

    @property
    def calibration(self):
        """``calibration.json``: the calibration fitted on the out-of-fold predictions."""
        return self._file("calibration.json")

    # --- the model folder (model/) ------------------------------------------
    @property
    def card(self):
        """``model_card.json``: the card of the model in this folder."""
        return self._file(CARD_FILE)

    @property
    def series_model(self):
        """``series_model.keras``: the series stage beside the slice model."""
        return self._file(SERIES_MODEL_FILE)

    @property
    def validation_run(self):
        """``validation_run/``: the shipped model's validation run folder."""
        return RunFolder(self._file(VALIDATION_RUN))

    # --- a series cross-validation folder (series_trainer) -----------------
    @property
    def recipe(self):
        """``recipe.json``: the series recipe, cache key, ``k`` and fold seed."""
        return self._file("recipe.json")

    @property
    def oof(self):
        """``oof.npz``: out-of-fold arrays (rows, patients, labels, slice, own, series, fold)."""
        return self._file("oof.npz")

    def figures(self, verdict_from):
        """``figures_<verdict_from>.json``: a recipe's out-of-fold figures."""
        return self._file(f"figures_{verdict_from}.json")

    def fold(self, k):
        """``fold<k>/``: fold ``k``'s folder (a series member's files)."""
        return RunFolder(self._file(f"fold{int(k)}"))

    @property
    def head(self):
        """``head.keras`` (in ``fold<k>/``): the member's slice head."""
        return self._file("head.keras")

    @property
    def member(self):
        """``series.keras`` (in ``fold<k>/``): the member's series layers."""
        return self._file("series.keras")

    @property
    def member_history(self):
        """``history.json`` (in ``fold<k>/``): the member's losses, minutes and patients."""
        return self._file("history.json")


def read_json(path, default=_MISSING):
    """The JSON value stored in ``path``.

    Args:
        path: a JSON file (UTF-8).
        default: returned when ``path`` is not a file; without it a missing
            file raises ``FileNotFoundError``.
    """
    if default is not _MISSING and not os.path.isfile(path):
        return default
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_json(path, value, indent=1, sort_keys=False):
    """Write ``value`` (JSON-ready) to ``path``, replacing it; ``indent=None`` for one line."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=indent, sort_keys=sort_keys)


def train_command(config):
    """The ``train.py`` command line that reproduces a run's ``config.json`` (a dict)."""
    backend = (config.get("stream") or {}).get("backend", "")
    parts = ["KERAS_BACKEND=jax"] if backend.startswith("jax") else []
    parts += ["python", "train.py"]
    for key, value in sorted(config.items()):
        flag = "--" + key.replace("_", "-")
        if value is None or value is False or isinstance(value, dict) or value in ([], ()):
            continue  # unset flags, and facts the run recorded (e.g. "stream")
        if isinstance(value, (list, tuple)):
            parts += [flag] + [str(v) for v in value]
        else:
            parts += [flag] if value is True else [flag, str(value)]
    return " ".join(parts)
