"""``python -m cranioscan predict --dicomweb`` against a real Orthanc (in process)."""

import csv

import pytest

from cranioscan.cli.main import main
from cranioscan.pacs.client import PacsClient
from cranioscan.pacs.orthanc_dev import free_port, phantom_blobs


@pytest.fixture()
def pacs_env(pacs, monkeypatch):
    """The PACS' credentials in the environment, as a user sets them."""
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_USER", "cranio")
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_PASSWORD", "scan")
    monkeypatch.delenv("CRANIOSCAN_DICOMWEB_URL", raising=False)
    return pacs


def predict(capsys, model_dir, out, *args):
    code = main(["predict", "--out", str(out), "--model", str(model_dir / "best_model.keras"),
                 *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_predict_one_study(pacs_env, tiny_model_dir, tmp_path, capsys):
    study, series_uid, sops = pacs_env.phantoms[0]
    out = tmp_path / "r.csv"
    code, stdout, stderr = predict(capsys, tiny_model_dir, out, "--dicomweb", pacs_env.url,
                                   "--study", study)
    assert code == 0, stderr
    slices = rows(out)
    assert [r["sop_uid"] for r in slices] == sops  # inferior first, as loaded from disk
    assert {(r["study_uid"], r["series_uid"]) for r in slices} == {(study, series_uid)}
    (series_row,) = rows(tmp_path / "r_series.csv")
    assert series_row["status"] == "ok" and series_row["source"].endswith(
        f"/studies/{study}/series/{series_uid}")
    assert f"{pacs_env.n_slices} slices" in stdout and "Scored 1 series" in stdout


def test_predict_a_date_range_scores_every_ct_study(pacs_env, tiny_model_dir, tmp_path, capsys,
                                                    monkeypatch):
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_URL", pacs_env.url)  # --dicomweb without URL
    out = tmp_path / "r.csv"
    code, stdout, stderr = predict(capsys, tiny_model_dir, out, "--dicomweb",
                                   "--study-date", "20240101-20240102")
    assert code == 0, stderr
    scored = {r["study_uid"] for r in rows(tmp_path / "r_series.csv") if r["status"] == "ok"}
    # both phantoms (1 and 2 January) and the mixed study (2 January, its CT series only)
    assert scored == {pacs_env.phantoms[0][0], pacs_env.phantoms[1][0], pacs_env.mixed[0]}
    assert pacs_env.mixed[2] not in {r["series_uid"] for r in rows(out)}


@pytest.mark.parametrize("args, message", [
    (lambda p: ["--study", p.mixed[0], "--series", p.mixed[2]], "is MR, not CT"),
    (lambda p: ["--study", "1.2.3.4"], "No study with StudyInstanceUID 1.2.3.4"),
    (lambda p: ["--study-date", "19990101-19990102"], "no CT study on the PACS"),
    (lambda p: ["--study-date", "2024-99-01"], "not a date"),
    (lambda p: [], "--dicomweb needs --study"),
])
def test_predict_pacs_problems_exit_2(pacs_env, tiny_model_dir, tmp_path, capsys, args, message):
    code, _, stderr = predict(capsys, tiny_model_dir, tmp_path / "r.csv", "--dicomweb",
                              pacs_env.url, *args(pacs_env))
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_predict_wrong_password_and_server_down(pacs_env, tiny_model_dir, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.setenv("CRANIOSCAN_DICOMWEB_PASSWORD", "wrong")
    code, _, stderr = predict(capsys, tiny_model_dir, tmp_path / "r.csv", "--dicomweb",
                              pacs_env.url, "--study", pacs_env.phantoms[0][0])
    assert code == 2 and "refused the credentials (HTTP 401)" in stderr
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    code, _, stderr = predict(capsys, tiny_model_dir, tmp_path / "r.csv", "--dicomweb", down,
                              "--study", "1.2.3")
    assert code == 2 and f"cannot reach the PACS at {down}" in stderr


def test_send_results_needs_dicomweb(tiny_model_dir, tmp_path, capsys):
    code, _, stderr = predict(capsys, tiny_model_dir, tmp_path / "r.csv", tmp_path,
                              "--send-results")
    assert code == 2 and "need --dicomweb" in stderr


@pytest.mark.slow  # Grad-CAM++ of the key images
def test_predict_send_results_stores_sc_and_sr_in_the_study(pacs_env, tiny_model_dir, tmp_path,
                                                           capsys):
    blobs = phantom_blobs(5, matrix=pacs_env.matrix, n_slices=6)  # a study of its own
    pacs_env.server.upload(blobs)
    with PacsClient(pacs_env.config) as client:
        (study,) = [h.study_uid for h in client.search_studies(patient_id="PHANTOM-005")]
        before = client.series_of(study, ct_only=False)
        code, _, stderr = predict(capsys, tiny_model_dir, tmp_path / "r.csv", "--dicomweb",
                                  pacs_env.url, "--study", study, "--threshold", "0.3",
                                  "--send-results")
        assert code == 0, stderr
        assert "sent to the PACS" in stderr
        after = client.series_of(study, ct_only=False)
    assert [h.modality for h in before] == ["CT"]
    assert sorted(h.modality for h in after) == ["CT", "OT", "SR"]
