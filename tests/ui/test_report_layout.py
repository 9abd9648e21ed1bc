"""The PDF report lays itself out (issue 27, item 2): platypus flows text and tables, so
no two text boxes overlap and nothing leaves the page at any table width or name length;
one key image per slice naming every finding it stands for; a second page when needed."""

import io
import itertools

import numpy as np
import pytest

from cranioscan.dicom import load_series
from cranioscan.labels import CLASSES
from cranioscan.series_result import ModelIdentity, SeriesResult
from cranioscan.visualize import case_report, export
from cranioscan.ui.state import ActiveCase

SHA = "0123456789abcdef" * 4
LONG = "SUPERLONGSERIESDESCRIPTIONWITHOUTANYSPACES" * 6


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    from cranioscan.phantom import make_study, write_series

    folder = tmp_path_factory.mktemp("report_series")
    write_series(make_study(7, matrix=64, n_slices=8, subtypes=("subdural",)), folder)
    series = load_series(folder)
    series.meta.update(series_description=LONG, institution="Institution " * 20,
                       manufacturer="A manufacturer with a very long name " * 4)
    return series


def boxes(data):
    """Per page: ``(width, height, text boxes [(x0, y0, x1, y1, text)], image boxes)``."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTFigure, LTImage, LTTextContainer, LTTextLine

    pages = []
    for page in extract_pages(io.BytesIO(data), laparams=LAParams()):
        texts, images = [], []

        def walk(item):
            if isinstance(item, LTTextLine):
                if item.get_text().strip():
                    texts.append((*item.bbox, item.get_text().strip()))
                return
            if isinstance(item, (LTImage, LTFigure)) and not isinstance(item, LTTextContainer):
                if isinstance(item, LTImage):
                    images.append(item.bbox)
            for child in getattr(item, "_objs", []) or []:
                walk(child)

        walk(page)
        pages.append((page.width, page.height, texts, images))
    return pages


def overlap(a, b, tolerance=0.5):
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width > tolerance and height > tolerance


def check_layout(data):
    pages = boxes(data)
    for width, height, texts, images in pages:
        assert texts
        for box in texts + [(*b, "image") for b in images]:
            x0, y0, x1, y1, what = box
            assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, f"leaves the page: {box}"
        for a, b in itertools.combinations(texts, 2):
            assert not overlap(a, b), f"text boxes overlap: {a} / {b}"
        for text, image in itertools.product(texts, images):
            assert not overlap(text, image), f"text over an image: {text} / {image}"
        for a, b in itertools.combinations(images, 2):
            assert not overlap(a, b), f"images overlap: {a} / {b}"
    return pages


def flat_text(pages):
    return " ".join(" ".join(t[4] for t in page[2]) for page in pages)


def heatmap(series):
    def make(index, name):
        rows, cols = series.hu.shape[1:]
        yy, xx = np.mgrid[:rows, :cols]
        return np.exp(-((yy - 20) ** 2 + (xx - 30) ** 2) / 40.0).astype(np.float32)
    return make


def report(series, probs, label="Upload: DOE_JANE_MRN4242_headCT.zip", name="Layout test model",
           show_identifiers=False):
    thresholds = {c: 0.5 for c in CLASSES}
    result = SeriesResult(probs, thresholds, ModelIdentity(name, SHA, 64, "test"))
    case = ActiveCase(key="k", label=label, source="upload", series=series)
    card = {"name": name, "trained_on": "synthetic phantoms", "synthetic": True}
    return result, case_report.report_for_case(case, result, card, "m.keras", SHA, heatmap(series),
                                               40, 80, show_identifiers=show_identifiers)


def test_six_key_slices_long_names_and_a_second_page(series):
    probs = np.full((series.n_slices, len(CLASSES)), 0.01, np.float32)
    for j in range(len(CLASSES)):  # every class flagged on its own slice
        probs[j, j] = 0.6 + 0.05 * j
    result, data = report(series, probs, name="A research model with a long name " * 6)
    assert len(result.key_slices) == 6
    pages = check_layout(data)
    assert len(pages) == 2  # what does not fit on the first page continues on a second
    assert sum(len(p[3]) for p in pages) == 6
    text = flat_text(pages).replace(" ", "")
    assert LONG[:40] in text and SHA in text  # long tokens wrap, they are not cut
    assert "Page2" in text


def test_one_image_per_slice_naming_every_finding_it_stands_for(series):
    probs = np.full((series.n_slices, len(CLASSES)), 0.01, np.float32)
    probs[3, 0], probs[3, 5], probs[3, 2] = 0.9, 0.8, 0.7  # any, subdural, IPH top on slice 4
    probs[5, 1] = 0.55
    result, data = report(series, probs)
    assert [k.index for k in result.key_slices] == [3, 5]
    pages = check_layout(data)
    assert len(pages) == 1 and len(pages[0][3]) == 2
    text = " ".join(flat_text(pages).split())
    assert "Any hemorrhage, Intraparenchymal, Subdural: slice 4" in text
    assert "Epidural: slice 6" in text


def test_the_case_line_never_carries_upload_names_while_identifiers_are_hidden(series):
    probs = np.full((series.n_slices, len(CLASSES)), 0.01, np.float32)
    _, data = report(series, probs)
    text = flat_text(check_layout(data))
    assert "DOE_JANE" not in text and "MRN4242" not in text
    assert "Uploaded series" in text and "No finding reached its threshold" in text
    _, shown = report(series, probs, show_identifiers=True)
    assert "DOE_JANE_MRN4242_headCT.zip" in flat_text(boxes(shown)).replace(" ", "")


def test_markup_in_dicom_text_is_printed_as_text(series):
    series.meta["series_description"] = "<b>bold</b> & <font size=40>big</font>"
    try:
        probs = np.full((series.n_slices, len(CLASSES)), 0.01, np.float32)
        _, data = report(series, probs)
        assert "<b>bold</b> & <font size=40>big</font>" in flat_text(check_layout(data))
    finally:
        series.meta["series_description"] = LONG
