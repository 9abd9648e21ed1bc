"""CranioScan dashboard entry point: ``streamlit run app.py``.

Sets up the pages (``pages/``), loads the model once for the whole server
(``cranioscan.ui.caches.predictor``) and shows in the sidebar which model is
loaded, with a notice on every page when it is a demo model. Settings come
from environment variables (see ``cranioscan/ui/config.py``) and from
``.streamlit/config.toml`` (the server listens on localhost only). With
``[auth]`` in ``.streamlit/secrets.toml`` every page asks for sign-in first
(``cranioscan.ui.auth``).
"""

import os

import streamlit as st

from cranioscan.ui import auth, caches, streamlit_fixes as ui_runner
from cranioscan.visualize import card_view

ui_runner.keep_keras_session()  # no Keras clear_session after each run (see cranioscan.ui.streamlit_fixes)
st.set_page_config(page_title="CranioScan", page_icon=":material/neurology:", layout="wide")
# Sign-in first when [auth] is configured; without it, loopback only unless opted in
# (cranioscan.ui.auth, docs/security.md). Nothing else is drawn or loaded before.
access = auth.gate()

page = st.navigation([
    st.Page("pages/viewer.py", title="Case viewer", icon=":material/radiology:", default=True),
    st.Page("pages/attention.py", title="Attention maps", icon=":material/visibility:"),
    st.Page("pages/validation.py", title="Validation", icon=":material/monitoring:"),
    st.Page("pages/model_card.py", title="Model card", icon=":material/description:"),
])

cfg = caches.config()
caches.prefetch_default_demo(cfg)  # the phantom is drawn while TensorFlow loads
predictor, model_error = caches.predictor(cfg)
card = predictor.card if predictor is not None else {}
notice = card_view.model_notice(card, loaded=predictor is not None)

with st.sidebar:
    st.markdown("### CranioScan")
    st.caption("Intracranial hemorrhage review on head CT")
    if predictor is not None:
        st.markdown(f"**Model:** {card_view.model_name(card, predictor.path)}")
        st.caption(f"`{os.path.basename(predictor.path or '')}` · SHA-256 "
                   f"`{(predictor.sha256 or '')[:12]}` · {predictor.input_size} px input")
    else:
        st.error(model_error, icon=":material/error:")
    if notice:  # the details; the one warning is the page's own, below
        st.caption(notice)
    auth.sidebar_account(access)

# Less empty space above the page: the image should fit on a laptop screen.
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.2rem;padding-bottom:2rem}</style>")
if access.message:  # served without sign-in on the network, by the explicit opt-in
    st.warning(access.message, icon=":material/public:")
if notice:
    st.warning(card_view.short_notice(card), icon=":material/warning:")

page.run()
