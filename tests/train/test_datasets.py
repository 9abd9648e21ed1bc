"""RSNA label parsing, dataset reconciliation and patient-level splits."""

import numpy as np
import pytest

from cranioscan.train.rsna import (
    DatasetReport,
    LabelFormatError,
    read_rsna_labels,
    split_by_group,
)
from cranioscan.labels import CLASSES


def _write_csv(path, rows, header="ID,Label"):
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return str(path)


def _rows(image_id, labels):
    return [(f"{image_id}_{c}", v) for c, v in zip(CLASSES, labels)]


def test_read_rsna_labels_pivots_six_rows_per_image(tmp_path):
    rows = _rows("ID_0001a", [1, 0, 0, 0, 0, 1]) + _rows("ID_0000b", [0] * 6)
    table = read_rsna_labels(_write_csv(tmp_path / "l.csv", rows))
    assert list(table.columns) == list(CLASSES)
    assert list(table.index) == ["ID_0000b", "ID_0001a"]
    np.testing.assert_array_equal(table.loc["ID_0001a"].to_numpy(), [1, 0, 0, 0, 0, 1])


def test_read_rsna_labels_counts_duplicates_conflicts_and_incomplete(tmp_path):
    rows = (_rows("ID_a", [1, 1, 0, 0, 0, 0]) + [("ID_a_any", 1)]          # identical duplicate
            + _rows("ID_b", [0] * 6) + [("ID_b_epidural", 1)]             # conflicting duplicate
            + _rows("ID_c", [0] * 6)[:5]                                  # incomplete
            + _rows("ID_d", [1, 0, 0, 0, 0, 0]))                          # any without subtype
    report = DatasetReport()
    table = read_rsna_labels(_write_csv(tmp_path / "l.csv", rows), report)
    assert list(table.index) == ["ID_a", "ID_d"]
    assert report.duplicate_label_rows == 1
    assert report.conflicting_label_rows == 1
    assert report.incomplete_label_sets == 1
    assert report.any_inconsistent == 1
    assert any("conflicting" in line for line in report.lines())


@pytest.mark.parametrize("header,rows,match", [
    ("Image,Target", [("ID_a_any", 0)], "expected the RSNA header 'ID,Label'"),
    ("ID,Label", [("ID_a_hemorrhage", 0)], r"line 2: expected a class"),
    ("ID,Label", [("ID_a_any", 0), ("ID_a_epidural", 2)], r"line 3: expected a label of 0 or 1"),
    ("ID,Label", [("a_any", 0)], r"line 2: expected an ID of the form"),
    ("ID,Label", [], "no label rows"),
])
def test_read_rsna_labels_rejects_wrong_format(tmp_path, header, rows, match):
    path = _write_csv(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(LabelFormatError, match=match):
        read_rsna_labels(path)


def test_missing_labels_file_is_named(tmp_path):
    with pytest.raises(LabelFormatError, match="nope.csv: labels file not found"):
        read_rsna_labels(str(tmp_path / "nope.csv"))


def test_split_by_group_never_splits_a_group_and_is_seeded():
    groups = np.repeat([f"p{i}" for i in range(20)], 7)
    train, val = split_by_group(groups, 0.25, seed=3)
    assert set(groups[train]).isdisjoint(groups[val])
    assert len(train) + len(val) == len(groups)
    assert len(set(groups[val])) == 5
    again = split_by_group(groups, 0.25, seed=3)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, split_by_group(groups, 0.25, seed=4)[1])


def test_split_by_group_needs_two_groups():
    with pytest.raises(ValueError, match="at least 2"):
        split_by_group(["a", "a"], 0.5)
