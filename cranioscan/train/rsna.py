"""Training data adapters: RSNA 2019 labels + DICOM folders -> slice tables.

The RSNA 2019 Intracranial Hemorrhage layout (also written by
``cranioscan.phantom.make_dataset``): ``stage_2_train.csv`` with rows
``ID_<sop>_<class>,Label`` (six rows per image) and one ``ID_<sop>.dcm`` per
slice. This module parses the labels, reads the DICOM headers once
(``cranioscan.dicom.header.read_index_entry``) to learn each slice's
patient, study and position, reconciles labels with images
(counting what does not match), and splits by patient or study, never by
slice. Pixel decoding happens later, in ``cranioscan.train.pipeline``.
"""

__all__ = [
    "LabelFormatError",
    "DatasetReport",
    "SliceTable",
    "read_rsna_labels",
    "index_dicom_headers",
    "load_rsna",
    "split_by_group",
]

import csv
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..dicom.header import read_index_entry
from ..labels import CLASSES


class LabelFormatError(ValueError):
    """The labels CSV is not in the RSNA ``ID_<image>_<class>,Label`` format."""


@dataclasses.dataclass
class DatasetReport:
    """Counts of what the adapter kept and dropped, for the run folder and log."""

    labelled_images: int = 0
    images_found: int = 0
    labels_without_image: int = 0
    images_without_labels: int = 0
    unreadable_images: int = 0
    incomplete_label_sets: int = 0
    duplicate_label_rows: int = 0
    conflicting_label_rows: int = 0
    any_inconsistent: int = 0
    kept: int = 0
    examples: dict = dataclasses.field(default_factory=dict)

    def lines(self):
        """Human-readable lines, one per non-zero count."""
        names = {
            "labelled_images": "images with labels in the CSV",
            "images_found": "DICOM files found",
            "labels_without_image": "labelled images with no DICOM file (dropped)",
            "images_without_labels": "DICOM files with no labels (ignored)",
            "unreadable_images": "unreadable DICOM files (dropped)",
            "incomplete_label_sets": "images without all six labels (dropped)",
            "duplicate_label_rows": "duplicate identical label rows (ignored)",
            "conflicting_label_rows": "images with conflicting duplicate labels (dropped)",
            "any_inconsistent": "images whose 'any' disagrees with the subtypes (kept as given)",
            "kept": "slices kept",
        }
        out = []
        for field, text in names.items():
            value = getattr(self, field)
            if value or field == "kept":
                example = self.examples.get(field)
                out.append(f"{value:>9,d} {text}" + (f" (e.g. {example})" if example else ""))
        return out

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SliceTable:
    """One row per usable slice.

    Attributes:
        frame: DataFrame with columns ``image_id, path, patient, study, series,
            position`` (mm along the slice normal, NaN when unknown) and one
            uint8 column per class in ``CLASSES`` order.
        report: what was kept and dropped.
    """

    frame: pd.DataFrame
    report: DatasetReport

    @property
    def labels(self):
        """uint8 ``(n, 6)`` labels in ``CLASSES`` order."""
        return self.frame[list(CLASSES)].to_numpy(dtype=np.uint8)

    def __len__(self):
        return len(self.frame)


def read_rsna_labels(csv_path, report=None):
    """Parse an RSNA ``stage_2_train.csv`` into one row of six labels per image.

    Args:
        csv_path: path to the CSV (header ``ID,Label``).
        report: optional ``DatasetReport`` updated with counts.

    Returns:
        DataFrame indexed by image id (``ID_<sop>``) with uint8 columns in
        ``CLASSES`` order, sorted by image id.

    Raises:
        LabelFormatError: wrong header, malformed IDs, unknown classes or
            labels other than 0/1, naming the file and the first bad line.
    """
    report = report if report is not None else DatasetReport()
    if not os.path.isfile(csv_path):
        raise LabelFormatError(f"{csv_path}: labels file not found")
    with open(csv_path, newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None or [h.strip() for h in header[:2]] != ["ID", "Label"]:
        raise LabelFormatError(
            f"{csv_path}: expected the RSNA header 'ID,Label', found {header!r}")
    raw = pd.read_csv(csv_path, dtype={"ID": str, "Label": str}, usecols=["ID", "Label"])
    if raw.empty:
        raise LabelFormatError(f"{csv_path}: no label rows")
    parts = raw["ID"].str.rsplit("_", n=1, expand=True)
    if parts.shape[1] != 2:
        raise LabelFormatError(f"{csv_path}: IDs must look like ID_<image>_<class>")
    bad_id = parts[1].isna() | ~parts[0].fillna("").str.startswith("ID_")
    bad_class = ~parts[1].isin(CLASSES)
    labels = pd.to_numeric(raw["Label"], errors="coerce")
    bad_label = ~labels.isin([0, 1])
    for mask, what in ((bad_id, "an ID of the form ID_<image>_<class>"),
                       (bad_class, f"a class in {', '.join(CLASSES)}"),
                       (bad_label, "a label of 0 or 1")):
        if mask.any():
            first = int(np.flatnonzero(mask.to_numpy())[0])
            raise LabelFormatError(
                f"{csv_path}, line {first + 2}: expected {what}, found "
                f"{raw['ID'].iloc[first]!r},{raw['Label'].iloc[first]!r} "
                f"({int(mask.sum()):,d} such rows)")
    long = pd.DataFrame({"image_id": parts[0], "cls": parts[1], "label": labels.astype(np.uint8)})
    dup = long.duplicated(["image_id", "cls", "label"])
    report.duplicate_label_rows += int(dup.sum())
    long = long[~dup]
    conflicts = long.duplicated(["image_id", "cls"], keep=False)
    conflicting_ids = set(long.loc[conflicts, "image_id"])
    report.conflicting_label_rows += len(conflicting_ids)
    if conflicting_ids:
        report.examples["conflicting_label_rows"] = sorted(conflicting_ids)[0]
    long = long[~long["image_id"].isin(conflicting_ids)]
    wide = long.pivot(index="image_id", columns="cls", values="label")
    incomplete = wide.isna().any(axis=1)
    report.incomplete_label_sets += int(incomplete.sum())
    if incomplete.any():
        report.examples["incomplete_label_sets"] = str(wide.index[incomplete][0])
    wide = wide[~incomplete].reindex(columns=list(CLASSES)).astype(np.uint8).sort_index()
    inconsistent = wide["any"].to_numpy() != wide[list(CLASSES[1:])].to_numpy().max(axis=1)
    report.any_inconsistent += int(inconsistent.sum())
    report.labelled_images = len(wide)
    return wide


def index_dicom_headers(paths, workers=8, progress=None):
    """Read patient/study/series/position from each file's header (no pixels).

    Args:
        paths: file paths.
        workers: threads (header parsing is I/O bound on large datasets).
        progress: optional callable ``progress(done, total)``.

    Returns:
        ``(rows, failures)``: ``rows`` a list of dicts (``None`` where the
        file was unreadable), ``failures`` a list of ``(path, reason)``.
    """
    paths = list(paths)
    rows, failures = [None] * len(paths), []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, (row, reason) in enumerate(pool.map(read_index_entry, paths, chunksize=64)):
            rows[i] = row
            if row is None:
                failures.append((paths[i], reason))
            if progress is not None and (i + 1) % 256 == 0:
                progress(i + 1, len(paths))
    if progress is not None:
        progress(len(paths), len(paths))
    return rows, failures


def _scan_images(image_dir):
    found = {}
    for root, _dirs, files in os.walk(image_dir):
        for name in files:
            if name.lower().endswith(".dcm"):
                found[name[:-4]] = os.path.join(root, name)
    return found


_INDEX_COLUMNS = ["image_id", "path", "patient", "study", "series", "position",
                  "instance", "unreadable"]


def _cached_index(index_cache, wanted):
    """The header index saved by an earlier run, if it covers ``wanted``."""
    if not index_cache or not os.path.isfile(index_cache):
        return None
    index = pd.read_csv(index_cache, dtype={c: str for c in _INDEX_COLUMNS if c != "position"},
                        keep_default_na=False)
    index["position"] = pd.to_numeric(index["position"], errors="coerce")
    if set(index["image_id"]) != set(wanted):
        return None  # the folder changed since the index was written
    return index


def load_rsna(csv_path, image_dir, index_cache=None, workers=8, progress=None):
    """Build the slice table of an RSNA-layout dataset.

    Args:
        csv_path: ``stage_2_train.csv``.
        image_dir: folder holding ``ID_<sop>.dcm`` files (searched recursively).
        index_cache: optional CSV path; header facts are read from it when it
            exists and written to it otherwise (750,000 headers are read once).
        workers: header-reading threads.
        progress: optional ``progress(done, total)`` callable.

    Returns:
        ``SliceTable``; rows sorted by patient, study, position.

    Raises:
        LabelFormatError: bad CSV.
        FileNotFoundError: ``image_dir`` missing.
        ValueError: no labelled image could be read (with the counts).
    """
    report = DatasetReport()
    labels = read_rsna_labels(csv_path, report)
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"{image_dir}: image folder not found")
    found = _scan_images(image_dir)
    report.images_found = len(found)
    report.images_without_labels = len(set(found) - set(labels.index))
    wanted = sorted(set(found) & set(labels.index))
    index = _cached_index(index_cache, wanted)
    if index is None:
        rows, failures = index_dicom_headers([found[i] for i in wanted], workers, progress)
        reasons = dict(failures)
        records = []
        for image_id, row in zip(wanted, rows):
            record = {"image_id": image_id, "path": found[image_id],
                      "unreadable": "" if row else reasons[found[image_id]]}
            record.update(row or {"patient": "", "study": "", "series": "",
                                  "position": np.nan, "instance": None})
            records.append(record)
        index = pd.DataFrame.from_records(records, columns=_INDEX_COLUMNS)
        if index_cache:
            os.makedirs(os.path.dirname(os.path.abspath(index_cache)), exist_ok=True)
            index.to_csv(index_cache, index=False)
    unreadable = index["unreadable"] != ""
    report.unreadable_images = int(unreadable.sum())
    if report.unreadable_images:
        first = index[unreadable].iloc[0]
        report.examples["unreadable_images"] = f"{first['path']}: {first['unreadable']}"
    index = index[~unreadable]
    report.labels_without_image = len(labels) - len(wanted)
    if report.labels_without_image:
        report.examples["labels_without_image"] = str(labels.index.difference(wanted)[0])
    frame = index.drop(columns=["unreadable"]).merge(
        labels, left_on="image_id", right_index=True, how="inner")
    # Slices without a study id still need a group: fall back to the image id.
    frame["study"] = frame["study"].where(frame["study"] != "", frame["image_id"])
    frame["patient"] = frame["patient"].where(frame["patient"] != "", frame["study"])
    frame = frame.sort_values(["patient", "study", "position", "image_id"]).reset_index(drop=True)
    report.kept = len(frame)
    if not len(frame):
        raise ValueError(
            f"{csv_path} / {image_dir}: no labelled image could be read\n" + "\n".join(report.lines()))
    return SliceTable(frame, report)


def split_by_group(groups, val_fraction=0.2, seed=0):
    """Split rows into train and validation by group (patient or study).

    Every row of a group lands on the same side, so no patient contributes
    slices to both. Groups are shuffled with ``seed``; the validation side
    takes whole groups until it holds about ``val_fraction`` of the groups.

    Args:
        groups: sequence of group keys, one per row.
        val_fraction: fraction of groups for validation, in (0, 1).
        seed: shuffling seed.

    Returns:
        ``(train_index, val_index)``: sorted int64 row indices.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    groups = np.asarray(groups)
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError(f"need at least 2 patients/studies to split, found {len(unique)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    n_val = min(len(unique) - 1, max(1, int(round(val_fraction * len(unique)))))
    val_groups = unique[order[:n_val]]
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
