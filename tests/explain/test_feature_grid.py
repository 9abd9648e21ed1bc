"""Where feature cells sit on the input: ``feature_grid.grid_geometry`` and
``preprocess.grid_to_input``, checked against the receptive fields the
networks actually have (the input gradient of one cell)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cranioscan.explain.grid import grid_geometry
from cranioscan.net.model import STAGE_OUTPUTS, build_model
from cranioscan.preprocess import grid_to_input, resize_stack


def receptive_centre(model, layer, cell, size):
    """Centroid ``(row, col)`` of |d cell / d input| on a mid-grey noisy input."""
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    x = tf.Variable(np.random.default_rng(0).uniform(0.3, 0.7, (1, size, size, 3))
                    .astype("float32"))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(sub(x, training=False)[0, cell[0], cell[1], :])
    weight = np.abs(tape.gradient(value, x).numpy()[0]).sum(axis=-1)
    rr, cc = np.mgrid[:size, :size]
    return (weight * rr).sum() / weight.sum(), (weight * cc).sum() / weight.sum()


@pytest.fixture(scope="module")
def resnet_hybrid():
    keras.utils.set_random_seed(3)
    return build_model(input_size=128, d_model=16, depth=1, num_heads=2, mlp_dim=32, stage=5)


@pytest.mark.parametrize("stage", [3, 4, 5])
def test_resnet_cells_are_centred_on_stride_times_index(resnet_hybrid, stage):
    layer, stride = STAGE_OUTPUTS[stage]
    assert grid_geometry(resnet_hybrid, layer) == ((0.0, stride), (0.0, stride))
    # The middle cell: its receptive field (hundreds of pixels) is cut by the
    # image edges about equally on both sides, which keeps the centroid honest.
    cell = (64 // stride, 64 // stride)
    row, col = receptive_centre(resnet_hybrid, layer, cell, 128)
    # The gradient agrees with the walk, and not with block centres, which
    # would sit (stride - 1) / 2 pixels further down and right.
    assert abs(row - stride * cell[0]) < 1.5 and abs(col - stride * cell[1]) < 1.5
    assert np.hypot(row - stride * cell[0] - (stride - 1) / 2,
                    col - stride * cell[1] - (stride - 1) / 2) > 2.5


def test_tokens_share_the_last_stage_grid(resnet_hybrid):
    assert grid_geometry(resnet_hybrid, "projection") == ((0.0, 32.0), (0.0, 32.0))


@pytest.mark.parametrize("padding, kernel, stride, expected_origin", [
    ("valid", 4, 4, 1.5),   # block centres
    ("valid", 3, 2, 1.0),
    ("same", 3, 2, 1.0),    # TensorFlow pads the odd pixel after: none before here
    ("same", 4, 2, 0.5),    # 64 -> 32 needs 2 pixels, 1 before
])
def test_plain_convolutions(padding, kernel, stride, expected_origin):
    inputs = keras.Input((64, 64, 3))
    # A flat kernel: the input gradient of a cell is its window, exactly.
    outputs = keras.layers.Conv2D(2, kernel, strides=stride, padding=padding,
                                  kernel_initializer="ones", name="features")(inputs)
    model = keras.Model(inputs, outputs)
    (origin, step), cols = grid_geometry(model, "features")
    assert (origin, step) == (expected_origin, stride) and cols == (origin, step)
    row, col = receptive_centre(model, "features", (5, 7), 64)
    assert row == pytest.approx(origin + stride * 5, abs=0.05)
    assert col == pytest.approx(origin + stride * 7, abs=0.05)


def test_zero_padding_shifts_the_origin():
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.ZeroPadding2D(((3, 3), (1, 1)))(inputs)
    outputs = keras.layers.Conv2D(2, 7, strides=2, name="features")(x)
    geometry = grid_geometry(keras.Model(inputs, outputs), "features")
    assert geometry == ((0.0, 2.0), (2.0, 2.0))


def test_unknown_resampling_falls_back_to_block_centres():
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Resizing(16, 16)(inputs)
    outputs = keras.layers.Conv2D(2, 1, name="features")(x)
    assert grid_geometry(keras.Model(inputs, outputs), "features") == ((1.5, 4.0), (1.5, 4.0))


def test_grid_to_input_places_cells_on_their_centres():
    grid = np.zeros((8, 8), np.float32)
    grid[3, 5] = 1.0
    placed = grid_to_input(grid, 128, ((0.0, 16.0), (0.0, 16.0)))
    assert placed.shape == (128, 128) and placed.dtype == np.float32
    assert np.unravel_index(np.argmax(placed), placed.shape) == (48, 80)
    assert placed[48, 80] == pytest.approx(1.0) and placed[56, 80] == pytest.approx(0.5)
    # Beyond the last centre a map holds the last cell's value.
    grid[:] = np.arange(8)[:, None]
    placed = grid_to_input(grid, 128, ((0.0, 16.0), (0.0, 16.0)))
    assert placed[112:, 0] == pytest.approx(7.0)


def test_grid_to_input_default_matches_a_plain_resize():
    grid = np.random.default_rng(1).random((7, 5)).astype(np.float32)
    np.testing.assert_allclose(grid_to_input(grid, 35), resize_stack(grid[None], 35, 35)[0],
                               atol=1e-5)


def test_grid_to_input_rejects_bad_grids():
    with pytest.raises(ValueError, match="2-D"):
        grid_to_input(np.zeros(8), 64)
