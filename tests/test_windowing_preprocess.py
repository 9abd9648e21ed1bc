"""Windows, resizing and model input: hand-computed values and invariants."""

import numpy as np
import pytest

from cranioscan.labels import CLASSES, RSNA_WEIGHTS, SUBTYPES, any_from_subtypes
from cranioscan.preprocess import (
    AIR_HU,
    pad_to_square,
    resize_matrix,
    resize_stack,
    restore_to_slice,
    to_model_input,
)
from cranioscan.windowing import PRESETS, apply_window


def test_labels_contract():
    assert CLASSES == ("any", "epidural", "intraparenchymal", "intraventricular",
                       "subarachnoid", "subdural")
    assert SUBTYPES == CLASSES[1:]
    assert RSNA_WEIGHTS == (2.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_any_from_subtypes():
    labels = any_from_subtypes([[0, 0, 0, 0, 0], [0, 0, 1, 0, 1]])
    np.testing.assert_array_equal(labels, [[0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 1]])
    with pytest.raises(ValueError, match="expected shape"):
        any_from_subtypes([[0, 1]])


def test_presets_contract():
    assert PRESETS["brain"] == (40, 80)
    assert PRESETS["subdural"] == (80, 200)
    assert PRESETS["bone"] == (600, 2800)
    assert {"stroke", "soft_tissue"} <= set(PRESETS)


def test_apply_window_hand_computed_and_unchanged_input():
    hu = np.array([-1000.0, 0.0, 20.0, 40.0, 60.0, 80.0, 3000.0])
    before = hu.copy()
    out = apply_window(hu, 40, 80)
    assert out.dtype == np.float32
    assert out == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_array_equal(hu, before)


@pytest.mark.parametrize("width", [0, -5, float("nan")])
def test_apply_window_rejects_bad_width(width):
    with pytest.raises(ValueError, match="Window width must be greater than 0"):
        apply_window(np.zeros(3), 40, width)


def test_resize_matrix_rows_sum_to_one_and_identity():
    m = resize_matrix(512, 224)
    assert m.shape == (224, 512)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(resize_matrix(7, 7), np.eye(7), atol=1e-7)


def test_resize_halving_averages_neighbours():
    # Downscaling by 2 with the widened triangle kernel: output pixel i sits
    # between inputs 2i and 2i+1 and weighs 2i-1..2i+2 as 1/8, 3/8, 3/8, 1/8.
    row = np.arange(8, dtype=np.float32)
    m = resize_matrix(8, 4)
    np.testing.assert_allclose(m[1, 1:5], [1 / 8, 3 / 8, 3 / 8, 1 / 8], atol=1e-6)
    assert (m @ row)[1] == pytest.approx(2.5)


def test_resize_stack_matches_dense_matrices():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 50, 37)).astype(np.float32)
    dense = resize_matrix(50, 20) @ images @ resize_matrix(37, 24).T
    np.testing.assert_allclose(resize_stack(images, 20, 24), dense, atol=1e-4)


def test_resize_constant_image_stays_constant():
    images = np.full((2, 512, 512), 35.0, dtype=np.float32)
    np.testing.assert_allclose(resize_stack(images, 224, 224), 35.0, atol=1e-3)


def test_to_model_input_channels_are_the_three_windows():
    hu = np.full((2, 64, 64), 60.0, dtype=np.float32)
    before = hu.copy()
    x = to_model_input(hu, size=32)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32
    # 60 HU: brain (40/80) 0.75, subdural (80/200) 0.4, bone (600/2800) ~0.3071
    assert x[0, 5, 5] == pytest.approx([0.75, 0.4, (60 - (600 - 1400)) / 2800], abs=1e-5)
    np.testing.assert_array_equal(hu, before)


def test_to_model_input_single_slice_and_bad_shape():
    assert to_model_input(np.zeros((40, 40)), size=16).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="expected"):
        to_model_input(np.zeros((2, 3, 4, 5)))


def test_non_square_slices_are_padded_with_air():
    hu = np.full((1, 20, 40), 40.0, dtype=np.float32)
    square = pad_to_square(hu)
    assert square.shape == (1, 40, 40)
    assert square[0, 0, 0] == AIR_HU and square[0, 20, 20] == 40.0
    x = to_model_input(hu, size=40)
    assert x[0, 0, 20, 0] == 0.0          # air row above the image
    assert x[0, 20, 20, 0] == pytest.approx(0.5)


def test_restore_to_slice_inverts_geometry():
    rows, cols = 30, 60
    truth = np.zeros((rows, cols), dtype=np.float32)
    truth[10:20, 40:50] = 1.0
    model_map = to_model_input(truth[None] * 1000 + 0, size=120)[0, ..., 2]
    restored = restore_to_slice(model_map, rows, cols)
    assert restored.shape == (rows, cols)
    peak = np.unravel_index(np.argmax(restored), restored.shape)
    assert 10 <= peak[0] < 20 and 40 <= peak[1] < 50


def test_apply_window_narrow_width_and_bad_level():
    # Found by the mutation score (docs/testing.md): a width under 1 HU is still a window.
    # Level 40, width 0.5: 39.75 HU maps to 0, 40 to 0.5, 40.25 to 1.
    assert apply_window([39.75, 40.0, 40.25], 40, 0.5) == pytest.approx([0.0, 0.5, 1.0])
    for level in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Window level must be a finite number of HU"):
            apply_window(np.zeros(3), level, 80)
