"""Where class-map peaks land on phantom lesions, for several layers and methods.

``evaluation.evaluate_on_phantoms`` checks one layer and one method on the
held-out test set. Choosing that layer or method needs another set of
studies (seeds away from both training and the test set, ``SELECTION_SEED``)
and a comparison of the choices on the same slices, which is what
``localisation_sweep`` gives (``cranioscan sweep`` prints it). It also
says where the misses land -- in the air around the head, in bone, or
elsewhere in the head -- which tells a border artefact apart from a map that
points at the wrong tissue.
"""

__all__ = ["SELECTION_SEED", "localisation_sweep"]

import numpy as np

from .. import explain
from ..explain.scoring import PLACES, peak_place
from ..labels import CLASSES, SUBTYPES
from ..phantom import balanced_plan
from .heldout import fraction_interval, phantom_series

#: First seed of the phantom studies used to choose a layer or method
#: (training uses seeds under 100 000, the test set 900 000 onward).
SELECTION_SEED = 950_000


def localisation_sweep(predictor, layers, methods=("gradcam",), class_name="any",
                       n_studies=48, seed=SELECTION_SEED, matrix=512, dilate_mm=5.0,
                       progress=None):
    """Compare where the peak of each (layer, method) map lands, slice by slice.

    Every slice positive for ``class_name`` gets one map per layer and
    method; the peak is placed with ``peak_place`` against the slice's mask
    (for ``"any"`` the union of the subtype masks).

    Args:
        predictor: ``cranioscan.inference.Predictor``.
        layers: layer names (see ``explain.available_layers``; any 4-D
            ResNet layer works, e.g. ``"conv3_block3_out"``).
        methods: names from ``explain.METHODS``.
        class_name: class explained.
        n_studies: phantom studies (``balanced_plan``).
        seed: first study seed; keep it away from training and test seeds.
        matrix: slice matrix of the written DICOM.
        dilate_mm: tolerance around the mask, mm.
        progress: optional ``progress(done, total)`` per study.

    Returns:
        dict with ``n_studies``, ``first_seed``, ``class``, ``dilate_mm``,
        ``n_slices`` (positive slices explained) and ``rows``: per (layer,
        method) in the order given, ``{"layer", "method", "fraction_in_mask",
        "ci95": [low, high], "places": {place: count}}`` (fraction and
        interval None when no slice was positive).
    """
    if class_name == "any":
        subtypes = SUBTYPES
    elif class_name in SUBTYPES:
        subtypes = (class_name,)
    else:
        raise ValueError(f"unknown class {class_name!r}; classes are {('any',) + SUBTYPES}")
    column = CLASSES.index(class_name)  # the phantom's label columns
    combos = [(layer, method) for layer in layers for method in methods]
    places = {combo: [] for combo in combos}
    groups = []
    plan = balanced_plan(n_studies, seed)
    for k, (study_seed, study, series) in enumerate(phantom_series(plan, matrix)):
        for z in np.flatnonzero(study.labels[:, column]):
            mask = np.any([study.masks[s][z] for s in subtypes], axis=0)
            groups.append(study_seed)
            for layer, method in combos:
                cam = explain.gradcam(predictor, series, int(z), class_name, layer=layer,
                                      method=method)
                places[(layer, method)].append(
                    peak_place(cam, mask, series.hu[z], series.spacing, dilate_mm))
        if progress is not None:
            progress(k + 1, len(plan))
    rows = []
    for layer, method in combos:
        landed = places[(layer, method)]
        hits = [p == "lesion" for p in landed]
        rows.append({"layer": layer, "method": method,
                     "fraction_in_mask": float(np.mean(hits)) if hits else None,
                     **fraction_interval(hits, groups),
                     "places": {p: landed.count(p) for p in PLACES}})
    return {"n_studies": len(plan), "first_seed": int(seed), "class": class_name,
            "dilate_mm": float(dilate_mm), "n_slices": len(groups), "rows": rows}
