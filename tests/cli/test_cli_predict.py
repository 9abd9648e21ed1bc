"""Tests of ``python -m cranioscan predict`` on phantom studies (as a subprocess)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cranioscan.cli import main as cli, predict as cli_predict
from cranioscan.labels import CLASSES

from cranioscan.dicom.factory import make_series, write_series

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = {"any": 0.0, "epidural": 1.0}  # "any" always flagged, "epidural" never


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "cranioscan", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=240)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def small_model():
    """A small 6-output model with a CranioScan custom layer (loaded in safe mode).

    The command does not depend on the architecture; the full R50 hybrid
    would only make the subprocess slower (see tests/test_inference.py).
    """
    import keras

    from cranioscan.net.layers import InputScaling

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 3), name="image")
    x = InputScaling(name="input_scaling")(inputs)
    x = keras.layers.Conv2D(8, 4, strides=4, activation="relu", name="conv4_block6_out")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(6, name="logits")(x)
    outputs = keras.layers.Activation("sigmoid", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="small")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from cranioscan.net.model import save_for_inference

    folder = tmp_path_factory.mktemp("model")
    path = save_for_inference(small_model(), folder / "tiny.keras")
    (folder / "model_card.json").write_text(json.dumps({"thresholds": THRESHOLDS}))
    return Path(path)


@pytest.fixture(scope="module")
def worklist(tmp_path_factory):
    """Two phantom studies (flat RSNA layout), an MR series and a CT localizer-only series."""
    from cranioscan.phantom import make_dataset

    root = tmp_path_factory.mktemp("worklist")
    make_dataset(root / "rsna", 2, seed=3, matrix=64, progress=False, n_slices=5)
    mr = make_series(2, series_uid="1.2.3.900", modality="MR", series_description="T2",
                     pixels=np.zeros((16, 16)))
    write_series(mr, root / "other" / "mr")
    scouts = make_series(2, series_uid="1.2.3.901", series_description="Scout",
                         pixels=np.zeros((16, 16)), ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    write_series(scouts, root / "other" / "scout")
    (root / "README.txt").write_text("worklist of the day")
    return root


def test_predict_writes_per_slice_and_per_series_csv(model_path, worklist, tmp_path):
    from cranioscan.dicom import load_series
    from cranioscan.inference import Predictor

    out = tmp_path / "results.csv"
    proc = run("predict", worklist, "--out", out, "--model", model_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "is MR, not CT" in proc.stderr
    assert "only localizer images" in proc.stderr  # the loader's reason, as a warning

    # Per slice: one row per phantom slice, the ids of the DICOM files.
    rows = read_csv(out)
    assert list(rows[0]) == cli_predict.SLICE_COLUMNS
    assert len(rows) == 10
    sops = {p.name[3:-4] for p in (worklist / "rsna").glob("ID_*.dcm")}
    assert {r["sop_uid"] for r in rows} == sops
    predictor = Predictor.load(model_path)
    series_uids = sorted({r["series_uid"] for r in rows})
    assert len(series_uids) == 2
    per_series = {}
    for uid in series_uids:
        mine = [r for r in rows if r["series_uid"] == uid]
        assert [int(r["slice_index"]) for r in mine] == list(range(5))
        positions = [float(r["position_mm"]) for r in mine]
        assert positions == sorted(positions)
        probs = np.array([[float(r[f"prob_{c}"]) for c in CLASSES] for r in mine])
        paths = [worklist / "rsna" / f"ID_{r['sop_uid']}.dcm" for r in mine]
        series = load_series(paths)
        assert series.sop_uids == [r["sop_uid"] for r in mine]
        np.testing.assert_allclose(probs, predictor.predict_series(series), atol=2e-6)
        assert {r["study_uid"] for r in mine} == {series.study_uid}
        per_series[uid] = probs

    # Per series: the two phantoms in triage order, then the unreadable one.
    table = read_csv(tmp_path / "results_series.csv")
    assert list(table[0]) == cli_predict.SERIES_COLUMNS
    assert [r["status"] for r in table] == ["ok", "ok", "error"]
    assert float(table[0]["max_prob_any"]) >= float(table[1]["max_prob_any"])
    for row in table[:2]:
        probs = per_series[row["series_uid"]]
        assert int(row["n_slices"]) == 5
        for j, c in enumerate(CLASSES):
            assert float(row[f"max_prob_{c}"]) == pytest.approx(probs[:, j].max(), abs=1e-6)
            assert int(row[f"max_slice_{c}"]) == int(np.argmax(probs[:, j]))
        expected = [c for j, c in enumerate(CLASSES)
                    if probs[:, j].max() >= THRESHOLDS.get(c, 0.5)]
        assert row["flagged"].split(";") == expected
        assert "any" in expected and "epidural" not in expected
        assert int(row["slices_above_any"]) == 5
    assert table[2]["series_uid"] == ""  # localizers only: the loader's message
    assert "only localizer images" in table[2]["message"]


def test_predict_non_ct_folder_exits_2_with_the_loaders_message(model_path, worklist, tmp_path):
    out = tmp_path / "r.csv"
    proc = run("predict", worklist / "other" / "mr", "--out", out, "--model", model_path)
    assert proc.returncode == 2
    assert "is MR, not CT" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()

    text_only = tmp_path / "notes"
    text_only.mkdir()
    (text_only / "a.txt").write_text("hello")
    proc = run("predict", text_only, "--out", out, "--model", model_path)
    assert proc.returncode == 2
    assert "not a DICOM file" in proc.stderr and "Traceback" not in proc.stderr


def test_predict_missing_default_model_has_a_clear_message(worklist, tmp_path, monkeypatch, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["predict", str(worklist), "--out", "r.csv"])
    assert args.model == "model/best_model.keras" == cli_predict.DEFAULT_MODEL
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_predict, "REPO_ROOT", tmp_path)  # no checkout model either
    assert cli.main(["predict", str(worklist), "--out", "r.csv"]) == 2
    err = capsys.readouterr().err
    assert "Model file not found: model/best_model.keras" in err and "--model PATH" in err
    assert not (tmp_path / "r.csv").exists()

    assert cli.main(["predict", str(worklist), "--out", "r.csv", "--model", "x.keras"]) == 2
    assert "Model file not found: x.keras" in capsys.readouterr().err


def test_predict_bad_model_file_and_arguments(worklist, tmp_path, capsys):
    fake = tmp_path / "fake.keras"
    fake.write_text("not a model")
    assert cli.main(["predict", str(worklist), "--out", str(tmp_path / "r.csv"),
                     "--model", str(fake)]) == 2
    err = capsys.readouterr().err
    assert "fake.keras is not a Keras model file" in err
    assert cli.main(["predict", str(worklist), "--out", "r.csv", "--model", str(fake),
                     "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err
    assert cli.main(["predict", str(worklist), "--out", "r.csv", "--series-out", "r.csv"]) == 2


def test_default_series_out():
    assert cli_predict.default_series_out("out/results.csv") == Path("out/results_series.csv")
    assert cli_predict.default_series_out("results") == Path("results_series.csv")
