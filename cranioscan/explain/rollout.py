"""Attention rollout (Abnar & Zuidema 2020): where the class token looked.

``attention_rollout`` is pure numpy; the attention arrays come from
``predict_attentions(attention_model(model), images)``. ``attention_map``
and ``attention_inputs`` give the rollout of a slice or a model input as a
map, like the class activation maps of :mod:`.cam`.
"""

__all__ = [
    "HEAD_FUSIONS",
    "attention_rollout",
    "token_grid_shape",
    "attention_model",
    "predict_attentions",
    "attention_inputs",
    "attention_map",
]

import keras
import numpy as np

from ..net.layers import TransformerBlock
from ..net.model import token_grid_shape
from ..preprocess import restore_to_slice
from .engines import _EPS, TOKEN_LAYER, _cached, _check_input, _on_input, _predictor, _slice_input

#: How the heads of one layer are combined before rolling out.
HEAD_FUSIONS = ("mean", "max", "min")


def attention_rollout(attentions, grid_shape=None, head_fusion="mean", residual=True,
                      token_index=0, num_prefix_tokens=1, eps=1e-12):
    """Roll attention out through the layers and map one token's row to a grid.

    For each layer (first to last) the heads are fused (mean by default), the
    identity is added for the residual connection, rows are renormalised to
    sum to 1, and the layers are multiplied: ``R = A_L ... A_2 A_1``. The row
    of ``token_index`` (the class token) over the patch tokens is reshaped to
    the token grid and divided by its maximum.

    Args:
        attentions: sequence of ``depth`` arrays, each ``(..., heads, t, t)``
            with rows summing to 1 (softmaxed attention). Leading batch
            dimensions, if any, must agree across layers and are kept.
        grid_shape: ``(h, w)`` of the patch tokens, ``h * w = t -
            num_prefix_tokens``; inferred as a square when ``None``.
        head_fusion: ``"mean"`` (the paper), ``"max"`` or ``"min"`` over heads.
        residual: add the identity before renormalising (the paper); turn off
            for raw attention flow.
        token_index: the token whose attention is explained (0: class token).
        num_prefix_tokens: tokens before the patch tokens (1: the class token).
        eps: guard of the normalisations; an all-zero row gives a zero map,
            never NaN.

    Returns:
        float32 ``(..., h, w)`` in [0, 1] (maximum 1 unless the map is all 0).
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    layers = [np.asarray(a, dtype=np.float64) for a in attentions]
    if not layers:
        raise ValueError("attentions is empty: need at least one layer's attention")
    first = layers[0]
    if first.ndim < 3 or first.shape[-1] != first.shape[-2]:
        raise ValueError(f"each attention must be (..., heads, t, t), got shape {first.shape}")
    for i, a in enumerate(layers):
        if a.shape != first.shape:
            raise ValueError(f"attention {i} has shape {a.shape}, layer 0 has {first.shape}")
    t = first.shape[-1]
    n_patches = t - int(num_prefix_tokens)
    if grid_shape is None:
        side = int(round(np.sqrt(n_patches)))
        if side * side != n_patches:
            raise ValueError(
                f"{n_patches} patch tokens do not form a square grid; pass grid_shape")
        grid_shape = (side, side)
    grid_shape = tuple(int(s) for s in grid_shape)
    if grid_shape[0] * grid_shape[1] != n_patches or n_patches < 1:
        raise ValueError(f"grid_shape {grid_shape} does not hold {n_patches} patch tokens")
    if not 0 <= token_index < t:
        raise ValueError(f"token_index must be in [0, {t}), got {token_index}")

    identity = np.eye(t)
    joint = np.broadcast_to(identity, first.shape[:-3] + (t, t))
    for a in layers:
        fused = getattr(np, head_fusion)(a, axis=-3)
        if residual:
            fused = fused + identity
        fused = fused / np.maximum(fused.sum(axis=-1, keepdims=True), eps)
        joint = fused @ joint
    row = joint[..., token_index, int(num_prefix_tokens):]
    grid = row.reshape(row.shape[:-1] + grid_shape)
    peak = np.max(grid, axis=(-2, -1), keepdims=True)
    grid = grid / np.maximum(peak, eps)
    return np.clip(grid, 0.0, 1.0).astype(np.float32)


def _token_layer(model):
    """The 1x1 projection making the tokens (the first head's in an ensemble)."""
    names = {layer.name for layer in model.layers}
    return TOKEN_LAYER if TOKEN_LAYER in names else "m0_" + TOKEN_LAYER


def _encoder_blocks(model):
    """The slice Transformer's blocks, in order; of an ensemble's heads
    (``m<k>_`` prefixes), the first head's only: its blocks form one chain."""
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    if blocks and blocks[0].name.startswith("m0_"):
        blocks = [b for b in blocks if b.name.startswith("m0_")]
    return blocks


def attention_model(model):
    """Build a model giving the attention weights of every encoder block.

    The new model shares the layers (and weights) of ``model``; each
    Transformer block is called a second time on its own input with
    ``attention_only=True``. Build it once and reuse it: every call adds
    nodes to the shared layers.

    Returns:
        ``keras.Model`` whose ``predict(images)`` gives a list of ``depth``
        float32 arrays, each ``(n, heads, t, t)`` with ``t = h * w + 1``
        (class token first), rows summing to 1 -- the input of
        ``cranioscan.explain.rollout.attention_rollout``.
    """
    blocks = _encoder_blocks(model)
    if not blocks:
        raise ValueError(f"model {model.name!r} has no TransformerBlock layers")
    scores = [block(block.input, attention_only=True) for block in blocks]
    return keras.Model(model.inputs, scores, name=f"{model.name}_attention")


def predict_attentions(attn_model, images, batch_size=8):
    """Run an ``attention_model`` and always return a list, one array per block.

    Args:
        attn_model: the model from ``attention_model``.
        images: float32 ``(n, size, size, 3)`` in [0, 1].
        batch_size: images per forward pass.

    Returns:
        list of ``depth`` float32 arrays ``(n, heads, t, t)`` (Keras returns a
        bare array for a single output; this does not).
    """
    out = attn_model.predict(images, batch_size=batch_size, verbose=0)
    if isinstance(out, (list, tuple)):
        return [np.asarray(a) for a in out]
    return [np.asarray(out)]


def _attention_rollout_grid(predictor, x, head_fusion):
    attn_model = _cached(predictor, "attention", lambda: attention_model(predictor.model))
    grid_shape = _cached(predictor, "token_grid", lambda: token_grid_shape(predictor.model))
    attentions = predict_attentions(attn_model, x, batch_size=1)
    return attention_rollout(attentions, grid_shape=grid_shape, head_fusion=head_fusion)[0]


def attention_inputs(predictor, x, head_fusion="mean"):
    """Attention rollout from the class token for one model input.

    Returns:
        float32 ``(s, s)`` in [0, 1] at model resolution.
    """
    predictor = _predictor(predictor)
    x = _check_input(predictor, x)
    grid = _attention_rollout_grid(predictor, x, head_fusion)
    return _max_normalize(_on_input(predictor, grid, _token_layer(predictor.model)))


def _max_normalize(m):
    m = np.clip(np.nan_to_num(np.asarray(m, dtype=np.float64)), 0.0, None)
    top = float(m.max()) if m.size else 0.0
    if top <= _EPS:
        return np.zeros(m.shape, dtype=np.float32)
    return np.clip(m / top, 0.0, 1.0).astype(np.float32)


def attention_map(predictor, series, slice_index, head_fusion="mean"):
    """Attention rollout from the class token, aligned with the slice.

    The attention model is built once per predictor and cached. The map is
    the rollout of ``cranioscan.explain.rollout.attention_rollout`` (residual
    identity added, heads fused by ``head_fusion``), divided by its maximum.

    Returns:
        float32 ``(rows, cols)`` in [0, 1].

    Raises:
        ValueError: the model has no Transformer blocks.
    """
    predictor = _predictor(predictor)
    x, rows, cols, box = _slice_input(predictor, series, slice_index)
    grid = _attention_rollout_grid(predictor, x, head_fusion)
    return _max_normalize(restore_to_slice(_on_input(predictor, grid, _token_layer(predictor.model)), rows, cols,
                                           box))
