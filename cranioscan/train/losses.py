"""What training optimises: the RSNA class-weighted loss, per-class AUC, compiling.

Kept out of :mod:`cranioscan.net` (the architecture) because only training
needs them; models are saved for inference without them.
"""

__all__ = ["weighted_bce", "WeightedBinaryCrossentropy", "ClassAUC", "compile_model"]

import keras
from keras import ops

from ..labels import CLASSES, RSNA_WEIGHTS


@keras.saving.register_keras_serializable(package="cranioscan", name="weighted_bce")
def weighted_bce(y_true, y_pred, class_weights=RSNA_WEIGHTS, from_logits=False, epsilon=1e-7):
    """Per-sample class-weighted binary cross-entropy (the RSNA 2019 loss).

    ``loss_i = sum_c w_c * bce(y_ic, p_ic) / sum_c w_c``; its mean over samples
    is the RSNA weighted multi-label log loss when ``w = (2, 1, 1, 1, 1, 1)``.

    Args:
        y_true: ``(b, c)`` 0/1 labels.
        y_pred: ``(b, c)`` probabilities (or logits with ``from_logits``).
        class_weights: ``c`` weights, ``RSNA_WEIGHTS`` by default.
        from_logits: ``y_pred`` holds logits (computed stably).
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.

    Returns:
        ``(b,)`` losses.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    weights = ops.convert_to_tensor(class_weights, dtype=y_pred.dtype)
    if from_logits:
        per_class = (ops.maximum(y_pred, 0.0) - y_pred * y_true
                     + ops.log1p(ops.exp(-ops.abs(y_pred))))
    else:
        p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        per_class = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.sum(per_class * weights, axis=-1) / ops.sum(weights)


@keras.saving.register_keras_serializable(package="cranioscan")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """``weighted_bce`` as a ``keras.losses.Loss`` (mean over the batch)."""

    def __init__(self, class_weights=RSNA_WEIGHTS, from_logits=False, epsilon=1e-7,
                 name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = tuple(float(w) for w in class_weights)
        self.from_logits = bool(from_logits)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        return weighted_bce(y_true, y_pred, self.class_weights, self.from_logits, self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({
            "class_weights": list(self.class_weights),
            "from_logits": self.from_logits,
            "epsilon": self.epsilon,
        })
        return config


@keras.saving.register_keras_serializable(package="cranioscan")
class ClassAUC(keras.metrics.AUC):
    """ROC AUC of one output column (``class_index``) of a multi-label model."""

    def __init__(self, class_index, name=None, **kwargs):
        kwargs.pop("multi_label", None)
        kwargs.pop("num_labels", None)
        super().__init__(name=name or f"auc_{class_index}", **kwargs)
        self.class_index = int(class_index)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.take(ops.convert_to_tensor(y_true), self.class_index, axis=-1)
        y_pred = ops.take(ops.convert_to_tensor(y_pred), self.class_index, axis=-1)
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"class_index": self.class_index})
        return config


def compile_model(model, learning_rate=1e-4, weight_decay=1e-4, class_weights=RSNA_WEIGHTS,
                  decay_steps=None, warmup_steps=0, clipnorm=1.0, per_class_auc=False,
                  class_names=CLASSES, jit_compile="auto"):
    """Compile ``model`` with AdamW and the class-weighted BCE; return it.

    Args:
        model: a model from ``build_model``.
        learning_rate: AdamW (peak) learning rate, a float or a schedule.
        weight_decay: AdamW decoupled weight decay; biases, normalisation
            scales and offsets, the class token and the position embedding
            are not decayed.
        class_weights: weights of ``WeightedBinaryCrossentropy``
            (``RSNA_WEIGHTS``: 2 for ``any``, 1 for each subtype).
        decay_steps: when given, the learning rate follows a cosine decay to 0
            over this many optimizer steps (after the warmup).
        warmup_steps: linear warmup from 0 to ``learning_rate`` first (only
            with ``decay_steps``).
        clipnorm: gradient norm clipping (``None`` for none).
        per_class_auc: also track one ROC AUC per class, named
            ``auc_<class>``, besides the mean multi-label ``auc``.
        class_names: names used for the per-class AUC metrics.
        jit_compile: passed to ``model.compile``.
    """
    num_classes = int(model.outputs[0].shape[-1])
    if len(class_weights) != num_classes:
        raise ValueError(
            f"class_weights has {len(class_weights)} entries for {num_classes} outputs")
    metrics = [keras.metrics.AUC(multi_label=True, num_labels=num_classes, name="auc")]
    if per_class_auc:
        if len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} entries for {num_classes} outputs")
        for c, class_name in enumerate(class_names):
            metrics.append(ClassAUC(c, name=f"auc_{class_name}"))
    if decay_steps:
        if warmup_steps:
            learning_rate = keras.optimizers.schedules.CosineDecay(
                0.0, int(decay_steps), warmup_target=float(learning_rate),
                warmup_steps=int(warmup_steps))
        else:
            learning_rate = keras.optimizers.schedules.CosineDecay(
                float(learning_rate), int(decay_steps))
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                                       clipnorm=clipnorm)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "token", "embedding"])
    model.compile(optimizer=optimizer, loss=WeightedBinaryCrossentropy(class_weights),
                  metrics=metrics, jit_compile=jit_compile)
    return model
