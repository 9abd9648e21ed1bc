"""Tests of ``cranioscan.explain`` (maps) and ``cranioscan.visualize.overlay`` (drawing).

The planted-lesion tests use a hand-made flat model whose only useful
feature detector (named like ResNet's stage-4 output) fires on bright
pixels of the brain window, and slices with a 75 HU blob in 30 HU "brain":
every method must put its peak on the blob, in slice coordinates, for
slices that are wider or taller than high (so the pad-to-square is undone).
"""

import keras
import numpy as np
import pytest

from cranioscan import explain
from cranioscan.explain import engines
from cranioscan.visualize import overlay
from cranioscan.dicom import Series
from cranioscan.inference import Predictor
from cranioscan.net.model import build_model

SIZE = 64  # model input of the hand-made models


# ------------------------------------------------------------------ fixtures
def planted_model(kernel_scale=1.0):
    """Input -> Conv2D 'conv4_block6_out' (4x4, stride 4, relu) -> max -> logits -> sigmoid.

    Channel 0 = relu(10 * mean(brain window over 4x4) - 6): fires where the
    brain-window value exceeds ~0.6 (HU > ~48), i.e. on the blob only.
    Channel 1 = mean(bone window): a distractor covering the whole head,
    with zero weight in the logits.
    """
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(2, 4, strides=4, activation="relu", name="conv4_block6_out")(inputs)
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    x = keras.layers.Dense(6, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="planted")
    kernel = np.zeros((4, 4, 3, 2), np.float32)
    kernel[:, :, 0, 0] = 10.0 / 16
    kernel[:, :, 2, 1] = 1.0 / 16
    model.get_layer("conv4_block6_out").set_weights(
        [kernel * kernel_scale, np.array([-6.0, 0.0], np.float32) * kernel_scale])
    dense = np.zeros((2, 6), np.float32)
    dense[0] = 1.0
    model.get_layer("logits").set_weights([dense, np.full(6, -2.0, np.float32)])
    return model


def head_series(shape, blobs, spacing=(0.5, 0.5)):
    """Slices of air with an elliptical 30 HU 'brain' and one 75 HU disc per slice.

    ``blobs``: ``(row, col, radius)`` per slice (None: no blob). Returns the
    Series and the blob masks ``(n, rows, cols)``.
    """
    rows, cols = shape
    rr, cc = np.mgrid[:rows, :cols]
    brain = ((rr - rows / 2) / (rows * 0.45)) ** 2 + ((cc - cols / 2) / (cols * 0.45)) ** 2 <= 1
    hu = np.full((len(blobs), rows, cols), -1000.0, np.float32)
    masks = np.zeros(hu.shape, bool)
    for k, blob in enumerate(blobs):
        hu[k][brain] = 30.0
        if blob is not None:
            r, c, radius = blob
            masks[k] = (rr - r) ** 2 + (cc - c) ** 2 <= radius ** 2
            hu[k][masks[k]] = 75.0
    series = Series(hu=hu, positions=np.arange(len(blobs), dtype=float) * 5.0, spacing=spacing)
    return series, masks


@pytest.fixture(scope="module")
def planted():
    return Predictor(planted_model())


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(1)
    return Predictor(build_model(input_size=64, d_model=32, depth=1, num_heads=2, mlp_dim=64))


# ------------------------------------------------------------------ planted lesion
WIDE = ((64, 128), [None, (16, 100, 8), (48, 30, 8)])   # padded by 32 rows above and below
TALL = ((128, 64), [(100, 16, 8), None, (30, 44, 8)])   # padded by 32 columns left and right


@pytest.mark.parametrize("shape, blobs", [WIDE, TALL], ids=["wide", "tall"])
@pytest.mark.parametrize("method, engine", [
    ("gradcam", "compiled"), ("gradcam", "tf-keras-vis"),
    ("gradcam++", "compiled"), ("gradcam++", "tf-keras-vis"), ("scorecam", "auto")])
def test_peak_on_planted_lesion(planted, shape, blobs, method, engine):
    series, masks = head_series(shape, blobs)
    for k, blob in enumerate(blobs):
        if blob is None:
            continue
        heat = explain.gradcam(planted, series, k, "any", method=method, engine=engine)
        assert heat.shape == shape and heat.dtype == np.float32
        assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        assert explain.peak_in_mask(heat, masks[k], series.spacing, dilate_mm=5.0)
        # Alignment: the peak lies near the blob's centre (undoing the resize
        # but not the padding would put it 8 pixels off along the padded axis).
        row, col = explain.peak(heat)
        assert np.hypot(row - blob[0], col - blob[1]) <= 5.0, (row, col, blob)
        # Far from the blob the map is cold. Score-CAM also weighs the
        # distractor channel (the whole head) by the score of the head it
        # lets through, so its background is warmer.
        far = ~explain_dilate(masks[k], 12)
        assert heat[far].max() < (0.5 if method == "scorecam" else 0.25)


def explain_dilate(mask, pixels):
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=pixels)


def test_slice_without_lesion_gives_zeros(planted):
    """Gradient maps vanish when the lesion detector is silent (Score-CAM,
    which weighs channels by raw class scores, still draws the head)."""
    series, _ = head_series(*WIDE)
    for method in ("gradcam", "gradcam++"):
        heat = explain.gradcam(planted, series, 0, "any", method=method)
        assert heat.shape == (64, 128)
        assert not np.isnan(heat).any() and heat.max() == 0.0


def test_gradcam_inputs_at_model_resolution(planted):
    series, masks = head_series((64, 64), [(20, 40, 8)])
    x = planted.prepare(series.hu[0])
    heat = explain.gradcam_inputs(planted, x, "subdural", method="gradcam")
    assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    row, col = explain.peak(heat)
    assert np.hypot(row - 20, col - 40) <= 5.0  # square slice: same geometry
    same = explain.gradcam_inputs(planted, x[0], 5, method="gradcam", engine="tf-keras-vis")
    np.testing.assert_allclose(same, heat, atol=1e-4)


@pytest.mark.parametrize("method", explain.METHODS)
def test_all_zero_gradient_gives_zeros_not_nan(method):
    model = planted_model(kernel_scale=0.0)  # features all zero: output constant
    model.get_layer("logits").set_weights([np.zeros((2, 6), np.float32),
                                           np.full(6, 0.3, np.float32)])
    series, _ = head_series((96, 128), [(30, 90, 8)])
    with pytest.raises(TypeError, match="Predictor"):  # a bare keras.Model is refused
        explain.gradcam(model, series, 0, "epidural", method=method)
    heat = explain.gradcam(Predictor(model), series, 0, "epidural", method=method)
    assert heat.shape == (96, 128)
    assert not np.isnan(heat).any() and np.all(heat == 0.0)
    assert not explain.peak_in_mask(heat, np.ones((96, 128), bool), (1, 1))


def test_scorecam_scores_with_the_sigmoid_of_the_class(planted):
    """The Score-CAM scoring model's softmax gives back each class's sigmoid."""
    import tensorflow as tf

    x = np.random.default_rng(0).random((3, SIZE, SIZE, 3)).astype(np.float32)
    scoring = engines._scorecam_model(planted)
    soft = tf.nn.softmax(scoring([x]), axis=-1)
    probs = planted.model(x).numpy()
    for c in range(6):
        np.testing.assert_allclose(engines._SigmoidScore(c)(soft).numpy(), probs[:, c], atol=1e-5)


# ------------------------------------------------------------------ real (tiny) model
def test_engines_agree_on_a_real_model(tiny):
    from cranioscan.phantom import make_study

    study = make_study(11, matrix=96, n_slices=6, subtypes=("intraparenchymal",))
    series = Series(hu=np.ascontiguousarray(study.hu[:, 10:86]), positions=study.positions,
                    spacing=study.spacing)
    explain.warm_up(tiny)  # traces the compiled Grad-CAM of the default layer
    cache = engines._cache(tiny)
    assert ("compiled", explain.STAGE4_LAYER) in cache
    for method in ("gradcam", "gradcam++"):
        fast = explain.gradcam(tiny, series, 3, "intraparenchymal", method=method,
                               engine="compiled")
        slow = explain.gradcam(tiny, series, 3, "intraparenchymal", method=method,
                               engine="tf-keras-vis")
        assert fast.shape == (76, 96)
        assert fast.max() > 0  # a real map, not the all-zero case
        np.testing.assert_allclose(fast, slow, atol=1e-4)
    assert ("vis", "gradcam") in cache and ("vis", "gradcam++") in cache
    # The default (auto) is the compiled engine.
    auto = explain.gradcam(tiny, series, 3, "intraparenchymal")
    np.testing.assert_array_equal(auto, explain.gradcam(tiny, series, 3, "intraparenchymal",
                                                        engine="compiled"))


def test_other_layers_and_engines_agree():
    """Maps on an earlier layer (stage 3) of a two-stage hand-made model."""
    inputs = keras.Input((SIZE, SIZE, 3))
    a = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                            name="conv3_block4_out")(inputs)
    b = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu",
                            name="conv4_block6_out")(a)
    x = keras.layers.GlobalAveragePooling2D()(b)
    x = keras.layers.Dense(6, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", name="probabilities")(x)
    keras.utils.set_random_seed(3)
    pred = Predictor(keras.Model(inputs, outputs))
    series, _ = head_series((80, 96), [(30, 60, 8)])
    for layer in explain.available_layers(pred).values():
        for method in ("gradcam", "gradcam++"):
            maps = [explain.gradcam(pred, series, 0, "any", layer=layer, method=method,
                                    engine=engine) for engine in ("compiled", "tf-keras-vis")]
            assert maps[0].shape == (80, 96) and maps[0].max() == pytest.approx(1.0)
            np.testing.assert_allclose(maps[0], maps[1], atol=1e-4)
        score = explain.gradcam(pred, series, 0, "any", layer=layer, method="scorecam")
        assert score.shape == (80, 96) and 0 <= score.min() <= score.max() <= 1


def test_attention_map_shape_range_and_cache(tiny):
    series, _ = head_series((96, 128), [(30, 90, 8), None])
    heat = explain.attention_map(tiny, series, 0)
    assert heat.shape == (96, 128) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    attn_model = engines._cache(tiny)["attention"]
    other = explain.attention_map(tiny, series, 1)
    assert engines._cache(tiny)["attention"] is attn_model
    assert other.shape == (96, 128)
    small = explain.attention_inputs(tiny, tiny.prepare(series.hu[0]))
    assert small.shape == (64, 64) and small.max() == pytest.approx(1.0)


def test_attention_map_needs_transformer_blocks(planted):
    series, _ = head_series((64, 64), [None])
    with pytest.raises(ValueError, match="no TransformerBlock"):
        explain.attention_map(planted, series, 0)


# ------------------------------------------------------------------ layers and errors
def test_available_layers(tiny, planted):
    assert explain.available_layers(tiny) == {
        "stage 3 (conv3_block4_out)": "conv3_block4_out",
        "stage 4 (conv4_block6_out)": "conv4_block6_out",
    }
    assert explain.available_layers(planted) == {
        "stage 4 (conv4_block6_out)": "conv4_block6_out"}
    inputs = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(2, 3, name="conv3_block4_out")(inputs)
    b = keras.layers.Conv2D(2, 3, name="conv5_block3_out")(a)
    head = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(b))
    fake = Predictor(keras.Model(inputs, head))
    assert list(explain.available_layers(fake)) == ["stage 3 (conv3_block4_out)",
                                                    "stage 5 (conv5_block3_out)"]


@pytest.mark.parametrize("size, expected", [
    (64, "conv3_block4_out"),    # no stage reaches 16 cells: the finest one
    (128, "conv3_block4_out"),   # stage 4 has 8 cells, stage 3 has 16
    (224, "conv3_block4_out"),   # stage 4 has 14, stage 3 has 28
    (256, "conv4_block6_out"),   # stage 4 has 16
])
def test_default_layer_keeps_the_grid_fine_enough(size, expected):
    model = build_model(input_size=size, d_model=16, depth=1, num_heads=2, mlp_dim=32)
    assert explain.default_layer(Predictor(model)) == expected


def test_default_layer_needs_a_resnet_stage(planted):
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match="no ResNet stage output"):
        explain.default_layer(Predictor(keras.Model(inputs, outputs, name="flat")))


def test_bad_arguments(planted):
    series, _ = head_series((64, 64), [None, None])
    with pytest.raises(ValueError, match="unknown class 'bleed'"):
        explain.gradcam(planted, series, 0, "bleed")
    with pytest.raises(ValueError, match="method must be one of"):
        explain.gradcam(planted, series, 0, "any", method="lime")
    with pytest.raises(ValueError, match="no layer 'conv5_block3_out'"):
        explain.gradcam(planted, series, 0, "any", layer="conv5_block3_out")
    with pytest.raises(ValueError, match="feature map"):
        explain.gradcam(planted, series, 0, "any", layer="logits")
    with pytest.raises(ValueError, match="no compiled engine"):
        explain.gradcam(planted, series, 0, "any", method="scorecam", engine="compiled")
    with pytest.raises(IndexError, match="out of range for a series of 2"):
        explain.gradcam(planted, series, 2, "any")
    with pytest.raises(ValueError, match=r"\(1, 64, 64, 3\)"):
        explain.gradcam_inputs(planted, np.zeros((2, 64, 64, 3), np.float32), "any")


# ------------------------------------------------------------------ reading maps
def test_normalize_map():
    np.testing.assert_allclose(explain.normalize_map([[1.0, 3.0], [2.0, 5.0]]),
                               [[0.0, 0.5], [0.25, 1.0]])
    assert np.all(explain.normalize_map(np.zeros((3, 4))) == 0)
    assert np.all(explain.normalize_map(np.full((3, 4), 7.0)) == 0)
    out = explain.normalize_map([[np.nan, 2.0], [0.0, 4.0]])
    np.testing.assert_allclose(out, [[0.0, 0.5], [0.0, 1.0]])


def test_peak():
    heat = np.zeros((5, 7))
    heat[3, 6] = 0.9
    heat[1, 2] = 0.5
    assert explain.peak(heat) == (3, 6)
    with pytest.raises(ValueError):
        explain.peak(np.zeros(4))


def test_peak_in_mask_hand_computed():
    mask = np.zeros((40, 40), bool)
    mask[10, 10] = True

    def at(r, c):
        heat = np.zeros((40, 40))
        heat[r, c] = 1.0
        return heat

    iso = (1.0, 1.0)
    assert explain.peak_in_mask(at(10, 10), mask, iso, dilate_mm=0.0)
    assert explain.peak_in_mask(at(10, 14), mask, iso)       # 4 mm <= 5
    assert explain.peak_in_mask(at(13, 14), mask, iso)       # 5 mm, on the edge
    assert not explain.peak_in_mask(at(10, 16), mask, iso)   # 6 mm
    assert not explain.peak_in_mask(at(14, 14), mask, iso)   # 5.66 mm
    aniso = (0.5, 2.0)                                      # rows 0.5 mm, columns 2 mm
    assert explain.peak_in_mask(at(18, 10), mask, aniso)     # 8 rows = 4 mm
    assert not explain.peak_in_mask(at(10, 13), mask, aniso)  # 3 columns = 6 mm
    assert explain.peak_in_mask(at(10, 12), mask, aniso)     # 2 columns = 4 mm
    assert not explain.peak_in_mask(at(10, 12), mask, aniso, dilate_mm=3.0)
    assert not explain.peak_in_mask(at(10, 10), np.zeros((40, 40), bool), iso)  # empty mask
    assert not explain.peak_in_mask(np.zeros((40, 40)), mask, iso)            # no peak
    with pytest.raises(ValueError, match="same 2-D shape"):
        explain.peak_in_mask(np.zeros((4, 4)), np.zeros((4, 5), bool), iso)
    with pytest.raises(ValueError, match="spacing_mm"):
        explain.peak_in_mask(at(1, 1), mask, (0.0, 1.0))


# ------------------------------------------------------------------ overlay
def test_to_rgb():
    gray = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)
    rgb = overlay.to_rgb(gray)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    np.testing.assert_array_equal(rgb[..., 0], [[0, 128], [255, 255]])
    assert np.all(rgb[..., 0] == rgb[..., 2])


def test_overlay_heatmap_blends_where_the_map_passes_the_threshold():
    import matplotlib

    gray = np.full((4, 6), 0.5, np.float32)
    heat = np.zeros((4, 6), np.float32)
    heat[1, 2] = 1.0
    heat[2, 3] = 0.2
    before = (gray.copy(), heat.copy())
    out = overlay.overlay_heatmap(gray, heat, alpha=0.4, cmap="jet", threshold=0.5)
    assert out.dtype == np.uint8 and out.shape == (4, 6, 3)
    top = np.array(matplotlib.colormaps["jet"](1.0)[:3])
    np.testing.assert_array_equal(out[1, 2], np.rint((0.6 * 0.5 + 0.4 * top) * 255))
    np.testing.assert_array_equal(out[2, 3], [128, 128, 128])  # 0.2 < threshold
    np.testing.assert_array_equal(out[0, 0], [128, 128, 128])
    np.testing.assert_array_equal(gray, before[0])
    np.testing.assert_array_equal(heat, before[1])
    # alpha 0 leaves the slice alone; threshold 0 without the ramp colours every pixel.
    np.testing.assert_array_equal(overlay.overlay_heatmap(gray, heat, alpha=0.0),
                                  overlay.to_rgb(gray))
    everywhere = overlay.overlay_heatmap(gray, heat, alpha=1.0, cmap="inferno", threshold=0.0,
                                         ramp=False)
    low = np.rint(np.array(matplotlib.colormaps["inferno"](0.0)[:3]) * 255)
    np.testing.assert_array_equal(everywhere[0, 0], low)
    with pytest.raises(ValueError, match="shape"):
        overlay.overlay_heatmap(gray, heat[:3])
    with pytest.raises(ValueError, match="colormap"):
        overlay.overlay_heatmap(gray, heat, cmap="no-such-map")
    with pytest.raises(ValueError, match="alpha"):
        overlay.overlay_heatmap(gray, heat, alpha=1.5)


def test_outline_mask():
    rgb = overlay.to_rgb(np.zeros((7, 7)))
    mask = np.zeros((7, 7), bool)
    mask[2:5, 2:5] = True
    out = overlay.outline_mask(rgb, mask, (255, 0, 0))
    red = np.all(out == [255, 0, 0], axis=-1)
    expected = mask.copy()
    expected[3, 3] = False  # the 3x3 square's outline: its 8 edge pixels
    np.testing.assert_array_equal(red, expected)
    assert np.all(rgb == 0)  # input untouched
    edge = np.zeros((7, 7), bool)
    edge[0:2, :] = True  # touching the border: outlined there too
    red = np.all(overlay.outline_mask(rgb, edge, (255, 0, 0)) == [255, 0, 0], axis=-1)
    np.testing.assert_array_equal(red, edge)
    with pytest.raises(ValueError, match="mask shape"):
        overlay.outline_mask(rgb, mask[:5])
