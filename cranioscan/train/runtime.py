"""Training machinery shared by ``train.py``: devices, precision, checkpoints.

Kept apart from the script so it can be tested and reused: choosing a
``tf.distribute`` strategy, the mixed-precision policy, a callback that keeps
the best epoch (by a named validation metric) as a small inference-only
``.keras`` file, and resumable state.
"""

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "set_precision",
    "LAST_EPOCH",
    "BestModelSaver",
    "EpochProgressLog",
]

import json
import math
import os
import time

import keras

#: ``--strategy`` choices: one device, all local GPUs, or several workers
#: described by the ``TF_CONFIG`` environment variable.
STRATEGIES = ("default", "mirrored", "multiworker")

#: ``--monitor`` value that keeps the last epoch instead of the best one (for
#: cross-validation folds, whose validation patients must not pick the epoch).
LAST_EPOCH = "last"


def make_strategy(name="default"):
    """Return the ``tf.distribute`` strategy called ``name`` (see ``STRATEGIES``).

    TensorFlow is imported here, not with the module, so the callbacks below
    also serve training on other Keras backends (``cranioscan.train.stream``).
    """
    import tensorflow as tf  # tf.distribute only: a JAX machine has no TensorFlow

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def set_precision(mixed):
    """Use ``mixed_float16`` (GPU) or ``float32`` compute; returns the policy name.

    The model's final sigmoid is built in float32 by ``build_model`` so
    probabilities and the loss stay accurate under mixed precision.
    """
    policy = "mixed_float16" if mixed else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


class BestModelSaver(keras.callbacks.Callback):
    """Save the model whenever a validation metric improves.

    Writes ``path`` through ``save_fn(model, path)`` (inference-only, no
    optimizer state) and remembers the best value in ``path + ".json"`` so a
    resumed run does not overwrite a better earlier epoch.

    Args:
        path: ``.keras`` file to write.
        monitor: name of the logged metric, e.g. ``"val_auc"`` or ``"val_loss"``;
            ``LAST_EPOCH`` keeps every newest epoch (use with mode ``"max"``).
        mode: ``"max"`` or ``"min"``.
        save_fn: callable ``(model, path)``.
    """

    def __init__(self, path, monitor, mode, save_fn):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.path, self.monitor, self.mode, self.save_fn = path, monitor, mode, save_fn
        self.state_path = path + ".json"
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None
        if os.path.isfile(self.state_path):
            with open(self.state_path) as handle:
                state = json.load(handle)
            self.best, self.best_epoch = state["best"], state["epoch"]

    def _improved(self, value):
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if self.monitor == LAST_EPOCH:
            value = float(epoch + 1)  # every epoch is the newest: keep the last
        if value is None:
            raise KeyError(f"metric {self.monitor!r} not in the logs "
                           f"({', '.join(sorted(logs or {}))}); pick one with --monitor")
        if math.isfinite(value) and self._improved(value):
            self.best, self.best_epoch = float(value), int(epoch) + 1
            self.save_fn(self.model, self.path)
            with open(self.state_path, "w") as handle:
                json.dump({"monitor": self.monitor, "best": self.best,
                           "epoch": self.best_epoch}, handle)
            print(f"\nepoch {epoch + 1}: {self.monitor} improved to {value:.4f}; saved {self.path}")


class EpochProgressLog(keras.callbacks.Callback):
    """Append wall time per epoch to the logs (shows up in ``history.csv``)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start
