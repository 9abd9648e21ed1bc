"""PacsClient against a real Orthanc: search, retrieve into memory, and clear failures."""

import socket

import numpy as np
import pytest

from cranioscan.dicom import load_series
from cranioscan.pacs.client import PacsClient, PacsError, dicom_date, parse_date_range
from cranioscan.pacs.config import PacsConfig, from_env
from cranioscan.pacs.orthanc_dev import free_port, phantom_blobs


@pytest.fixture()
def client(pacs):
    with PacsClient(pacs.config) as c:
        yield c


# -------------------------------------------------------------- config
def test_config_from_env_reads_every_variable(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    cfg = from_env({"CRANIOSCAN_DICOMWEB_URL": "https://pacs.example.org/dicom-web/",
                    "CRANIOSCAN_DICOMWEB_USER": "reader", "CRANIOSCAN_DICOMWEB_PASSWORD": "pw",
                    "CRANIOSCAN_DICOMWEB_CA_BUNDLE": str(bundle),
                    "CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT": "2.5",
                    "CRANIOSCAN_DICOMWEB_READ_TIMEOUT": "30"})
    assert cfg.url == "https://pacs.example.org/dicom-web"
    assert (cfg.username, cfg.password, cfg.verify) == ("reader", "pw", str(bundle))
    assert cfg.timeout == (2.5, 30.0)
    assert "pw" not in repr(cfg)
    assert from_env({"CRANIOSCAN_DICOMWEB_VERIFY": "0"}).verify is False
    assert not from_env({}).configured


@pytest.mark.parametrize("env, match", [
    ({"CRANIOSCAN_DICOMWEB_READ_TIMEOUT": "soon"}, "READ_TIMEOUT must be a number"),
    ({"CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT": "0"}, "more than 0"),
    ({"CRANIOSCAN_DICOMWEB_CA_BUNDLE": "/no/such/ca.pem"}, "no such file: /no/such/ca.pem"),
])
def test_config_errors_name_the_variable(env, match):
    with pytest.raises(ValueError, match=match):
        from_env(env)


def test_date_ranges():
    assert parse_date_range("20240101-20240131") == ("20240101", "20240131")
    assert parse_date_range("2024-01-01..2024-01-31") == ("20240101", "20240131")
    assert parse_date_range("20240105-") == ("20240105", "")
    assert parse_date_range("2024-01-05") == ("20240105", "20240105")
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_date_range("20240201-20240101")
    with pytest.raises(ValueError, match="not a date"):
        dicom_date("2024-13-01")


def test_no_url_is_a_clear_error():
    with pytest.raises(PacsError, match="CRANIOSCAN_DICOMWEB_URL"):
        PacsClient(PacsConfig(url=""))


# -------------------------------------------------------------- search
def test_search_by_each_field(pacs, client):
    (study0, *_), (study1, *_) = pacs.phantoms
    everything = {h.study_uid for h in client.search_studies()}
    assert {study0, study1, pacs.mixed[0]} <= everything
    assert pacs.mr_only_study not in everything  # CT studies only
    assert [h.study_uid for h in client.search_studies(patient_id="PHANTOM-001")] == [study1]
    assert [h.study_uid for h in client.search_studies(accession_number="ACC0000")] == [study0]
    assert [h.study_uid for h in client.search_studies(patient_name="phantom synthetic 001")] == \
        [study1]
    by_name = client.search_studies(patient_name="PHANTOM")  # other tests add phantoms too
    assert {study0, study1} <= {h.study_uid for h in by_name}
    assert all(h.patient_name.startswith("PHANTOM^") for h in by_name)
    dated = client.search_studies(date_from="2024-01-02", date_to="20240110")
    assert study1 in {h.study_uid for h in dated} and study0 not in {h.study_uid for h in dated}
    assert client.search_studies(patient_id="NOBODY") == []
    hit = client.search_studies(patient_id="PHANTOM-000")[0]
    assert (hit.accession_number, hit.study_date, hit.n_instances) == ("ACC0000", "20240101",
                                                                       pacs.n_slices)


def test_series_of_a_study_lists_ct_only(pacs, client):
    study, ct, mr = pacs.mixed
    assert [h.series_uid for h in client.series_of(study)] == [ct]
    assert {h.modality for h in client.series_of(study, ct_only=False)} == {"CT", "MR"}


# ------------------------------------------------------------ retrieve
def test_retrieve_goes_through_the_upload_loader(pacs, client):
    study, series_uid, sops = pacs.phantoms[0]
    seen = []
    files = client.retrieve_files(study, series_uid, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, pacs.n_slices) for k in range(1, pacs.n_slices + 1)]
    assert sorted(name for name, _ in files) == sorted(f"{s}.dcm" for s in sops)
    series = client.load_series(study, series_uid)
    assert series.hu.shape == (pacs.n_slices, pacs.matrix, pacs.matrix)
    assert series.study_uid == study and list(series.sop_uids) == sops  # inferior first
    # The same voxels as the files that were sent, loaded as an upload is.
    blobs = phantom_blobs(0, matrix=pacs.matrix, n_slices=pacs.n_slices)
    sent = load_series([(f"{k}.dcm", b) for k, b in enumerate(blobs)])
    np.testing.assert_array_equal(series.hu, sent.hu)


# ------------------------------------------------------------- failures
def test_server_down_is_a_clear_error():
    with PacsClient(PacsConfig(url=f"http://127.0.0.1:{free_port()}/dicom-web",
                               connect_timeout=2)) as down:
        with pytest.raises(PacsError, match="cannot reach the PACS at http://127.0.0.1"):
            down.search_studies()


def test_wrong_password_is_401(pacs):
    wrong = PacsConfig(url=pacs.url, username="cranio", password="wrong")
    with PacsClient(wrong) as c, pytest.raises(PacsError,
                                               match="refused the credentials .HTTP 401"):
        c.search_studies()
    with PacsClient(PacsConfig(url=pacs.url)) as c, pytest.raises(PacsError, match="HTTP 401"):
        c.series_of(pacs.phantoms[0][0])


def test_missing_study_and_series(pacs, client):
    with pytest.raises(PacsError, match="No study with StudyInstanceUID 1.2.3.4 on the PACS"):
        client.series_of("1.2.3.4")
    with pytest.raises(PacsError, match="No study with StudyInstanceUID 1.2.3.4"):
        client.retrieve_files("1.2.3.4", "1.2.3.5")
    with pytest.raises(PacsError, match="has no series 1.2.3.5"):
        client.retrieve_files(pacs.phantoms[0][0], "1.2.3.5")


def test_non_ct_series_is_refused(pacs, client):
    study, _ct, mr = pacs.mixed
    with pytest.raises(PacsError, match=f"Series {mr} is MR, not CT"):
        client.retrieve_files(study, mr)
    with pytest.raises(PacsError, match="holds no CT series .modalities: MR"):
        client.series_of(pacs.mr_only_study)


def test_a_silent_server_times_out_instead_of_hanging():
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web"
        with PacsClient(PacsConfig(url=url, connect_timeout=1, read_timeout=0.5)) as c:
            with pytest.raises(PacsError, match=r"did not answer in time .*timeout 0.5 s"):
                c.search_studies()


def test_session_carries_token_verify_and_timeouts(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    cfg = PacsConfig(url="https://pacs.example.org/dicom-web", token="t0k", verify=str(bundle),
                     connect_timeout=2, read_timeout=9)
    with PacsClient(cfg) as c:
        assert c.session.headers["Authorization"] == "Bearer t0k" and c.session.auth is None
        assert c.session.verify == str(bundle)
        assert c._client._timeout == (2, 9)
    with PacsClient(PacsConfig(url="http://x/dicom-web", username="u", password="p",
                               allow_http=True)) as c:
        assert c.session.auth == ("u", "p") and "Authorization" not in c.session.headers
    with pytest.raises(PacsError, match="must start with http"):
        PacsClient(PacsConfig(url="pacs.example.org"))
