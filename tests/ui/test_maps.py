"""Readable maps: the opacity ramp, the colour bar, peak markers and the grid of maps."""

import numpy as np
import pytest

from cranioscan.visualize import overlay, slice_image


def test_alpha_ramp_is_transparent_below_the_threshold_and_full_at_the_peak():
    heat = np.array([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]], np.float32)
    before = heat.copy()
    a = overlay.alpha_ramp(heat, threshold=0.4, alpha=0.6)
    assert a.dtype == np.float32 and a.shape == heat.shape
    assert a[0, 0] == 0 and a[0, 1] == 0  # the low end does not tint
    assert 0 < a[0, 2] < 0.01  # a sliver at the threshold itself
    assert a[1, 0] == pytest.approx(0.6 * (0.6 - 0.4) / 0.6)
    assert a[1, 1] == pytest.approx(0.6 * (0.8 - 0.4) / 0.6)
    assert a[1, 2] == pytest.approx(0.6)
    assert np.all(np.diff(a.ravel()) >= 0)  # rises with the map
    np.testing.assert_array_equal(heat, before)
    np.testing.assert_array_equal(overlay.alpha_ramp(heat, 1.0, 0.5), [[0, 0, 0], [0, 0, 0.5]])
    nan = overlay.alpha_ramp(np.array([[np.nan, 2.0]]), 0.5, 1.0)
    np.testing.assert_array_equal(nan, [[0.0, 1.0]])  # NaN counts as 0, values clipped
    with pytest.raises(ValueError, match="threshold"):
        overlay.alpha_ramp(heat, threshold=1.5)
    with pytest.raises(ValueError, match="alpha"):
        overlay.alpha_ramp(heat, alpha=-0.1)


def test_overlay_leaves_the_low_end_grey_and_tints_the_peak():
    gray = np.full((2, 3), 0.5, np.float32)
    heat = np.array([[0.0, 0.2, 0.3], [0.6, 0.9, 1.0]], np.float32)
    out = overlay.overlay_heatmap(gray, heat)  # the defaults the viewer uses
    grey = overlay.to_rgb(gray)
    # Everything below DEFAULT_THRESHOLD is the plain slice (skull and brain stay grey).
    low = heat < overlay.DEFAULT_THRESHOLD
    np.testing.assert_array_equal(out[low], grey[low])
    # The peak is blended at DEFAULT_OPACITY; the tint grows with the map.
    top = overlay.colorize(heat, "inferno")[1, 2]
    a = overlay.DEFAULT_OPACITY
    np.testing.assert_array_equal(out[1, 2], np.rint(((1 - a) * 0.5 + a * top) * 255))
    tint = np.abs(out.astype(int) - grey.astype(int)).sum(axis=-1)
    assert tint[1, 0] < tint[1, 1]
    assert 0.3 <= overlay.DEFAULT_OPACITY <= 0.8  # readable: colour visible, tissue too


def test_colorbar_strip_runs_low_to_high_with_the_undrawn_part_grey():
    bar = overlay.colorbar_strip(100, 5, "viridis", threshold=0.3)
    assert bar.shape == (5, 100, 3) and bar.dtype == np.uint8
    assert np.all(bar[:, :29] == bar[0, 0]) and tuple(bar[0, 0]) == (64, 64, 64)
    lut = overlay.colorize(np.array([[0.995]]), "viridis")[0, 0]
    np.testing.assert_array_equal(bar[0, -1], np.rint(lut * 255))
    assert np.all(bar[0] == bar[-1])
    assert len({tuple(c) for c in bar[0, 30:]}) > 50  # a gradient, not one colour
    with pytest.raises(ValueError, match="size"):
        overlay.colorbar_strip(0, 5)


def test_add_colorbar_puts_labelled_strip_below_the_image():
    rgb = np.full((256, 256, 3), 90, np.uint8)
    out = slice_image.add_colorbar(rgb, threshold=0.35)
    assert out.shape[1:] == (256, 3) and 256 + 20 <= out.shape[0] <= 256 + 80
    np.testing.assert_array_equal(out[:256], rgb)
    strip = out[256:]
    # Text ("low", the meaning, "high") is light on the dark strip, in its top half.
    text_rows = strip[: strip.shape[0] // 2]
    assert (text_rows.max(axis=-1) > 200).sum() > 40
    assert (text_rows[:, :40].max(axis=-1) > 200).any() and (text_rows[:, -40:].max(axis=-1) > 200).any()
    # The bar's right end is the colormap's top colour, its left end the undrawn grey.
    bar_row = strip[np.nonzero(strip[:, 10, 0] == 64)[0][0]]
    assert tuple(bar_row[10]) == (64, 64, 64)
    assert bar_row[-10].astype(int).sum() > 500  # inferno's pale top


def test_peak_marker_is_a_ring_sized_with_the_image_and_the_peak_stays_visible():
    for side in (128, 512):
        rgb = np.full((side, side, 3), 100, np.uint8)
        out = slice_image.render_slice(np.full((side, side), 40.0), 40, 80, marker=(side // 2, side // 2))
        radius, line = slice_image.marker_size(side, side)
        assert radius >= side / 20 and line >= 2
        c = side // 2
        assert tuple(out[c, c]) == tuple(slice_image.render_slice(np.full((side, side), 40.0), 40, 80)[c, c])
        assert out[c - radius, c].tolist() == [255, 255, 255]  # on the ring
        changed = np.any(out != rgb, axis=-1) & np.any(out != out[0, 0], axis=-1)
        rows, cols = np.nonzero(changed)
        span = rows.max() - rows.min()
        assert 2 * radius <= span <= 4 * radius
    assert slice_image.marker_size(64, 64) == (6, 2)


def test_grid_columns_fit_the_images_shown():
    assert overlay.grid_columns(2) == 2  # one method across two stages: two wide images
    assert overlay.grid_columns(4) == 4
    assert overlay.grid_columns(7) == 4
    assert overlay.grid_columns(0) == 0
    with pytest.raises(ValueError, match="max_columns"):
        overlay.grid_columns(3, 0)


def test_render_slice_with_colorbar_only_when_a_map_is_drawn():
    hu = np.zeros((64, 64), np.float32)
    heat = np.zeros((64, 64), np.float32)
    heat[30:34, 30:34] = 1.0
    assert slice_image.render_slice(hu, 40, 80, colorbar=True).shape == (64, 64, 3)
    with_bar = slice_image.render_slice(hu, 40, 80, heatmap=heat, colorbar=True)
    assert with_bar.shape[0] > 64 and with_bar.shape[1] == 64
