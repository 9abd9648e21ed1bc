"""Training on phantoms rendered while the model trains (train.py --stream-minutes).

Real worker processes render real phantom studies; the model is tiny (64 px,
one encoder block) and runs on the default Keras backend (TensorFlow here);
the same code ran with KERAS_BACKEND=jax on a GPU for the demo model.
"""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from cranioscan.labels import CLASSES
from cranioscan.net.model import build_model, load_model
from cranioscan.phantom import balanced_plan, make_study
from cranioscan.phantom.stream import StudyStream
from cranioscan.train.pipeline import make_augmenter, to_uint8
from cranioscan.preprocess import to_model_input
from cranioscan.train.stream import StreamBatches, TimeBudget, cosine_over_time, training_model

from test_train import TINY, _train, train_in_process


@pytest.fixture(scope="module")
def stream():
    plan = balanced_plan(5, 4200)
    with StudyStream(plan, 32, matrix=64, n_slices=4, workers=2) as running:
        running.wait_for(len(plan), timeout=300)
        yield running


def test_stream_rows_follow_the_plan_and_match_direct_rendering(stream):
    assert stream.finished and stream.ready == 5 * 4 and len(stream.ids) == 20
    assert stream.study_rows == [(4 * k, 4 * k + 4) for k in range(5)]
    for k, (seed, kwargs) in enumerate(stream.plan[:3]):
        study = make_study(seed, matrix=64, n_slices=4, **kwargs)
        rows = slice(4 * k, 4 * k + 4)
        np.testing.assert_array_equal(stream.images[rows], to_uint8(to_model_input(study.hu, 32)))
        np.testing.assert_array_equal(stream.labels[rows], study.labels)
        assert stream.ids[4 * k]["study"] == f"PH{seed:07d}"


def test_stream_reports_a_rendering_error_and_a_timeout():
    bad = StudyStream([(1, {"subtypes": ("not-a-subtype",)})], 32, matrix=64, n_slices=2,
                      workers=1)
    with bad:
        with pytest.raises(RuntimeError, match="not-a-subtype"):
            bad.wait_for(1, timeout=120)
    slow = StudyStream(balanced_plan(1, 7), 32, matrix=64, n_slices=2, workers=1)
    with slow:
        with pytest.raises(TimeoutError, match="0 of 1"):
            slow.wait_for(1, timeout=0.0)


def test_batches_draw_only_from_the_training_pool(stream):
    first = 8
    batches = StreamBatches(stream, first, batch_size=64, steps=3, power=0.0, seed=1)
    assert len(batches) == 3
    images, labels = batches[0]
    assert images.dtype == np.uint8 and images.shape == (64, 32, 32, 3)
    assert labels.dtype == np.float32 and labels.shape == (64, len(CLASSES))
    # Every drawn slice is one of the pool's rows, never a validation row.
    pool = stream.images[first:stream.ready].reshape(stream.ready - first, -1)
    for image, label in zip(images.reshape(64, -1), labels):
        match = np.flatnonzero((pool == image).all(axis=1))
        assert match.size and (stream.labels[first + match[0]] == label).all()
    np.testing.assert_array_equal(batches[0][0], images)  # the same index draws the same


def test_class_balance_draws_rare_classes_more_often(stream):
    plain = StreamBatches(stream, 0, batch_size=512, steps=1, power=0.0, seed=2)[0][1]
    balanced = StreamBatches(stream, 0, batch_size=512, steps=1, power=1.0, seed=2)[0][1]
    pool = stream.labels[:stream.ready]
    rarest = int(np.argmin(np.where(pool.sum(axis=0) > 0, pool.sum(axis=0), np.inf)))
    assert balanced[:, rarest].mean() > plain[:, rarest].mean() + 0.05


def test_cosine_over_time_by_hand():
    assert cosine_over_time(0.0, 1.0, warmup=0.1) == pytest.approx(0.1)
    assert cosine_over_time(0.05, 1.0, warmup=0.1) == pytest.approx(0.5)
    assert cosine_over_time(0.1, 1.0, warmup=0.1) == pytest.approx(1.0)
    assert cosine_over_time(0.55, 1.0, warmup=0.1) == pytest.approx(0.01 + 0.99 * 0.5)
    assert cosine_over_time(1.0, 2.0, warmup=0.1) == pytest.approx(0.02)
    assert cosine_over_time(3.0, 2.0, warmup=0.1) == pytest.approx(0.02)  # past the budget


def test_time_budget_stops_after_the_batch_that_passes_it():
    budget = TimeBudget(0.0)
    budget.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    budget.model.stop_training = False
    budget.on_train_begin()
    budget.on_train_batch_end(0)
    assert budget.model.stop_training and budget.stopped_at >= 0
    patient = TimeBudget(3600.0)
    patient.set_model(budget.model)
    patient.model.stop_training = False
    patient.on_train_begin()
    patient.on_train_batch_end(0)
    assert not patient.model.stop_training and patient.stopped_at is None


def test_training_model_is_compiled_on_jax_only():
    """Keras's random affine layers switch XLA off for the whole model; on JAX they compile."""
    from keras.src.trainers.trainer import model_supports_jit

    net = build_model(input_size=32, stage=4, d_model=16, depth=1, num_heads=2, mlp_dim=32,
                      weights=None)
    assert not model_supports_jit(training_model(net, make_augmenter(0), backend="tensorflow"))
    assert model_supports_jit(training_model(net, make_augmenter(0), backend="jax"))
    assert model_supports_jit(training_model(net, None, backend="tensorflow"))


@pytest.mark.slow
def test_train_stream_writes_a_complete_run_folder(tmp_path):
    run = tmp_path / "run"
    result = _train("--data", "phantom", "--stream-minutes", "0.05", "--phantom-studies", "12",
                    "--phantom-slices", "4", "--phantom-matrix", "64", "--val-fraction", "0.25",
                    "--workers", "2", "--steps-per-epoch", "2", "--epochs", "50",
                    "--class-balance", "0.5", "--out", str(run), *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "history.csv", "split.csv", "data_report.txt", "best_model.keras",
                 "val_predictions.csv", "metrics.json", "roc.json", "roc.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["phantom_studies"] == 12 and 4 <= config["stream"]["studies_rendered"] <= 12
    assert config["stream"]["validation_studies"] == 3
    assert config["stream"]["backend"].startswith("tensorflow")
    assert config["stream"]["trained_minutes"] > 0
    assert config["stream"]["compiled_step"] is False  # TensorFlow: its XLA cannot augment
    history = pd.read_csv(run / "history.csv")
    assert {"lr", "val_auc", "epoch_seconds"} <= set(history.columns)
    split = pd.read_csv(run / "split.csv")
    val = split[split["split"] == "val"]
    assert val["study"].nunique() == 3 and len(val) == 12  # the plan's first 3 studies
    assert not set(val["study"]) & set(split.loc[split["split"] == "train", "study"])
    report = (run / "data_report.txt").read_text()
    assert "rendered while training" in report and "class balance 0.5" in report
    probs = load_model(run / "best_model.keras").predict(np.zeros((1, 64, 64, 3), np.float32),
                                                          verbose=0)
    assert probs.shape == (1, len(CLASSES)) and np.isfinite(probs).all()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["classes"]) == set(CLASSES)


def test_train_stream_needs_phantoms(tmp_path, capsys):
    code, stderr = train_in_process(capsys, "--data", "rsna", "--data-dir", tmp_path,
                                    "--stream-minutes", "1", "--out", tmp_path / "run", *TINY)
    assert code == 2
    assert "--data phantom" in stderr
    code, stderr = train_in_process(capsys, "--data", "phantom", "--stream-minutes", "-1",
                                    "--out", tmp_path / "run", *TINY)
    assert code == 2 and "must be positive" in stderr
