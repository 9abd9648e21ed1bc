"""Input pipeline: slices -> preprocessed cache -> augmented ``tf.data`` batches.

Decoding DICOM and windowing is the slow part of training on CT, so it is done
once into a cache: a folder holding ``images.npy`` (uint8
``(n, size, size, 3)``, the output of ``to_model_input`` times 255, memory
mapped), ``labels.npy`` (uint8 ``(n, 6)``), ``done.npy`` (bool ``(n,)``,
which rows are written, so an interrupted build resumes) and ``meta.json``.
Training then reads batches from the memory map, and augments training
batches only with Keras preprocessing layers.
"""

__all__ = [
    "SliceCache",
    "create_cache",
    "open_cache",
    "find_complete_cache",
    "fill_cache",
    "decode_dicom_slice",
    "make_augmenter",
    "class_balance_weights",
    "weighted_prevalence",
    "prior_shift_offsets",
    "make_dataset",
]

import dataclasses
import json
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..dicom import read_slice_hu
from ..labels import CLASSES
from ..preprocess import to_model_input, to_uint8

_CACHE_VERSION = 1


@dataclasses.dataclass
class SliceCache:
    """A preprocessed slice cache on disk (see module docstring)."""

    path: str
    images: np.ndarray  # uint8 memmap (n, size, size, 3)
    labels: np.ndarray  # uint8 (n, 6)
    done: np.ndarray  # bool memmap (n,)
    meta: dict

    @property
    def size(self):
        return int(self.images.shape[1])

    @property
    def complete(self):
        return bool(self.done.all())

    def __len__(self):
        return int(self.images.shape[0])

    def flush(self):
        self.images.flush()
        self.done.flush()


def create_cache(path, labels, size, meta=None):
    """Create (or reopen, when it matches) a cache for ``len(labels)`` slices.

    Args:
        path: cache folder.
        labels: uint8 ``(n, 6)`` labels, row order = cache row order.
        size: image side in pixels.
        meta: extra JSON-serializable facts identifying the source (e.g. the
            dataset fingerprint); a cache whose meta differs is rebuilt.

    Returns:
        ``SliceCache``; rows already marked done are kept.
    """
    labels = np.asarray(labels, dtype=np.uint8)
    full_meta = _full_meta(len(labels), size, meta)
    if os.path.isfile(os.path.join(path, "meta.json")):
        cache = open_cache(path)
        if cache.meta == full_meta and np.array_equal(cache.labels, labels):
            return cache
    os.makedirs(path, exist_ok=True)
    images = np.lib.format.open_memmap(os.path.join(path, "images.npy"), mode="w+",
                                       dtype=np.uint8, shape=(len(labels), size, size, 3))
    done = np.lib.format.open_memmap(os.path.join(path, "done.npy"), mode="w+",
                                     dtype=bool, shape=(len(labels),))
    np.save(os.path.join(path, "labels.npy"), labels)
    with open(os.path.join(path, "meta.json"), "w") as handle:
        json.dump(full_meta, handle, indent=1)
    return SliceCache(path, images, labels, done, full_meta)


def _full_meta(n, size, meta):
    return {"version": _CACHE_VERSION, "n": int(n), "size": int(size),
            "classes": list(CLASSES), **(meta or {})}


def find_complete_cache(path, size, meta):
    """The cache at ``path`` if it is complete and was built from ``meta``, else None."""
    if not os.path.isfile(os.path.join(path, "meta.json")):
        return None
    cache = open_cache(path)
    expected = _full_meta(len(cache), size, meta)
    return cache if cache.meta == expected and cache.complete else None


def open_cache(path, writable=True):
    """Open an existing cache folder (memory-mapped, nothing read up front)."""
    with open(os.path.join(path, "meta.json")) as handle:
        meta = json.load(handle)
    mode = "r+" if writable else "r"
    return SliceCache(
        path,
        np.load(os.path.join(path, "images.npy"), mmap_mode=mode),
        np.load(os.path.join(path, "labels.npy")),
        np.load(os.path.join(path, "done.npy"), mmap_mode=mode),
        meta,
    )


def decode_dicom_slice(path, size):
    """Read one DICOM slice and return its model input as uint8 ``(size, size, 3)``.

    Uses ``cranioscan.dicom`` so every scanner fix (RSNA intercept defect,
    padding, MONOCHROME1, codecs) applies to training exactly as to inference.
    """
    return to_uint8(to_model_input(read_slice_hu(path), size=size))[0]


def _decode_chunk(args):
    paths, size = args
    out, errors = [], []
    for path in paths:
        try:
            out.append(decode_dicom_slice(path, size))
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - reported per file, run continues
            out.append(np.zeros((size, size, 3), np.uint8))
            errors.append(f"{type(exc).__name__}: {exc}")
    return np.stack(out), errors


def fill_cache(cache, paths, workers=1, chunk=64, progress=None):
    """Decode the DICOM files behind a cache's missing rows, in parallel.

    Args:
        cache: ``SliceCache`` whose row ``i`` belongs to ``paths[i]``.
        paths: one path per cache row.
        workers: decoding processes (one per core is right).
        chunk: slices per task; progress is saved after each.
        progress: optional ``progress(done, total)``.

    Returns:
        list of ``(path, reason)`` for files that failed to decode (their rows
        stay marked not done).
    """
    if len(paths) != len(cache):
        raise ValueError(f"{len(paths)} paths for a cache of {len(cache)} rows")
    todo = np.flatnonzero(~np.asarray(cache.done))
    tasks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    failures = []
    finished = len(cache) - len(todo)

    def store(rows, result):
        nonlocal finished
        images, errors = result
        ok = np.array([e is None for e in errors])
        cache.images[rows[ok]] = images[ok]
        cache.done[rows[ok]] = True
        failures.extend((paths[r], e) for r, e in zip(rows, errors) if e is not None)
        finished += len(rows)
        cache.flush()
        if progress is not None:
            progress(finished, len(cache))

    jobs = (([paths[r] for r in rows], cache.size) for rows in tasks)
    if workers <= 1:
        for rows, job in zip(tasks, jobs):
            store(rows, _decode_chunk(job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for rows, result in zip(tasks, pool.map(_decode_chunk, jobs)):
                store(rows, result)
    return failures


def make_augmenter(seed=0, rotation_deg=10.0, zoom=0.1, shift=0.1, brightness=0.1, flip=True,
                   noise=0.0, sharpness=0.0, contrast=0.0):
    """Keras preprocessing layers for training batches (identity at inference).

    Rotation ±``rotation_deg`` degrees, zoom ±``zoom`` (fraction), horizontal
    and vertical shifts ±``shift`` (fraction of the side), brightness
    ±``brightness`` (on the [0, 1] scale) and left-right flips. Empty space
    is filled with 0, which is air in all three windows.

    Against shortcuts between sources that differ in texture (JPEG-rebuilt
    real slices, clean phantoms, DICOM): ``sharpness`` (random blur to
    sharpening, ``keras.layers.RandomSharpness`` factor), ``contrast``
    (±fraction) and additive Gaussian ``noise`` (standard deviation on the
    [0, 1] scale); each 0 leaves it out.

    Returns:
        ``keras.Sequential`` taking and returning float ``(b, h, w, 3)`` in [0, 1].
    """
    import keras  # Keras loads only when an augmenter is built: caches and weights need none

    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation_deg:
        layers.append(keras.layers.RandomRotation(rotation_deg / 360.0, fill_mode="constant",
                                                  fill_value=0.0, seed=seed + 1))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, zoom, fill_mode="constant",
                                              fill_value=0.0, seed=seed + 2))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="constant",
                                                     fill_value=0.0, seed=seed + 3))
    if brightness:
        layers.append(keras.layers.RandomBrightness(brightness, value_range=(0.0, 1.0),
                                                    seed=seed + 4))
    if sharpness:
        layers.append(keras.layers.RandomSharpness(sharpness, value_range=(0.0, 1.0),
                                                   seed=seed + 5))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0.0, 1.0),
                                                  seed=seed + 6))
    if noise:
        layers.append(keras.layers.GaussianNoise(noise, seed=seed + 7))
    return keras.Sequential(layers, name="augmentation")


def class_balance_weights(labels, power=0.5):
    """Sampling weight of each slice, raising slices positive for rare classes.

    A slice positive for class ``c`` gets weight ``(f_max / f_c) ** power``,
    where ``f_c`` is the fraction of slices positive for ``c`` and ``f_max``
    that of the most common class (``any`` for hemorrhage labels); a slice
    positive for several classes takes its rarest class's weight; negative
    slices, and classes with no positive slice, weigh 1. ``power`` 0 gives
    uniform sampling, 1 equal expected positives per class, 0.5 (square-root
    balancing) lies between.

    Oversampling shifts the prior the model sees, so its probabilities for
    the boosted classes run higher than their frequency; ranking (AUC) is
    what it helps.

    Args:
        labels: ``(n, k)`` 0/1 labels of the slices to sample from.
        power: strength of the balancing, >= 0.

    Returns:
        float64 ``(n,)`` weights, each >= 1 (not normalised).
    """
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    labels = np.asarray(labels) > 0
    fraction = labels.mean(axis=0) if len(labels) else np.zeros(labels.shape[1])
    present = fraction > 0
    per_class = np.ones(labels.shape[1])
    per_class[present] = (fraction[present].max() / fraction[present]) ** power
    return np.max(np.where(labels, per_class, 1.0), axis=1, initial=1.0)


def weighted_prevalence(labels, weights):
    """Share of draws positive per class when rows are drawn by ``weights``.

    Args:
        labels: ``(n, k)`` 0/1 labels.
        weights: ``(n,)`` non-negative sampling weights.

    Returns:
        float64 ``(k,)`` fractions in [0, 1].
    """
    labels = np.asarray(labels) > 0
    weights = np.asarray(weights, dtype=np.float64)
    return (weights[:, None] * labels).sum(axis=0) / weights.sum()


def prior_shift_offsets(labels, weights):
    """Logit corrections that undo the prior shift of weighted sampling.

    A model trained on slices drawn with ``weights`` sees class ``c`` with
    prevalence ``q_c`` (the weighted share) instead of ``p_c``; adding
    ``logit(p_c) - logit(q_c)`` to its logit for ``c`` brings its
    probabilities back to the unweighted prevalence (exactly so for a single
    class, approximately for overlapping labels).

    Args:
        labels: ``(n, k)`` 0/1 labels of the sampled slices.
        weights: ``(n,)`` sampling weights (e.g. ``class_balance_weights``).

    Returns:
        float32 ``(k,)`` offsets; 0 for a class with no positive or no negative.
    """
    labels = np.asarray(labels) > 0
    true = labels.mean(axis=0)
    drawn = weighted_prevalence(labels, weights)
    offsets = np.zeros(labels.shape[1])
    ok = (true > 0) & (true < 1)
    logit = lambda q: np.log(q) - np.log1p(-q)  # noqa: E731
    offsets[ok] = logit(true[ok]) - logit(drawn[ok])
    return offsets.astype(np.float32)


def _weighted_rows(rows, weights, seed):
    """An endless ``tf.data.Dataset`` of ``rows`` drawn with replacement by ``weights``."""
    import tensorflow as tf  # tf.data only here: Keras-only (JAX) training uses this module too

    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()

    def draws():
        rng = np.random.default_rng(seed)
        while True:
            yield from rng.choice(rows, size=len(rows), p=p)

    return tf.data.Dataset.from_generator(draws, output_signature=tf.TensorSpec((), tf.int64))


def make_dataset(images, labels, rows=None, batch_size=16, shuffle=False, augmenter=None,
                 seed=0, repeat=False, weights=None):
    """A ``tf.data.Dataset`` of ``(float32 images in [0, 1], float32 labels)`` batches.

    Args:
        images: uint8 ``(n, size, size, 3)`` array or memmap (e.g. a cache's).
        labels: uint8 ``(n, 6)``.
        rows: the row indices to serve (default: all), e.g. one split.
        batch_size: slices per batch.
        shuffle: reshuffle every epoch (training).
        augmenter: optional model from ``make_augmenter``; applied with
            ``training=True`` (training batches only).
        seed: shuffle seed.
        repeat: repeat forever (for step-based schedules).
        weights: optional sampling weight per entry of ``rows`` (e.g. from
            ``class_balance_weights``): batches are then drawn with
            replacement in those proportions, endlessly (needs ``repeat``).
    """
    import tensorflow as tf  # tf.data only here: Keras-only (JAX) training uses this module too

    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    size = int(images.shape[1])
    labels = np.asarray(labels, dtype=np.float32)

    def load(batch_rows):
        order = np.sort(batch_rows)  # sorted reads are sequential on a memmap
        return np.asarray(images[order]), labels[order]

    def read(batch_rows):
        x, y = tf.numpy_function(load, [batch_rows], (tf.uint8, tf.float32))
        x = tf.cast(tf.ensure_shape(x, (None, size, size, 3)), tf.float32) / 255.0
        return x, tf.ensure_shape(y, (None, labels.shape[1]))

    if weights is not None:
        if not repeat:
            raise ValueError("weighted sampling draws endlessly: pass repeat=True")
        if len(weights) != len(rows):
            raise ValueError(f"{len(weights)} weights for {len(rows)} rows")
        ds = _weighted_rows(rows, weights, seed)
    else:
        ds = tf.data.Dataset.from_tensor_slices(rows)
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
    ds = ds.batch(batch_size).map(read, num_parallel_calls=tf.data.AUTOTUNE)
    if augmenter is not None:
        ds = ds.map(lambda x, y: (tf.clip_by_value(augmenter(x, training=True), 0.0, 1.0), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
