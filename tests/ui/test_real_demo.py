"""The real-patient demo cases (CT-ICH) and the research-model notice, through the dashboard."""

import os

import numpy as np
import pydicom
import pytest

from cranioscan.visualize import card_view
from cranioscan import demo
from cranioscan.labels import CLASSES

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")
REAL_KEYS = [spec.key for spec in demo.DEMO_CASES if spec.is_real]


def test_three_real_cases_ship_with_their_credit():
    assert len(REAL_KEYS) == 3
    readme = (demo.REAL_CASES_DIR / "README.md").read_text()
    assert "CC BY 4.0" in readme and "10.13026/w8q8-ky94" in readme
    for key in REAL_KEYS:
        spec = demo.demo_spec(key)
        assert "CT-ICH" in spec.title and "CC BY 4.0" in spec.description
        assert (demo.REAL_CASES_DIR / f"{spec.patient:03d}" / "brain" / "01.jpg").is_file()


@pytest.mark.parametrize("key, subtype", [("real-epidural", "epidural"),
                                          ("real-intraparenchymal", "intraparenchymal"),
                                          ("real-normal", None)])
def test_real_case_loads_through_the_dicom_loader(tmp_path, key, subtype):
    case = demo.load_demo(key, tmp_path)
    series = case.series
    assert case.masks is None
    assert case.labels.shape == (series.n_slices, len(CLASSES))
    if subtype:
        assert case.labels[:, CLASSES.index(subtype)].any() and case.labels[:, 0].any()
    else:
        assert not case.labels.any()
    assert series.n_slices >= 30 and series.hu.shape[1:] == (650, 650)
    assert not series.warnings and not series.skipped
    assert np.all(np.diff(series.positions) > 0)
    mid = series.hu[series.n_slices // 2, 250:400, 250:400]
    assert -20 < np.median(mid) < 80                        # brain in the middle
    assert series.hu.max() > 700                            # skull
    header = pydicom.dcmread(next((case.folder / "dicom").iterdir()), stop_before_pixels=True)
    assert "CT-ICH" in header.StudyDescription and "CC BY 4.0" in header.PatientComments
    assert "rebuilt" in header.DerivationDescription
    again = demo.load_demo(key, tmp_path)                   # the cached copy reads the same
    np.testing.assert_array_equal(again.series.hu, series.hu)


def test_research_model_notice_names_the_real_data():
    card = {"synthetic": False, "trained_on": "59 real head CTs ... plus phantoms",
            "data": {"real_patients_trained": 59}}
    assert not card_view.is_synthetic_model(card)
    notice = card_view.model_notice(card)
    assert "59 real head CTs" in notice and "not for clinical use" in notice
    assert "59 real TBI head CTs" in card_view.short_notice(card)
    card["metrics"] = {"any": {"sensitivity": 0.902, "specificity": 0.581}}
    assert "caught 90% of bleeding slices and left 58% of the others unflagged" in \
        card_view.model_notice(card)
    assert card_view.is_synthetic_model({"trained_on": "synthetic phantoms"})


def test_viewer_shows_a_real_patient_with_its_labels(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.selectbox(key="demo_key").set_value("real-epidural").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [str(c.value) for c in at.caption]
    assert any("real head CT" in c and "CC BY 4.0" in c for c in captions)
    assert "Radiologists' labels of this patient: Epidural" in captions
    case = at.session_state["cs_case"]
    assert case.corner_note == "real patient, CT-ICH" and not case.has_truth
    assert len(at.image) == 1
    frames = [d.value for d in at.dataframe]
    assert any("Slices above threshold" in f.columns for f in frames)
    # The attention page works on a case without outlines.
    at.switch_page("pages/attention.py").run()
    assert not at.exception, [e.message for e in at.exception]


def test_real_data_lines_of_a_card():
    card = {"data": {"credit": "PhysioNet CT-ICH (CC BY 4.0)", "licence": "CC BY 4.0",
                     "real_patients_trained": 59, "real_patients_cross_validated": 62,
                     "held_out_patients": [70, 92, 107], "held_out_note": "demo cases",
                     "cohort_note": "TBI", "per_class": {"epidural": {"patients": 20,
                                                                      "slices": 125}}},
            "cross_validation": {"patient_level_any": {"auc": 0.912, "auc_ci_low": 0.8,
                                                       "auc_ci_high": 0.97, "n_patients": 62},
                                 "expected_calibration_error": {"any": {"raw": 0.21,
                                                                        "cross_fitted": 0.04}}},
            "calibration": {"method": "platt", "fitted_on": "out-of-fold predictions"},
            "threshold_rules": {"any": "sensitivity >= 0.90", "subtypes": "Youden"}}
    text = "\n".join(card_view.real_data_lines(card))
    assert "59 in the final fit" in text and "70, 92, 107" in text
    assert "epidural 20 (125 slices)" in text
    assert "AUC 0.912 (95% CI 0.800–0.970) over 62 patients" in text
    assert "ECE 0.210 raw, 0.040 after calibration" in text
    assert "platt scaling" in text and "sensitivity >= 0.90" in text
    assert card_view.real_data_lines({"synthetic": True}) == []


def test_a_card_with_no_patient_held_out_says_nothing_of_it():
    card = {"data": {"credit": "PhysioNet CT-ICH", "licence": "CC BY 4.0",
                     "real_patients_trained": 62, "real_patients_cross_validated": 62,
                     "demo_note": "the demo patients are in the cross-validation",
                     "cohort_note": "TBI"}}
    lines = card_view.real_data_lines(card)
    assert lines[1] == "**Patients:** 62 in the final fit; 62 in the cross-validation."
    assert lines[2] == "**Demo patients:** the demo patients are in the cross-validation."
    assert "()" not in "\n".join(lines) and "held out" not in "\n".join(lines)
