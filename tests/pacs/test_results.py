"""Results sent back with STOW-RS and read back from Orthanc with WADO-RS."""

import numpy as np
import pytest

from cranioscan.inference import Predictor
from cranioscan.pacs.client import PacsClient
from cranioscan.pacs.results import DISCLAIMER, build_results, findings, source_headers

YELLOW = (255, 236, 140)  # the burned-in text colour of cranioscan.visualize.slice_image


def _texts(item):
    """Every TextValue and numeric value in an SR content tree, depth first."""
    out = []
    for child in item.get("ContentSequence", []):
        if "TextValue" in child:
            out.append(str(child.TextValue))
        if "MeasuredValueSequence" in child:
            out.append(float(child.MeasuredValueSequence[0].NumericValue))
        out += _texts(child)
    return out


def _image_refs(item):
    refs = []
    for child in item.get("ContentSequence", []):
        if child.ValueType == "IMAGE":
            refs.append(str(child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
        refs += _image_refs(child)
    return refs


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    return Predictor.load(tiny_model_dir / "best_model.keras", thresholds=0.3)


def test_findings_follow_the_result(pacs, tiny_model_dir):
    with PacsClient(pacs.config) as client:
        study, series_uid, _ = pacs.phantoms[0]
        series = client.load_series(study, series_uid)
    probs = np.zeros((series.n_slices, 6), np.float32)
    probs[2, 0], probs[2, 5], probs[5, 1] = 0.9, 0.8, 0.7  # any + subdural on 3, epidural on 6
    at_half = Predictor.load(tiny_model_dir / "best_model.keras", thresholds=0.5)
    found = {f.class_name: f for f in findings(series, at_half.result(probs))}
    assert found["epidural"].flagged and found["epidural"].slice_index == 5
    assert found["epidural"].sop_uid == series.sop_uids[5]
    assert not found["intraventricular"].flagged


@pytest.mark.slow  # Grad-CAM++ of the key images: about 15 s
def test_results_stored_and_read_back(pacs, predictor):
    study, series_uid, sops = pacs.phantoms[1]
    with PacsClient(pacs.config) as client:
        files = client.retrieve_files(study, series_uid)
        from cranioscan.dicom import load_series

        series = load_series(files)
        result = predictor.assess(series)
        probs = result.probabilities
        sent = build_results(predictor, series, source_headers(files), result, "tiny test model")
        client.store(sent)
        back = {h.series_uid: h.modality for h in client.series_of(study, ct_only=False)}
        # the two new series (other tests may have sent results to this study before)
        sc_uid, sr_uid = str(sent[0].SeriesInstanceUID), str(sent[-1].SeriesInstanceUID)
        assert back[series_uid] == "CT" and back[sc_uid] == "OT" and back[sr_uid] == "SR"
        scs = list(client._client.iter_series(study, sc_uid))
        (sr,) = client._client.iter_series(study, sr_uid)

    summary = predictor.summarize(probs)
    flagged = [c for c in predictor.classes if summary[c]["slices_above"]]
    assert flagged, "the premise: at threshold 0.3 the tiny model flags something"
    assert len(scs) == len(sent) - 1 >= 1
    for sc in scs:
        assert sc.StudyInstanceUID == study and sc.SeriesInstanceUID != series_uid
        assert sc.PatientID == "PHANTOM-001" and sc.BurnedInAnnotation == "YES"
        assert str(sc.SourceImageSequence[0].ReferencedSOPInstanceUID) in sops
        assert DISCLAIMER in sc.ImageComments
        pixels = sc.pixel_array
        assert pixels.shape == (pacs.matrix, pacs.matrix, 3)
        assert (pixels == YELLOW).all(axis=-1).any()  # the burned-in text

    assert sr.StudyInstanceUID == study and sr.SOPClassUID.name == "Comprehensive SR Storage"
    texts = _texts(sr)
    assert DISCLAIMER in texts and "tiny test model" in texts
    assert f"sha256:{predictor.sha256}" in texts
    assert result.verdict_sentence() in texts  # the verdict (here: why there is none) first
    for c in predictor.classes:
        assert round(summary[c]["max_prob"], 6) == pytest.approx(
            [t for t in texts if isinstance(t, float)][list(predictor.classes).index(c)], abs=1e-6)
    assert sum("FLAGGED" in t for t in texts if isinstance(t, str)) == len(flagged)
    refs = _image_refs(sr)
    assert refs and set(refs) <= set(sops)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == study
    assert set(refs) <= {str(i.ReferencedSOPInstanceUID)
                         for s in evidence.ReferencedSeriesSequence
                         for i in s.ReferencedSOPSequence}
