"""The machinery behind :mod:`cranioscan.explain.cam`: caches and the two engines.

Objects built for a model (the logits view, tf-keras-vis' visualisers, the
compiled Grad-CAM) are cached per ``keras.Model``. ``"compiled"`` is a
``tf.function`` of the Grad-CAM and Grad-CAM++ formulas; ``"tf-keras-vis"``
runs all three methods through tf-keras-vis. Private to the package.
"""

import threading
import weakref

import numpy as np

from ..inference import Predictor
from ..net.model import STAGE_OUTPUTS
from ..preprocess import grid_to_input
from .grid import grid_geometry

#: Explanation methods ``gradcam`` knows.
METHODS = ("gradcam", "gradcam++", "scorecam")

#: Implementations: ``"compiled"`` (``tf.function``, gradcam and gradcam++),
#: ``"tf-keras-vis"`` (all methods), ``"auto"`` (compiled where it exists).
ENGINES = ("auto", "compiled", "tf-keras-vis")

#: The end of ResNet stage 4, the CNN's last layer in the default model (14 x
#: 14 at 224 pixels): the contract's default layer of ``gradcam``. What the
#: viewer explains by default depends on the input size: ``default_layer``.
STAGE4_LAYER = "conv4_block6_out"

#: Fewest cells across the grid of the layer ``default_layer`` picks. A
#: bilinearly interpolated map peaks on a cell centre, so the grid spacing
#: bounds how close a peak can come to a small lesion: on a 24 cm field of
#: view, 16 cells are 15 mm apart. At 128 pixels stage 4 has 8 cells across
#: and stage 3 has 16; at 224 pixels stage 4 has 14 and stage 3 has 28. On
#: the demo model's held-out phantoms the stage-3 peak fell in the lesion far
#: more often than stage 4's (``cranioscan evaluate --layer``; numbers in
#: docs/model.md), hence 16 rather than stage 4's 14.
MIN_GRID_CELLS = 16

#: Layer whose cells become the Transformer's patch tokens (1x1 convolution of
#: the CNN's last stage, same grid).
TOKEN_LAYER = "projection"

#: Channels Score-CAM uses as masks (the highest-variance ones). Each costs
#: one forward pass: 32 keeps a slice at a few seconds on two CPU cores; more
#: gives smoother maps (the full stage-4 output has 1024 channels).
SCORECAM_MAX_N = 32

_EPS = 1e-12
_LOCK = threading.RLock()
_CACHES = weakref.WeakKeyDictionary()  # keras.Model -> dict of cached objects


# ---------------------------------------------------------------- helpers
def normalize_map(cam, eps=_EPS):
    """Min-max normalise a map to float32 [0, 1]; zeros when it is flat.

    NaN and infinities count as 0. A map whose range is at most ``eps``
    (absolutely) or ``1e-6`` of its largest magnitude is returned as zeros.
    """
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if cam.size == 0:
        return cam.astype(np.float32)
    lo, hi = float(cam.min()), float(cam.max())
    span = hi - lo
    if span <= max(eps, 1e-6 * max(abs(hi), abs(lo))):
        return np.zeros(cam.shape, dtype=np.float32)
    return np.clip((cam - lo) / span, 0.0, 1.0).astype(np.float32)


def _predictor(obj):
    """``obj`` when it is a ``Predictor``; explanations take nothing else.

    Raises:
        TypeError: ``obj`` is something else (a bare ``keras.Model``, say):
            wrap it with ``cranioscan.inference.Predictor(model)``.
    """
    if not isinstance(obj, Predictor):
        raise TypeError(f"explanations take a cranioscan.inference.Predictor, got "
                        f"{type(obj).__name__}; wrap a keras.Model as Predictor(model)")
    return obj


def _cache(predictor):
    """The explanation cache of a predictor's model (built objects, traced functions).

    Keyed by the keras model (weakly), so that predictors wrapping the same
    model share it and nothing outlives the model.
    """
    with _LOCK:
        cache = _CACHES.get(predictor.model)
        if cache is None:
            cache = {}
            _CACHES[predictor.model] = cache
        return cache


def _cached(predictor, key, build):
    cache = _cache(predictor)
    with _LOCK:
        if key not in cache:
            cache[key] = build()
        return cache[key]


def _class_index(predictor, class_name):
    if isinstance(class_name, (int, np.integer)) and not isinstance(class_name, bool):
        index = int(class_name)
        if not 0 <= index < len(predictor.classes):
            raise ValueError(f"class index {index} out of range 0..{len(predictor.classes) - 1}")
        return index
    if class_name not in predictor.classes:
        raise ValueError(f"unknown class {class_name!r}; classes are {predictor.classes}")
    return predictor.classes.index(class_name)


def _check_method(method, engine):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "compiled" and method == "scorecam":
        raise ValueError("scorecam has no compiled engine; use engine='tf-keras-vis' or 'auto'")


def _layer_output(model, layer):
    names = [lay.name for lay in model.layers]
    if layer not in names:
        choices = list(_stage_layers(model).values())
        raise ValueError(f"model {model.name!r} has no layer {layer!r}; "
                         f"choose one of available_layers(predictor): {choices}")
    out = model.get_layer(layer).output
    if len(out.shape) != 4:
        raise ValueError(f"layer {layer!r} gives shape {tuple(out.shape)}; "
                         "class activation maps need a (n, h, w, channels) feature map")
    return out


def _logits(model):
    """The pre-sigmoid outputs: layer ``"logits"``, else the last Activation's input."""
    import keras

    names = {lay.name for lay in model.layers}
    if "logits" in names:
        return model.get_layer("logits").output
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation):
        return last.input
    return None


def _inputs(model):
    """A model's input tensor (the bare tensor for one input, as Keras expects)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _slice_input(predictor, series, slice_index):
    hu = np.asarray(series.hu if hasattr(series, "hu") else series)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"expected (n, rows, cols) HU slices, got shape {hu.shape}")
    n = len(hu)
    index = int(slice_index)
    if not 0 <= index < n:
        raise IndexError(f"slice_index {slice_index} out of range for a series of {n} slices")
    box = _series_box(predictor, hu)
    return predictor.prepare(hu[index], box), hu.shape[1], hu.shape[2], box


def _series_box(predictor, hu):
    """The series' frame (``predictor.frame_box`` of every slice), remembered for
    the last series seen, so stepping through its slices frames each alike."""
    frame_box = getattr(predictor, "frame_box", None)
    if frame_box is None:
        return None
    key = (id(hu), hu.shape)
    cached = getattr(predictor, "_explain_box", None)
    if cached is None or cached[0] != key:
        cached = (key, frame_box(hu))
        predictor._explain_box = cached
    return cached[1]


def _on_input(predictor, grid, layer):
    """A ``(h, w)`` map on ``layer``'s grid placed on the model input's pixels."""
    geometry = _cached(predictor, ("geometry", layer),
                       lambda: grid_geometry(predictor.model, layer))
    return grid_to_input(grid, predictor.input_size, geometry)


def _check_input(predictor, x):
    x = np.asarray(x, dtype=np.float32)
    s = predictor.input_size
    if x.ndim == 3:
        x = x[None]
    if x.shape != (1, s, s, 3):
        raise ValueError(f"expected one model input of shape (1, {s}, {s}, 3), got {x.shape}")
    return x


def available_layers(predictor):
    """ResNet stage outputs of a predictor's model that maps can be computed on.

    Args:
        predictor: a ``Predictor``.

    Returns:
        dict ``label -> layer name`` in stage order, e.g.
        ``{"stage 3 (conv3_block4_out)": "conv3_block4_out",
        "stage 4 (conv4_block6_out)": "conv4_block6_out"}``; stage 5 only
        when the model has it.
    """
    return _stage_layers(_predictor(predictor).model)


def _stage_layers(model):
    """``available_layers`` of a bare ``keras.Model`` (for this package's internals)."""
    names = {layer.name for layer in model.layers}
    return {f"stage {stage} ({name})": name
            for stage, (name, _stride) in sorted(STAGE_OUTPUTS.items()) if name in names}


# ---------------------------------------------------------------- engines
def _linear_model(predictor):
    """The model with the sigmoid taken off (outputs: logits).

    Shares the predictor's layers (no copy) when the logits are a tensor of
    the graph; otherwise a clone with tf-keras-vis' ``ReplaceToLinear``.
    """
    import keras

    model = predictor.model
    logits = _logits(model)
    if logits is not None:
        return keras.Model(_inputs(model), logits, name=f"{model.name}_logits")
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    ReplaceToLinear()(clone)
    return clone


#: Logits are clipped to this magnitude inside Score-CAM's scoring model so
#: that every softmax value stays a normal float32 (sigmoid(30) = 1 - 1e-13).
_SCORECAM_LOGIT_CLIP = 30.0


def _scorecam_model(predictor):
    """Model giving ``(n, classes + 1)``: the (clipped) logits and a zero.

    tf-keras-vis' Score-CAM scores each masked input through a *softmax* over
    the model's output (right for single-label softmax classifiers, wrong for
    CranioScan's independent sigmoids). With a constant zero appended,
    ``log(softmax_c) - log(softmax_last)`` is the logit ``z_c`` itself, so
    the score (``_SigmoidScore``) can give ``sigmoid(z_c)``, the class
    probability, whatever the other classes do.
    """
    import keras
    from keras import ops

    linear = _cached(predictor, "linear", lambda: _linear_model(predictor))
    logits = ops.clip(linear.outputs[0], -_SCORECAM_LOGIT_CLIP, _SCORECAM_LOGIT_CLIP)
    padded = ops.concatenate([logits, ops.zeros_like(logits[:, :1])], axis=-1)
    # A list of inputs: tf-keras-vis calls predict() with a list of arrays.
    return _QuietModel(list(linear.inputs), padded, name=f"{predictor.model.name}_scorecam")


def _quiet_model_class():
    import keras

    class QuietModel(keras.Model):
        """A functional model whose ``predict`` prints no progress bar."""

        def predict(self, *args, **kwargs):
            kwargs.setdefault("verbose", 0)
            return super().predict(*args, **kwargs)

    return QuietModel


def _QuietModel(*args, **kwargs):
    global _QUIET_MODEL
    if _QUIET_MODEL is None:
        _QUIET_MODEL = _quiet_model_class()
    return _QUIET_MODEL(*args, **kwargs)


_QUIET_MODEL = None


class _SigmoidScore:
    """tf-keras-vis score: ``sigmoid(z_c)`` recovered from the softmax of ``[z, 0]``."""

    def __init__(self, index):
        self.index = int(index)

    def __call__(self, output):
        import tensorflow as tf

        z = tf.math.log(output[:, self.index]) - tf.math.log(output[:, -1])
        return tf.math.sigmoid(z)


def _vis_object(predictor, method):
    def build():
        if method == "scorecam":
            from tf_keras_vis.scorecam import Scorecam

            return Scorecam(_scorecam_model(predictor), model_modifier=None, clone=False)
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus

        linear = _cached(predictor, "linear", lambda: _linear_model(predictor))
        cls = Gradcam if method == "gradcam" else GradcamPlusPlus
        # No modifier: the linear model already has the sigmoid taken off
        # (what ReplaceToLinear would do on a clone) and shares the weights.
        return cls(linear, model_modifier=None, clone=False)

    return _cached(predictor, ("vis", method), build)


def _cam_tf_keras_vis(predictor, x, class_index, layer, method):
    """Raw ``(h, w)`` map at the layer's grid through tf-keras-vis."""
    from tf_keras_vis.utils.scores import CategoricalScore

    vis = _vis_object(predictor, method)
    kwargs = dict(penultimate_layer=layer, seek_penultimate_conv_layer=False,
                  expand_cam=False, normalize_cam=False)
    if method == "scorecam":
        n_channels = int(predictor.model.get_layer(layer).output.shape[-1])
        cam = vis(_SigmoidScore(class_index), x, max_N=min(SCORECAM_MAX_N, n_channels),
                  batch_size=8, **kwargs)
    else:
        cam = vis(CategoricalScore(class_index), x, **kwargs)
    return np.asarray(cam, dtype=np.float32)[0]


def _compiled_fn(predictor, layer):
    """``tf.function`` giving (features, gradients of one logit) for one input."""

    def build():
        import keras
        import tensorflow as tf

        linear = _cached(predictor, "linear", lambda: _linear_model(predictor))
        features = _layer_output(linear, layer)
        grad_model = keras.Model(_inputs(linear), [features, linear.outputs[0]],
                                 name=f"{predictor.model.name}_gradcam_{layer}")
        s = predictor.input_size

        @tf.function(input_signature=[tf.TensorSpec((None, s, s, 3), tf.float32),
                                      tf.TensorSpec((), tf.int32)])
        def features_and_grads(x, class_index):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                feats, logits = grad_model(x, training=False)
                score = tf.gather(logits, class_index, axis=-1)
            grads = tape.gradient(score, feats)
            return feats, grads, score

        return features_and_grads

    return _cached(predictor, ("compiled", layer), build)


def _cam_compiled(predictor, x, class_index, layer, method):
    """Raw ``(h, w)`` map with the same formulas as tf-keras-vis, compiled."""
    fn = _compiled_fn(predictor, layer)
    feats, grads, score = (t.numpy().astype(np.float64) for t in fn(x, np.int32(class_index)))
    feats, grads = feats[0], grads[0]  # (h, w, c)
    if method == "gradcam":
        weights = grads.mean(axis=(0, 1))
        return np.maximum((feats * weights).sum(axis=-1), 0.0).astype(np.float32)
    # Grad-CAM++ as tf-keras-vis 0.8.7 computes it (exp of the score).
    first = np.exp(score[0]) * grads
    second = first * grads
    third = second * grads
    global_sum = feats.sum(axis=(0, 1), keepdims=True)
    denom = second * 2.0 + third * global_sum
    denom = denom + (second == 0.0)
    alphas = second / denom
    norm = alphas.sum(axis=(0, 1), keepdims=True)
    alphas = alphas / (norm + (norm == 0.0))
    weights = (np.maximum(first, 0.0) * alphas).sum(axis=(0, 1))
    return np.maximum((feats * weights).sum(axis=-1), 0.0).astype(np.float32)


def _raw_cam(predictor, x, class_name, layer, method, engine):
    _check_method(method, engine)
    _layer_output(predictor.model, layer)
    class_index = _class_index(predictor, class_name)
    if engine == "tf-keras-vis" or (engine == "auto" and method == "scorecam"):
        cam = _cam_tf_keras_vis(predictor, x, class_index, layer, method)
    else:
        cam = _cam_compiled(predictor, x, class_index, layer, method)
    return np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0)


# ---------------------------------------------------------------- public maps
