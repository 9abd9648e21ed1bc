"""The Streamlit dashboard's app package: the only code that imports Streamlit.

What the pages call that needs Streamlit (widgets, ``st.cache_*``,
``st.session_state``) lives here; what draws without it (figures, slice
images, overlays, report and card text) is in :mod:`cranioscan.visualize`,
which the command line and the PACS code use too.

- :mod:`.config`: settings from environment variables;
- :mod:`.streamlit_fixes`: workarounds for how Streamlit runs the scripts
  (the Keras session it clears, bookmarked pages on a fresh server);
- :mod:`.page`: :func:`~.page.page_setup`, the preamble of every page;
- :mod:`.caches`: the model, demo cases, scores, heatmaps and run folders,
  cached as typed functions;
- :mod:`.state`: per-session state (case, slice, window, uploads);
- :mod:`.slice_nav`: the slice controls (slider, buttons, key / wheel navigator
  component in ``frontend/slice_nav``);
- :mod:`.downloads`, :mod:`.review_panel`, :mod:`.pacs_source`,
  :mod:`.agreement_view`, :mod:`.auth`: the viewer's download buttons, review
  form, PACS source, reader agreement and sign-in.
"""
