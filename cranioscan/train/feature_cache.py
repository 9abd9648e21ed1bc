"""On-disk cache of the frozen trunk's features, one pass per slice and draw.

Training the whole hybrid on two CPU cores runs at a few images a second; the
frozen part of the network (ResNet50 up to a cut layer) is the bulk of that
cost and gives the same answer every epoch. So it runs once per slice and per
augmentation draw, and the upper layers train from the stored features.

A cache lives in ``<root>/<key>/``, where ``key`` hashes everything the
features depend on: the trunk's weights and cut layer, the preprocessing
(input size, framing, windows) and the augmentation draws. A changed trunk
or preprocessing is another folder, never a stale hit. Inside:

- ``meta.json``: the key's ingredients, the slices' ids and labels;
- ``draw<d>.npy``: float16 ``(n_slices, h, w, channels)`` features of draw
  ``d`` (draw 0 is the plain input, draws 1.. are augmented);
- ``done.json``: patients finished, so an interrupted build resumes.

Slices of one patient share one frame (:func:`cranioscan.preprocess.head_box`
over the patient's volume), as a series does at inference.
"""

__all__ = [
    "CACHE_VERSION",
    "trunk_model",
    "weights_digest",
    "preprocessing_spec",
    "cache_key",
    "FeatureCache",
    "build_ctich_cache",
]

import argparse
import hashlib
import json
import os

import numpy as np

from .. import preprocess
from ..ctich import load_ctich, read_slice_hu
from ..windowing import MODEL_WINDOWS, PRESETS
from .pipeline import make_augmenter

#: Bumped when what a cached feature means changes without its ingredients changing.
CACHE_VERSION = 1

META_FILE, DONE_FILE = "meta.json", "done.json"


def trunk_model(model, layer):
    """``keras.Model`` from ``model``'s image input to ``layer``'s output."""
    import keras  # Keras loads only to build a cache; reading one needs none

    return keras.Model(model.inputs[0], model.get_layer(layer).output, name=f"trunk_{layer}")


def weights_digest(model):
    """SHA-256 hex of every weight of ``model``, in layer order (names included)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode() if hasattr(weight, "path") else b"")
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()


def preprocessing_spec(size, frame="head"):
    """What turns HU into the trunk's input, as a JSON-able dict."""
    return {
        "size": int(size),
        "frame": frame,
        "head_hu": preprocess.HEAD_HU,
        "head_margin": preprocess.HEAD_MARGIN,
        "windows": {name: list(PRESETS[name]) for name in MODEL_WINDOWS},
    }


def cache_key(trunk_digest, layer, preprocessing, augmentation, n_draws, data_digest):
    """16-hex-digit key of a cache: a change of any ingredient is another key."""
    text = json.dumps({"version": CACHE_VERSION, "trunk": trunk_digest, "layer": layer,
                       "preprocessing": preprocessing, "augmentation": augmentation,
                       "draws": int(n_draws), "data": data_digest}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FeatureCache:
    """A finished (or resuming) cache folder.

    Attributes:
        folder: the ``<root>/<key>`` folder.
        meta: ``meta.json`` as a dict (``ids``: list of dicts with
            ``image_id``, ``patient``, ``position``; ``labels``: ``(n, 6)``
            lists; ``shape``: ``[h, w, channels]``; ``n_draws``).
    """

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        with open(os.path.join(self.folder, META_FILE), encoding="utf-8") as fh:
            self.meta = json.load(fh)

    @property
    def n_draws(self):
        return int(self.meta["n_draws"])

    @property
    def labels(self):
        """uint8 ``(n, 6)`` slice labels in ``CLASSES`` order."""
        return np.asarray(self.meta["labels"], dtype=np.uint8)

    @property
    def patients(self):
        """``(n,)`` patient id of each slice."""
        return np.asarray([row["patient"] for row in self.meta["ids"]])

    @property
    def positions(self):
        """``(n,)`` float slice position along the series (slice number for CT-ICH)."""
        return np.asarray([row["position"] for row in self.meta["ids"]], dtype=np.float64)

    def features(self, draw):
        """Read-only memory map of draw ``draw``: float16 ``(n, h, w, channels)``."""
        return np.load(os.path.join(self.folder, f"draw{int(draw)}.npy"), mmap_mode="r")

    def complete(self):
        """True when every patient's features are stored."""
        done = _read_json(os.path.join(self.folder, DONE_FILE), [])
        return set(done) >= set(self.patients.tolist())


def _read_json(path, default):
    if not os.path.isfile(path):
        return default
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
    os.replace(tmp, path)


def _data_digest(data):
    text = json.dumps([data.ids["image_id"].tolist(), data.labels.tolist()])
    return hashlib.sha256(text.encode()).hexdigest()


def _patient_volume(data, rows):
    return np.stack([read_slice_hu(data.ids["brain"].iat[i], data.ids["bone"].iat[i])
                     for i in rows])


def build_ctich_cache(root, data, model, layer, size, n_draws=4, augmentation=None, seed=0,
                      batch_size=16, progress=print):
    """Compute (or finish) the feature cache of CT-ICH slices.

    Args:
        root: folder holding caches (one subfolder per key).
        data: :class:`cranioscan.ctich.CtichData`.
        model: a ``build_model`` model whose layers up to ``layer`` are the trunk.
        layer: the cut layer (e.g. ``"conv4_block6_out"``).
        size: model input side, pixels.
        n_draws: augmented draws besides the plain draw 0.
        augmentation: keyword arguments of ``pipeline.make_augmenter`` (the
            design card's: rotation ±10°, zoom, shifts, brightness).
        seed: augmentation seed (draw ``d`` uses ``seed + 100 * d``).
        batch_size: images per trunk pass.
        progress: ``progress(str)`` after each patient, or None.

    Returns:
        :class:`FeatureCache`.
    """
    augmentation = dict(augmentation or {"rotation_deg": 10.0, "zoom": 0.1, "shift": 0.08,
                                         "brightness": 0.05, "flip": True})
    trunk = trunk_model(model, layer)
    spec = preprocessing_spec(size)
    key = cache_key(weights_digest(trunk), layer, spec, dict(augmentation, seed=seed), n_draws,
                    _data_digest(data))
    folder = os.path.join(os.fspath(root), key)
    os.makedirs(folder, exist_ok=True)
    shape = [int(d) for d in trunk.outputs[0].shape[1:]]
    n = len(data)
    meta_path = os.path.join(folder, META_FILE)
    if not os.path.isfile(meta_path):
        ids = [{"image_id": r.image_id, "patient": r.patient, "position": float(r.position)}
               for r in data.ids.itertuples(index=False)]
        _write_json(meta_path, {"key": key, "version": CACHE_VERSION, "layer": layer,
                                "preprocessing": spec, "augmentation": augmentation,
                                "seed": seed, "n_draws": n_draws + 1, "shape": shape,
                                "ids": ids, "labels": data.labels.tolist()})
    arrays = []
    for d in range(n_draws + 1):
        path = os.path.join(folder, f"draw{d}.npy")
        mode = "r+" if os.path.isfile(path) else "w+"
        arrays.append(np.lib.format.open_memmap(path, mode=mode, dtype=np.float16,
                                                shape=(n, *shape)))
    augmenters = [None] + [make_augmenter(seed=seed + 100 * d, **augmentation)
                           for d in range(1, n_draws + 1)]
    done_path = os.path.join(folder, DONE_FILE)
    done = set(_read_json(done_path, []))
    patients = data.ids["patient"].to_numpy()
    for patient in dict.fromkeys(patients):
        if patient in done:
            continue
        rows = np.flatnonzero(patients == patient)
        hu = _patient_volume(data, rows)
        x = preprocess.to_model_input(hu, size, box=preprocess.head_box(hu))
        for d, augmenter in enumerate(augmenters):
            xd = x if augmenter is None else np.clip(
                np.asarray(augmenter(x, training=True)), 0.0, 1.0)
            arrays[d][rows] = trunk.predict(xd, batch_size=batch_size, verbose=0).astype(np.float16)
        for array in arrays:
            array.flush()
        done.add(patient)
        _write_json(done_path, sorted(done))
        if progress is not None:
            progress(f"{patient}: {len(rows)} slices ({len(done)} patients done)")
    return FeatureCache(folder)


def main(argv=None):
    """``python -m cranioscan.train.feature_cache``: build the CT-ICH cache."""
    from ..net.model import load_model  # Keras loads only to build a cache; reading one needs none

    parser = argparse.ArgumentParser(prog="python -m cranioscan.train.feature_cache",
                                     description=main.__doc__)
    parser.add_argument("--data-dir", required=True, help="CT-ICH folder (labels.csv, PPP/)")
    parser.add_argument("--trunk", required=True, help=".keras model holding the trunk")
    parser.add_argument("--layer", default="conv4_block6_out")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--draws", type=int, default=4, help="augmented draws besides the plain one")
    parser.add_argument("--out", default="runs/feature-cache")
    args = parser.parse_args(argv)
    cache = build_ctich_cache(args.out, load_ctich(args.data_dir), load_model(args.trunk),
                              args.layer, args.size, n_draws=args.draws)
    print(cache.folder)


if __name__ == "__main__":
    main()
