"""RunFolder: the run folder's file names (a contract), and the JSON helpers beside it."""

import ast
import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import pytest

from cranioscan.run_folder import (CARD_FILE, MODEL_FILE, SERIES_MODEL_FILE, VALIDATION_RUN,
                                   RunFolder, read_json, train_command, write_json)

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The names on disk, spelled out here on purpose: changing one breaks every
#: run folder already written (docs/training.md).
CONTRACT = {
    "config": "config.json", "history": "history.csv", "model": "best_model.keras",
    "model_state": "best_model.keras.json", "val_predictions": "val_predictions.csv",
    "metrics": "metrics.json", "roc": "roc.json", "pr": "pr.json", "split": "split.csv",
    "data_report": "data_report.txt", "init_from": "init_from.json", "backup": "backup",
    "cache": "cache", "folds": "folds.json", "calibration": "calibration.json",
    "card": "model_card.json", "series_model": "series_model.keras",
    "recipe": "recipe.json", "oof": "oof.npz", "head": "head.keras",
    "member": "series.keras", "member_history": "history.json",
}


@pytest.mark.parametrize("attribute, name", sorted(CONTRACT.items()))
def test_each_file_has_its_contract_name(attribute, name):
    assert getattr(RunFolder("runs/demo"), attribute) == os.path.join("runs/demo", name)


def test_plots_figures_folds_and_the_validation_run():
    run = RunFolder("model")
    assert run.plot("roc") == os.path.join("model", "roc.png")
    assert run.plot("reliability") == os.path.join("model", "reliability.png")
    assert run.figures("top_slice") == os.path.join("model", "figures_top_slice.json")
    assert run.fold(3) == RunFolder(os.path.join("model", "fold3"))
    assert run.fold(3).member == os.path.join("model", "fold3", "series.keras")
    assert run.validation_run.metrics == os.path.join("model", "validation_run", "metrics.json")
    assert (MODEL_FILE, CARD_FILE, SERIES_MODEL_FILE, VALIDATION_RUN) == (
        "best_model.keras", "model_card.json", "series_model.keras", "validation_run")


def test_path_like_folder_and_its_name(tmp_path):
    run = RunFolder(tmp_path / "cv-5")
    assert run.path == str(tmp_path / "cv-5") and isinstance(run.path, str)
    assert run.name == "cv-5" and RunFolder("runs/demo/").name == "demo"
    assert not run.finished()
    run_dir = tmp_path / "cv-5"
    run_dir.mkdir()
    (run_dir / "val_predictions.csv").write_text("image_id\n")
    assert run.finished()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.path = "elsewhere"


def test_read_json_default_only_for_a_missing_file(tmp_path):
    missing = tmp_path / "metrics.json"
    assert read_json(missing, {}) == {}
    assert read_json(missing, None) is None
    with pytest.raises(FileNotFoundError):
        read_json(missing)
    missing.write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        read_json(missing, {})  # a broken file is an error, not the default


def test_write_json_layouts_by_hand(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n "b": 1,\n "a": [\n  1,\n  2\n ]\n}'
    write_json(path, {"b": 1, "a": 2}, indent=None, sort_keys=True)
    assert path.read_text() == '{"a": 2, "b": 1}'
    assert read_json(path) == {"a": 2, "b": 1}


def test_train_command_by_hand():
    config = {"data": "ctich", "fold": 0, "holdout": [70, 92], "quiet": True, "labels": None,
              "no_augment": False, "stream": {"backend": "jax 0.4 on H100"}, "weights": []}
    assert train_command(config) == ("KERAS_BACKEND=jax python train.py --data ctich --fold 0 "
                                     "--holdout 70 92 --quiet")
    assert train_command({"out": "runs/a"}) == "python train.py --out runs/a"


def _string_constants(path):
    """String literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_run_folder_names_are_spelled_only_in_run_folder():
    names = (set(CONTRACT.values()) - {"backup", "cache"}) | {"roc.png", "pr.png",
                                                             "reliability.png"}
    files = [ROOT / "train.py", ROOT / "cranioscan" / "inference.py",
             ROOT / "cranioscan" / "ui" / "caches.py",
             ROOT / "cranioscan" / "visualize" / "validation_view.py"]
    for package in ("train", "evaluation", "net"):
        files += sorted((ROOT / "cranioscan" / package).glob("*.py"))
    found = {str(path.relative_to(ROOT)): sorted(names & set(_string_constants(path)))
             for path in files}
    assert {path: hits for path, hits in found.items() if hits} == {}


def test_reports_and_metrics_import_without_keras():
    code = ("import sys, cranioscan.evaluation.metrics, cranioscan.evaluation.crossval, "
            "cranioscan.evaluation.model_card, cranioscan.train.trainer, cranioscan.run_folder; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
