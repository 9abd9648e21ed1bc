"""Where the network looked: class activation maps and attention rollout.

Every function returns a float32 map in [0, 1] (drawing is
:mod:`cranioscan.visualize.overlay`'s job). Maps of a slice are aligned with
``series.hu[slice_index]``: they are computed at the layer's grid, each cell
is placed on the input pixel its receptive field is centred on
(``cranioscan.explain.grid``; for ResNet50 that is ``stride * i``, not the
middle of a ``stride``-wide block), then
``cranioscan.preprocess.restore_to_slice`` undoes the pad-to-square and the
resize of ``to_model_input``.

Methods (``METHODS``), on a ResNet layer of the model (``available_layers``):

* ``"gradcam"`` -- Grad-CAM (Selvaraju et al. 2017): channel weights are the
  spatial mean of the gradient of the class *logit* (the sigmoid is taken
  off, as tf-keras-vis' ``ReplaceToLinear`` does, so a confident slice does
  not lose its map to a saturated sigmoid).
* ``"gradcam++"`` -- Grad-CAM++ (Chattopadhyay et al. 2018).
* ``"scorecam"`` -- Score-CAM (Wang et al. 2020) in its "faster" form: only
  the ``SCORECAM_MAX_N`` channels of largest spatial variance are used as
  masks (one forward pass each), and a mask is scored by the *sigmoid*
  probability of the class (the network is multi-label: tf-keras-vis'
  softmax over the classes would not be a class probability; see
  ``_scorecam_model``). Channels are weighted by the raw score of what they
  let through (tf-keras-vis, not the paper's increase over a baseline), so a
  class the slice does not show still gets a map of whatever the masks let
  the network see: read Score-CAM maps together with the probability.

All three run through tf-keras-vis (``engine="tf-keras-vis"``), on a view
of the model that ends at the logits and shares its weights (no clone);
its objects are built once per (model, method) and cached. ``"gradcam"``
and ``"gradcam++"`` also have a ``tf.function``-compiled implementation of
the same formulas (``engine="compiled"``, their default under ``"auto"``):
it is traced once per layer (a few seconds; ``warm_up`` does it ahead) and
then runs several times faster than tf-keras-vis' eager pass. The two
engines agree to float precision (tested).

Attention rollout is :mod:`.rollout`; reading a map's peak is :mod:`.scoring`.

Normalisation: a map is ``(m - min) / (max - min)`` after the ReLU; a map
whose range is zero (e.g. a class the model ignores, all gradients zero)
gives zeros, never NaN.
"""
__all__ = [
    "METHODS",
    "ENGINES",
    "STAGE4_LAYER",
    "SCORECAM_MAX_N",
    "MIN_GRID_CELLS",
    "available_layers",
    "default_layer",
    "gradcam",
    "gradcam_inputs",
    "warm_up",
    "normalize_map",
]

import numpy as np

from ..preprocess import restore_to_slice
from .engines import (
    STAGE4_LAYER,
    ENGINES,
    METHODS,
    MIN_GRID_CELLS,
    SCORECAM_MAX_N,
    _check_input,
    _compiled_fn,
    _layer_output,
    _on_input,
    _predictor,
    _raw_cam,
    _slice_input,
    available_layers,
    normalize_map,
)


def default_layer(predictor):
    """The layer to explain by default: the deepest ResNet stage output whose
    grid has at least ``MIN_GRID_CELLS`` cells across.

    Stage 3 (``conv3_block4_out``) from 128 up to 255 pixels, which covers
    the demo model at 224, stage 4 (``STAGE4_LAYER``) from 256 pixels; the
    finest stage when none reaches ``MIN_GRID_CELLS``.

    Args:
        predictor: a ``Predictor``.

    Returns:
        a layer name from ``available_layers(predictor)``.
    """
    model = _predictor(predictor).model
    names = list(available_layers(predictor).values())
    if not names:
        raise ValueError(f"model {model.name!r} has no ResNet stage output to explain")
    fine_enough = [name for name in names
                   if min(model.get_layer(name).output.shape[1:3]) >= MIN_GRID_CELLS]
    return fine_enough[-1] if fine_enough else names[0]


def gradcam_inputs(predictor, x, class_name, layer=STAGE4_LAYER, method="gradcam",
                   engine="auto"):
    """Class activation map of one ready-made model input, at model resolution.

    Args:
        predictor: a ``cranioscan.inference.Predictor`` (or a keras.Model).
        x: float32 ``(1, s, s, 3)`` (or ``(s, s, 3)``) model input in [0, 1].
        class_name: a name in ``predictor.classes`` (or its index).
        layer: name of a 4-D layer (see ``available_layers``).
        method: one of ``METHODS``.
        engine: one of ``ENGINES``.

    Returns:
        float32 ``(s, s)`` in [0, 1].
    """
    predictor = _predictor(predictor)
    x = _check_input(predictor, x)
    cam = _raw_cam(predictor, x, class_name, layer, method, engine)
    return normalize_map(_on_input(predictor, cam, layer))


def gradcam(predictor, series, slice_index, class_name, layer=STAGE4_LAYER, method="gradcam",
            engine="auto"):
    """Class activation map of one slice, aligned with ``series.hu[slice_index]``.

    Args:
        predictor: a ``cranioscan.inference.Predictor`` (or a keras.Model).
        series: a ``Series`` (or a ``(n, rows, cols)`` HU array).
        slice_index: slice in series order.
        class_name: a name in ``predictor.classes`` (or its index).
        layer: name of a 4-D layer, by default ``"conv4_block6_out"`` (see
            ``available_layers``).
        method: ``"gradcam"``, ``"gradcam++"`` or ``"scorecam"``.
        engine: ``"auto"`` (compiled for gradcam / gradcam++, tf-keras-vis for
            scorecam), ``"compiled"`` or ``"tf-keras-vis"``.

    Returns:
        float32 ``(rows, cols)`` in [0, 1]; zeros when the class does not
        depend on the layer (never NaN).
    """
    predictor = _predictor(predictor)
    x, rows, cols, box = _slice_input(predictor, series, slice_index)
    cam = _raw_cam(predictor, x, class_name, layer, method, engine)
    # Cells go where their receptive fields are centred on the input
    # (cranioscan.explain.grid), then the resize and padding are undone.
    return normalize_map(restore_to_slice(_on_input(predictor, cam, layer), rows, cols, box))


def warm_up(predictor, layer=STAGE4_LAYER):
    """Trace the compiled Grad-CAM of ``layer`` now (a few seconds, once per layer).

    The first map of a layer otherwise pays for the tracing; a dashboard can
    call this in the background right after loading the model.
    """
    predictor = _predictor(predictor)
    _layer_output(predictor.model, layer)
    s = predictor.input_size
    fn = _compiled_fn(predictor, layer)
    fn(np.zeros((1, s, s, 3), np.float32), np.int32(0))
