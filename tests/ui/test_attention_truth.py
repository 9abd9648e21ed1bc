"""The Attention page's ground-truth verdict, on a model whose answer is known.

The tiny random model of ``conftest.py`` may peak anywhere, so ``test_app.py``
can only check that a verdict is shown. Here the dashboard loads the hand-made
blood detector of ``tests/planted.py``, whose maps peak on the blood: on the
demo phantom's largest subdural slice every map's caption must say "inside".
"""

import os

import numpy as np
import pytest

from planted import save_blood_model

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")
pytestmark = pytest.mark.slow


def test_attention_page_says_inside_for_a_model_that_looks_at_the_blood(app_env, tmp_path,
                                                                        monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CRANIOSCAN_MODEL",
                       str(save_blood_model(tmp_path / "blood.keras", size=128)))
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.message for e in at.exception]
    case = at.session_state["cs_case"]
    lesion_slice = int(np.argmax(case.masks["subdural"].sum(axis=(1, 2))))
    at.session_state["cs_slice"] = lesion_slice
    at.switch_page("pages/attention.py").run()
    at.selectbox(key="att_class").set_value("subdural").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [c for img in at.image for c in img.captions if c]
    verdicts = [c for c in captions if "the lesion" in c]
    # Grad-CAM, Grad-CAM++, Score-CAM, and the one stage this model has (no rollout: no
    # Transformer blocks); every peak on the blood
    assert len(verdicts) == 4, captions
    assert all(c.endswith("peak inside the lesion ✓") for c in verdicts), verdicts
