"""Tests of ``cranioscan.inference``: loading models, predicting series, summaries."""

import json
import zipfile

import keras
import numpy as np
import pytest

from cranioscan.dicom import Series
from cranioscan.inference import (
    ModelLoadError,
    Predictor,
    resolve_thresholds,
    summarize_series,
)
from cranioscan.labels import CLASSES
from cranioscan.net.model import build_model, save_for_inference
from cranioscan.preprocess import to_model_input

TINY = dict(input_size=64, d_model=32, depth=1, num_heads=2, mlp_dim=64)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    return save_for_inference(build_model(**TINY), folder / "tiny.keras")


@pytest.fixture(scope="module")
def predictor(tiny_path):
    return Predictor.load(tiny_path)


@pytest.fixture(scope="module")
def series():
    """A phantom head CT (non-square slices: 80 x 96) as a Series."""
    from cranioscan.phantom import make_study

    study = make_study(5, matrix=96, n_slices=11, subtypes=("subdural",))
    hu = np.ascontiguousarray(study.hu[:, 8:88, :])  # 80 x 96
    return Series(hu=hu, positions=np.asarray(study.positions, dtype=float),
                  spacing=tuple(study.spacing))


def small_model(n_out=6, size=32, name="small"):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(n_out, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


# ------------------------------------------------------------------ loading
def test_load_reads_model_classes_size_and_hash(predictor, tiny_path):
    import hashlib

    assert isinstance(predictor.model, keras.Model)
    assert predictor.classes == CLASSES
    assert predictor.input_size == 64
    assert predictor.path == str(tiny_path)
    assert predictor.card == {}
    assert predictor.thresholds == {c: 0.5 for c in CLASSES}
    with open(tiny_path, "rb") as fh:
        assert predictor.sha256 == hashlib.sha256(fh.read()).hexdigest()


def test_card_thresholds_and_override(tmp_path):
    path = tmp_path / "m.keras"
    small_model(size=32).save(path)
    card = {"name": "x", "thresholds": {"any": 0.3, "subdural": 0.7}}
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    pred = Predictor.load(path)
    assert pred.card == card
    assert pred.thresholds["any"] == 0.3 and pred.thresholds["subdural"] == 0.7
    assert pred.thresholds["epidural"] == 0.5
    assert pred.input_size == 32
    assert Predictor.load(path, thresholds=0.2).thresholds == {c: 0.2 for c in CLASSES}
    (tmp_path / "model_card.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="model_card.json"):
        Predictor.load(path)


def test_card_calibration_is_applied_to_every_probability(tmp_path, series):
    from cranioscan.calibration import apply_calibration

    path = tmp_path / "m.keras"
    small_model(size=32).save(path)
    uncalibrated = Predictor.load(path)
    assert uncalibrated.scores_key == uncalibrated.sha256
    raw = uncalibrated.predict_series(series)
    calibration = {"method": "platt", "classes": {"any": {"a": 0.5, "b": -2.0},
                                                   "subdural": {"a": 2.0, "b": 1.0}}}
    (tmp_path / "model_card.json").write_text(json.dumps({"calibration": calibration}))
    pred = Predictor.load(path)
    assert pred.calibration == calibration
    assert Predictor(pred.model).scores_key is None
    assert pred.scores_key != pred.sha256 and len(pred.scores_key) == 64  # scores differ
    calibrated = pred.predict_series(series)
    np.testing.assert_allclose(calibrated, apply_calibration(raw, calibration), rtol=1e-5)
    assert not np.allclose(calibrated[:, 0], raw[:, 0])
    np.testing.assert_allclose(calibrated[:, 1], raw[:, 1], rtol=1e-6)  # epidural: none given
    np.testing.assert_allclose(pred.predict_inputs(pred.prepare(series.hu)), calibrated,
                               rtol=1e-5)
    (tmp_path / "model_card.json").write_text(json.dumps({"calibration": {"method": "magic"}}))
    with pytest.raises(ModelLoadError, match="calibration"):
        Predictor.load(path)


def test_load_missing_file(tmp_path):
    missing = tmp_path / "nope.keras"
    with pytest.raises(ModelLoadError, match="not found.*nope.keras"):
        Predictor.load(missing)
    with pytest.raises(ModelLoadError, match="folder"):
        Predictor.load(tmp_path)


def test_load_text_file_renamed_keras(tmp_path):
    fake = tmp_path / "notes.keras"
    fake.write_text("this is not a model\n")
    with pytest.raises(ModelLoadError, match=r"notes\.keras is not a Keras model file"):
        Predictor.load(fake)


def test_load_corrupt_zip(tmp_path):
    fake = tmp_path / "broken.keras"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("config.json", "{ truncated")
    with pytest.raises(ModelLoadError, match=r"broken\.keras.*damaged"):
        Predictor.load(fake)


def test_load_model_with_three_outputs(tmp_path):
    path = tmp_path / "three.keras"
    small_model(n_out=3).save(path)
    with pytest.raises(ModelLoadError, match=r"three\.keras.*3 outputs"):
        Predictor.load(path)


def test_load_model_with_two_output_tensors(tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(6)(x), keras.layers.Dense(6)(x)])
    path = tmp_path / "two_heads.keras"
    model.save(path)
    with pytest.raises(ModelLoadError, match=r"two_heads\.keras has 2 outputs"):
        Predictor.load(path)


def test_load_model_with_unregistered_layer(tmp_path):
    @keras.saving.register_keras_serializable(package="cs_test_inference")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((32, 32, 3))
    x = Doubler()(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(6, activation="sigmoid")(x)
    path = tmp_path / "custom.keras"
    keras.Model(inputs, outputs).save(path)
    objects = keras.saving.get_custom_objects()
    key = next(k for k in objects if k.endswith("Doubler"))
    del objects[key]  # as in a program that does not know the layer
    with pytest.raises(ModelLoadError, match=r"custom\.keras uses a layer unknown .*\(Doubler\)"):
        Predictor.load(path)


def test_load_refuses_lambda_layers(tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(6, activation="sigmoid")(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match=r"lambda\.keras contains Python code"):
        Predictor.load(path)


# ------------------------------------------------------------------ prediction
def test_predict_series_matches_the_bare_model(predictor, series):
    probs = predictor.predict_series(series)
    assert probs.shape == (series.hu.shape[0], 6) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1)) and np.isfinite(probs).all()
    # The model's input built by hand, not by to_model_input: centred in a square of air,
    # resized by PIL's anti-aliased bilinear filter, then the three windows' formula.
    from PIL import Image

    square = np.full((len(series.hu), 96, 96), -1000.0, np.float32)
    square[:, 8:88] = series.hu  # 80 x 96 slices, 8 rows of air above and below
    small = np.stack([np.asarray(Image.fromarray(s, mode="F").resize((64, 64), Image.BILINEAR))
                      for s in square])
    x = np.stack([np.clip((small - (level - width / 2)) / width, 0, 1)
                  for level, width in ((40, 80), (80, 200), (600, 2800))], axis=-1)
    reference = predictor.model(x.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(probs, reference, atol=1e-5)


def test_predict_inputs_and_batching_independence(predictor, series):
    x = to_model_input(series.hu, 64)
    before = x.copy()
    one = predictor.predict_inputs(x, batch_size=1)
    eight = predictor.predict_inputs(x, batch_size=8)
    np.testing.assert_allclose(one, eight, atol=1e-5)
    np.testing.assert_array_equal(x, before)  # input untouched
    np.testing.assert_allclose(predictor.predict_series(series, batch_size=3), eight, atol=1e-5)


def test_progress_callback_counts(predictor, series):
    n = series.hu.shape[0]  # 11 slices
    calls = []
    predictor.predict_series(series, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, n), (8, n), (11, n)]
    calls.clear()
    predictor.predict_inputs(to_model_input(series.hu[:2], 64), batch_size=8,
                             progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 2)]


def test_predict_rejects_bad_input(predictor):
    with pytest.raises(ValueError, match=r"\(n, 64, 64, 3\)"):
        predictor.predict_inputs(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        predictor.predict_inputs(np.zeros((2, 64, 64, 3), np.float32), batch_size=0)
    empty = predictor.predict_series(np.zeros((0, 40, 40), np.float32))
    assert empty.shape == (0, 6)


def test_predictor_wraps_an_in_memory_model():
    pred = Predictor(small_model(size=32))
    assert pred.path is None and pred.sha256 is None and pred.input_size == 32
    with pytest.raises(ValueError, match="3 outputs"):
        Predictor(small_model(n_out=3))


# ------------------------------------------------------------------ summaries
def test_summarize_series_hand_computed():
    probs = np.zeros((4, 6), np.float32)
    probs[:, 0] = [0.1, 0.9, 0.5, 0.95]  # any
    probs[:, 5] = [0.2, 0.6, 0.61, 0.1]  # subdural
    out = summarize_series(probs, {"subdural": 0.61})
    assert out["any"]["max_prob"] == pytest.approx(0.95)
    assert out["any"]["max_slice"] == 3
    assert out["any"]["slices_above"] == [1, 2, 3]  # >= 0.5 passes
    assert out["subdural"]["slices_above"] == [2]
    assert out["subdural"]["threshold"] == 0.61
    assert out["epidural"] == {"max_prob": 0.0, "max_slice": 0, "slices_above": [],
                               "threshold": 0.5}
    assert set(out) == set(CLASSES)
    empty = summarize_series(np.zeros((0, 6)))
    assert empty["any"]["max_slice"] == -1 and np.isnan(empty["any"]["max_prob"])


def test_summarize_method_uses_the_predictor_thresholds(predictor):
    probs = np.full((2, 6), 0.4, np.float32)
    assert predictor.summarize(probs)["any"]["slices_above"] == []
    assert predictor.summarize(probs, thresholds=0.4)["any"]["slices_above"] == [0, 1]


def test_resolve_thresholds_validation():
    assert resolve_thresholds([0.1] * 6) == dict.fromkeys(CLASSES, 0.1)
    with pytest.raises(ValueError, match="unknown classes"):
        resolve_thresholds({"bleed": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resolve_thresholds({"any": 1.5})
    with pytest.raises(ValueError, match="6 thresholds"):
        resolve_thresholds([0.5, 0.5])
    with pytest.raises(ValueError, match="shape"):
        summarize_series(np.zeros((3, 5)))
