"""What the viewer lets a person take away: CSV, PNG and the PDF case report, read back."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cranioscan.dicom import load_series
from cranioscan.formats import probability
from cranioscan.labels import CLASSES
from cranioscan.series_result import ModelIdentity, SeriesResult
from cranioscan.visualize import case_report, export, slice_image
from cranioscan.ui.state import ActiveCase
from cranioscan.visualize.text import CLASS_LABELS

SHA = "0123456789abcdef" * 4
CARD = {"name": "Export test model", "trained_on": "synthetic phantoms (cranioscan.phantom)",
        "synthetic": True}
THRESHOLDS = {"any": 0.5, "epidural": 0.3, "intraparenchymal": 0.0066, "intraventricular": 0.9,
              "subarachnoid": 0.9, "subdural": 0.4}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A real phantom series written as DICOM and read back through pydicom."""
    from cranioscan.phantom import make_study, write_series

    folder = tmp_path_factory.mktemp("export_series")
    write_series(make_study(5, matrix=64, n_slices=6, subtypes=("subdural",)), folder)
    return load_series(folder)


@pytest.fixture(scope="module")
def probs(series):
    """Probabilities with known flags: any on slice 3, subdural on 3-4, epidural on 5."""
    p = np.full((series.n_slices, len(CLASSES)), 0.005, np.float32)  # below every threshold
    p[2, 0], p[2, 5], p[3, 5] = 0.91, 0.77, 0.45
    p[4, 1] = 0.35
    return p


def result_of(probs, thresholds=THRESHOLDS):
    return SeriesResult(probs, thresholds, ModelIdentity("Export test model", SHA, 64, "test"))


def identity():
    return export.model_identity(CARD, "/models/best_model.keras", SHA)


def read_csv(data):
    text = data.decode("utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    return header, pd.read_csv(io.BytesIO(data), comment="#")


def test_slices_csv_numbers_slices_from_one_and_names_model_and_thresholds(series, probs):
    header, table = read_csv(export.slices_csv(series, result_of(probs), identity()))
    assert "# Model: Export test model" in header and f"# SHA-256: {SHA}" in header
    assert any("not for clinical use" in line for line in header)
    thresholds_line = next(line for line in header if line.startswith("# Thresholds"))
    assert "intraparenchymal 0.007" in thresholds_line and "any 0.500" in thresholds_line
    assert list(table["slice"]) == list(range(1, series.n_slices + 1))
    np.testing.assert_allclose(table["position_mm"], series.positions, atol=1e-3)
    np.testing.assert_allclose(table[[f"prob_{c}" for c in CLASSES]].to_numpy(), probs, atol=1e-6)
    flagged = table["flagged"].fillna("")
    assert flagged[2] == "any;subdural" and flagged[3] == "subdural" and flagged[4] == "epidural"
    assert flagged[0] == flagged[5] == ""
    with pytest.raises(ValueError, match="shape"):
        export.slices_csv(series, result_of(probs[:2]), identity())


def test_summary_csv_matches_the_viewers_summary(series, probs):
    header, table = read_csv(export.summary_csv(result_of(probs), identity()))
    assert "# Model: Export test model" in header
    table = table.set_index("finding")
    assert list(table.index) == [CLASS_LABELS[c] for c in CLASSES]
    assert table.loc["Any hemorrhage", "highest_probability"] == pytest.approx(0.91, abs=1e-6)
    assert table.loc["Any hemorrhage", "on_slice"] == 3  # numbered from 1
    assert table.loc["Subdural", "slices_above_threshold"] == "3–4"
    assert table.loc["Subdural", "count"] == 2
    assert table.loc["Epidural", "flagged"] == "yes" and table.loc["Intraventricular", "flagged"] == "no"
    assert table.loc["Intraventricular", "slices_above_threshold"] == "none"


def test_view_png_keeps_the_view_and_burns_in_the_model(series):
    rgb = slice_image.render_slice(series.hu[2], 40, 80, corners={"top_left": ["Slice 3 / 6"]})
    from PIL import Image

    data = export.view_png(rgb, identity())
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    rows, cols = rgb.shape[:2]
    assert image.shape[1] == cols and image.shape[0] > rows + 10
    np.testing.assert_array_equal(image[:rows], rgb)  # window, overlay, text: as on screen
    footer = image[rows:]
    assert (footer.max(axis=-1) > 200).sum() > 50  # the model's name and SHA are written there
    # Another model's identity gives other pixels: the text is really the identity.
    other = export.view_png(rgb, export.model_identity({"name": "Other"}, "x.keras", "f" * 64))
    assert np.any(np.asarray(Image.open(io.BytesIO(other)).convert("RGB"))[rows:] != footer)


class _Pages:
    """The images of every page of a report, as one page's ``images`` would be."""

    def __init__(self, pages):
        self.images = [image for page in pages for image in page.images]


def pdf_text(data, pages=1):
    """The report's text (all pages) and its images; ``pages``: the page count expected."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == pages
    return "\n".join(p.extract_text() for p in reader.pages), _Pages(reader.pages)


def test_case_report_pdf_holds_series_model_summary_key_slices_and_validity(series, probs):
    result = result_of(probs)
    case = ActiveCase(key="k", label="Phantom subdural", source="demo", series=series)
    calls = []

    def heatmap(index, name):  # a map peaking at a known place, as Grad-CAM would give
        calls.append((index, name))
        rows, cols = series.hu.shape[1:]
        yy, xx = np.mgrid[:rows, :cols]
        return np.exp(-((yy - 20) ** 2 + (xx - 40) ** 2) / 50.0).astype(np.float32)

    data = case_report.report_for_case(case, result, CARD, "/models/best_model.keras",
                                       SHA, heatmap, 40, 80)
    assert data[:5] == b"%PDF-"
    text, page = pdf_text(data)
    flat = " ".join(text.split())
    assert "CranioScan case report" in flat and "Case: Phantom subdural" in flat
    assert "Export test model" in flat and SHA in flat.replace(" ", "")
    # The description hides identifiers unless asked for.
    assert "Patient name hidden" in flat and "PHANTOM^SYNTHETIC" not in flat
    assert series.meta["series_description"] in flat
    # The summary table, in the one probability format.
    for name in CLASSES:
        assert CLASS_LABELS[name] in flat
    assert f"Any hemorrhage {probability(0.91)} 3 {probability(0.5)}" in flat
    # Key slices: one per slice, naming every flagged finding it is the top slice of.
    assert calls == [(2, "any"), (4, "epidural")]
    assert "Any hemorrhage, Subdural: slice 3, p 0.910" in flat
    assert "Epidural: slice 5, p 0.350" in flat
    assert len(page.images) == 2
    # The validity statement.
    assert "synthetic phantoms" in flat and "not for clinical use" in flat.lower()

    shown = case_report.report_for_case(case, result, CARD, "m.keras", SHA, heatmap,
                                        40, 80, show_identifiers=True)
    assert "PHANTOM^SYNTHETIC" in " ".join(pdf_text(shown)[0].split())


def test_case_report_with_nothing_flagged_says_so(series):
    quiet = np.full((series.n_slices, len(CLASSES)), 0.01, np.float32)
    data = case_report.case_report_pdf(
        case_report.series_description(series, "Quiet case"), identity(), result_of(quiet), [],
        case_report.validity_statement({}))
    text, page = pdf_text(data)
    flat = " ".join(text.split())
    assert "No finding reached its threshold" in flat and len(page.images) == 0
    assert "no model card" in flat.lower() and "not for clinical use" in flat.lower()


def test_report_with_the_real_tiny_model_and_gradcam(tiny_model_dir, series):
    """End to end with a real Keras model and tf-keras-vis Grad-CAM++."""
    from cranioscan import explain
    from cranioscan.inference import Predictor

    probs = Predictor.load(tiny_model_dir / "best_model.keras").predict_series(series)
    # every class flags, on its own top slice (each slice different: one image per class)
    probs = np.full_like(probs, 0.01)
    for j in range(len(CLASSES)):
        probs[j % series.n_slices, j] = 0.9
    thresholds = {c: 0.5 for c in CLASSES}
    predictor = Predictor.load(tiny_model_dir / "best_model.keras", thresholds=thresholds)
    result = predictor.result(probs)
    case = ActiveCase(key="k", label="Tiny", source="demo", series=series)
    layer = explain.default_layer(predictor)
    data = case_report.report_for_case(
        case, result, predictor.card, predictor.path, predictor.sha256,
        lambda i, c: explain.gradcam(predictor, series, i, c, layer=layer, method="gradcam++"),
        40, 80)
    text, page = pdf_text(data, pages=2)  # six key slices: the second row on a second page
    flat = " ".join(text.split())
    assert json.loads((tiny_model_dir / "model_card.json").read_text())["name"] in flat
    assert predictor.sha256 in flat.replace(" ", "")
    assert len(page.images) == len(CLASSES)
    assert "Grad-CAM++ map" in flat


def test_viewer_offers_the_downloads(app_env):
    """The four view downloads sit under the image, the review log's under the review panel."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=300)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    buttons = {b.proto.label: b for b in app.get("download_button")}
    assert set(buttons) == {"Slices (CSV)", "Summary (CSV)", "View (PNG)", "Report (PDF)",
                            "Download the review log (CSV)"}
    assert buttons["Report (PDF)"].proto.help.startswith("The series, the model")


def test_pdf_and_csv_give_the_series_verdict_first(series, probs):
    scores = {c: 0.1 for c in CLASSES} | {"any": 0.8, "subdural": 0.7}
    result = SeriesResult(probs, THRESHOLDS, ModelIdentity("Export test model", SHA, 64, "test"),
                          series_scores=scores, series_thresholds={c: 0.5 for c in CLASSES},
                          context="series")
    case = ActiveCase(key="k", label="Phantom subdural", source="demo", series=series)
    data = case_report.report_for_case(case, result, CARD, "m.keras", SHA,
                                       lambda i, c: np.zeros(series.hu.shape[1:], np.float32),
                                       40, 80)
    from pypdf import PdfReader

    text = " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())
    verdict = "Series verdict: hemorrhage likely (any hemorrhage score 0.800, threshold 0.500; subdural)."
    assert verdict in text
    assert text.index(verdict) < text.index("Series summary")
    header, table = read_csv(export.summary_csv(result, identity()))
    assert f"# {verdict}" in header
    table = table.set_index("finding")
    assert table.loc["Any hemorrhage", "series_verdict"] == "yes"
    assert table.loc["Epidural", "series_verdict"] == "no"
    assert table.loc["Any hemorrhage", "series_score"] == pytest.approx(0.8)
    slices_header, _ = read_csv(export.slices_csv(series, result, identity()))
    assert f"# {verdict}" in slices_header
