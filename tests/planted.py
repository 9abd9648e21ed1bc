"""A hand-made "blood detector" model whose maps must peak on the hemorrhage.

Tests that check a localisation verdict or score need a model whose answer is
known: the tiny random model of ``conftest.py`` may peak anywhere, so a check
there can only accept either verdict. This flat Keras model has weights set by
hand, no training:

- ``blood_px`` (1x1 convolution, relu) on the three model-input windows
  (brain, subdural, bone): channel 0 fires above about 48 HU (brain window
  over 0.6), channel 1 above about 95 HU (subdural window over 0.575): bone,
  and the partial-volume rim of the skull;
- ``conv4_block6_out`` (named like ResNet's stage-4 output, so
  ``explain.default_layer`` picks it): relu of a 5x5 mean of channel 0 minus
  a heavy 5x5 mean of channel 1: high inside a blob of 48-95 HU away from
  bone, zero on and next to the skull and on brain (30-40 HU);
- global max pooling -> 6 logits -> sigmoid.

On the synthetic phantoms (acute blood 50-90 HU, brain 25-40 HU, CSF 0-15 HU,
skull over 1000 HU) every Grad-CAM peak of a slice with blood lies in the
blood (``tests/evaluation/test_localisation_truth.py`` checks the fraction
is exactly 1.0), and the Attention page must say "peak inside the lesion".
"""

import numpy as np

SIZE = 64


def blood_model(size=SIZE):
    """The hand-made model (``keras.Model``); see the module docstring."""
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(2, 1, activation="relu", name="blood_px")(inputs)
    x = keras.layers.Conv2D(1, 5, padding="same", activation="relu", name="conv4_block6_out")(x)
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    x = keras.layers.Dense(6, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="planted_blood")
    pixel = np.zeros((1, 1, 3, 2), np.float32)
    pixel[0, 0, 0, 0] = 10.0   # brain window (0..80 HU): over 0.6 is over 48 HU
    pixel[0, 0, 1, 1] = 20.0   # subdural window (-20..180 HU): over 0.575 is over 95 HU
    model.get_layer("blood_px").set_weights([pixel, np.array([-6.0, -11.5], np.float32)])
    area = np.zeros((5, 5, 2, 1), np.float32)
    area[:, :, 0, 0] = 1.0 / 25
    area[:, :, 1, 0] = -20.0 / 25
    model.get_layer("conv4_block6_out").set_weights([area, np.zeros(1, np.float32)])
    dense = np.ones((1, 6), np.float32)
    model.get_layer("logits").set_weights([dense, np.full(6, -2.0, np.float32)])
    return model


def save_blood_model(path, size=SIZE):
    """Write the model as a ``.keras`` file (``Predictor.load`` reads it); return the path."""
    from cranioscan.net.model import save_for_inference

    save_for_inference(blood_model(size), path)
    return path
