"""The model card follows from the model file and its validation run."""

import hashlib
import json

import pytest

from cranioscan.labels import CLASSES
from cranioscan.evaluation.model_card import build_card, card_of_model, main, store_measurement


def test_card_numbers_come_from_the_file_and_the_run(tiny_model_dir, tmp_path):
    model = tiny_model_dir / "best_model.keras"
    run = tiny_model_dir / "validation_run"
    card = build_card(str(model), str(run))
    assert card["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert card["synthetic"] is True and "no patient data" in card["trained_on"]
    metrics = json.loads((run / "metrics.json").read_text())
    for name in CLASSES:
        assert card["metrics"][name]["auc"] == metrics["classes"][name]["auc"]
        assert card["thresholds"][name] == metrics["classes"][name]["threshold"]
    assert any("Not for clinical use" in line for line in card["limitations"])
    assert card["training"]["epoch_minutes_total"] is None  # no epoch_seconds in its history
    assert card["training"]["sampling"].startswith("uniform")  # no --class-balance
    out = tmp_path / "card.json"
    assert main(["--model", str(model), "--run", str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["sha256"] == card["sha256"]


def test_a_run_continued_from_earlier_weights_names_them(tiny_model_dir, tmp_path):
    import shutil

    from cranioscan.train.trainer import record_init_from

    model = tiny_model_dir / "best_model.keras"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    shutil.copy(model, earlier / "best_model.keras")
    card = build_card(str(earlier / "best_model.keras"), str(tiny_model_dir / "validation_run"))
    (earlier / "model_card.json").write_text(json.dumps(card))
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir / "validation_run", run)
    config = {"out": str(run), "init_from": str(earlier / "best_model.keras")}
    record = record_init_from(config)
    assert record["sha256"] == card["sha256"]
    assert record["model_card"]["training"] == card["training"]
    # The file is replaced by the new model: a resumed run keeps the first record.
    (earlier / "best_model.keras").write_bytes(b"the continued model")
    assert record_init_from(config) == record
    assert record_init_from({"out": str(run), "init_from": None}) is None

    (run / "history.csv").write_text("epoch,loss,epoch_seconds\n0,0.5,600.0\n1,0.4,660.0\n")
    continued = build_card(str(model), str(run))
    assert continued["training"]["epoch_minutes_total"] == 21.0
    assert continued["training"]["initialised_from"] == record
    assert "continued from an earlier model" in continued["trained_on"]
    assert "initialised_from" not in build_card(str(model), str(tiny_model_dir / "validation_run"))


def test_class_balanced_training_is_on_the_card(tiny_model_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir / "validation_run", run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "class_balance": 0.5}))
    card = build_card(str(tiny_model_dir / "best_model.keras"), str(run))
    assert "(f_max/f_class)^0.5" in card["training"]["sampling"]
    assert "shifted back" in card["training"]["sampling"]
    assert "--class-balance 0.5" in card["training"]["command"]


def test_a_streamed_gpu_run_says_where_and_on_what_it_trained(tiny_model_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir / "validation_run", run)
    config = json.loads((run / "config.json").read_text())
    stream = {"backend": "jax 0.11.2 on NVIDIA H200", "studies_rendered": 7085,
              "validation_studies": 100, "trained_minutes": 7.2}
    (run / "config.json").write_text(json.dumps({
        **config, "phantom_studies": 8000, "phantom_seed": 20000, "stream_minutes": 6.5,
        "stream": stream}))
    card = build_card(str(tiny_model_dir / "best_model.keras"), str(run))
    command = card["training"]["command"]
    assert command.startswith("KERAS_BACKEND=jax python train.py ")
    assert "--stream-minutes 6.5" in command and "--phantom-studies 8000" in command
    assert "--stream " not in command and "H200" not in command  # recorded facts are no flags
    assert card["training"]["hardware"] == "jax 0.11.2 on NVIDIA H200"
    assert "7085 studies rendered while training, the first 100 for validation" in card[
        "trained_on"]
    assert any("H200" in line for line in card["limitations"])
    plain = build_card(str(tiny_model_dir / "best_model.keras"),
                       str(tiny_model_dir / "validation_run"))
    assert plain["training"]["hardware"] == "2 CPU cores, no GPU"
    assert plain["training"]["command"].startswith("python train.py")


def test_measurements_land_only_on_the_card_of_the_measured_file(tiny_model_dir, tmp_path):
    model = tiny_model_dir / "best_model.keras"
    run = tiny_model_dir / "validation_run"
    out = tmp_path / "card.json"
    assert main(["--model", str(model), "--run", str(run), "--out", str(out)]) == 0
    sha = json.loads(out.read_text())["sha256"]
    store_measurement(str(out), "localisation_sweep", {"rows": []}, sha)
    store_measurement(str(out), "held_out_evaluation", {"auc": {"any": 0.9}}, sha)
    before = out.read_text()
    with pytest.raises(ValueError, match="not the one measured"):
        store_measurement(str(out), "held_out_evaluation", {"auc": {}}, "0" * 64)
    with pytest.raises(ValueError, match="unknown card entry"):
        store_measurement(str(out), "metrics", {}, sha)
    assert out.read_text() == before
    with pytest.raises(ValueError, match="cannot read the model card"):
        card_of_model(str(tmp_path / "missing.json"), sha)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        card_of_model(str(tmp_path / "broken.json"), sha)
    # Rebuilding the card of the same file keeps both measurements.
    assert main(["--model", str(model), "--run", str(run), "--out", str(out)]) == 0
    card = json.loads(out.read_text())
    assert card["localisation_sweep"] == {"rows": []}
    assert card["held_out_evaluation"] == {"auc": {"any": 0.9}}


def test_a_measurement_script_stops_before_its_run_on_the_wrong_card(tiny_model_dir, tmp_path,
                                                                      capsys):
    import argparse

    from cranioscan.evaluation.model_card import add_measurement_arguments, load_measured_model

    parser = argparse.ArgumentParser(prog="measure")
    add_measurement_arguments(parser)
    model = str(tiny_model_dir / "best_model.keras")
    args = parser.parse_args(["--model", model, "--card", str(tiny_model_dir / "model_card.json")])
    with pytest.raises(SystemExit):  # the fixture card does not carry the file's SHA-256
        load_measured_model(parser, args)
    assert "not the one measured" in capsys.readouterr().err
    out = tmp_path / "card.json"
    assert main(["--model", model, "--run", str(tiny_model_dir / "validation_run"),
                 "--out", str(out)]) == 0
    predictor = load_measured_model(parser, parser.parse_args(["--model", model, "--card", str(out)]))
    assert predictor.sha256 == json.loads(out.read_text())["sha256"]
    assert load_measured_model(parser, parser.parse_args(["--model", model])).path == model
