"""The CranioScan network: ResNet50 stages -> Transformer encoder -> 6 sigmoids.

A hybrid in the manner of the Vision Transformer paper's R50+ViT: the
ResNet50 of ``keras.applications`` cut after stage 4 (``conv4_block6_out``,
stride 16) gives a grid of feature vectors that a 1x1 convolution projects to
``d_model``-wide tokens; a learned class token and position embeddings are
added and pre-norm Transformer blocks mix them; the class token gives six
logits (layer ``"logits"``) and their sigmoids (layer ``"probabilities"``,
the model's last layer) in ``cranioscan.labels.CLASSES`` order.

The model is one flat functional graph: every ResNet layer (for example
``conv3_block4_out`` or ``conv4_block6_out``) is a layer of the model itself,
so Grad-CAM (tf-keras-vis) can take gradients at any of them.

Input: float32 ``(n, size, size, 3)`` in [0, 1], the three CT windows of
``cranioscan.preprocess.to_model_input``. The model normalises it itself
(layer ``"input_scaling"``): to [-1, 1] when trained from scratch, caffe-style
(0..255, BGR, minus the ImageNet means) with ImageNet ResNet50 weights.
"""

__all__ = [
    "STAGE_OUTPUTS",
    "build_model",
    "model_input_size",
    "model_classes",
    "token_grid_shape",
    "save_for_inference",
    "load_model",
    "resize_position_embedding",
    "transfer_weights",
]

import os

import keras
import numpy as np

from ..labels import CLASSES
from ..preprocess import resize_stack
from . import series as _series  # noqa: F401 - registers the series stage's layers for loading
from .layers import ClassToken, InputScaling, PositionEmbedding, TakeToken, TransformerBlock

#: Name of the ResNet50 layer each selectable stage ends with, and its stride.
STAGE_OUTPUTS = {
    3: ("conv3_block4_out", 8),
    4: ("conv4_block6_out", 16),
    5: ("conv5_block3_out", 32),
}


def build_model(input_size=224, stage=4, d_model=256, depth=4, num_heads=8, mlp_dim=512,
                dropout=0.1, attention_dropout=0.0, num_classes=6, weights=None,
                input_mode=None, name="cranioscan_r50_transformer"):
    """Build the R50 + Transformer hybrid as one flat functional ``keras.Model``.

    Args:
        input_size: side of the square input in pixels (a multiple of the
            stage's stride keeps the token grid exact: 16 for stage 4).
        stage: last ResNet50 stage kept: 4 (``conv4_block6_out``, default) or
            5 (``conv5_block3_out``); 3 (``conv3_block4_out``) also works.
        d_model: token width (1x1 projection of the ResNet features).
        depth: number of Transformer encoder blocks (0 keeps none).
        num_heads: attention heads per block; must divide ``d_model``.
        mlp_dim: hidden width of each block's MLP.
        dropout: dropout after attention and in the MLPs.
        attention_dropout: dropout on the attention weights.
        num_classes: number of sigmoid outputs (6: ``CLASSES``).
        weights: ``None`` (random init), ``"imagenet"`` or a path to a
            ResNet50 no-top weights file; passed to
            ``keras.applications.ResNet50``.
        input_mode: ``"symmetric"`` ([0, 1] -> [-1, 1]) or ``"caffe"``
            (ImageNet preprocessing); ``None`` picks ``"caffe"`` when
            ``weights`` is given and ``"symmetric"`` otherwise.
        name: model name.

    Returns:
        ``keras.Model`` mapping float32 ``(n, input_size, input_size, 3)`` in
        [0, 1] to float32 ``(n, num_classes)`` probabilities. Layers of note:
        ``"input_scaling"``, the ResNet layers, ``"projection"``,
        ``"class_token"``, ``"position_embedding"``, ``"encoder_block_{i}"``,
        ``"encoder_norm"``, ``"logits"``, ``"probabilities"`` (last).
    """
    if stage not in STAGE_OUTPUTS:
        raise ValueError(f"stage must be one of {sorted(STAGE_OUTPUTS)}, got {stage!r}")
    cut_name, stride = STAGE_OUTPUTS[stage]
    input_size = int(input_size)
    if input_size < 32:
        raise ValueError(f"input_size must be at least 32 pixels, got {input_size}")
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
    if input_mode is None:
        input_mode = "symmetric" if weights is None else "caffe"

    inputs = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="image")
    scaled = InputScaling(mode=input_mode, name="input_scaling")(inputs)
    # input_tensor= puts the ResNet layers into this graph; continuing from one
    # of its layers' outputs keeps the final model flat (no nested Model).
    backbone = keras.applications.ResNet50(include_top=False, weights=weights, input_tensor=scaled)
    features = backbone.get_layer(cut_name).output

    x = keras.layers.Conv2D(d_model, 1, name="projection")(features)
    grid_h, grid_w = int(x.shape[1]), int(x.shape[2])
    x = keras.layers.Reshape((grid_h * grid_w, d_model), name="tokens")(x)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="position_embedding")(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(int(depth)):
        x = TransformerBlock(num_heads=num_heads, mlp_dim=mlp_dim, dropout=dropout,
                             attention_dropout=attention_dropout,
                             name=f"encoder_block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    x = TakeToken(0, name="class_token_output")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def model_input_size(model):
    """Return the square input side, in pixels, a model expects."""
    shape = model.inputs[0].shape
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(f"expected a square (n, size, size, 3) model input, got {shape}")
    return int(shape[1])


def model_classes(model):
    """Return the class names of a model's outputs (``CLASSES`` for 6 outputs)."""
    n = int(model.outputs[0].shape[-1])
    if n != len(CLASSES):
        raise ValueError(f"model has {n} outputs; CranioScan models have {len(CLASSES)}")
    return CLASSES


def token_grid_shape(model):
    """Return ``(h, w)`` of the model's patch-token grid (14x14 at 224, stage 4);
    of an ensemble of slice heads, the first head's."""
    names = {layer.name for layer in model.layers}
    shape = model.get_layer("tokens" if "tokens" in names else "m0_tokens").input.shape
    return int(shape[1]), int(shape[2])


def save_for_inference(model, path, logit_offsets=None):
    """Save ``model`` as a ``.keras`` file without optimizer state or compile settings.

    Keras 3 ignores ``include_optimizer`` for ``.keras`` files, so an
    uncompiled copy holding the same weights is saved instead (about a third
    of the size of a file with Adam's moments). Reload with ``load_model``.

    Args:
        model: the model to save (left unchanged).
        path: ``.keras`` file to write.
        logit_offsets: optional ``(num_classes,)`` values added to the bias of
            the ``"logits"`` layer of the saved copy, e.g. the prior-shift
            correction after class-balanced sampling.

    Returns:
        the path written, as a str.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"inference models are saved as .keras files, got {path!r}")
    # from_config builds an uncompiled twin (clone_model would recompile it).
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    if logit_offsets is not None:
        logits = copy.get_layer("logits")
        kernel, bias = logits.get_weights()
        logits.set_weights([kernel, bias + np.asarray(logit_offsets, dtype=bias.dtype)])
    copy.save(path)
    return path


def resize_position_embedding(table, grid_from, grid_to):
    """Resize a learned position embedding to another token grid.

    Args:
        table: ``(1, 1 + h * w, d)`` embedding, the class token's row first.
        grid_from: ``(h, w)``, the grid ``table`` was learned on.
        grid_to: ``(H, W)``, the grid wanted.

    Returns:
        float32 ``(1, 1 + H * W, d)``: the class token's row kept, the grid
        rows resized with ``preprocess.resize_stack`` (linear interpolation
        when enlarging, anti-aliased when shrinking), as ViT does to fine-tune
        at another resolution.
    """
    table = np.asarray(table, dtype=np.float32)
    (h, w), (rows, cols) = grid_from, grid_to
    if table.ndim != 3 or table.shape[:2] != (1, 1 + h * w):
        raise ValueError(f"expected a (1, {1 + h * w}, d) embedding for a {h}x{w} grid, "
                         f"got shape {table.shape}")
    depth = table.shape[2]
    grid = table[0, 1:].reshape(h, w, depth).transpose(2, 0, 1)
    grid = resize_stack(grid, rows, cols).transpose(1, 2, 0).reshape(1, rows * cols, depth)
    return np.concatenate([table[:, :1], grid], axis=1)


def transfer_weights(source, target):
    """Copy ``source``'s weights into ``target``, layer by layer, by name.

    For continuing from a model trained at another input size: every layer
    has the same weight shapes at any size except ``"position_embedding"``,
    which ``resize_position_embedding`` fits to ``target``'s token grid.

    Args:
        source: a ``build_model`` model (e.g. a loaded demo model).
        target: a ``build_model`` model of the same architecture, any input size.

    Returns:
        ``target``, its weights replaced.

    Raises:
        ValueError: a layer of ``target`` is missing from ``source`` or its
            weights differ in shape (another stage, width or depth).
    """
    source_layers = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name not in source_layers:
            raise ValueError(f"model {source.name!r} has no layer {layer.name!r} to copy from")
        copied = source_layers[layer.name].get_weights()
        if layer.name == "position_embedding":
            copied = [resize_position_embedding(copied[0], token_grid_shape(source),
                                                token_grid_shape(target))]
        shapes = [np.shape(w) for w in weights], [np.shape(w) for w in copied]
        if shapes[0] != shapes[1]:
            raise ValueError(f"layer {layer.name!r}: weights of shapes {shapes[1]} do not fit "
                             f"{shapes[0]}; the models differ in architecture")
        layer.set_weights(copied)
    return target


def load_model(path, compile=False):
    """Load a CranioScan ``.keras`` model in safe mode (custom layers registered)."""
    return keras.saving.load_model(os.fspath(path), compile=compile, safe_mode=True)
