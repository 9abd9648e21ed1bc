"""The series stage: slice heads on the frozen ResNet trunk, and a Transformer
across the slices of a series.

The shipped network has two parts, both Keras models saved as ``.keras``:

- the **slice model** (``best_model.keras``, one flat functional graph): the
  frozen ResNet50 trunk up to ``conv4_block6_out``, then ``K`` slice heads
  (one per cross-validation fold, layer names prefixed ``m<k>_``), each a
  1x1 projection to ``d`` wide tokens, a class token, position embeddings,
  one pre-norm Transformer block and its class-token output, the slice's
  embedding. The embeddings are concatenated (layer ``"slice_embeddings"``,
  ``(n, K * d)``) and :class:`EnsembleLogits` averages the heads' logits
  (layer ``"logits"``) before the sigmoid (``"probabilities"``). Grad-CAM
  reaches every ResNet layer of it, as before;
- the **series model** (``series_model.keras``): for a series of ``n``
  slices ordered inferior to superior, inputs the slice embeddings
  ``(1, n, K * d)`` and the slices' relative positions ``(1, n)`` (0 at the
  lowest slice, 1 at the highest); each member ``k`` adds position features
  to its own embeddings, mixes the slices with Transformer blocks and gives
  per-slice logits (its slice head's own logit plus a context correction)
  and series logits (max and mean over the slices). The members' logits
  are averaged; outputs ``"slice_probabilities"`` ``(1, n, 6)`` and
  ``"series_probabilities"`` ``(1, 6)``.

Training (:mod:`cranioscan.train.series_trainer`) builds one member at a
time from cached trunk features; :func:`assemble_slice_model` and
:func:`assemble_series_model` put the members together.
"""

__all__ = [
    "TRUNK_LAYER",
    "EMBEDDING_LAYER",
    "TakeChannels",
    "PositionFeatures",
    "EnsembleLogits",
    "build_slice_head",
    "build_series_member",
    "assemble_slice_model",
    "assemble_series_model",
    "member_prefix",
    "VERDICT_SOURCES",
]

import keras
import numpy as np
from keras import ops

from .layers import (_PACKAGE, ClassToken, InputScaling, PositionEmbedding, TakeToken,
                     TransformerBlock)

#: The ResNet layer the trunk ends at (frozen, cached during training).
TRUNK_LAYER = "conv4_block6_out"
#: The slice model's layer holding every member's slice embedding.
EMBEDDING_LAYER = "slice_embeddings"


def member_prefix(k):
    """Layer-name prefix of ensemble member ``k``."""
    return f"m{int(k)}_"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TakeChannels(keras.layers.Layer):
    """Channels ``[start, stop)`` of the last axis: ``(..., c) -> (..., stop - start)``."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.stop - self.start,)

    def get_config(self):
        config = super().get_config()
        config.update({"start": self.start, "stop": self.stop})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PositionFeatures(keras.layers.Layer):
    """Sine and cosine features of a relative slice position.

    ``(b, n)`` positions in [0, 1] -> ``(b, n, 2 * frequencies + 1)``: the
    position itself, then ``sin`` and ``cos`` of ``pi * 2**i * t``.
    """

    def __init__(self, frequencies=4, **kwargs):
        super().__init__(**kwargs)
        self.frequencies = int(frequencies)

    def call(self, positions):
        t = ops.expand_dims(ops.cast(positions, "float32"), -1)
        scales = ops.convert_to_tensor([np.pi * 2.0 ** i for i in range(self.frequencies)],
                                       dtype="float32")
        angles = t * scales
        return ops.concatenate([t, ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (2 * self.frequencies + 1,)

    def get_config(self):
        config = super().get_config()
        config.update({"frequencies": self.frequencies})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EnsembleLogits(keras.layers.Layer):
    """Mean of ``members`` linear heads, each on its own slice of the input.

    ``(b, members * d) -> (b, classes)``: member ``k`` reads channels
    ``[k * d, (k + 1) * d)`` with kernel ``(d, classes)`` and bias
    ``(classes,)``; weights ``kernel`` ``(members, d, classes)`` and
    ``bias`` ``(members, classes)``.
    """

    def __init__(self, members, classes=6, **kwargs):
        super().__init__(**kwargs)
        self.members, self.classes = int(members), int(classes)

    def build(self, input_shape):
        d = int(input_shape[-1]) // self.members
        self.kernel = self.add_weight(name="kernel", shape=(self.members, d, self.classes),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.members, self.classes),
                                    initializer="zeros")

    def call(self, inputs):
        d = ops.shape(self.kernel)[1]
        x = ops.reshape(inputs, (-1, self.members, d))
        logits = ops.einsum("bmd,mdc->bmc", x, self.kernel) + self.bias
        return ops.mean(logits, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.classes)

    def get_config(self):
        config = super().get_config()
        config.update({"members": self.members, "classes": self.classes})
        return config


def build_slice_head(features, prefix, d_model=128, num_heads=4, mlp_dim=256, dropout=0.1,
                     depth=1):
    """Slice-head layers on a trunk feature map; returns the embedding tensor.

    Args:
        features: ``(b, h, w, c)`` trunk features (a Keras tensor).
        prefix: layer-name prefix (:func:`member_prefix`).
        d_model, num_heads, mlp_dim, dropout, depth: the head's token width,
            attention heads, MLP width, dropout and Transformer blocks.

    Returns:
        ``(b, d_model)`` slice embedding (layer ``<prefix>class_token_output``).
    """
    x = keras.layers.Conv2D(d_model, 1, name=f"{prefix}projection")(features)
    grid_h, grid_w = int(x.shape[1]), int(x.shape[2])
    x = keras.layers.Reshape((grid_h * grid_w, d_model), name=f"{prefix}tokens")(x)
    x = ClassToken(name=f"{prefix}class_token")(x)
    x = PositionEmbedding(name=f"{prefix}position_embedding")(x)
    x = keras.layers.Dropout(dropout, name=f"{prefix}embedding_dropout")(x)
    for i in range(int(depth)):
        x = TransformerBlock(num_heads=num_heads, mlp_dim=mlp_dim, dropout=dropout,
                             name=f"{prefix}encoder_block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}encoder_norm")(x)
    return TakeToken(0, name=f"{prefix}class_token_output")(x)


def build_series_member(embeddings, positions, prefix, num_classes=6, width=64, depth=1,
                        num_heads=4, dropout=0.1, frequencies=4):
    """One member's series layers; returns ``(slice_logits, series_logits)``.

    Args:
        embeddings: ``(b, n, d)`` this member's slice embeddings.
        positions: ``(b, n)`` relative slice positions in [0, 1].
        prefix: layer-name prefix (:func:`member_prefix`).
        num_classes: outputs per slice and per series.
        width: width of the series tokens.
        depth: Transformer blocks across the slices (0: no context).
        num_heads, dropout, frequencies: attention heads, dropout and the
            position features' frequencies.

    Returns:
        ``(b, n, num_classes)`` per-slice logits (the slice's own logit,
        layer ``<prefix>own_logits``, plus the context correction) and
        ``(b, num_classes)`` series logits.
    """
    own = keras.layers.Dense(num_classes, name=f"{prefix}own_logits")(embeddings)
    x = keras.layers.Dense(width, name=f"{prefix}series_in")(embeddings)
    where = PositionFeatures(frequencies, name=f"{prefix}position_features")(positions)
    x = x + keras.layers.Dense(width, name=f"{prefix}position_in")(where)
    x = keras.layers.Dropout(dropout, name=f"{prefix}series_dropout")(x)
    for i in range(int(depth)):
        x = TransformerBlock(num_heads=num_heads, mlp_dim=2 * width, dropout=dropout,
                             name=f"{prefix}series_block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}series_norm")(x)
    context = keras.layers.Dense(num_classes, kernel_initializer="zeros",
                                 name=f"{prefix}context_logits")(x)
    slice_logits = keras.layers.Add(name=f"{prefix}slice_logits")([own, context])
    pooled = keras.layers.Concatenate(name=f"{prefix}series_pool")([
        keras.layers.GlobalMaxPooling1D(name=f"{prefix}series_max")(x),
        keras.layers.GlobalAveragePooling1D(name=f"{prefix}series_mean")(x),
        keras.layers.GlobalMaxPooling1D(name=f"{prefix}own_max")(own)])
    series_logits = keras.layers.Dense(num_classes, name=f"{prefix}series_logits")(pooled)
    return slice_logits, series_logits


def _copy_by_name(sources, target):
    """Copy weights into ``target``'s layers from same-named layers of ``sources``."""
    by_name = {layer.name: layer for source in sources for layer in source.layers}
    for layer in target.layers:
        if layer.get_weights() and layer.name in by_name:
            layer.set_weights(by_name[layer.name].get_weights())


def assemble_slice_model(trunk_source, heads, own_logit_layers, head_config,
                         name="cranioscan_r50_slice_ensemble"):
    """The shipped slice model: frozen trunk + every member's slice head.

    Args:
        trunk_source: a ``build_model`` model whose ResNet weights are the trunk.
        heads: trained member head models (input: trunk features; layer
            names prefixed :func:`member_prefix` ``(k)``), in member order.
        own_logit_layers: each member's trained ``<prefix>own_logits``
            Dense layer (kernel ``(d, 6)``, bias ``(6,)``).
        head_config: keyword arguments of :func:`build_slice_head`.

    Returns:
        ``keras.Model`` float32 ``(n, s, s, 3)`` -> ``(n, 6)`` probabilities;
        layers ``"slice_embeddings"``, ``"logits"``, ``"probabilities"``.
    """
    size = int(trunk_source.inputs[0].shape[1])
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    scaled = InputScaling(mode=trunk_source.get_layer("input_scaling").mode,
                          name="input_scaling")(inputs)
    backbone = keras.applications.ResNet50(include_top=False, weights=None, input_tensor=scaled)
    features = backbone.get_layer(TRUNK_LAYER).output
    embeddings = [build_slice_head(features, member_prefix(k), **head_config)
                  for k in range(len(heads))]
    joined = (keras.layers.Concatenate(name=EMBEDDING_LAYER)(embeddings) if len(heads) > 1
              else keras.layers.Identity(name=EMBEDDING_LAYER)(embeddings[0]))
    logits = EnsembleLogits(len(heads), name="logits")(joined)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name=name)
    trunk_names = {layer.name for layer in keras.Model(
        inputs, features).layers}
    by_name = {layer.name: layer for layer in trunk_source.layers}
    for layer in model.layers:
        if layer.name in trunk_names and layer.get_weights():
            layer.set_weights(by_name[layer.name].get_weights())
    _copy_by_name(heads, model)
    kernels = np.stack([layer.get_weights()[0] for layer in own_logit_layers])
    biases = np.stack([layer.get_weights()[1] for layer in own_logit_layers])
    model.get_layer("logits").set_weights([kernels, biases])
    return model


#: Where the series verdict's score comes from (a recipe choice, see :func:`assemble_series_model`).
VERDICT_SOURCES = ("series_head", "top_slice")


def assemble_series_model(members, embedding_width, series_config, num_classes=6,
                          name="cranioscan_series_ensemble", verdict_from="series_head"):
    """The shipped series model: every member's series layers, averaged.

    Args:
        members: trained member series models (inputs: embeddings ``(b, n,
            d)`` and positions ``(b, n)``), layer names prefixed
            :func:`member_prefix` ``(k)``, in member order.
        embedding_width: ``d``, one member's slice-embedding width.
        series_config: keyword arguments of :func:`build_series_member`.
        verdict_from: ``"series_head"`` (the members' series logits) or
            ``"top_slice"`` (the highest per-slice logit with context: the
            series is as likely to bleed as its most likely slice).

    Returns:
        ``keras.Model`` with inputs ``"slice_embeddings"`` ``(b, n, K * d)``
        and ``"positions"`` ``(b, n)``; outputs ``"slice_probabilities"``
        ``(b, n, 6)`` and ``"series_probabilities"`` ``(b, 6)``.
    """
    k_members = len(members)
    embeddings = keras.Input(shape=(None, k_members * embedding_width), name="slice_embeddings")
    positions = keras.Input(shape=(None,), name="positions")
    slice_logits, series_logits = [], []
    for k in range(k_members):
        own = TakeChannels(k * embedding_width, (k + 1) * embedding_width,
                           name=f"{member_prefix(k)}take")(embeddings)
        s, r = build_series_member(own, positions, member_prefix(k), num_classes,
                                   **series_config)
        slice_logits.append(s)
        series_logits.append(r)
    if verdict_from not in VERDICT_SOURCES:
        raise ValueError(f"verdict_from must be one of {VERDICT_SOURCES}, got {verdict_from!r}")
    if k_members > 1:
        slice_mean = keras.layers.Average(name="slice_logits")(slice_logits)
        series_mean = keras.layers.Average(name="series_logits")(series_logits)
    else:
        slice_mean, series_mean = slice_logits[0], series_logits[0]
    if verdict_from == "top_slice":
        series_mean = keras.layers.GlobalMaxPooling1D(name="top_slice_logits")(slice_mean)
    model = keras.Model(
        [embeddings, positions],
        [keras.layers.Activation("sigmoid", dtype="float32", name="slice_probabilities")(slice_mean),
         keras.layers.Activation("sigmoid", dtype="float32",
                                 name="series_probabilities")(series_mean)],
        name=name)
    _copy_by_name(members, model)
    return model
