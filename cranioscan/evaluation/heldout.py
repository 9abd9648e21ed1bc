"""Held-out evaluation of a model on phantom studies: AUC and Grad-CAM localisation.

The numbers in ``model/model_card.json`` come from here (through
``cranioscan evaluate``): phantom studies made with seeds that training
never used are written as real 512×512 DICOM series, read back with
``load_series`` and scored by ``Predictor.predict_series`` exactly as in the
dashboard. Slice-level AUC per class follows from the predictions; for every
positive slice, the Grad-CAM peak of ``any`` is checked against the union of
that slice's hemorrhage masks dilated by 5 mm, and the peak of each positive
subtype against that subtype's mask; a peak on bone or outside the head is a
miss whatever the tolerance.
"""

__all__ = ["TEST_SEED", "evaluate_on_phantoms", "phantom_series", "fraction_ci",
           "fraction_interval"]

import tempfile

import numpy as np

from .. import explain
from . import metrics
from ..dicom import load_series
from ..labels import CLASSES, SUBTYPES
from ..phantom import balanced_plan, make_study, write_series

#: First seed of the held-out phantom test set (training uses 1000 onward).
TEST_SEED = 900_000


#: Lesion-area bins (mm^2) for the localisation breakdown: under 0.5 cm^2,
#: 0.5-2 cm^2, 2 cm^2 and more.
AREA_BINS_MM2 = (0.0, 50.0, 200.0, float("inf"))


def hits_by_area(hits, areas_mm2, edges=AREA_BINS_MM2):
    """Peak-in-mask counts split by the lesion's area on the slice.

    Args:
        hits: bool per explained slice (peak inside the grown mask).
        areas_mm2: the slice's lesion area in mm^2, same length.
        edges: increasing bin edges in mm^2; bin ``i`` is
            ``edges[i] <= area < edges[i + 1]``.

    Returns:
        list of ``{"area_mm2": [low, high], "n_slices", "n_in_mask",
        "fraction_in_mask"}`` (``high`` None for an open bin; fraction None
        for an empty bin).
    """
    hits = np.asarray(hits, dtype=bool)
    areas = np.asarray(areas_mm2, dtype=np.float64)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (areas >= low) & (areas < high)
        n = int(inside.sum())
        rows.append({"area_mm2": [low, None if np.isinf(high) else high], "n_slices": n,
                     "n_in_mask": int(hits[inside].sum()),
                     "fraction_in_mask": float(hits[inside].mean()) if n else None})
    return rows


def phantom_series(plan, matrix=512):
    """Each planned phantom study as written to DICOM and read back.

    Args:
        plan: ``[(seed, make_study kwargs)]``, e.g. from ``balanced_plan``.
        matrix: slice matrix of the written DICOM.

    Yields:
        ``(seed, study, series)``: the ``PhantomStudy`` (labels, masks) and
        the ``Series`` that ``load_series`` gives for its files, slices in
        the same order.
    """
    for study_seed, kwargs in plan:
        study = make_study(study_seed, matrix=matrix, **kwargs)
        with tempfile.TemporaryDirectory() as tmp:
            write_series(study, tmp)
            series = load_series(tmp)
        if series.hu.shape != study.hu.shape:
            raise RuntimeError(f"phantom {study_seed}: read back {series.hu.shape}, "
                               f"generated {study.hu.shape}")
        yield study_seed, study, series


def fraction_ci(hits, studies):
    """95% interval of a hit rate, as a JSON-ready list (None if empty).

    ``metrics.proportion_ci``: a bootstrap over studies where there are
    enough of them, else the Wilson interval on slices.
    """
    return fraction_interval(hits, studies)["ci95"]


def fraction_interval(hits, studies):
    """``{"ci95": [low, high] or None, "ci95_method": text}`` of a hit rate."""
    low, high, method = metrics.proportion_ci(list(hits), list(studies))
    return {"ci95": [low, high] if len(hits) else None, "ci95_method": method}


def evaluate_on_phantoms(predictor, n_studies=24, seed=TEST_SEED, matrix=512,
                         layer=None, method="gradcam", dilate_mm=5.0,
                         max_cam_slices=None, progress=None, also_methods=()):
    """Score held-out phantom studies and check where Grad-CAM points.

    Args:
        predictor: ``cranioscan.inference.Predictor``.
        n_studies: studies in the test set (balanced across subtypes).
        seed: first study seed; keep it away from the training seeds.
        matrix: slice matrix of the written DICOM.
        layer, method: Grad-CAM layer (None: ``explain.default_layer`` of the
            model) and method.
        dilate_mm: tolerance around the mask for the peak check, mm.
        max_cam_slices: cap on positive slices explained (None: all).
        progress: optional ``progress(done, total)`` per study.
        also_methods: further methods (``explain.METHODS``) checked on the
            same slices and layer, e.g. ``("gradcam++",)``.

    Returns:
        dict with ``n_studies``, ``n_slices``, ``summary`` (``metrics.summarize``
        of the slice predictions), ``gradcam`` (for ``method``; ``any``:
        fraction of positive slices whose peak is in the dilated union mask,
        with counts; per subtype the same against its own mask; each with
        ``ci95`` and ``ci95_method``: ``metrics.proportion_ci``),
        ``by_method`` (the same for ``method`` and each of ``also_methods``,
        keyed by method), ``labels`` and ``probs``.
    """
    if layer is None:
        layer = explain.default_layer(predictor)
    methods = [method] + [m for m in also_methods if m != method]
    all_labels, all_probs, groups = [], [], []
    hits = {m: {name: [] for name in ("any",) + SUBTYPES} for m in methods}
    hit_studies = {name: [] for name in ("any",) + SUBTYPES}  # study seed of each entry
    any_area_mm2 = []
    explained = 0
    plan = balanced_plan(n_studies, seed)
    for k, (study_seed, study, series) in enumerate(phantom_series(plan, matrix)):
        probs = predictor.predict_series(series)
        all_labels.append(study.labels)
        all_probs.append(probs)
        groups += [study_seed] * len(probs)
        for z in np.flatnonzero(study.labels[:, 0]):
            if max_cam_slices is not None and explained >= max_cam_slices:
                break
            explained += 1
            union = np.any([study.masks[s][z] for s in SUBTYPES], axis=0)
            checks = [("any", union)] + [(sub, study.masks[sub][z])
                                         for j, sub in enumerate(SUBTYPES, start=1)
                                         if study.labels[z, j]]
            any_area_mm2.append(float(union.sum() * np.prod(series.spacing)))
            for name, mask in checks:
                hit_studies[name].append(study_seed)
                for m in methods:
                    cam = explain.gradcam(predictor, series, int(z), name, layer=layer, method=m)
                    hits[m][name].append(explain.peak_in_mask(cam, mask, series.spacing,
                                                              dilate_mm, hu=series.hu[z]))
        if progress is not None:
            progress(k + 1, len(plan))
    labels = np.concatenate(all_labels)
    probs = np.concatenate(all_probs)
    summary = metrics.summarize(labels, probs, groups=np.asarray(groups), n_boot=500)
    by_method = {m: _localisation(hits[m], hit_studies, any_area_mm2) for m in methods}
    return {
        "n_studies": len(plan), "first_seed": int(seed), "matrix": int(matrix),
        "n_slices": int(len(labels)), "layer": layer, "method": method,
        "dilate_mm": float(dilate_mm), "summary": summary, "gradcam": by_method[method],
        "by_method": by_method, "labels": labels, "probs": probs, "classes": list(CLASSES),
    }


def _localisation(hits, hit_studies, any_area_mm2):
    """Per class: fraction of peaks in the mask, counts, study-level interval."""
    result = {name: {"fraction_in_mask": float(np.mean(v)) if v else None,
                     "n_in_mask": int(np.sum(v)), "n_slices": len(v),
                     **fraction_interval(v, hit_studies[name])}
              for name, v in hits.items()}
    result["any"]["by_lesion_area"] = hits_by_area(hits["any"], any_area_mm2)
    return result
