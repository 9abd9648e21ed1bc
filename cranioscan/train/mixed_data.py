"""Real CT-ICH slices and synthetic phantoms in one training cache.

``train.py --data ctich`` trains on the real patients of a CT-ICH folder
(:mod:`cranioscan.ctich`), optionally mixed with phantom studies
(:mod:`cranioscan.phantom`). Both go through ``to_model_input`` into one
slice cache (:mod:`cranioscan.pipeline`); a ``source`` column tells them
apart. Phantoms are clean and real slices carry JPEG artefacts, so a share
of the phantom studies (``phantom_jpeg``) is put through the same
window-JPEG-rebuild path as the real slices (``ctich.jpeg_roundtrip_hu``):
"looks like a JPEG" then says nothing about blood.

The cache does not depend on folds or held-out patients, so every fold of
a cross-validation can share one (``--cache-dir``).
"""

__all__ = ["phantom_inputs", "is_phantom", "build_mixed_cache", "source_share_weights"]

import os

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import ctich
from . import pipeline
from ..labels import CLASSES
from ..phantom import balanced_plan, make_study
from ..preprocess import to_model_input

def _ctich_inputs(data, size):
    """uint8 ``(n, size, size, 3)`` model input of every CT-ICH slice, in order."""
    out = np.empty((len(data), size, size, 3), dtype=np.uint8)
    for i, (brain, bone) in enumerate(tqdm(list(zip(data.ids["brain"], data.ids["bone"])),
                                           desc="rebuilding CT-ICH HU", unit="slice")):
        out[i] = pipeline.to_uint8(to_model_input(ctich.read_slice_hu(brain, bone),
                                                           size))[0]
    return out


def phantom_inputs(config, size, jpeg_share=0.0):
    """Phantom studies rendered into model input, a share JPEG round-tripped.

    Studies follow ``balanced_plan(phantom_studies, phantom_seed)`` at
    ``phantom_matrix`` (``phantom_slices`` slices when given); a study goes
    through ``ctich.jpeg_roundtrip_hu`` (JPEG quality 60-95 per slice) with
    probability ``jpeg_share``, drawn from a generator seeded with
    ``phantom_seed`` (0 leaves every study clean).

    Returns:
        ``(ids, labels, inputs)``: DataFrame of ``image_id``, ``patient``,
        ``study``, ``position`` and ``source`` (``"phantom"`` or
        ``"phantom-jpeg"``), uint8 ``(n, 6)`` labels and uint8
        ``(n, size, size, 3)`` model input, one row per slice.
    """
    n, seed0 = int(config["phantom_studies"]), int(config["phantom_seed"])
    rng = np.random.default_rng(seed0)
    ids, labels, inputs = [], [], []
    for seed, kwargs in tqdm(balanced_plan(n, seed0), desc="generating phantom studies",
                             unit="study"):
        study = make_study(seed, matrix=config["phantom_matrix"],
                           n_slices=config.get("phantom_slices"), **kwargs)
        hu = study.hu
        jpeg = bool(rng.random() < jpeg_share)
        if jpeg:
            hu = ctich.jpeg_roundtrip_hu(hu, quality=rng.integers(60, 96, size=len(hu)))
        for z in range(study.n_slices):
            ids.append({"image_id": f"PH{seed:07d}_{z:03d}", "patient": f"PH{seed:07d}",
                        "study": f"PH{seed:07d}", "position": float(study.positions[z]),
                        "source": "phantom-jpeg" if jpeg else "phantom"})
        labels.append(study.labels)
        inputs.append(pipeline.to_uint8(to_model_input(hu, size)))
    if not ids:
        return pd.DataFrame(columns=["image_id", "patient", "study", "position", "source"]), \
            np.zeros((0, len(CLASSES)), np.uint8), np.zeros((0, size, size, 3), np.uint8)
    return pd.DataFrame(ids), np.concatenate(labels), np.concatenate(inputs)


def is_phantom(sources):
    """Boolean ``(n,)``: which slices of an ids table's ``source`` column are phantoms."""
    return np.char.startswith(np.asarray(sources, dtype=str), "phantom")


def build_mixed_cache(config):
    """Build (or reuse) the cache of CT-ICH slices followed by phantom slices.

    Args:
        config: the run config: ``data_dir`` (the CT-ICH folder),
            ``input_size``, ``cache_dir`` or ``out``, and the phantom options
            ``phantom_studies`` (0 for none), ``phantom_seed``,
            ``phantom_matrix``, ``phantom_slices``, ``phantom_jpeg``.

    Returns:
        ``(ids, cache, report_lines)``: ids has ``image_id``, ``patient``,
        ``study``, ``position`` and ``source`` (``"ctich"``, ``"phantom"`` or
        ``"phantom-jpeg"``), one row per cache row.
    """
    data = ctich.load_ctich(config["data_dir"])
    size = int(config["input_size"])
    meta = {"source": "ctich+phantom", "data_dir": os.path.abspath(config["data_dir"]),
            "ctich_slices": len(data), "phantom_studies": int(config["phantom_studies"]),
            "phantom_seed": int(config["phantom_seed"]), "matrix": config["phantom_matrix"],
            "slices": config.get("phantom_slices"),
            "phantom_jpeg": float(config.get("phantom_jpeg", 0.5))}
    cache_dir = config.get("cache_dir") or os.path.join(config["out"], "cache")
    ids_path = os.path.join(cache_dir, "ids.csv")
    lines = [ctich.CREDIT] + data.report.lines()
    cache = pipeline.find_complete_cache(cache_dir, size, meta)
    if cache is not None and os.path.isfile(ids_path):
        ids = pd.read_csv(ids_path, dtype={"image_id": str, "patient": str, "study": str})
        return ids, cache, lines + [f"reusing the cache in {cache_dir} ({len(cache)} slices)"]
    real_ids = data.ids[["image_id", "patient", "study", "position"]].assign(source="ctich")
    ph_ids, ph_labels, ph_inputs = phantom_inputs(config, size,
                                                  float(config.get("phantom_jpeg", 0.5)))
    labels = np.concatenate([data.labels, ph_labels])
    cache = pipeline.create_cache(cache_dir, labels, size, meta=meta)
    cache.images[:len(data)] = _ctich_inputs(data, size)
    cache.images[len(data):] = ph_inputs
    cache.done[:] = True
    cache.flush()
    ids = pd.concat([real_ids, ph_ids], ignore_index=True)
    ids.to_csv(ids_path, index=False)
    if len(ph_ids):
        jpeg = int((ph_ids.groupby("study")["source"].first() == "phantom-jpeg").sum())
        lines.append(f"{config['phantom_studies']} phantom studies (seeds {config['phantom_seed']}-"
                     f"{config['phantom_seed'] + config['phantom_studies'] - 1}), {len(ph_ids)} "
                     f"slices, {jpeg} studies through the CT-ICH window-JPEG-rebuild path")
    return ids, cache, lines


def source_share_weights(sources, phantom_share, weights=None):
    """Sampling weights that make phantom slices ``phantom_share`` of the draws.

    Args:
        sources: ``(n,)`` source of each training slice (``"ctich"`` or a
            ``"phantom..."`` name).
        phantom_share: wanted fraction of phantom draws in [0, 1).
        weights: optional ``(n,)`` weights to start from (e.g. class
            balancing); the phantoms' are scaled as a block, so the balance
            within each source is kept.

    Returns:
        float64 ``(n,)`` weights; ``weights`` (or ones) unchanged when one
        of the two kinds is absent.
    """
    if not 0.0 <= phantom_share < 1.0:
        raise ValueError(f"phantom share must be in [0, 1), got {phantom_share}")
    phantom = is_phantom(sources)
    out = np.ones(len(phantom)) if weights is None else np.array(weights, dtype=np.float64)
    mass_ph, mass_real = out[phantom].sum(), out[~phantom].sum()
    if mass_ph > 0 and mass_real > 0:
        out[phantom] *= phantom_share / (1.0 - phantom_share) * mass_real / mass_ph
    return out
