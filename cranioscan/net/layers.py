"""Custom Keras layers of the CranioScan R50 + Transformer hybrid.

Every layer here is written with ``keras.ops`` only, registered as
serializable under the ``cranioscan`` package (so a saved ``.keras`` file
reloads with ``keras.saving.load_model`` in safe mode once this module is
imported) and returns its constructor arguments from ``get_config``.

Shapes use ``b`` for batch, ``t`` for tokens and ``d`` for the model width.
"""

__all__ = [
    "INPUT_MODES",
    "InputScaling",
    "ClassToken",
    "PositionEmbedding",
    "TransformerBlock",
    "TakeToken",
]

import keras
from keras import ops

#: Input normalisations ``InputScaling`` knows (see its docstring).
INPUT_MODES = ("symmetric", "caffe")

# Channel means (B, G, R order) of ImageNet in 0..255 used by the caffe-style
# ``keras.applications.resnet50.preprocess_input``.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

_PACKAGE = "cranioscan"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InputScaling(keras.layers.Layer):
    """Map the three [0, 1] CT windows onto the range the ResNet expects.

    Modes:
        ``"symmetric"``: ``2 x - 1``, i.e. [0, 1] -> [-1, 1] per channel. The
            default for a network trained from scratch (``weights=None``).
        ``"caffe"``: the preprocessing the ImageNet ResNet50 weights were
            trained with (``keras.applications.resnet50.preprocess_input``):
            scale to 0..255, reverse the channel order (RGB -> BGR) and
            subtract the ImageNet BGR means. Use it with ``weights="imagenet"``
            or a file of those weights.

    Input ``(b, h, w, 3)`` float in [0, 1]; output the same shape, float32.
    """

    def __init__(self, mode="symmetric", **kwargs):
        super().__init__(**kwargs)
        if mode not in INPUT_MODES:
            raise ValueError(f"InputScaling mode must be one of {INPUT_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "symmetric":
            return x * 2.0 - 1.0
        x = ops.flip(x * 255.0, axis=-1)
        mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        return x - ops.reshape(mean, (1, 1, 1, 3))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClassToken(keras.layers.Layer):
    """Prepend a learned class token: ``(b, t, d) -> (b, t + 1, d)``.

    The token is initialised to zeros, as in the Vision Transformer.
    """

    def build(self, input_shape):
        self.token = self.add_weight(
            name="token", shape=(1, 1, int(input_shape[-1])), initializer="zeros"
        )

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.cast(self.token, inputs.dtype)
        token = ops.broadcast_to(token, (batch, 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PositionEmbedding(keras.layers.Layer):
    """Add a learned position embedding: ``(b, t, d) -> (b, t, d)``.

    ``t`` must be known when the layer is built; the embedding is drawn from a
    truncated normal with standard deviation ``stddev`` (0.02 in ViT).
    """

    def __init__(self, stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError("PositionEmbedding needs a known number of tokens, got None")
        self.embedding = self.add_weight(
            name="embedding",
            shape=(1, int(input_shape[1]), int(input_shape[2])),
            initializer=keras.initializers.TruncatedNormal(stddev=self.stddev),
        )

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TransformerBlock(keras.layers.Layer):
    """One pre-norm Transformer encoder block: ``(b, t, d) -> (b, t, d)``.

    ``x = x + Dropout(MHA(LN(x)))``; ``x = x + Dropout(MLP(LN(x)))`` where the
    MLP is ``Dense(mlp_dim, gelu) -> Dropout -> Dense(d)``.

    ``call(x, attention_only=True)`` returns, instead of the tokens, the
    softmaxed attention weights of shape ``(b, num_heads, t, t)`` (rows sum
    to 1; attention dropout is not applied to them). The model is built
    without them (so the backend may use fused attention);
    ``cranioscan.explain.rollout.attention_model`` calls the blocks a second time with
    ``attention_only=True`` (one output per call, as Keras functional graphs
    require of a layer called several times).
    """

    def __init__(self, num_heads=8, mlp_dim=512, dropout=0.1, attention_dropout=0.0,
                 epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.epsilon = float(epsilon)
        self.norm_attention = keras.layers.LayerNormalization(epsilon=self.epsilon, name="norm_attention")
        self.norm_mlp = keras.layers.LayerNormalization(epsilon=self.epsilon, name="norm_mlp")
        self.drop_attention = keras.layers.Dropout(self.dropout, name="drop_attention")
        self.mlp_hidden = keras.layers.Dense(self.mlp_dim, activation="gelu", name="mlp_hidden")
        self.drop_hidden = keras.layers.Dropout(self.dropout, name="drop_hidden")
        self.drop_mlp = keras.layers.Dropout(self.dropout, name="drop_mlp")
        self.attention = None
        self.mlp_out = None

    def build(self, input_shape):
        d_model = int(input_shape[-1])
        if d_model % self.num_heads:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by num_heads ({self.num_heads})"
            )
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=d_model // self.num_heads,
            dropout=self.attention_dropout,
            name="attention",
        )
        self.mlp_out = keras.layers.Dense(d_model, name="mlp_out")
        hidden_shape = tuple(input_shape[:-1]) + (self.mlp_dim,)
        self.norm_attention.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm_mlp.build(input_shape)
        self.mlp_hidden.build(input_shape)
        self.mlp_out.build(hidden_shape)

    def call(self, inputs, training=None, attention_only=False):
        y = self.norm_attention(inputs)
        if attention_only:
            _, scores = self.attention(y, y, return_attention_scores=True, training=False)
            return scores
        y = self.attention(y, y, training=training)
        x = inputs + self.drop_attention(y, training=training)
        y = self.mlp_hidden(self.norm_mlp(x))
        y = self.mlp_out(self.drop_hidden(y, training=training))
        return x + self.drop_mlp(y, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "epsilon": self.epsilon,
        })
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TakeToken(keras.layers.Layer):
    """Select one token: ``(b, t, d) -> (b, d)`` (the class token at index 0)."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        return ops.take(inputs, self.index, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"index": self.index})
        return config
