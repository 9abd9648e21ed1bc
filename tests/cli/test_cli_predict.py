"""Tests of ``python -m cranioscan predict`` on phantom studies (as a subprocess)."""

import csv
import re
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cranioscan.cli import main as cli, predict as cli_predict
from cranioscan.labels import CLASSES

from cranioscan.testing.factory import make_series, write_series

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = {"any": 0.0, "epidural": 1.0}  # "any" always flagged, "epidural" never


def run(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "cranioscan", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=240, env=env)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


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
    # the terminal calls the MR series what the series CSV does: skipped, not an error
    assert re.search(r"cranioscan predict: skipped: \S*mr: left out: it is MR, not CT", proc.stderr)
    assert "only localizer images" in proc.stderr  # the loader's reason, as a warning
    assert "README.txt: not a DICOM file" in proc.stderr

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
        assert [int(r["slice"]) for r in mine] == list(range(1, 6))  # from 1, as the viewer
        assert {r["thickness_mm"] for r in mine} == {"5.000"}
        positions = [float(r["position_mm"]) for r in mine]
        assert positions == sorted(positions)
        probs = np.array([[float(r[f"prob_{c}"]) for c in CLASSES] for r in mine])
        paths = [worklist / "rsna" / f"ID_{r['sop_uid']}.dcm" for r in mine]
        series = load_series(paths)
        assert series.sop_uids == [r["sop_uid"] for r in mine]
        # Expected from the files and the bare model, not from the code under test: pydicom's
        # stored values times slope plus intercept (64 x 64: no resize), the windows' formula.
        import pydicom

        hu = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
                       for ds in map(pydicom.dcmread, paths)]).astype(np.float32)
        x = np.stack([np.clip((hu - (level - width / 2)) / width, 0, 1)
                      for level, width in ((40, 80), (80, 200), (600, 2800))], axis=-1)
        expected = predictor.model(x.astype(np.float32), training=False).numpy()
        np.testing.assert_allclose(probs, expected, atol=2e-6)
        # the flag column as the dashboard's: a class at or above its card threshold (THRESHOLDS;
        # others 0.5): "any" on every slice, epidural on none
        limits = {c: THRESHOLDS.get(c, 0.5) for c in CLASSES}
        assert [r["flagged"] for r in mine] == [
            ";".join(c for j, c in enumerate(CLASSES) if row[j] >= limits[c]) for row in probs]
        assert all(r["flagged"].startswith("any") for r in mine)
        assert {r["study_uid"] for r in mine} == {series.study_uid}
        per_series[uid] = probs

    # Both files open with the dashboard's header lines, made by the one function.
    from cranioscan.card_text import identity_lines
    from cranioscan.formats import csv_header

    header = csv_header(identity_lines(predictor.card, model_path, predictor.sha256),
                        predictor.thresholds, CLASSES)
    for name in ("results.csv", "results_series.csv"):
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        assert lines[:len(header)] == header, name
    assert any(line.startswith("# SHA-256: " + predictor.sha256) for line in header)
    assert any(line.startswith("# Thresholds (model card): any 0.000, epidural 1.000")
               for line in header)

    # Per series: the two phantoms in triage order, the unreadable one, then what was left out.
    table = read_csv(tmp_path / "results_series.csv")
    assert list(table[0]) == cli_predict.SERIES_COLUMNS
    assert [r["status"] for r in table][:3] == ["ok", "ok", "error"]
    skipped = {Path(r["source"]).name: r["message"] for r in table[3:]}
    assert set(r["status"] for r in table[3:]) == {"skipped"}
    assert skipped["README.txt"] == "not a DICOM file"
    assert skipped["mr"] == "left out: it is MR, not CT"
    assert {"stage_2_train.csv", "phantom_studies.json"} <= set(skipped)  # RSNA sidecar files
    assert float(table[0]["max_prob_any"]) >= float(table[1]["max_prob_any"])
    for row in table[:2]:
        probs = per_series[row["series_uid"]]
        assert int(row["n_slices"]) == 5
        for j, c in enumerate(CLASSES):
            assert float(row[f"max_prob_{c}"]) == pytest.approx(probs[:, j].max(), abs=1e-6)
            assert int(row[f"max_slice_{c}"]) == int(np.argmax(probs[:, j])) + 1
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


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Good series among broken entries: the worklist a PACS export really gives.

    Two good CT series (one of a single slice), a truncated slice in one of them, a text
    file, a damaged zip, a named pipe, a link to /dev/zero and a file whose name holds
    terminal escape sequences.
    """
    import os

    from cranioscan.testing.factory import to_bytes

    root = tmp_path_factory.mktemp("messy")
    good = write_series(make_series(4, series_uid="1.2.3.10", series_description="Head 5mm",
                                    pixels=lambda i: np.full((16, 16), 1024 + 20 * i)),
                        root / "study1")
    data = good[2].read_bytes()
    good[2].write_bytes(data[: len(data) - 100])  # pixel data cut short
    one = make_series(1, series_uid="1.2.3.11", series_description="Single",
                      pixels=np.full((16, 16), 1060))
    (root / "study2").mkdir()
    (root / "study2" / "only\x1b[31m\nslice.dcm").write_bytes(to_bytes(one[0]))
    (root / "notes.txt").write_text("export log")
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    os.mkfifo(root / "pipe.dcm")
    os.symlink("/dev/zero", root / "zero.dcm")
    return root


def test_predict_scores_every_good_series_and_lists_every_bad_entry(model_path, messy, tmp_path):
    out = tmp_path / "r.csv"
    proc = run("predict", messy, "--out", out, "--model", model_path)
    assert proc.returncode == 0, proc.stderr
    err, stdout = proc.stderr, proc.stdout
    assert "Traceback" not in err
    # Terminal: one line per entry left out, with its reason; names escaped.
    assert "skipped: " + str(messy / "notes.txt") + ": not a DICOM file" in err
    assert re.search(r"skipped: .*broken\.zip: not a readable zip archive", err)
    assert "pipe.dcm: a named pipe (FIFO), not a file: not read" in err
    assert "zero.dcm: a device, not a file: not read" in err
    assert re.search(r"skipped: .*slice_002\.dcm: left out of the series: the image data are cut "
                     r"short", err)
    assert "\x1b" not in err + stdout
    assert "only\\x1b[31m\\nslice.dcm" not in err  # a good file: scored, so not listed
    # Both good series scored; the truncated slice left out of its series.
    rows = read_csv(out)
    by_series = {uid: [r for r in rows if r["series_uid"] == uid] for uid in ("1.2.3.10", "1.2.3.11")}
    assert [int(r["slice"]) for r in by_series["1.2.3.10"]] == [1, 2, 3]
    assert [int(r["slice"]) for r in by_series["1.2.3.11"]] == [1]
    table = read_csv(tmp_path / "r_series.csv")
    assert [r["status"] for r in table] == ["ok", "ok"] + ["skipped"] * 5
    reasons = {Path(r["source"]).name: r["message"] for r in table[2:]}
    assert set(reasons) == {"notes.txt", "broken.zip", "pipe.dcm", "zero.dcm", "slice_002.dcm"}
    # stdout: one summary line per series, correct plurals, the model's line, the totals.
    lines = stdout.splitlines()
    verdict = re.escape("No series verdict: this model reads slices one at a time. ")
    assert re.search(r"study2 'Single' \(series 1\.2\.3\.11\): " + verdict + r"1 slice; highest p\(any\) "
                     r"[01]\.\d{3} on slice 1; flagged: any(, \w+)*$", stdout, re.MULTILINE)
    assert re.search(r"study1 'Head 5mm' \(series 1\.2\.3\.10\): " + verdict + r"3 slices; highest p\(any\) "
                     r"[01]\.\d{3} on slice [123]; flagged: any(, \w+)*$", stdout, re.MULTILINE)
    assert "1 slices" not in stdout
    assert lines[-2].startswith("Model: tiny.keras (sha256 ")
    assert lines[-2].endswith("Model without a model card — research use only, not for "
                              "clinical use.")
    assert lines[-1].startswith("Scored 2 series (4 slices); 5 entries not scored")


def test_predict_terminal_has_no_tensorflow_noise_and_quiet_json_modes(model_path, messy, tmp_path):
    # A common setting that still lets TensorFlow's ERROR lines (the CUDA probe's) through.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = run("predict", messy / "study1", "--out", tmp_path / "a.csv", "--model", model_path,
               "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    noise = ("oneDNN", "absl", "cuda", "cpu_feature_guard", "tensorflow", "I0000", "E0000")
    assert not any(word in proc.stderr for word in noise), proc.stderr
    assert proc.stderr.strip().startswith("cranioscan predict: skipped: ")  # only what was left out

    proc = run("predict", messy / "study1", messy / "study2", "--out", tmp_path / "b.csv",
               "--model", model_path, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert report["model"]["name"] == "tiny.keras"
    assert report["model"]["validity"].endswith("not for clinical use.")
    assert len(report["model"]["sha256"]) == 64
    assert report["slice_csv"] == str(tmp_path / "b.csv")
    series = {s["series_uid"]: s for s in report["series"]}
    assert series["1.2.3.10"]["n_slices"] == 3 and series["1.2.3.11"]["n_slices"] == 1
    assert series["1.2.3.11"]["max_slice"]["any"] == 1  # numbered from 1
    assert series["1.2.3.10"]["flagged"][0] == "any"  # the card flags any at 0.0
    probs = [float(r["prob_any"]) for r in read_csv(tmp_path / "b.csv")
             if r["series_uid"] == "1.2.3.10"]
    assert series["1.2.3.10"]["max_prob"]["any"] == pytest.approx(max(probs), abs=1e-6)
    [left] = report["not_scored"]
    assert left["kind"] == "file" and "cut short" in left["reason"]
    assert not any(word in proc.stderr for word in noise)


def test_predict_checks_out_before_scoring_and_says_why_nothing_scored(model_path, messy, tmp_path):
    # --out is a folder, or under a file: refused at once, nothing read or written
    for out, why in ((tmp_path, "is a folder"), (messy / "notes.txt" / "r.csv", "is a file")):
        proc = run("predict", messy, "--out", out, "--model", model_path)
        assert proc.returncode == 2
        assert f"--out: {out}" in proc.stderr and why in proc.stderr
        assert "Found" not in proc.stderr and "Traceback" not in proc.stderr
    proc = run("predict", messy, "--out", tmp_path / "r.csv", "--series-out", tmp_path,
               "--model", model_path)
    assert proc.returncode == 2 and "--series-out" in proc.stderr
    assert not (tmp_path / "r.csv").exists()

    # nothing scorable: exit 2, each entry named with its reason, no CSV
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_text("x")
    (bad / "b.zip").write_bytes(b"PK\x03\x04junk")
    proc = run("predict", bad, "--out", tmp_path / "n.csv", "--model", model_path)
    assert proc.returncode == 2
    assert "nothing to score" in proc.stderr
    assert "a.txt: not a DICOM file" in proc.stderr and "b.zip" in proc.stderr
    assert not (tmp_path / "n.csv").exists()


def test_predict_a_300_slice_thin_series(model_path, tmp_path):
    """Thin-slice head CT: 300 slices 0.625 mm apart, all scored, numbered 1..300."""
    write_series(make_series(300, dz=0.625, thickness=0.625, pixels=lambda i: np.full((24, 24), 1024 + i % 50)),
                 tmp_path / "thin")
    out = tmp_path / "thin.csv"
    proc = run("predict", tmp_path / "thin", "--out", out, "--model", model_path, "--batch-size", "32")
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    assert [int(r["slice"]) for r in rows] == list(range(1, 301))
    assert {r["thickness_mm"] for r in rows} == {"0.625"}
    assert float(rows[-1]["position_mm"]) - float(rows[0]["position_mm"]) == pytest.approx(299 * 0.625)
    [series] = read_csv(tmp_path / "thin_series.csv")
    assert series["n_slices"] == "300" and series["message"] == ""  # regular spacing: no warning
    assert "one at a time. 300 slices; highest p(any)" in proc.stdout  # the verdict, then the slices
    assert "300 slices scored in" in proc.stderr
