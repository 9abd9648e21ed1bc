"""The dashboard's PACS source says when a protection is off, and never shows a password.

Through Streamlit's AppTest, without a PACS (nothing is searched): while
``CRANIOSCAN_DICOMWEB_VERIFY=0`` a warning banner is shown; a DICOMweb URL
carrying ``user:password`` is refused on the page without showing it.
"""

import os
import re

import pytest

SECRET = "S3cr3tPa55"
WITH_PASSWORD = f"http://reader:{SECRET}@127.0.0.1:9/dicom-web"
APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


@pytest.mark.slow
def test_dashboard_shows_a_banner_while_tls_verification_is_off(app_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from cranioscan.ui import pacs_source

    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_URL", "https://127.0.0.1:9/dicom-web")
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_VERIFY", "0")
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.radio(key="source").set_value(pacs_source.PACS_SOURCE).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("TLS verification of the PACS is off" in w.value for w in at.warning)

    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_VERIFY", "1")
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_URL", WITH_PASSWORD)
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.radio(key="source").set_value(pacs_source.PACS_SOURCE).run()
    # Element values are markdown sources: drop the escaping backslashes to read them.
    shown = [re.sub(r"\\(.)", r"\1", e.value)
             for e in [*at.error, *at.caption, *at.markdown, *at.warning]]
    assert any("CRANIOSCAN_DICOMWEB_PASSWORD" in text for text in shown)
    assert not any(SECRET in text for text in shown)
