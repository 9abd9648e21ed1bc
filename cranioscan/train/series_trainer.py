"""Train the slice heads and the series Transformer from the feature cache, by fold.

One recipe (:class:`Recipe`) is trained once per cross-validation fold on the
other folds' patients, one series per step: the cached trunk features of a
patient's slices (each slice from a random augmentation draw) go through
the slice head, then the series layers across the slices. The loss is the
RSNA-weighted binary cross-entropy of the per-slice outputs with context,
plus half of it on the slice head's own outputs (so the slice model stands
on its own for Grad-CAM and single slices), plus the cross-entropy of the
series outputs against "this patient has the finding".

Each fold then scores its held-out patients (draw 0, no augmentation): the
out-of-fold predictions that calibration, thresholds and every reported
figure come from. The fold models themselves are the members of the
shipped ensemble, so the figures describe the model that ships.
"""

__all__ = ["Recipe", "patient_table", "train_member", "score_patients", "crossval"]

import argparse
import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from ..evaluation.crossval import patient_folds
from ..labels import CLASSES
from ..net import series as series_net
from ..net.model import load_model
from ..run_folder import RunFolder, write_json
from ..slabs import relative_positions
from .feature_cache import FeatureCache

#: RSNA metric weights of the per-slice loss, in ``CLASSES`` order.
LOSS_WEIGHTS = np.array([2, 1, 1, 1, 1, 1], np.float32)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything a fold's training depends on (besides the cache and the patients).

    Attributes:
        d_model, head_heads, head_mlp, head_depth: slice-head width, attention
            heads, MLP width and Transformer blocks.
        series_width, series_depth: series-token width and blocks (depth 0:
            no slice context, the slice heads alone).
        dropout: dropout of both parts.
        epochs: passes over the training patients.
        lr, weight_decay: AdamW settings (cosine decay to 0).
        own_weight, series_weight: loss weights of the slice head's own
            outputs and of the series outputs.
        draws: how many of the cache's draws training samples from.
        seed: initialisation and sampling seed.
    """

    d_model: int = 128
    head_heads: int = 4
    head_mlp: int = 256
    head_depth: int = 1
    series_width: int = 64
    series_depth: int = 1
    dropout: float = 0.1
    epochs: int = 12
    lr: float = 3e-4
    weight_decay: float = 1e-4
    own_weight: float = 0.5
    series_weight: float = 1.0
    draws: int = 5
    seed: int = 0

    def head_config(self):
        return {"d_model": self.d_model, "num_heads": self.head_heads, "mlp_dim": self.head_mlp,
                "dropout": self.dropout, "depth": self.head_depth}

    def series_config(self):
        return {"width": self.series_width, "depth": self.series_depth,
                "num_heads": 4, "dropout": self.dropout}


def patient_table(cache):
    """``{patient: (rows, relative positions)}``: each patient's cache rows in
    slice order and their positions scaled to [0, 1] (0 = lowest slice)."""
    patients, positions = cache.patients, cache.positions
    out = {}
    for patient in dict.fromkeys(patients.tolist()):
        rows = np.flatnonzero(patients == patient)
        rows = rows[np.argsort(positions[rows], kind="stable")]
        out[patient] = (rows, relative_positions(positions[rows]))
    return out


def _build_member(shape, recipe, prefix):
    """``(head, member)`` Keras models of one ensemble member."""
    features = keras.Input(shape=tuple(shape), name="features")
    head = keras.Model(features, series_net.build_slice_head(features, prefix,
                                                             **recipe.head_config()),
                       name=f"{prefix}head")
    embeddings = keras.Input(shape=(None, recipe.d_model), name="embeddings")
    positions = keras.Input(shape=(None,), name="positions")
    slice_logits, series_logits = series_net.build_series_member(
        embeddings, positions, prefix, len(CLASSES), **recipe.series_config())
    member = keras.Model([embeddings, positions], [slice_logits, series_logits],
                         name=f"{prefix}series")
    return head, member


def _own_logits(member, prefix):
    return member.get_layer(f"{prefix}own_logits")


def _bce(labels, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def train_member(cache, patients, recipe, prefix, progress=print):
    """Train one member on ``patients``' cached features.

    Returns:
        ``(head, member, history)``: the trained Keras models and a list of
        per-epoch mean losses.
    """
    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    table = patient_table(cache)
    labels = cache.labels.astype(np.float32)
    draws = [cache.features(d) for d in range(min(recipe.draws, cache.n_draws))]
    shape = draws[0].shape[1:]
    head, member = _build_member(shape, recipe, prefix)
    own_layer = _own_logits(member, prefix)
    variables = head.trainable_variables + member.trainable_variables
    steps = recipe.epochs * len(patients)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.lr, max(steps, 1),
                                                      warmup_target=None)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay,
                                       clipnorm=1.0)
    optimizer.build(variables)
    weights = tf.constant(LOSS_WEIGHTS)

    @tf.function(reduce_retracing=True, input_signature=[
        tf.TensorSpec((None,) + tuple(shape), tf.float32), tf.TensorSpec((None,), tf.float32),
        tf.TensorSpec((None, len(CLASSES)), tf.float32)])
    def step(features, positions, y):
        with tf.GradientTape() as tape:
            emb = head(features, training=True)
            slice_logits, series_logits = member([emb[None], positions[None]], training=True)
            own = own_layer(emb)
            y_series = tf.reduce_max(y, axis=0, keepdims=True)
            loss = (tf.reduce_mean(_bce(y, slice_logits[0]) * weights)
                    + recipe.own_weight * tf.reduce_mean(_bce(y, own) * weights)
                    + recipe.series_weight * tf.reduce_mean(_bce(y_series, series_logits)))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    history = []
    for epoch in range(recipe.epochs):
        start, losses = time.perf_counter(), []
        for patient in rng.permutation(np.asarray(patients, dtype=object)):
            rows, positions = table[patient]
            pick = rng.integers(0, len(draws), size=len(rows))
            x = np.empty((len(rows),) + tuple(shape), np.float32)
            for d in np.unique(pick):
                x[pick == d] = draws[d][rows[pick == d]]
            losses.append(float(step(x, positions, labels[rows])))
        history.append(float(np.mean(losses)))
        if progress is not None:
            progress(f"{prefix} epoch {epoch + 1}/{recipe.epochs}: loss {history[-1]:.4f} "
                     f"({time.perf_counter() - start:.0f} s)")
    return head, member, history


def score_patients(cache, head, member, patients, prefix, draw=0):
    """Out-of-fold scores of ``patients``: one row per slice.

    Returns:
        dict of arrays: ``rows`` (cache rows), ``slice`` ``(n, 6)`` (context),
        ``own`` ``(n, 6)`` (slice head alone), ``series`` ``(n, 6)`` (the
        patient's series probabilities, repeated on each of its slices).
    """
    table = patient_table(cache)
    features = cache.features(draw)
    own_layer = _own_logits(member, prefix)
    out = {"rows": [], "slice": [], "own": [], "series": []}
    for patient in patients:
        rows, positions = table[patient]
        emb = head(np.asarray(features[rows], np.float32), training=False)
        slice_logits, series_logits = member(
            [emb[None], tf.convert_to_tensor(positions[None])], training=False)
        out["rows"].append(rows)
        out["slice"].append(tf.sigmoid(slice_logits[0]).numpy())
        out["own"].append(tf.sigmoid(own_layer(emb)).numpy())
        out["series"].append(np.repeat(tf.sigmoid(series_logits).numpy(), len(rows), axis=0))
    return {key: np.concatenate(value) for key, value in out.items()}


def crossval(cache, recipe, out_dir, k=5, fold_seed=0, progress=print):
    """Train and score every fold; write the out-of-fold predictions and members.

    Writes into ``out_dir``: ``recipe.json``, ``fold<k>/head.keras`` and
    ``fold<k>/series.keras`` (member ``k``), ``fold<k>/history.json``, and
    ``oof.npz`` (``rows``, ``patients``, ``labels``, ``slice``, ``own``,
    ``series``, ``fold``; rows in cache order). A fold whose files exist is
    not trained again (an interrupted run resumes).

    Returns:
        dict: the ``oof.npz`` arrays, and ``minutes`` per fold.
    """
    cv = RunFolder(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    write_json(cv.recipe, dataclasses.asdict(recipe) | {"cache": cache.meta["key"], "k": k,
                                                        "fold_seed": fold_seed})
    folds = patient_folds(cache.patients, cache.labels, k=k, seed=fold_seed)
    parts, minutes = [], []
    for fold in range(k):
        prefix = series_net.member_prefix(fold)
        fold_run = cv.fold(fold)
        head_path, member_path = fold_run.head, fold_run.member
        train = sorted(p for p, f in folds.items() if f != fold)
        held = sorted(p for p, f in folds.items() if f == fold)
        start = time.perf_counter()
        if os.path.isfile(head_path) and os.path.isfile(member_path):
            head, member = load_model(head_path), load_model(member_path)
        else:
            os.makedirs(fold_run.path, exist_ok=True)
            head, member, history = train_member(cache, train, recipe, prefix, progress)
            head.save(head_path)
            member.save(member_path)
            write_json(fold_run.member_history,
                       {"loss": history, "minutes": (time.perf_counter() - start) / 60,
                        "train": train, "held_out": held}, indent=None)
        minutes.append((time.perf_counter() - start) / 60)
        scored = score_patients(cache, head, member, held, prefix)
        scored["fold"] = np.full(len(scored["rows"]), fold)
        parts.append(scored)
        keras.backend.clear_session(free_memory=False)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(merged["rows"])
    merged = {key: value[order] for key, value in merged.items()}
    merged["patients"] = cache.patients[merged["rows"]]
    merged["labels"] = cache.labels[merged["rows"]]
    np.savez(cv.oof, **merged)
    merged["minutes"] = minutes
    return merged


def main(argv=None):
    """``python -m cranioscan.train.series_trainer``: cross-validate one recipe."""
    parser = argparse.ArgumentParser(prog="python -m cranioscan.train.series_trainer",
                                     description=main.__doc__)
    parser.add_argument("--cache", required=True, help="feature cache folder (<root>/<key>)")
    parser.add_argument("--out", required=True, help="cross-validation folder to write")
    parser.add_argument("--folds", type=int, default=5)
    for field in dataclasses.fields(Recipe):
        parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default),
                            default=field.default)
    args = parser.parse_args(argv)
    recipe = Recipe(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)})
    started = time.perf_counter()
    result = crossval(FeatureCache(args.cache), recipe, args.out, k=args.folds)
    print(json.dumps({"minutes_per_fold": [round(m, 2) for m in result["minutes"]],
                      "minutes": round((time.perf_counter() - started) / 60, 2)}))


if __name__ == "__main__":
    main()
