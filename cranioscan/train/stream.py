"""Time-boxed training on phantoms rendered while the model trains.

``train.py --data phantom --stream-minutes M`` comes here instead of
``cranioscan.trainer``. Made for a borrowed accelerator: worker processes
render phantom studies (``phantom.stream.StudyStream``) while the model
trains on the slices ready so far, for ``M`` minutes of wall time. It uses
Keras alone, no ``tf.data``, so it runs on any Keras 3 backend: with
``KERAS_BACKEND=jax`` it trains on a GPU machine that has no TensorFlow.

The plan's first studies (``--val-fraction`` of ``--phantom-studies``) are
the validation split, rendered before training starts; the rest are the
training pool, which grows as training runs. Batches are drawn with
replacement from the pool (class-balanced with ``--class-balance``), as
uint8, and augmented on the device. The learning rate follows a cosine over
the wall-clock budget, set at each epoch's start. The run folder has the
layout of ``trainer.run``'s; ``config.json`` also records, under
``"stream"``, the backend and device, the studies rendered and the minutes
trained. A run is not resumable: it is meant to be short.
"""

__all__ = ["StreamBatches", "TimeBudget", "CosineOverTime", "run"]

import functools
import math
import os
import time

import keras
import numpy as np
import pandas as pd

from ..net import model as model_lib
from . import losses, pipeline, runtime as training
from ..formats import csv_frame
from ..labels import CLASSES
from ..phantom import balanced_plan
from ..phantom.stream import StudyStream
from ..run_folder import RunFolder
from .trainer import (DataError, build_network, class_balance_line, make_augmenter,
                      record_init_from, report_best_model, write_config)


class StreamBatches(keras.utils.PyDataset):
    """Batches drawn with replacement from a growing pool of slices.

    Each batch draws ``batch_size`` rows among ``stream``'s rows
    ``[first_row, stream.ready)`` as they stand when it is drawn, weighted by
    ``pipeline.class_balance_weights(labels, power)`` (uniform for
    ``power`` 0). The weights are computed once per pool size, not per batch:
    on a pool of 223,000 slices they take about 25 ms.

    Returns per batch: uint8 ``(batch_size, size, size, 3)`` images and
    float32 ``(batch_size, 6)`` labels.
    """

    def __init__(self, stream, first_row, batch_size, steps, power=0.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.stream, self.first_row = stream, int(first_row)
        self.batch_size, self.steps = int(batch_size), int(steps)
        self.power, self.seed = float(power), int(seed)
        self.epoch = 0
        self._balance = None  # (weights, cumulative weights) of the pool at its last size

    def __len__(self):
        return self.steps

    def pool_labels(self):
        """Labels of the training pool now: uint8 ``(n, 6)``."""
        return self.stream.labels[self.first_row:self.stream.ready]

    def _weights_and_cumulative(self, labels):
        cached = self._balance  # one read: another thread may replace it meanwhile
        if cached is None or len(cached[0]) != len(labels):
            weights = pipeline.class_balance_weights(labels, self.power)
            cached = self._balance = (weights, np.cumsum(weights))
        return cached

    def balance(self):
        """The pool's labels and sampling weights now: ``(labels (n, 6), weights (n,))``."""
        labels = self.pool_labels()
        return labels, self._weights_and_cumulative(labels)[0]

    def __getitem__(self, index):
        labels = self.pool_labels()
        if not len(labels):
            raise DataError("the phantom training pool is empty")
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        if self.power > 0:
            cumulative = self._weights_and_cumulative(labels)[1]
            rows = np.searchsorted(cumulative, rng.random(self.batch_size) * cumulative[-1],
                                   side="right")
            rows = np.minimum(rows, len(labels) - 1)
        else:
            rows = rng.integers(0, len(labels), self.batch_size)
        rows = np.sort(rows) + self.first_row
        return self.stream.images[rows], self.stream.labels[rows].astype(np.float32)

    def on_epoch_end(self):
        self.epoch += 1


class TimeBudget(keras.callbacks.Callback):
    """Stop training after the batch that passes ``seconds`` of wall time.

    The epoch then ends early (validation and the epoch's callbacks still
    run). ``stopped_at`` holds the elapsed seconds when it stopped, else None.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = float(seconds)
        self.stopped_at = None

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        elapsed = time.monotonic() - self.start
        if elapsed > self.seconds and self.stopped_at is None:
            self.stopped_at = elapsed
            self.model.stop_training = True


def cosine_over_time(fraction, peak, warmup=0.05, floor=0.01):
    """Learning rate at ``fraction`` (0..1) of the time budget.

    Linear warmup over the first ``warmup`` of the budget (from a tenth of
    ``peak``), then a cosine from ``peak`` down to ``floor * peak``.
    """
    fraction = min(max(float(fraction), 0.0), 1.0)
    if fraction < warmup:
        return peak * max(fraction / warmup, 0.1)
    progress = (fraction - warmup) / max(1.0 - warmup, 1e-9)
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class CosineOverTime(keras.callbacks.Callback):
    """Set the learning rate at each epoch's start by ``cosine_over_time``.

    The optimizer must have been compiled with a float learning rate. The
    rate used is logged as ``lr`` (it shows in ``history.csv``).
    """

    def __init__(self, peak, seconds, warmup=0.05):
        super().__init__()
        self.peak, self.seconds, self.warmup = float(peak), float(seconds), float(warmup)
        self.rate = None

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        fraction = (time.monotonic() - self.start) / self.seconds
        self.rate = cosine_over_time(fraction, self.peak, self.warmup)
        self.model.optimizer.learning_rate = self.rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.rate


def training_model(net, augmenter=None, backend=None):
    """Wrap ``net`` for training on uint8 batches: scale to [0, 1], augment, ``net``.

    The wrapper shares ``net``'s weights; save ``net`` itself afterwards.

    On JAX (``backend``, default Keras's own) the augmentation layers are
    marked as compilable. Keras marks its random rotation, zoom and
    translation layers ``supports_jit = False`` because TensorFlow's XLA
    cannot compile their image transform; one such layer turns
    ``jit_compile="auto"`` off for the whole model, and the JAX trainer then
    runs every step op by op (about 1 s per batch of 128 at 224 px on an
    H200, against 57-70 ms compiled; 2.6 times slower for a small model on
    2 CPU cores, ``bench/bench_train_step.py``). Under JAX the layers
    are plain ``jax.numpy`` code, and compiled they still draw new random
    transforms at every step (their seed state is threaded through the step).
    """
    if (backend or keras.backend.backend()) == "jax" and augmenter is not None:
        for layer in augmenter._flatten_layers():
            layer.supports_jit = True
    inputs = keras.Input(shape=net.input_shape[1:], dtype="uint8", name="image_uint8")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    if augmenter is not None:
        x = augmenter(x)
    return keras.Model(inputs, net(x), name="stream_training")


def _save_best(net, batches, wrapper, path):
    """BestModelSaver's save function: ``net`` with the prior-shift correction."""
    del wrapper  # the callback passes the training wrapper; the weights are net's
    offsets = pipeline.prior_shift_offsets(*batches.balance()) if batches.power > 0 else None
    return model_lib.save_for_inference(net, path, logit_offsets=offsets)


def _backend_description():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # only the running backend is imported: a JAX machine has no TensorFlow

        return f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf  # only the running backend is imported

        gpus = tf.config.list_physical_devices("GPU")
        return f"tensorflow {tf.__version__} on {len(gpus)} GPU(s)" if gpus else \
            f"tensorflow {tf.__version__} on CPU"
    return backend


def _split_tables(stream, val_end):
    ids = pd.DataFrame(stream.ids[:stream.ready])
    ids["split"] = np.where(np.arange(len(ids)) < val_end, "val", "train")
    return ids


def _report_lines(config, stream, n_val_studies, val_end, batches):
    labels = stream.labels[:stream.ready]
    seed0 = int(config["phantom_seed"])
    lines = [
        f"{stream.studies_ready} phantom studies rendered while training (seeds {seed0}-"
        f"{seed0 + stream.studies_ready - 1} of {len(stream.plan)} planned, matrix "
        f"{config['phantom_matrix']}), {stream.ready} slices; positive slices per class: " +
        ", ".join(f"{c} {int(v)}" for c, v in zip(CLASSES, labels.sum(axis=0))),
        f"validation: the first {n_val_studies} studies ({val_end} slices); training pool: "
        f"the other {stream.studies_ready - n_val_studies} ({stream.ready - val_end} slices)",
    ]
    if batches.power > 0:
        lines.append(class_balance_line(*batches.balance(), batches.power))
    return lines


def run(config):
    """Train as ``config`` says for ``config["stream_minutes"]``; returns the metrics dict."""
    if config["data"] != "phantom":
        raise DataError("--stream-minutes trains on phantoms rendered on the fly; "
                        "use it with --data phantom")
    budget_s = float(config["stream_minutes"]) * 60.0
    if not budget_s > 0:
        raise DataError(f"--stream-minutes must be positive, got {config['stream_minutes']}")
    n_studies = int(config["phantom_studies"])
    n_val = max(1, round(n_studies * float(config["val_fraction"])))
    if n_studies - n_val < 1:
        raise DataError(f"--phantom-studies {n_studies} leaves no training studies after "
                        f"{n_val} validation studies")
    os.makedirs(config["out"], exist_ok=True)
    stream = StudyStream(balanced_plan(n_studies, config["phantom_seed"]), config["input_size"],
                         matrix=config["phantom_matrix"], n_slices=config.get("phantom_slices"),
                         workers=config["workers"]).start()
    try:
        return _train(config, stream, n_val, budget_s)
    finally:
        stream.close()


def _train(config, stream, n_val, budget_s):
    keras.utils.set_random_seed(config["seed"])
    backend = _backend_description()
    write_config(config)
    record_init_from(config)
    net = build_network(config)
    wrapper = training_model(net, make_augmenter(config))
    losses.compile_model(wrapper, learning_rate=config["lr"],
                            weight_decay=config["weight_decay"])
    print(f"training on {backend}; train step compiled: {bool(wrapper.jit_compile)}", flush=True)

    # The validation studies come first in the plan; then enough training
    # studies for a few batches' variety.
    stream.wait_for(n_val)
    val_end = stream.study_rows[n_val - 1][1]
    stream.wait_for(n_val + max(4, config["batch_size"] // 8))
    batch_size = int(config["batch_size"])
    steps = int(config["steps_per_epoch"] or 100)
    batches = StreamBatches(stream, val_end, batch_size, steps, config.get("class_balance") or 0,
                            config["seed"], workers=4, max_queue_size=8)
    x_val, y_val = stream.images[:val_end].copy(), stream.labels[:val_end].astype(np.float32)

    folder = RunFolder(config["out"])
    callbacks = [
        training.EpochProgressLog(),
        CosineOverTime(config["lr"], budget_s),
        TimeBudget(budget_s),
        training.BestModelSaver(folder.model, config["monitor"], config["monitor_mode"],
                                functools.partial(_save_best, net, batches)),
        keras.callbacks.CSVLogger(folder.history),
    ]
    started = time.monotonic()
    wrapper.fit(batches, validation_data=(x_val, y_val), validation_batch_size=batch_size,
                epochs=config["epochs"], callbacks=callbacks,
                verbose=0 if config["quiet"] else 2)
    trained_s = time.monotonic() - started
    stream.close()  # what the run drew from stays as it stood when training ended

    report = _report_lines(config, stream, n_val, val_end, batches)
    report.append(f"trained {trained_s / 60:.1f} min on {backend}")
    with open(folder.data_report, "w") as handle:
        handle.write("\n".join(report) + "\n")
    print("\n".join(report))
    ids = _split_tables(stream, val_end)
    csv_frame(ids[["image_id", "patient", "study", "split"]]).to_csv(
        folder.split, index=False)
    write_config(dict(config, stream={"backend": backend,
                                      "studies_rendered": stream.studies_ready,
                                      "validation_studies": n_val,
                                      "trained_minutes": round(trained_s / 60.0, 2),
                                      "compiled_step": bool(wrapper.jit_compile)}))

    return report_best_model(config, x_val.astype(np.float32) / 255.0, ids.iloc[:val_end], y_val,
                             batch_size=batch_size)
