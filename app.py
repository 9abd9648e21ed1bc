"""CranioScan dashboard entry point: ``streamlit run app.py``."""
