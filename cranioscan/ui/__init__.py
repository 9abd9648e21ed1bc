"""The Streamlit dashboard's library: everything the pages call.

- :mod:`.config`: settings from environment variables;
- :mod:`.text`: texts and labels the pages show;
- :mod:`.streamlit_fixes`: workarounds for how Streamlit runs the scripts;
- :mod:`.state`: cached resources and the session state;
- :mod:`.demo`: built-in phantom demo cases;
- :mod:`.case_view`, :mod:`.validation_view`: figures and tables, pure functions;
- :mod:`.overlay`: heatmaps and outlines drawn on slices.
"""
