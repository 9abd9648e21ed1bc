"""The series stage: feature cache keys, training from the cache, and the series model
read through Predictor on 1, 2 and 300 slices (real Keras models, shallow sizes)."""

import json

import numpy as np
import pytest

from cranioscan.labels import CLASSES

pytestmark = pytest.mark.slow  # builds ResNet50 trunks (a few seconds each)

SIZE = 64  # model input side of the tiny trunk: stage 4 gives 4 x 4 cells
SMALL = dict(d_model=16, head_heads=2, head_mlp=32, series_width=16, series_depth=1,
             dropout=0.0)


@pytest.fixture(scope="module")
def trunk():
    import keras

    from cranioscan.net.model import build_model

    keras.utils.set_random_seed(0)
    return build_model(input_size=SIZE, d_model=32, depth=1, num_heads=2, mlp_dim=64)


def _fake_ctich(root, patients=(1, 2), slices=3):
    """A CT-ICH folder of real JPG files: brain and bone windows of a disc 'head'."""
    from PIL import Image

    rows = []
    yy, xx = np.mgrid[:80, :80]
    for p in patients:
        for s in range(1, slices + 1):
            head = (yy - 40) ** 2 + (xx - 40) ** 2 < (20 + s + p) ** 2
            brain = np.where(head, 130, 0).astype(np.uint8)
            bone = np.where(head, 80, 0).astype(np.uint8)
            for window, image in (("brain", brain), ("bone", bone)):
                folder = root / f"{p:03d}" / window
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{s:02d}.jpg")
            rows.append(f"{p},{s},{int(s == 2)},0,0,0,0,{int(s == 2)},0")
    (root / "labels.csv").write_text(
        "patient,slice,any,epidural,intraparenchymal,intraventricular,subarachnoid,subdural,"
        "fracture\n" + "\n".join(rows) + "\n")
    return root


def test_cache_key_misses_on_a_changed_trunk_or_preprocessing(tmp_path, trunk):
    import keras

    from cranioscan.ctich import load_ctich
    from cranioscan.net.model import build_model
    from cranioscan.train.feature_cache import (build_ctich_cache, cache_key, preprocessing_spec,
                                                trunk_model, weights_digest)

    spec = preprocessing_spec(SIZE)
    base = cache_key("a" * 64, "conv4_block6_out", spec, {"zoom": 0.1}, 1, "d")
    assert base == cache_key("a" * 64, "conv4_block6_out", preprocessing_spec(SIZE), {"zoom": 0.1},
                             1, "d")
    assert base != cache_key("b" * 64, "conv4_block6_out", spec, {"zoom": 0.1}, 1, "d")
    assert base != cache_key("a" * 64, "conv4_block6_out", preprocessing_spec(SIZE + 16),
                             {"zoom": 0.1}, 1, "d")
    assert base != cache_key("a" * 64, "conv4_block6_out", preprocessing_spec(SIZE, "full"),
                             {"zoom": 0.1}, 1, "d")
    assert base != cache_key("a" * 64, "conv3_block4_out", spec, {"zoom": 0.1}, 1, "d")

    data = load_ctich(_fake_ctich(tmp_path / "ctich"))
    first = build_ctich_cache(tmp_path / "cache", data, trunk, "conv4_block6_out", SIZE,
                              n_draws=1, progress=None)
    assert first.complete() and first.features(0).shape == (6, 4, 4, 1024)
    assert first.n_draws == 2 and first.labels[:, 0].tolist() == [0, 1, 0, 0, 1, 0]
    # the same trunk and preprocessing: the same folder, nothing computed again
    again = build_ctich_cache(tmp_path / "cache", data, trunk, "conv4_block6_out", SIZE,
                              n_draws=1, progress=None)
    assert again.folder == first.folder
    # one trunk weight changed: another key, another folder
    keras.utils.set_random_seed(1)
    other = build_model(input_size=SIZE, d_model=32, depth=1, num_heads=2, mlp_dim=64)
    assert weights_digest(trunk_model(other, "conv4_block6_out")) != \
        weights_digest(trunk_model(trunk, "conv4_block6_out"))
    changed = build_ctich_cache(tmp_path / "cache", data, other, "conv4_block6_out", SIZE,
                                n_draws=1, progress=None)
    assert changed.folder != first.folder
    assert not np.allclose(changed.features(0), first.features(0))


def _tiny_cache(folder, n_patients=8, slices=6, seed=0):
    """A feature cache written by hand: positive slices carry a feature offset."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for p in range(n_patients):
        for s in range(slices):
            positive = p % 2 == 0 and s in (2, 3)
            ids.append({"image_id": f"P{p}_{s}", "patient": f"P{p:02d}", "position": float(s)})
            labels.append([int(positive), 0, 0, 0, 0, int(positive)])
    labels = np.asarray(labels, np.uint8)
    feats = rng.normal(0, 1, (len(ids), 2, 2, 8)).astype(np.float16)
    feats[labels[:, 0] == 1] += 1.5
    folder.mkdir(parents=True)
    np.save(folder / "draw0.npy", feats)
    (folder / "meta.json").write_text(json.dumps({
        "key": "test", "n_draws": 1, "shape": [2, 2, 8], "ids": ids, "labels": labels.tolist(),
        "preprocessing": {"size": SIZE}}))
    (folder / "done.json").write_text(json.dumps(sorted({i["patient"] for i in ids})))
    from cranioscan.train.feature_cache import FeatureCache

    return FeatureCache(folder)


def test_training_from_the_cache_learns_a_separable_set(tmp_path):
    from cranioscan.evaluation.metrics import auc_score
    from cranioscan.train.series_trainer import Recipe, score_patients, train_member

    cache = _tiny_cache(tmp_path / "cache")
    recipe = Recipe(epochs=15, lr=3e-3, draws=1, **SMALL)
    patients = sorted(set(cache.patients.tolist()))
    head, member, history = train_member(cache, patients, recipe, "m0_", progress=None)
    assert history[-1] < 0.6 * history[0]  # the loss falls
    scored = score_patients(cache, head, member, patients, "m0_")
    y = cache.labels[scored["rows"], 0]
    assert auc_score(y, scored["slice"][:, 0]) > 0.95
    assert auc_score(y, scored["own"][:, 0]) > 0.95
    series_y = np.array([cache.labels[cache.patients == p, 0].max() for p in patients])
    series_p = np.array([scored["series"][cache.patients[scored["rows"]] == p, 0][0]
                         for p in patients])
    assert auc_score(series_y, series_p) > 0.9


@pytest.fixture(scope="module")
def series_model_dir(tmp_path_factory, trunk):
    """A two-member ensemble assembled as ship_series does, with its card."""
    from cranioscan.net import series as series_net
    from cranioscan.train.series_trainer import Recipe, _build_member

    recipe = Recipe(**SMALL)
    members = [_build_member((SIZE // 16, SIZE // 16, 1024), recipe, series_net.member_prefix(k))
               for k in range(2)]
    heads, series = [m[0] for m in members], [m[1] for m in members]
    rng = np.random.default_rng(0)
    for k, s in enumerate(series):  # untrained, the context correction starts at zero
        layer = s.get_layer(f"m{k}_context_logits")
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    own = [s.get_layer(f"m{k}_own_logits") for k, s in enumerate(series)]
    folder = tmp_path_factory.mktemp("series_model")
    series_net.assemble_slice_model(trunk, heads, own, recipe.head_config()).save(
        folder / "best_model.keras")
    series_net.assemble_series_model(series, recipe.d_model, recipe.series_config()).save(
        folder / "series_model.keras")
    (folder / "model_card.json").write_text(json.dumps({
        "name": "tiny series test model", "series_model": "series_model.keras",
        "preprocessing": {"frame": "head", "size": SIZE},
        "thresholds": {c: 0.5 for c in CLASSES}, "series_thresholds": {c: 0.5 for c in CLASSES}}))
    return folder


def _head_volume(n, rows=48, cols=48):
    yy, xx = np.mgrid[:rows, :cols]
    disc = ((yy - rows / 2) ** 2 + (xx - cols / 2) ** 2) < (rows / 3) ** 2
    hu = np.where(disc, 40.0, -1000.0).astype(np.float32)
    return np.repeat(hu[None], n, axis=0) + np.arange(n, dtype=np.float32)[:, None, None]


def test_series_model_reads_1_2_and_300_slices(series_model_dir):
    from cranioscan.inference import Predictor

    predictor = Predictor.load(series_model_dir / "best_model.keras")
    assert predictor.series_model is not None and predictor.frame == "head"
    assert predictor.series_thresholds == {c: 0.5 for c in CLASSES}

    one = predictor.assess(_head_volume(1))
    assert one.context == "single slice" and one.verdict is None
    assert "single slice" in one.verdict_sentence() and one.probabilities.shape == (1, 6)
    # a single slice is read by the slice heads alone: the slice model's own output
    alone = predictor.model.predict(predictor.prepare(_head_volume(1), predictor.frame_box(
        _head_volume(1))), verbose=0)
    np.testing.assert_allclose(one.probabilities, alone, atol=1e-5)

    two = predictor.assess(_head_volume(2))
    assert two.context == "series" and set(two.verdict) == set(CLASSES)
    assert two.probabilities.shape == (2, 6) and set(two.series_scores) == set(CLASSES)

    many = predictor.assess(_head_volume(300))
    assert many.probabilities.shape == (300, 6) and np.isfinite(many.probabilities).all()
    assert many.context == "series" and not many.notes  # 5 mm apart: no slabs

    attention = predictor.series_attention(_head_volume(12))
    weights, row_of = attention
    assert weights.shape == (12, 12) and row_of.tolist() == list(range(12))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)


def test_thin_slices_are_read_as_slabs(series_model_dir):
    from types import SimpleNamespace

    from cranioscan.inference import Predictor

    predictor = Predictor.load(series_model_dir / "best_model.keras")
    hu = _head_volume(40)
    thin = SimpleNamespace(hu=hu, positions=np.arange(40) * 0.625)  # 25 mm in 0.625 mm slices
    result = predictor.assess(thin)
    assert result.probabilities.shape == (40, 6)
    assert any("5 slabs" in note for note in result.notes)
    # every thin slice of a slab shows that slab's probabilities
    np.testing.assert_array_equal(result.probabilities[0], result.probabilities[7])
    assert not np.array_equal(result.probabilities[0], result.probabilities[8])


def test_slices_reach_the_series_model_in_position_order(tmp_path, series_model_dir):
    """File names in reverse order of position: the same reading as in order."""
    from cranioscan.dicom import load_series
    from cranioscan.inference import Predictor
    from cranioscan.phantom import make_study, write_series

    study = make_study(4, matrix=48, n_slices=6, subtypes=("subdural",))
    ordered = write_series(study, tmp_path / "ordered")
    del ordered
    reversed_dir = tmp_path / "reversed"
    reversed_dir.mkdir()
    files = sorted((tmp_path / "ordered").glob("*.dcm"))
    for k, path in enumerate(files):  # rename so that name order is not slice order
        (reversed_dir / f"{len(files) - k:03d}_{path.name}").write_bytes(path.read_bytes())
    predictor = Predictor.load(series_model_dir / "best_model.keras")
    a = load_series(tmp_path / "ordered")
    b = load_series(reversed_dir)
    assert np.all(np.diff(a.positions) > 0) and np.array_equal(a.positions, b.positions)
    np.testing.assert_allclose(predictor.assess(a).probabilities,
                               predictor.assess(b).probabilities, atol=1e-6)
    # and the model does use the order: the slices reversed read differently
    flipped = predictor.read(a.hu[::-1])[0][::-1]
    assert not np.allclose(flipped, predictor.assess(a).probabilities, atol=1e-6)


def test_cli_predict_gives_the_verdict_first(tmp_path, series_model_dir, capsys):
    import csv

    from cranioscan.cli import main as cli
    from cranioscan.phantom import make_study, write_series

    write_series(make_study(5, matrix=48, n_slices=6, subtypes=("epidural",)), tmp_path / "s")
    out = tmp_path / "r.csv"
    assert cli.main(["predict", str(tmp_path / "s"), "--model",
                     str(series_model_dir / "best_model.keras"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(text for text in printed.splitlines() if "Series verdict:" in text)
    assert line.index("Series verdict:") < line.index("highest p(any)")
    with open(tmp_path / "r_series.csv", newline="") as fh:
        (row,) = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    assert row["verdict_any"] in ("yes", "no") and float(row["series_score_any"]) >= 0
    assert row["series_threshold_any"] == "0.500000" or float(row["series_threshold_any"]) == 0.5
