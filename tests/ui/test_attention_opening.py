"""The Attention page opened first opens the demo case on the viewer's slice (issue 27, item 4)."""

import os

from cranioscan.visualize import case_view

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


def test_attention_page_opens_on_the_viewers_slice(app_env):
    from streamlit.testing.v1 import AppTest

    viewer = AppTest.from_file(APP, default_timeout=300)
    viewer.run()
    assert not viewer.exception, [e.message for e in viewer.exception]
    opened = viewer.session_state["cs_slice"]
    case = viewer.session_state["cs_case"]

    attention = AppTest.from_file(APP, default_timeout=300)
    attention.switch_page("pages/attention.py").run()
    assert not attention.exception, [e.message for e in attention.exception]
    assert attention.session_state["cs_case"].key == case.key
    assert attention.session_state["cs_slice"] == opened
    assert attention.slider(key="att_slice").value == opened + 1
    assert any(c.startswith(f"Slice {opened + 1} of") for c in
               (str(e.value) for e in attention.caption))
