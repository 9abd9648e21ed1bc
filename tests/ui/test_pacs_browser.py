"""The PACS source in a real browser: search -> retrieve -> score -> send, against Orthanc.

Headless Chromium drives ``streamlit run app.py`` (the server and browser
fixtures of ``browser_support.py``) with ``CRANIOSCAN_DICOMWEB_*`` pointing at
the Orthanc of ``tests/pacs/conftest.py``'s kind, started here for this
module with one phantom study of its own.
"""

import os

import pytest

from browser_support import (  # noqa: F401 - fixtures: server, browser, shots
    BROWSER_MARKS, browser, open_app, server, settle, shots, shown)

from cranioscan.pacs.client import PacsClient
from cranioscan.pacs.config import PacsConfig
from cranioscan.pacs.orthanc_dev import (OrthancServer, OrthancUnavailable, find_dicomweb_plugin,
                                         find_orthanc, phantom_blobs)

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(find_orthanc() is None or find_dicomweb_plugin() is None,
                       reason="Orthanc with its DICOMweb plugin is not installed "
                              "(apt-get install orthanc orthanc-dicomweb; .ci/run does)"),
]

N_SLICES = 8


@pytest.fixture(scope="module", autouse=True)
def orthanc():
    """Orthanc with one phantom (PHANTOM-007), its URL and credentials in the environment.

    Autouse, so that it is set before ``server`` starts Streamlit with the environment.
    """
    try:
        pacs = OrthancServer(users={"reader": "secret"}, start_timeout=120).start()
    except OrthancUnavailable as exc:  # installed but broken: a failure, never a skip
        pytest.fail(f"Orthanc is installed but did not start: {exc}", pytrace=False)
    with pacs, pytest.MonkeyPatch.context() as env:
        pacs.upload(phantom_blobs(7, matrix=96, n_slices=N_SLICES))
        env.setenv("CRANIOSCAN_DICOMWEB_URL", pacs.dicomweb_url)
        env.setenv("CRANIOSCAN_DICOMWEB_USER", "reader")
        env.setenv("CRANIOSCAN_DICOMWEB_PASSWORD", "secret")
        yield pacs


def test_search_retrieve_score_and_send(server, browser, shots, orthanc):  # noqa: F811
    page = open_app(browser, server)
    shown(page, "PACS (DICOMweb)").click()
    settle(page)
    page.get_by_label("Patient ID").fill("PHANTOM-007")
    page.get_by_role("button", name="Search").click()
    settle(page)
    assert page.get_by_role("button", name="Retrieve and score").is_visible()
    assert page.get_by_text("PHANTOM-007").count() == 0  # identifiers hidden until asked
    page.get_by_role("button", name="Retrieve and score").click()
    settle(page)
    heading = shown(page, "probabilities").inner_text()
    assert heading.startswith("Slice ") and int(heading.split()[1]) <= N_SLICES, heading
    assert shown(page, "Series summary").is_visible()
    page.get_by_role("button", name="Send results to the PACS").click()
    settle(page)
    assert shown(page, "Sent to the PACS").is_visible()
    page.screenshot(path=str(shots / "pacs_source.png"), full_page=True)
    with PacsClient(PacsConfig(url=orthanc.dicomweb_url, username="reader",
                               password="secret")) as client:
        (study,) = client.search_studies(patient_id="PHANTOM-007")
        modalities = sorted(h.modality for h in client.series_of(study.study_uid, ct_only=False))
    assert modalities == ["CT", "OT", "SR"]
