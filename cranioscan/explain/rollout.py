"""Attention rollout (Abnar & Zuidema 2020): where the class token looked.

Pure numpy; the attention arrays come from
``cranioscan.model.attention_model(model).predict(images)``.
"""

__all__ = ["HEAD_FUSIONS", "attention_rollout"]

import numpy as np

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
