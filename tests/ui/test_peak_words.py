"""The Attention page and the viewer say in words when a map's peak lies outside the head
or on bone (issue 27, item 4). The maps are replaced by spikes placed on purpose."""

import os

import numpy as np
import pytest

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


def spike_in_corner(pred, case, index, class_name, layer, method):
    rows, cols = case.series.hu.shape[1:]
    heat = np.zeros((rows, cols), np.float32)
    heat[1, 1] = 1.0  # the corner of the image: air around the head
    return heat


def spike_on_bone(pred, case, index, class_name, layer, method):
    hu = case.series.hu[index]
    heat = np.zeros(hu.shape, np.float32)
    heat[np.unravel_index(int(np.argmax(hu)), hu.shape)] = 1.0  # the densest pixel: skull
    return heat


@pytest.mark.parametrize("fake, words", [(spike_in_corner, "outside the head"),
                                         (spike_on_bone, "on bone")])
def test_attention_page_and_viewer_say_where_the_peak_is(app_env, monkeypatch, fake, words):
    from streamlit.testing.v1 import AppTest

    from cranioscan.ui import caches

    monkeypatch.setattr(caches, "heatmap", fake)
    monkeypatch.setattr(caches, "prefetch_heatmaps", lambda *a, **k: None)
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.session_state["cs_slice"] = at.session_state["cs_case"].series.n_slices // 2  # skull in view
    at.toggle(key="cam_on").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    shown = [str(w.value).replace("\\", "") for w in at.warning]  # markdown escapes read as text
    assert any(f"The map's peak lies {words}" in w for w in shown), shown

    at.switch_page("pages/attention.py").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [c for img in at.image for c in img.captions if c]
    assert any(f"peak {words}" in c for c in captions), captions
    shown = [str(w.value).replace("\\", "") for w in at.warning]
    assert any(f"The map's peak lies {words}" in w for w in shown), shown
