"""The Streamlit dashboard's library: everything the pages call.

- :mod:`.config`: settings from environment variables;
- :mod:`.text`: texts and labels the pages show (class and method names);
- :mod:`.streamlit_fixes`: workarounds for how Streamlit runs the scripts
  (the Keras session it clears, bookmarked pages on a fresh server);
- :mod:`.page`: :func:`~.page.page_setup`, the preamble of every page;
- :mod:`.caches`: the model, demo cases, scores, heatmaps and run folders,
  cached as typed functions;
- :mod:`.state`: per-session state (case, slice, window, uploads);
- :mod:`.demo`: built-in phantom demo cases;
- :mod:`.case_view`, :mod:`.slice_image`, :mod:`.card_view`,
  :mod:`.validation_view`: figures, images and tables as pure functions;
- :mod:`.overlay`: heatmaps and outlines drawn on slices.
- :mod:`.slice_nav`: the slice controls (slider, buttons, key / wheel navigator
  component in ``frontend/slice_nav``);
- :mod:`.launch`: the dashboard started in a child process (tests, benchmarks).
"""
