"""``cranioscan predict``: text from the data lands in its CSV files as data, never a formula.

A real DICOM series whose SeriesDescription is a spreadsheet formula (and
that sits in a folder named like one) is scored; both CSV files hold the
text with a leading ``'`` (OWASP's rule), and negative positions stay
numbers.
"""

import csv
import json

import numpy as np
import pytest

from cranioscan.cli import main as cli
from cranioscan.testing.factory import make_series, write_series

from test_cli_predict import small_model

FORMULA = '=HYPERLINK("http://127.0.0.1:9/?leak","Open")'


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from cranioscan.net.model import save_for_inference

    folder = tmp_path_factory.mktemp("model")
    path = save_for_inference(small_model(), folder / "tiny.keras")
    (folder / "model_card.json").write_text(json.dumps({"thresholds": {"any": 0.5}}))
    return path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_predict_csv_cells_from_the_data_are_not_formulas(model_path, tmp_path):
    # Below the origin: negative positions.
    datasets = make_series(4, z0=-40.0, series_description=FORMULA, pixels=np.zeros((32, 32)),
                           series_uid="1.2.3.77")
    write_series(datasets, tmp_path / "@cases" / "-series")
    out = tmp_path / "out.csv"
    assert cli.main(["predict", str(tmp_path / "@cases"), "--out", str(out),
                     "--model", str(model_path), "--quiet"]) == 0

    series_rows = read_rows(tmp_path / "out_series.csv")
    assert series_rows[0]["series_description"] == "'" + FORMULA
    slice_rows = read_rows(out)
    assert slice_rows[0]["position_mm"] == "-40.000"  # a number, not text
    for row in series_rows + slice_rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            assert not cell.startswith("-") or cell.replace(".", "", 1).lstrip("-").isdigit(), \
                (column, cell)
