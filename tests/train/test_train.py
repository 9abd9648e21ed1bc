"""train.py end to end on tiny phantom data, the RSNA adapter on the RSNA layout, and
CT-ICH cross-validation folds merged into one out-of-fold run folder.

The model is tiny (64 px, one encoder block) so a run fits in a few minutes on
two cores; the full-size configuration is the same code with other numbers.
"""

import json
import os
import shutil
import importlib.util
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cranioscan.train.rsna import load_rsna
from cranioscan.labels import CLASSES
from cranioscan.phantom import make_dataset
from cranioscan.evaluation import crossval
from cranioscan.evaluation.reports import load_run, read_val_predictions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--input-size", "64", "--d-model", "32", "--depth", "1", "--heads", "2",
        "--mlp-dim", "64", "--batch-size", "8", "--bootstrap", "30", "--quiet"]


@pytest.fixture(scope="module")
def rsna_layout(tmp_path_factory):
    """Six phantom studies written as DICOM in the RSNA 2019 layout."""
    out = tmp_path_factory.mktemp("rsna")
    make_dataset(str(out), 6, seed=11, matrix=64, n_slices=6, progress=False)
    return out


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _train(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=1500)


def train_in_process(capsys, *args):
    """Run ``train.main(args)`` in this process: ``(exit code, stderr)``.

    For argument and input checks that stop before training: no new Python
    and TensorFlow start-up per check.
    """
    spec = importlib.util.spec_from_file_location("train_script", os.path.join(ROOT, "train.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    capsys.readouterr()
    try:
        code = script.main([str(a) for a in args])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    return code, capsys.readouterr().err


def test_rsna_adapter_reads_the_phantom_layout(rsna_layout):
    table = load_rsna(str(rsna_layout / "stage_2_train.csv"), str(rsna_layout))
    assert len(table) == 36
    assert table.frame["study"].nunique() == 6
    labels_csv = pd.read_csv(rsna_layout / "stage_2_train.csv")
    assert table.labels.sum() == labels_csv["Label"].sum()
    # Slices of each study come out ordered by position.
    for _, group in table.frame.groupby("study"):
        assert group["position"].is_monotonic_increasing
    assert table.report.unreadable_images == 0 and table.report.labels_without_image == 0


def test_rsna_adapter_counts_missing_extra_and_broken_files(rsna_layout, tmp_path):
    data = _copy(rsna_layout, tmp_path / "data")
    dcms = sorted(p for p in os.listdir(data) if p.endswith(".dcm"))
    os.remove(data / dcms[0])                                   # labels without image
    shutil.copy(data / dcms[1], data / "ID_feedbeef.dcm")       # image without labels
    (data / dcms[2]).write_bytes(b"not a dicom file at all")     # unreadable
    table = load_rsna(str(data / "stage_2_train.csv"), str(data))
    report = table.report
    assert report.labels_without_image == 1
    assert report.images_without_labels == 1
    assert report.unreadable_images == 1
    assert dcms[2] in report.examples["unreadable_images"]
    assert len(table) == 36 - 2
    text = "\n".join(report.lines())
    assert "labelled images with no DICOM file" in text and "unreadable" in text


def test_train_rejects_bad_labels_with_a_message(tmp_path, capsys):
    (tmp_path / "stage_2_train.csv").write_text("Image,Target\nfoo,1\n")
    code, stderr = train_in_process(capsys, "--data", "rsna", "--data-dir", tmp_path, "--out",
                                    tmp_path / "run", *TINY)
    assert code == 2
    assert "expected the RSNA header 'ID,Label'" in stderr
    assert "Traceback" not in stderr


def test_train_on_rsna_layout_writes_a_complete_run_folder(rsna_layout, tmp_path):
    run = tmp_path / "run"
    result = _train("--data", "rsna", "--data-dir", str(rsna_layout), "--out", str(run),
                    "--epochs", "1", "--val-fraction", "0.34", "--workers", "2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "history.csv", "best_model.keras", "val_predictions.csv",
                 "metrics.json", "roc.json", "pr.json", "roc.png", "pr.png", "split.csv"):
        assert (run / name).is_file(), name
    split = pd.read_csv(run / "split.csv")
    train_studies = set(split.loc[split["split"] == "train", "study"])
    val_studies = set(split.loc[split["split"] == "val", "study"])
    assert train_studies and val_studies and not train_studies & val_studies
    ids, labels, probs = read_val_predictions(run / "val_predictions.csv")
    assert set(ids["study"]) == val_studies
    assert probs.shape == (len(ids), 6) and np.all((probs >= 0) & (probs <= 1))
    metrics = json.loads((run / "metrics.json").read_text())
    # The reported numbers follow from the predictions.
    assert metrics["n_samples"] == len(ids)
    for j, name in enumerate(CLASSES):
        assert metrics["classes"][name]["n_pos"] == int(labels[:, j].sum())
    roc = json.loads((run / "roc.json").read_text())
    assert set(roc) == set(CLASSES)
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == "rsna" and config["input_size"] == 64
    assert load_run(str(run)).probs.shape == probs.shape


@pytest.mark.slow
def test_train_on_phantoms_rerun_reuses_cache_and_appends_history(tmp_path):
    run = tmp_path / "run"
    args = ["--data", "phantom", "--out", str(run), "--phantom-studies", "6",
            "--phantom-slices", "5", "--phantom-matrix", "64", "--val-fraction", "0.34", *TINY]
    first = _train(*args, "--epochs", "1", "--class-balance", "0.5")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "class balance 0.5" in (run / "data_report.txt").read_text()
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 1 and "val_auc" in history.columns
    # A second run in the same folder reuses the cache and appends to the history.
    second = _train(*args, "--epochs", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the phantom cache" in second.stdout
    assert len(pd.read_csv(run / "history.csv")) >= 2


def _fake_ctich(root, n_patients=8, slices=4, size=48):
    rng = np.random.default_rng(0)
    rows = ["patient,slice,any,epidural,intraparenchymal,intraventricular,subarachnoid,"
            "subdural,fracture"]
    for p in range(1, n_patients + 1):
        for s in range(1, slices + 1):
            brain = np.full((size, size), 110, np.uint8) + rng.integers(0, 10, (size, size),
                                                                        dtype=np.uint8)
            bleed = p % 2 == 0 and s in (2, 3)
            if bleed:
                brain[10:20, 10:20] = 200
            bone = np.full((size, size), 74, np.uint8)
            for kind, grey in (("brain", brain), ("bone", bone)):
                folder = root / f"{p:03d}" / kind
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(grey).save(folder / f"{s:02d}.jpg", quality=90)
            subtype = 1 + (p // 2) % 5 if bleed else 0
            labels = [0] * 6
            if subtype:
                labels[0] = labels[subtype] = 1
            rows.append(f"{p},{s}," + ",".join(map(str, labels[:6])) + ",0")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_ctich_folds_train_and_merge_into_one_cv_folder(tmp_path, capsys):
    data = _fake_ctich(tmp_path / "ctich")
    common = ["--data", "ctich", "--data-dir", data, "--cache-dir", tmp_path / "cache",
              "--phantom-studies", "2", "--phantom-matrix", "64", "--phantom-slices", "6",
              "--phantom-share", "0.25", "--epochs", "1", "--steps-per-epoch", "2",
              "--monitor", "last", "--noise", "0.01", "--sharpness", "0.2", "--contrast", "0.1",
              *TINY]
    folds = []
    for fold in (0, 1):
        out = tmp_path / f"fold{fold}"
        code, err = train_in_process(capsys, *common, "--cv-folds", 2, "--fold-seed", 3,
                                     "--fold", fold, "--out", out)
        assert code == 0, err
        folds.append(str(out))
        report = (out / "data_report.txt").read_text()
        assert "PhysioNet CT-ICH" in report and "phantom share of drawn training slices" in report
        config = json.loads((out / "config.json").read_text())
        assert config["fold"] == fold and config["cv_folds"] == 2
        predicted = pd.read_csv(out / "val_predictions.csv", dtype={"patient": str})
        assert set(predicted["patient"]).isdisjoint(
            pd.read_csv(out / "split.csv", dtype={"patient": str}).query("split == 'train'")[
                "patient"])
        assert predicted["patient"].str.startswith("CTICH").all()  # no phantom in validation
    merged = tmp_path / "cv"
    assert crossval.main([*folds, "--out", str(merged), "--bootstrap", "20"]) == 0
    run = load_run(str(merged))
    assert run.ids["patient"].nunique() == 8 and len(run.ids) == 32
    assert json.loads((merged / "folds.json").read_text())[0]["command"].startswith(
        "python train.py")
    # A held-out patient is in neither split of a run without folds.
    out = tmp_path / "final"
    code, err = train_in_process(capsys, *common, "--holdout", 2, "--out", out)
    assert code == 0, err
    split = pd.read_csv(out / "split.csv", dtype={"patient": str})
    assert set(split.query("split == 'val'")["patient"]) == {"CTICH002"}
    assert "CTICH002" not in set(split.query("split == 'train'")["patient"])


def test_ctich_argument_checks(tmp_path, capsys):
    code, err = train_in_process(capsys, "--data", "ctich", "--out", tmp_path / "a", *TINY)
    assert code == 2 and "--data ctich needs --data-dir" in err
    code, err = train_in_process(capsys, "--data", "ctich", "--data-dir", tmp_path / "none",
                                 "--out", tmp_path / "b", *TINY)
    assert code == 2 and "no labels.csv" in err
    data = _fake_ctich(tmp_path / "ctich", n_patients=4, slices=2, size=32)
    common = ["--data", "ctich", "--data-dir", data, "--phantom-studies", 0, *TINY]
    code, err = train_in_process(capsys, *common, "--cv-folds", 2, "--fold", 5,
                                 "--out", tmp_path / "c")
    assert code == 2 and "--fold must be in 0..1" in err
    code, err = train_in_process(capsys, *common, "--cv-folds", 9, "--out", tmp_path / "d")
    assert code == 2 and "between 2 and the number of patients" in err
