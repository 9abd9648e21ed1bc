"""Model input framing: head_box, crop_to_box, padding and windowing of to_model_input.

Written for the mutation score (issue 29, item 5; docs/testing.md, "Mutation
score"): each expected frame is worked out by hand from the rule in
``head_box``'s docstring -- the head's bounding box ``[r0, r1) x [c0, c1)``,
``side = max(round(extent * (1 + 2 * margin)), 8)`` with ``extent`` its
larger side, ``top = round((r0 + r1) / 2 - side / 2)`` and the same for
``left`` -- on shapes chosen so that no rounding falls on a half.
"""

import numpy as np
import pytest

from cranioscan.preprocess import (
    AIR_HU,
    crop_to_box,
    head_box,
    pad_to_square,
    resize_stack,
    to_model_input,
)

ROWS, COLS = 128, 128  # radius of the opening: max(2, round(128 / 100)) = 2, a 5x5 square


def head(n=1):
    """Air with a 50 x 80 block of brain (40 HU): rows 30-79, columns 20-99."""
    hu = np.full((n, ROWS, COLS), -1000.0, np.float32)
    hu[:, 30:80, 20:100] = 40.0
    return hu


# The head alone: extent 80, side round(89.6) = 90, top 55 - 45 = 10, left 60 - 45 = 15.
HEAD_ONLY = (10, 15, 90)


def test_head_box_of_a_block_by_hand():
    assert head_box(head()) == HEAD_ONLY
    assert head_box(head()[0]) == HEAD_ONLY  # one 2-D slice
    # margin 0: the bounding box itself, squared: side 80, top 55 - 40, left 60 - 40
    assert head_box(head(), margin=0.0) == (15, 20, 80)
    # margin 0.25: side 80 * 1.5 = 120, top 55 - 60, left 60 - 60
    assert head_box(head(), margin=0.25) == (-5, 0, 120)


def test_head_box_tall_head_uses_the_rows():
    hu = np.full((1, ROWS, COLS), -1000.0, np.float32)
    hu[0, 10:110, 40:90] = 30.0  # 100 rows, 50 columns: extent 100, side 112
    # top round(60 - 56) = 4, left round(65 - 56) = 9
    assert head_box(hu) == (4, 9, 112)


def test_head_box_threshold_is_strict_and_settable():
    hu = head()
    hu[0, 80:90, 20:100] = -300.0  # exactly at the threshold: not tissue
    assert head_box(hu) == HEAD_ONLY
    hu[0, 80:90, 20:100] = -299.0  # above it: the head reaches row 89
    # rows 30-89: extent max(60, 80) = 80, side 90, top 60 - 45 = 15
    assert head_box(hu) == (15, 15, 90)
    # nothing above 100 HU: the whole slice, as when nothing is found
    assert head_box(head(), threshold=100.0) == (0, 0, 128)


def test_head_box_needs_a_tenth_of_the_slices():
    hu = head(20)
    hu[:1, 80:90, 20:100] = 40.0  # tissue on 1 of 20 slices: below ceil(0.1 * 20) = 2
    assert head_box(hu) == HEAD_ONLY
    hu[:2, 80:90, 20:100] = 40.0  # on 2 of 20: part of the head
    assert head_box(hu) == (15, 15, 90)
    # three slices: a pixel of tissue on one of them is enough (at least 1 slice)
    hu = head(3)
    hu[:1, 80:90, 20:100] = 40.0
    assert head_box(hu) == (15, 15, 90)


def test_head_box_opens_away_thin_structures_and_keeps_the_largest_blob():
    hu = head()
    hu[0, 50:52, 100:120] = 200.0  # a 2-pixel arc touching the head: opened away
    hu[0, 2:14, 2:14] = 200.0      # a separate 12 x 12 blob: survives, but is not the largest
    hu[0, 120:122, :] = 200.0      # the table's edge, 2 pixels thick
    assert head_box(hu) == HEAD_ONLY
    thick = head()
    thick[0, 50:56, 100:120] = 40.0  # 6 pixels thick: more than the 5x5 opening, kept
    # columns 20-119: extent 100, side 112, top round(55 - 56) = -1, left round(70 - 56) = 14
    assert head_box(thick) == (-1, 14, 112)


def test_head_box_opening_is_5_pixels_wide_at_128_and_9_at_350():
    four = head()
    four[0, 50:54, 100:120] = 40.0  # 4 pixels thick: narrower than the 5x5 square, opened away
    assert head_box(four) == HEAD_ONLY
    five = head()
    five[0, 50:55, 100:120] = 40.0  # 5 pixels: the square fits, kept (as the 6-pixel bar above)
    assert head_box(five) == (-1, 14, 112)
    # 350 x 350: radius round(3.5) = 4, a 9x9 square; an 8-pixel bar is opened away
    big = np.full((1, 350, 350), -1000.0, np.float32)
    big[0, 100:200, 100:250] = 40.0  # extent 150, side 168, top 150 - 84, left 175 - 84
    big[0, 140:148, 250:300] = 40.0
    assert head_box(big) == (66, 91, 168)


def test_head_box_of_only_thin_structures_frames_them():
    hu = np.full((1, 100, 100), -1000.0, np.float32)
    hu[0, 50:52, 10:90] = 100.0  # all opened away: the mask before opening is the head
    # rows 50-51, columns 10-89: extent 80, side 90, top round(51 - 45), left 50 - 45
    assert head_box(hu) == (6, 5, 90)


def test_head_box_never_smaller_than_8():
    hu = np.full((1, 20, 20), -1000.0, np.float32)
    hu[0, 6:12, 6:12] = 40.0  # 6 x 6: side round(6.72) = 7, raised to 8; top 9 - 4 = 5
    assert head_box(hu) == (5, 5, 8)


def test_head_box_of_air_is_the_padded_slice():
    air = np.full((2, 100, 128), -1000.0, np.float32)
    # side 128, the 100 rows centred: top (128 - 100) // 2 = 14, returned negated
    assert head_box(air) == (-14, 0, 128)
    assert head_box(np.full((2, 128, 100), -1000.0, np.float32)) == (0, -14, 128)


def test_crop_to_box_by_hand():
    hu = np.arange(20, dtype=np.float32).reshape(1, 4, 5)
    out = crop_to_box(hu, (-1, 2, 4))
    a = AIR_HU
    expected = [[a, a, a, a],
                [2, 3, 4, a],
                [7, 8, 9, a],
                [12, 13, 14, a]]
    assert out.dtype == np.float32 and out.shape == (1, 4, 4)
    np.testing.assert_array_equal(out[0], expected)
    inside = crop_to_box(hu, (1, 1, 2))
    np.testing.assert_array_equal(inside[0], [[6, 7], [11, 12]])
    # below-right and outside, another fill
    np.testing.assert_array_equal(crop_to_box(hu, (3, 4, 2), fill=-5.0)[0], [[19, -5], [-5, -5]])
    np.testing.assert_array_equal(crop_to_box(hu, (10, 10, 3)), np.full((1, 3, 3), AIR_HU))
    np.testing.assert_array_equal(crop_to_box(hu, (-3, -3, 3)), np.full((1, 3, 3), AIR_HU))
    # rows overlap, columns do not (the frame starts right of the slice): all air
    np.testing.assert_array_equal(crop_to_box(hu, (1, 6, 3)), np.full((1, 3, 3), AIR_HU))
    np.testing.assert_array_equal(crop_to_box(hu, (6, 1, 3)), np.full((1, 3, 3), AIR_HU))
    # the crop is a new array
    out[0, 1, 0] = 99.0
    assert hu[0, 0, 2] == 2.0


def test_pad_to_square_tall_and_wide_by_hand():
    tall = np.ones((1, 4, 2), np.float32)
    out = pad_to_square(tall, fill=0.0)
    np.testing.assert_array_equal(out[0], [[0, 1, 1, 0]] * 4)
    wide = np.ones((1, 2, 8))  # float64 in, float32 out
    out = pad_to_square(wide)
    assert out.shape == (1, 8, 8) and out.dtype == np.float32
    # (8 - 2) // 2 = 3 air rows above, 3 below
    assert out[0, :, 0].tolist() == [AIR_HU] * 3 + [1, 1] + [AIR_HU] * 3
    wide = np.ones((1, 3, 6), np.float32)
    # (6 - 3) // 2 = 1 air row above, 2 below
    assert pad_to_square(wide)[0, :, 0].tolist() == [AIR_HU, 1, 1, 1, AIR_HU, AIR_HU]
    square = np.ones((1, 3, 3))
    copy = pad_to_square(square)
    assert copy.dtype == np.float32
    copy[0, 0, 0] = 5.0
    assert square[0, 0, 0] == 1.0


def brain(hu):
    """The brain window (40/80) by hand."""
    return np.clip((np.asarray(hu, np.float64) - 0.0) / 80.0, 0.0, 1.0)


def test_to_model_input_with_a_box_crops_the_frame():
    hu = np.full((1, 6, 6), 100.0, np.float32)
    hu[0, 1:5, 1:5] = [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90, 100, 110], [5, 15, 25, 35]]
    # a 4-pixel frame at (1, 1) read at size 4: no resampling, the window only
    x = to_model_input(hu, size=4, box=(1, 1, 4))
    assert x.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(x[0, ..., 0], brain(hu[0, 1:5, 1:5]), atol=1e-6)
    # subdural (80/200): (hu + 20) / 200 at 110 HU
    assert x[0, 2, 3, 1] == pytest.approx((110 + 20) / 200)
    # bone (600/2800): (hu + 800) / 2800 at 50 HU
    assert x[0, 1, 1, 2] == pytest.approx((50 + 800) / 2800)
    # a frame half outside the slice: air (below every window) there
    x = to_model_input(hu, size=4, box=(-2, -2, 4))
    assert x[0, 0, 0].tolist() == [0.0, 0.0, 0.0]
    assert x[0, 1, 3].tolist() == [0.0, 0.0, 0.0]
    assert x[0, 2, 2, 0] == pytest.approx(1.0)  # hu[0, 0] = 100 HU
    assert x[0, 3, 3, 0] == pytest.approx(0.0)  # hu[1, 1] = 0 HU: brain window's bottom


def test_to_model_input_accepts_one_row_and_rejects_empty_slices():
    assert to_model_input(np.zeros((1, 1, 4)), size=4).shape == (1, 4, 4, 3)
    assert to_model_input(np.zeros((1, 4, 1)), size=4).shape == (1, 4, 4, 3)
    for shape in [(1, 0, 4), (1, 4, 0), (4,)]:
        with pytest.raises(ValueError, match="expected"):
            to_model_input(np.zeros(shape))


def test_to_model_input_default_size_is_224():
    assert to_model_input(np.zeros((1, 8, 8))).shape == (1, 224, 224, 3)


def test_to_model_input_square_slice_is_only_resized_and_windowed():
    hu = np.array([[[0.0, 40.0], [80.0, 120.0]]], np.float32)
    x = to_model_input(hu, size=2)
    np.testing.assert_allclose(x[0, ..., 0], [[0.0, 0.5], [1.0, 1.0]], atol=1e-6)


def test_resize_stack_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"expected \(n, rows, cols\)"):
        resize_stack(np.zeros((4, 4)), 2, 2)
    out = resize_stack(np.arange(4, dtype=np.float64).reshape(1, 2, 2), 2, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [[0, 1], [2, 3]])
