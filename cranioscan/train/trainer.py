"""One training run, end to end, as ``train.py`` drives it.

``run(config)`` takes the resolved command-line options (a dict) and writes
the run folder: data -> preprocessed cache -> split by patient/study ->
model -> fit with resumable state -> best epoch -> validation predictions ->
reports. Each step calls the module that owns it.
"""

__all__ = ["DataError", "run", "prepare_data", "PreparedData", "write_config", "record_init_from",
           "class_balance_line", "build_network", "freeze_through", "make_augmenter",
           "report_best_model"]

import dataclasses
import functools
import json
import math
import os

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import pipeline
from .mixed_data import build_mixed_cache, is_phantom, phantom_inputs, source_share_weights
from .rsna import LabelFormatError, load_rsna, split_by_group
from ..evaluation import reports
from ..evaluation.crossval import patient_folds
from ..formats import csv_frame
from ..inference import file_sha256
from ..labels import CLASSES
from ..run_folder import RunFolder, read_json, write_json


class DataError(RuntimeError):
    """The training data cannot be used (message says why, with counts)."""


@dataclasses.dataclass
class PreparedData:
    """Slices ready for training: ids, labels, cache, and the split."""

    ids: pd.DataFrame  # image_id, patient, study, position, path (rsna)
    cache: pipeline.SliceCache
    train_rows: np.ndarray
    val_rows: np.ndarray
    report_lines: list


def _phantom_table(config):
    """Generate phantom studies in memory straight into a cache (no DICOM)."""
    n, seed0 = int(config["phantom_studies"]), int(config["phantom_seed"])
    meta = {"source": "phantom", "studies": n, "seed": seed0,
            "slices": config.get("phantom_slices"), "matrix": config["phantom_matrix"]}
    cache_dir = config["cache_dir"] or RunFolder(config["out"]).cache
    ids_path = os.path.join(cache_dir, "ids.csv")
    cache = pipeline.find_complete_cache(cache_dir, config["input_size"], meta)
    if cache is not None and os.path.isfile(ids_path):
        ids = pd.read_csv(ids_path, dtype={"image_id": str, "patient": str, "study": str})
        return ids, cache, [f"reusing the phantom cache in {cache_dir} ({len(cache)} slices)"]
    ids, labels, inputs = phantom_inputs(config, config["input_size"])
    ids = ids.drop(columns="source")  # one source: nothing to mix
    cache = pipeline.create_cache(cache_dir, labels, config["input_size"], meta=meta)
    if not cache.complete:
        cache.images[:] = inputs
        cache.done[:] = True
        cache.flush()
    ids.to_csv(ids_path, index=False)
    lines = [f"{n} phantom studies (seeds {seed0}-{seed0 + n - 1}, matrix "
             f"{config['phantom_matrix']}), {len(ids)} slices; positive slices per class: " +
             ", ".join(f"{c} {int(v)}" for c, v in zip(CLASSES, labels.sum(axis=0)))]
    return ids, cache, lines


def _rsna_table(config):
    data_dir = config.get("data_dir")
    labels_csv = config.get("labels") or (data_dir and os.path.join(data_dir, "stage_2_train.csv"))
    images_dir = config.get("images") or data_dir
    if not labels_csv or not images_dir:
        raise DataError("--data rsna needs --data-dir (or --labels and --images)")
    cache_dir = config["cache_dir"] or RunFolder(config["out"]).cache
    try:
        table = load_rsna(labels_csv, images_dir,
                          index_cache=os.path.join(cache_dir, "header_index.csv"),
                          workers=max(4, config["workers"]),
                          progress=_progress("reading DICOM headers"))
    except (LabelFormatError, FileNotFoundError, ValueError) as exc:
        raise DataError(str(exc)) from exc
    lines = table.report.lines()
    cache = pipeline.create_cache(cache_dir, table.labels, config["input_size"],
                                  meta={"source": "rsna", "labels": os.path.abspath(labels_csv),
                                        "n_images": len(table)})
    if not cache.complete:
        failures = pipeline.fill_cache(cache, list(table.frame["path"]), workers=config["workers"],
                                       progress=_progress("decoding slices into the cache"))
        if failures:
            lines.append(f"{len(failures):>9,d} slices failed to decode (dropped), "
                         f"e.g. {failures[0][0]}: {failures[0][1]}")
    return table.frame.drop(columns=list(CLASSES)), cache, lines


def _progress(label):
    bar = {"bar": None}

    def update(done, total):
        if bar["bar"] is None:
            bar["bar"] = tqdm(total=total, desc=label, unit="slice")
        bar["bar"].n = done
        bar["bar"].refresh()
        if done >= total:
            bar["bar"].close()

    return update


def _ctich_table(config):
    if not config.get("data_dir"):
        raise DataError("--data ctich needs --data-dir (the CT-ICH folder with labels.csv)")
    try:
        return build_mixed_cache(config)
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(str(exc)) from exc


def _split(config, ids, cache):
    """Training and validation rows: random by group, or one fold of real patients.

    With ``cv_folds``, validation is fold ``fold`` of the real (CT-ICH)
    patients (``crossval.patient_folds``) and training the other folds plus
    every phantom; ``holdout`` patients are in neither.
    """
    holdout = {f"CTICH{int(p):03d}" for p in config.get("holdout") or ()}
    if holdout and "source" not in ids.columns:
        raise DataError("--holdout takes CT-ICH patient numbers: it needs --data ctich")
    kept = ~ids["patient"].isin(holdout).to_numpy()
    if holdout and not config.get("cv_folds"):  # the held-out patients are the validation split
        return np.flatnonzero(kept), np.flatnonzero(~kept)
    if not config.get("cv_folds"):
        groups = ids[config["split_by"]].to_numpy()
        return split_by_group(groups, config["val_fraction"], config["split_seed"])
    if "source" not in ids.columns:
        raise DataError("--cv-folds needs --data ctich")
    real = (ids["source"] == "ctich").to_numpy() & kept
    folds = patient_folds(ids["patient"].to_numpy()[real], cache.labels[real],
                          config["cv_folds"], config["fold_seed"])
    if not 0 <= config["fold"] < config["cv_folds"]:
        raise DataError(f"--fold must be in 0..{config['cv_folds'] - 1}, got {config['fold']}")
    in_fold = np.array([folds.get(p, -1) == config["fold"] for p in ids["patient"]])
    return np.flatnonzero(kept & ~in_fold), np.flatnonzero(kept & in_fold)


def prepare_data(config):
    """Load or generate the data, fill the cache, split by patient or study (or fold)."""
    if config["data"] == "phantom":
        ids, cache, lines = _phantom_table(config)
    elif config["data"] == "ctich":
        ids, cache, lines = _ctich_table(config)
    else:
        ids, cache, lines = _rsna_table(config)

    usable = np.flatnonzero(np.asarray(cache.done))
    try:
        train_rows, val_rows = _split(config, ids, cache)
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    train_rows = np.intersect1d(train_rows, usable)
    val_rows = np.intersect1d(val_rows, usable)
    for name, rows in (("training", train_rows), ("validation", val_rows)):
        positives = cache.labels[rows].sum(axis=0)
        lines.append(f"{name}: {len(rows)} slices from {ids.iloc[rows][config['split_by']].nunique()} "
                     f"{config['split_by']}s; positives " +
                     ", ".join(f"{c} {int(p)}" for c, p in zip(CLASSES, positives)))
        if not len(rows):
            raise DataError(f"the {name} split is empty\n" + "\n".join(lines))
    return PreparedData(ids, cache, train_rows, val_rows, lines)


def _class_balance(config, data):
    """Sampling weights and logit offsets for ``--class-balance``.

    Returns ``(weights, offsets)``: the training slices' sampling weights and
    the prior-shift logit correction the saved model gets, so its
    probabilities follow the training split's prevalence rather than the
    oversampled one (ranking, hence AUC, is unchanged); ``(None, None)`` when
    balancing is off. Adds a line to the data report with each class's share
    of the drawn training slices, before and after balancing.
    """
    power = config.get("class_balance") or 0.0
    share = config.get("phantom_share")
    mixing = share is not None and "source" in data.ids.columns
    if power <= 0 and not mixing:
        return None, None
    labels = data.cache.labels[data.train_rows]
    weights = np.ones(len(labels))
    if power > 0:
        weights = pipeline.class_balance_weights(labels, power)
        data.report_lines.append(class_balance_line(labels, weights, power))
    if mixing:
        sources = data.ids["source"].to_numpy()[data.train_rows]
        weights = source_share_weights(sources, share, weights)
        drawn = weights[is_phantom(sources)].sum() / weights.sum()
        data.report_lines.append(f"phantom share of drawn training slices: {drawn:.1%} "
                                 f"(--phantom-share {share:g})")
    return weights, pipeline.prior_shift_offsets(labels, weights)


def class_balance_line(labels, weights, power):
    """Data-report line: each class's share of drawn slices, before and after balancing."""
    before = np.asarray(labels).mean(axis=0)
    after = pipeline.weighted_prevalence(labels, weights)
    return (f"class balance {power:g}: share of drawn training slices positive per class " +
            ", ".join(f"{c} {b:.1%} -> {a:.1%}" for c, b, a in zip(CLASSES, before, after)) +
            "; the saved model's logits are shifted back to the unweighted prevalence")


def write_config(config):
    """Write ``<out>/config.json``; refuse a folder that holds another architecture's run."""
    path = RunFolder(config["out"]).config
    previous = read_json(path, None)
    if previous is not None:
        keys = ("data", "input_size", "stage", "d_model", "depth", "heads", "mlp_dim")
        changed = [k for k in keys if previous.get(k) != config.get(k)]
        if changed:
            raise DataError(f"{config['out']} holds a run with different {', '.join(changed)}; "
                            "use a new --out folder")
    write_json(path, config, sort_keys=True)


def record_init_from(config):
    """Write ``init_from.json``: the starting weights' path, SHA-256 and card.

    Only for runs with ``init_from``; a resumed run keeps the first record,
    since the file at that path may have been replaced by the new model
    since. The card is the ``model_card.json`` beside the weights, kept when
    its SHA-256 matches the file (its data, training and metrics sections).

    Returns:
        the record (dict), or None without ``init_from``.
    """
    path = RunFolder(config["out"]).init_from
    if not config.get("init_from"):
        return None
    if os.path.isfile(path):
        return read_json(path)
    record = {"path": config["init_from"], "sha256": file_sha256(config["init_from"])}
    card = read_json(RunFolder(os.path.dirname(config["init_from"])).card, {})
    if card.get("sha256") == record["sha256"]:
        record["model_card"] = {key: card[key] for key in
                                ("name", "created", "trained_on", "training", "metrics",
                                 "held_out_evaluation") if key in card}
    write_json(path, record)
    return record


def build_network(config):
    """The model ``config`` describes, holding the ``init_from`` weights when given."""
    from ..net import model as model_lib  # Keras and TensorFlow load only when a model is built

    net = model_lib.build_model(
        input_size=config["input_size"], stage=config["stage"], d_model=config["d_model"],
        depth=config["depth"], num_heads=config["heads"], mlp_dim=config["mlp_dim"],
        dropout=config["dropout"], weights=config["weights"])
    if config.get("init_from"):
        model_lib.transfer_weights(model_lib.load_model(config["init_from"]), net)
    if config.get("freeze_through"):
        freeze_through(net, config["freeze_through"])
    return net


def freeze_through(net, layer_name):
    """Make ``net``'s layers up to and including ``layer_name`` untrainable.

    Frozen batch-normalisation layers run in inference mode (Keras 3), so
    their statistics stay those of the starting weights. Returns the number
    of layers frozen.

    Raises:
        DataError: ``net`` has no layer of that name.
    """
    names = [layer.name for layer in net.layers]
    if layer_name not in names:
        raise DataError(f"--freeze-through: the model has no layer {layer_name!r}")
    stop = names.index(layer_name)
    for layer in net.layers[:stop + 1]:
        layer.trainable = False
    return stop + 1


def make_augmenter(config):
    """The augmentation layers ``config`` asks for (None with ``no_augment``)."""
    if config["no_augment"]:
        return None
    return pipeline.make_augmenter(config["seed"], config["rotation"], config["zoom"],
                                   config["shift"], config["brightness"],
                                   noise=config.get("noise", 0.0),
                                   sharpness=config.get("sharpness", 0.0),
                                   contrast=config.get("contrast", 0.0))


def run(config):
    """Train as ``config`` says and write the run folder; returns the metrics dict."""
    # Keras and TensorFlow load only when training starts
    import keras

    from ..net import model as model_lib
    from . import losses, runtime as training

    folder = RunFolder(config["out"])
    os.makedirs(config["out"], exist_ok=True)
    write_config(config)
    record_init_from(config)
    keras.utils.set_random_seed(config["seed"])
    data = prepare_data(config)
    weights, logit_offsets = _class_balance(config, data)
    with open(folder.data_report, "w") as handle:
        handle.write("\n".join(data.report_lines) + "\n")
    print("\n".join(data.report_lines))
    split = data.ids[["image_id", "patient", "study"]].copy()
    split["split"] = ""
    split.loc[data.train_rows, "split"] = "train"
    split.loc[data.val_rows, "split"] = "val"
    csv_frame(split[split["split"] != ""]).to_csv(folder.split, index=False)

    training.set_precision(config["mixed_precision"])
    strategy = training.make_strategy(config["strategy"])
    steps = config["steps_per_epoch"] or math.ceil(len(data.train_rows) / config["batch_size"])
    with strategy.scope():
        net = build_network(config)
        losses.compile_model(net, learning_rate=config["lr"],
                                weight_decay=config["weight_decay"],
                                decay_steps=steps * config["epochs"],
                                warmup_steps=config["warmup_steps"])
    augmenter = make_augmenter(config)
    train_ds = pipeline.make_dataset(data.cache.images, data.cache.labels, data.train_rows,
                                     config["batch_size"], shuffle=True, augmenter=augmenter,
                                     seed=config["seed"], repeat=True, weights=weights)
    val_ds = pipeline.make_dataset(data.cache.images, data.cache.labels, data.val_rows,
                                   config["batch_size"])
    callbacks = [
        keras.callbacks.BackupAndRestore(folder.backup),
        training.EpochProgressLog(),
        training.BestModelSaver(folder.model, config["monitor"], config["monitor_mode"],
                                functools.partial(model_lib.save_for_inference,
                                                  logit_offsets=logit_offsets)),
        keras.callbacks.CSVLogger(folder.history, append=True),
    ]
    net.fit(train_ds, validation_data=val_ds, epochs=config["epochs"], steps_per_epoch=steps,
            callbacks=callbacks, verbose=0 if config["quiet"] else 1)

    return report_best_model(config, val_ds, data.ids.iloc[data.val_rows],
                             data.cache.labels[data.val_rows])


def report_best_model(config, val_inputs, val_ids, val_labels, batch_size=None):
    """Score the validation split with the run's saved best model; write the reports.

    Args:
        config: the run's config (``out``, ``bootstrap``, ``seed``).
        val_inputs: what ``model.predict`` takes: a batched dataset, or float32
            ``(n, s, s, 3)`` in [0, 1] with ``batch_size``.
        val_ids: DataFrame of the ``n`` validation slices (``image_id``, ...).
        val_labels: ``(n, 6)`` labels in ``CLASSES`` order.

    Returns:
        the ``reports.write_reports`` summary (per-class AUCs are printed).
    """
    from ..net import model as model_lib  # Keras and TensorFlow load only when training ends

    folder = RunFolder(config["out"])
    best = model_lib.load_model(folder.model)
    probs = best.predict(val_inputs, batch_size=batch_size, verbose=0)
    reports.write_val_predictions(folder.val_predictions, val_ids, val_labels, probs)
    summary = reports.write_reports(folder.path, n_boot=config["bootstrap"], seed=config["seed"],
                                    title=folder.name)
    print(json.dumps({c: summary["classes"][c]["auc"] for c in CLASSES}, indent=1))
    return summary
