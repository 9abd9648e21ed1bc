"""The model card follows from the model file and its validation run."""

import hashlib
import json

from cranioscan.labels import CLASSES
from cranioscan.model_card import build_card, main


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
    out = tmp_path / "card.json"
    assert main(["--model", str(model), "--run", str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["sha256"] == card["sha256"]
