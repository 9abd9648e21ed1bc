"""The R50 + Transformer model, its layers, loss, saving, attention and Grad-CAM.

Models here are tiny (64x64 input, d_model 32, two blocks) so the module runs
in well under a minute on two CPU cores.
"""

import json
import math
import zipfile

import keras
import numpy as np
import pytest

from cranioscan.explain.rollout import attention_model, attention_rollout, predict_attentions
from cranioscan.labels import CLASSES, RSNA_WEIGHTS
from cranioscan.net.layers import InputScaling, TransformerBlock
from cranioscan.net.model import (
    build_model,
    load_model,
    model_classes,
    model_input_size,
    resize_position_embedding,
    save_for_inference,
    token_grid_shape,
    transfer_weights,
)
from cranioscan.train.losses import ClassAUC, WeightedBinaryCrossentropy, compile_model, weighted_bce
from cranioscan.evaluation.metrics import auc_score, rsna_weighted_log_loss

SIZE = 64
SMALL = dict(input_size=SIZE, d_model=32, depth=2, num_heads=2, mlp_dim=64)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(**SMALL)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((3, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def probs(model, images):
    return model.predict(images, verbose=0)


def test_forward_pass_shape_range_and_determinism(model, images, probs):
    assert probs.shape == (3, len(CLASSES))
    assert probs.dtype == np.float32
    assert np.isfinite(probs).all()
    assert ((probs >= 0) & (probs <= 1)).all()
    # Different images give different outputs; inference is deterministic
    # (dropout inactive).
    assert not np.allclose(probs[0], probs[1])
    np.testing.assert_array_equal(model.predict(images, verbose=0), probs)
    assert model_input_size(model) == SIZE
    assert model_classes(model) == CLASSES


def test_graph_is_flat_with_resnet_layers_reachable(model):
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    assert nested == []
    assert model.get_layer("conv4_block6_out").output.shape == (None, 4, 4, 1024)
    assert model.get_layer("conv3_block4_out").output.shape == (None, 8, 8, 512)
    with pytest.raises(ValueError):
        model.get_layer("conv5_block3_out")
    last = model.layers[-1]
    assert last.name == "probabilities" and model.output_names == ["probabilities"]
    assert last.activation is keras.activations.sigmoid
    assert model.get_layer("logits").output.shape == (None, len(CLASSES))
    assert model.get_layer("logits").activation is keras.activations.linear


def test_stage5_cut():
    stage5 = build_model(input_size=SIZE, stage=5, d_model=16, depth=1, num_heads=2, mlp_dim=16)
    assert stage5.get_layer("conv5_block3_out").output.shape == (None, 2, 2, 2048)
    assert stage5.get_layer("projection").input.shape == (None, 2, 2, 2048)
    assert token_grid_shape(stage5) == (2, 2)
    with pytest.raises(ValueError, match="stage must be one of"):
        build_model(input_size=SIZE, stage=2)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        build_model(input_size=SIZE, d_model=30, num_heads=4)


def test_token_count_is_grid_plus_class_token(model):
    side = SIZE // 16
    assert token_grid_shape(model) == (side, side)
    assert model.get_layer("position_embedding").output.shape == (None, side * side + 1, 32)
    assert model.get_layer("encoder_block_1").output.shape == (None, side * side + 1, 32)
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    assert [b.name for b in blocks] == ["encoder_block_0", "encoder_block_1"]


def test_input_scaling_modes():
    x = np.array([[[[0.0, 0.5, 1.0]]]], dtype=np.float32)
    np.testing.assert_allclose(InputScaling("symmetric")(x), [[[[-1.0, 0.0, 1.0]]]])
    # caffe: x255, RGB -> BGR, minus the ImageNet BGR means.
    np.testing.assert_allclose(InputScaling("caffe")(x),
                               [[[[255.0 - 103.939, 127.5 - 116.779, 0.0 - 123.68]]]], rtol=1e-6)
    with pytest.raises(ValueError, match="mode must be one of"):
        InputScaling("torch")
    assert build_model(**SMALL).get_layer("input_scaling").mode == "symmetric"


def test_save_for_inference_reloads_identically(model, images, probs, tmp_path):
    compile_model(model, learning_rate=1e-3)
    model.optimizer.build(model.trainable_variables)  # optimizer state exists now
    path = save_for_inference(model, tmp_path / "model.keras")
    assert path.endswith("model.keras")
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")  # no optimizer, loss or metrics
    restored = load_model(path)  # safe mode
    np.testing.assert_allclose(restored.predict(images, verbose=0), probs, rtol=0, atol=1e-6)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    assert restored.layers[-1].activation is keras.activations.sigmoid
    size = (tmp_path / "model.keras").stat().st_size
    assert size < 1.2 * 4 * model.count_params()  # float32 weights only, no Adam moments
    also = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(also.predict(images, verbose=0), probs, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\.keras"):
        save_for_inference(model, tmp_path / "model.h5")


def test_save_for_inference_shifts_logits_of_the_copy_only(model, images, probs, tmp_path):
    offsets = np.array([-1.0, 0.5, 0.0, 2.0, -0.25, 0.0], dtype=np.float32)
    bias_before = model.get_layer("logits").get_weights()[1].copy()
    shifted = load_model(save_for_inference(model, tmp_path / "shifted.keras",
                                            logit_offsets=offsets))
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    got = shifted.predict(images, verbose=0).astype(np.float64)
    np.testing.assert_allclose(logit(got) - logit(probs.astype(np.float64)),
                               np.broadcast_to(offsets, got.shape), atol=1e-3)
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[1], bias_before)


def test_resize_position_embedding_keeps_class_row_and_interpolates_the_grid():
    rows, cols, depth = 2, 3, 2
    grid = np.zeros((rows, cols, depth), np.float32)
    grid[..., 0] = np.arange(cols)[None, :]  # a ramp along the columns
    grid[..., 1] = 7.0  # a constant
    table = np.concatenate([[[[-5.0, 5.0]]], grid.reshape(1, rows * cols, depth)], axis=1)
    same = resize_position_embedding(table, (rows, cols), (rows, cols))
    np.testing.assert_allclose(same, table, atol=1e-6)
    bigger = resize_position_embedding(table, (rows, cols), (4, 5))
    assert bigger.shape == (1, 1 + 4 * 5, depth) and bigger.dtype == np.float32
    np.testing.assert_array_equal(bigger[0, 0], [-5.0, 5.0])
    resized = bigger[0, 1:].reshape(4, 5, depth)
    np.testing.assert_allclose(resized[..., 1], 7.0, atol=1e-5)
    # Linear along the columns: every row the same, evenly spaced inside the range.
    ramp = resized[..., 0]
    np.testing.assert_allclose(ramp, np.broadcast_to(ramp[0], ramp.shape), atol=1e-5)
    assert np.all(np.diff(ramp[0]) > 0) and 0 <= ramp.min() and ramp.max() <= cols - 1
    with pytest.raises(ValueError, match="2x2 grid"):
        resize_position_embedding(table, (2, 2), (4, 4))


def test_transfer_weights_across_input_sizes(model, images):
    keras.utils.set_random_seed(1)
    larger = build_model(**dict(SMALL, input_size=96))
    transfer_weights(model, larger)
    for layer in larger.layers:
        if layer.name == "position_embedding":
            (table,) = layer.get_weights()
            assert table.shape[1] == 1 + 6 * 6
            np.testing.assert_allclose(table, resize_position_embedding(
                model.get_layer(layer.name).get_weights()[0], (4, 4), (6, 6)))
            continue
        for got, want in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)
    # At the same size everything is copied as is: the copy predicts the same.
    twin = transfer_weights(model, build_model(**SMALL))
    np.testing.assert_allclose(twin.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-6)
    with pytest.raises(ValueError, match="differ in architecture"):
        transfer_weights(model, build_model(**dict(SMALL, d_model=16)))


def test_attention_model_rows_sum_to_one(model, images):
    attn = predict_attentions(attention_model(model), images)
    tokens = (SIZE // 16) ** 2 + 1
    assert len(attn) == 2
    for a in attn:
        assert a.shape == (3, 2, tokens, tokens)
        assert (a >= 0).all()
        np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-5)
    rollout = attention_rollout([a[0] for a in attn])
    assert rollout.shape == (SIZE // 16, SIZE // 16)
    assert rollout.max() == pytest.approx(1.0) and rollout.min() >= 0.0
    batched = attention_rollout(attn)
    assert batched.shape == (3, SIZE // 16, SIZE // 16)
    np.testing.assert_allclose(batched[0], rollout, atol=1e-6)


def _eye_heads(heads, t):
    return np.tile(np.eye(t), (heads, 1, 1))


def test_rollout_class_token_on_one_patch():
    attn = _eye_heads(2, 5)  # 4 patches on a 2x2 grid
    attn[:, 0] = [0, 0, 0, 1, 0]  # class token attends to token 3 = patch (1, 0)
    expected = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(attention_rollout([attn]), expected)
    # Further identity layers change nothing.
    np.testing.assert_allclose(attention_rollout([attn, _eye_heads(2, 5)]), expected)


def test_rollout_identity_attention_gives_zero_map_not_nan():
    out = attention_rollout([_eye_heads(3, 10), _eye_heads(3, 10)], grid_shape=(3, 3))
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, 0.0)


def test_rollout_by_hand_two_layers_two_heads():
    first = _eye_heads(2, 5)
    first[:, 0] = [0.5, 0.5, 0, 0, 0]
    second = _eye_heads(2, 5)
    second[0, 0] = [1, 0, 0, 0, 0]  # heads average to [0.5, 0, 0.5, 0, 0]
    second[1, 0] = [0, 0, 1, 0, 0]
    # With the residual: A1[0] = [.75, .25, 0, 0, 0], A2[0] = [.75, 0, .25, 0, 0];
    # (A2 A1)[0] = .75 A1[0] + .25 A1[2] = [.5625, .1875, .25, 0, 0];
    # patches [.1875, .25, 0, 0] / .25.
    np.testing.assert_allclose(attention_rollout([first, second]), [[0.75, 1.0], [0.0, 0.0]])
    # Without the residual: A2[0] A1 = .5 A1[0] + .5 A1[2] = [.25, .25, .5, 0, 0].
    np.testing.assert_allclose(attention_rollout([first, second], residual=False),
                               [[0.5, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="square grid"):
        attention_rollout([_eye_heads(1, 4)])
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout([first], head_fusion="median")


def test_weighted_bce_by_hand():
    y = np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    p = np.array([[0.8, 0.1, 0.2, 0.1, 0.1, 0.6], [0.3, 0.1, 0.1, 0.2, 0.1, 0.1]],
                 dtype=np.float32)
    log = math.log
    first = (2 * -log(0.8) - log(0.9) - log(0.8) - log(0.9) - log(0.9) - log(0.6)) / 7
    second = (2 * -log(0.7) - log(0.9) - log(0.9) - log(0.8) - log(0.9) - log(0.9)) / 7
    per_sample = keras.ops.convert_to_numpy(weighted_bce(y, p))
    np.testing.assert_allclose(per_sample, [first, second], rtol=1e-5)
    loss = WeightedBinaryCrossentropy()
    assert float(loss(y, p)) == pytest.approx((first + second) / 2, rel=1e-5)
    # The training loss is the RSNA metric.
    assert float(loss(y, p)) == pytest.approx(rsna_weighted_log_loss(y, p), rel=1e-5)
    logits = np.log(p / (1 - p))
    from_logits = WeightedBinaryCrossentropy(from_logits=True)
    assert float(from_logits(y, logits)) == pytest.approx((first + second) / 2, rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, WeightedBinaryCrossentropy)
    assert restored.class_weights == RSNA_WEIGHTS


def test_compile_model_and_class_auc(model):
    compile_model(model, learning_rate=3e-4, per_class_auc=True)
    assert isinstance(model.loss, WeightedBinaryCrossentropy)
    assert model.loss.class_weights == RSNA_WEIGHTS
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-4)
    compile_model(model, learning_rate=1e-3, decay_steps=100, warmup_steps=10)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert [float(schedule(step)) for step in (0, 5, 10, 60, 110)] == pytest.approx(
        [0.0, 5e-4, 1e-3, 5e-4, 0.0], abs=1e-7)
    with pytest.raises(ValueError, match="class_weights has 2 entries"):
        compile_model(model, class_weights=(2.0, 1.0))
    y = np.zeros((4, 6), dtype=np.float32)
    y[:, 0] = [0, 0, 1, 1]
    y[:, 1] = [1, 0, 1, 0]
    p = np.tile(np.array([[0.1], [0.4], [0.35], [0.8]], dtype=np.float32), (1, 6))
    metric = ClassAUC(0, num_thresholds=1000)
    metric.update_state(y, p)
    assert float(metric.result()) == pytest.approx(auc_score(y[:, 0], p[:, 0]), abs=1e-3)
    assert float(metric.result()) == pytest.approx(0.75, abs=1e-3)
    assert ClassAUC.from_config(metric.get_config()).class_index == 0


def test_gradcam_reaches_resnet_layer(model, images):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    cam = gradcam(CategoricalScore([0]), images[:1], penultimate_layer="conv4_block6_out")
    cam = np.asarray(cam)
    assert cam.shape == (1, SIZE, SIZE)
    assert np.isfinite(cam).all()
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    # The clone was modified, not the model.
    assert model.layers[-1].activation is keras.activations.sigmoid
