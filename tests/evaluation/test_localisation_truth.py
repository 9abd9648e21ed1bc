"""Localisation scores on a model whose answer is known: exactly 1.0.

With the tiny random model the held-out check and the sweep can only be
checked for consistency (any count from 0 to n passes). The hand-made blood
detector of ``tests/planted.py`` peaks on the blood, so on the epidural study
of the balanced plan (seed 424242, 8 slices with blood at matrix 128) every
peak must be scored inside the lesion; a score against the wrong mask, an
empty mask or shifted maps falls below 1.
"""

import pytest

from cranioscan import explain
from cranioscan.evaluation.heldout import evaluate_on_phantoms
from cranioscan.evaluation.localisation import localisation_sweep
from cranioscan.inference import Predictor
from cranioscan.labels import SUBTYPES

from planted import blood_model

pytestmark = pytest.mark.slow
SEED, MATRIX = 424242, 128  # studies 0-1 normal, study 2 an epidural hematoma


@pytest.fixture(scope="module")
def blood():
    return Predictor(blood_model(size=MATRIX))


def test_held_out_localisation_of_a_model_that_looks_at_the_blood_is_one(blood):
    result = evaluate_on_phantoms(blood, n_studies=3, seed=SEED, matrix=MATRIX,
                                  also_methods=("gradcam++",))
    assert result["layer"] == explain.default_layer(blood) == "conv4_block6_out"
    for method, cam in result["by_method"].items():
        assert (cam["any"]["n_in_mask"], cam["any"]["n_slices"]) == (8, 8), method
        assert cam["any"]["fraction_in_mask"] == 1.0
        assert (cam["epidural"]["n_in_mask"], cam["epidural"]["n_slices"]) == (8, 8)
        assert all(cam[s]["n_slices"] == 0 for s in SUBTYPES if s != "epidural")


def test_localisation_sweep_of_that_model_puts_every_peak_in_the_lesion(blood):
    result = localisation_sweep(blood, ["conv4_block6_out"], ("gradcam",), n_studies=3,
                                seed=SEED, matrix=MATRIX)
    (row,) = result["rows"]
    assert result["n_slices"] == 8
    assert row["places"]["lesion"] == 8 and row["fraction_in_mask"] == 1.0
