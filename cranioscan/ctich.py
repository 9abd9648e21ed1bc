"""Training data adapter: the PhysioNet CT-ICH JPG layout -> HU slices + labels.

CT-ICH (Hssayeni 2019, PhysioNet, CC BY 4.0: https://doi.org/10.13026/w8q8-ky94)
gives each slice of each patient as two 8-bit JPGs, a brain window
(level 40, width 120) and a bone window (level 700, width 3200), with one
row of radiologists' labels per slice::

    <root>/labels.csv               patient, slice, any, epidural, ..., subdural[, fracture]
    <root>/<PPP>/brain/<SS>.jpg     brain window, slice SS (01 = lowest)
    <root>/<PPP>/bone/<SS>.jpg      bone window, same slice

:func:`rebuild_hu` turns the two windows back into approximate Hounsfield
units (pure, vectorised); :func:`load_ctich` reads a folder into a
:class:`CtichData` (one study per patient, slices in order) and reports, rather
than raises, what cannot be used: a missing bone file, windows of different
sizes, a label row without an image, an unreadable JPG. The rebuilt HU goes
through ``cranioscan.preprocess.to_model_input`` like any DICOM series.
"""

__all__ = [
    "CREDIT",
    "BRAIN_WINDOW",
    "BONE_WINDOW",
    "CtichReport",
    "CtichData",
    "window_to_hu",
    "hu_to_window",
    "rebuild_hu",
    "read_ctich_labels",
    "read_slice_hu",
    "load_ctich",
    "jpeg_roundtrip_hu",
]

import dataclasses
import os

import numpy as np
import pandas as pd

from .labels import CLASSES, SUBTYPES

#: Attribution required by the dataset's CC BY 4.0 licence.
CREDIT = ("PhysioNet CT-ICH: Hssayeni, M. (2019). Computed Tomography Images for "
          "Intracranial Hemorrhage Detection and Segmentation. PhysioNet. "
          "https://doi.org/10.13026/w8q8-ky94 (CC BY 4.0)")

#: ``(level, width)`` in HU of the dataset's two JPG windows.
BRAIN_WINDOW = (40.0, 120.0)
BONE_WINDOW = (700.0, 3200.0)

#: Grey levels at or beyond which a window is clipped (JPEG ringing included).
_LOW_GREY, _HIGH_GREY = 3, 252


def window_to_hu(grey, level, width):
    """Grey levels 0..255 of a linear window back to HU.

    Args:
        grey: array of grey levels (any shape, any numeric dtype).
        level, width: the window in HU; grey 0 is ``level - width / 2`` and
            255 is ``level + width / 2``.

    Returns:
        float32 array of HU, same shape.
    """
    grey = np.asarray(grey, dtype=np.float32)
    return (level - width / 2.0) + grey * np.float32(width / 255.0)


def hu_to_window(hu, level, width):
    """HU to the 8-bit grey levels of a linear window (the inverse of
    :func:`window_to_hu`, rounded and clipped): uint8, same shape."""
    hu = np.asarray(hu, dtype=np.float32)
    grey = (hu - (level - width / 2.0)) * np.float32(255.0 / width)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def rebuild_hu(brain_grey, bone_grey, brain_window=BRAIN_WINDOW, bone_window=BONE_WINDOW):
    """Approximate HU of a slice from its brain- and bone-window images.

    Where the brain window is neither black nor white its finer steps are
    used (about 0.47 HU per grey level); elsewhere the bone window's
    (12.5 HU per level), kept on the side of the clip the brain window
    shows: at most the brain window's bottom where it is black, at least its
    top where it is white (JPEG blur can put the bone value across it).

    Args:
        brain_grey, bone_grey: ``(rows, cols)`` (or any equal shapes) grey
            levels 0..255 of the same slice.
        brain_window, bone_window: ``(level, width)`` in HU of each image.

    Returns:
        float32 HU array of the same shape; the inputs are not modified.

    Raises:
        ValueError: the two images differ in shape.
    """
    brain_grey = np.asarray(brain_grey)
    bone_grey = np.asarray(bone_grey)
    if brain_grey.shape != bone_grey.shape:
        raise ValueError(f"brain window {brain_grey.shape} and bone window {bone_grey.shape} "
                         "differ in size")
    fine = window_to_hu(brain_grey, *brain_window)
    coarse = window_to_hu(bone_grey, *bone_window)
    bottom = brain_window[0] - brain_window[1] / 2.0
    top = brain_window[0] + brain_window[1] / 2.0
    hu = np.where(brain_grey <= _LOW_GREY, np.minimum(coarse, bottom), fine)
    return np.where(brain_grey >= _HIGH_GREY, np.maximum(coarse, top), hu).astype(np.float32)


@dataclasses.dataclass
class CtichReport:
    """What the adapter kept and dropped; ``lines()`` goes to ``data_report.txt``."""

    label_rows: int = 0
    kept: int = 0
    problems: list = dataclasses.field(default_factory=list)  # (path or id, reason)

    def lines(self):
        """Human-readable lines: the counts, then one line per dropped slice."""
        out = [f"{self.label_rows:>9,d} CT-ICH label rows", f"{self.kept:>9,d} slices kept"]
        if self.problems:
            out.append(f"{len(self.problems):>9,d} slices dropped:")
            out.extend(f"          {where}: {why}" for where, why in self.problems)
        return out


@dataclasses.dataclass
class CtichData:
    """CT-ICH slices ready for ``to_model_input``.

    Attributes:
        ids: DataFrame, one row per kept slice: ``image_id`` (``CTICH<PPP>_<SS>``),
            ``patient`` and ``study`` (``CTICH<PPP>``), ``position`` (slice
            number; spacing unknown), ``brain`` and ``bone`` (file paths).
        labels: uint8 ``(n, 6)`` in ``CLASSES`` order.
        report: the :class:`CtichReport`.
    """

    ids: pd.DataFrame
    labels: np.ndarray
    report: CtichReport

    def __len__(self):
        return len(self.ids)


def read_ctich_labels(csv_path):
    """The labels CSV as a DataFrame with ``patient``, ``slice`` and the six classes.

    ``any`` is recomputed from the subtypes where the CSV's disagrees (the
    project's rule: ``any`` is 1 exactly when some subtype is).

    Raises:
        ValueError: a required column is missing (the message names it).
    """
    frame = pd.read_csv(csv_path)
    missing = [c for c in ("patient", "slice") + tuple(SUBTYPES) if c not in frame.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {', '.join(missing)}")
    frame["any"] = frame[list(SUBTYPES)].max(axis=1)
    frame[list(CLASSES)] = frame[list(CLASSES)].fillna(0).astype(np.uint8)
    return frame


def _read_grey(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def read_slice_hu(brain_path, bone_path):
    """Approximate HU ``(rows, cols)`` float32 of one slice from its two JPG files.

    Raises:
        OSError: a file is missing or not an image; ValueError: sizes differ.
    """
    return rebuild_hu(_read_grey(brain_path), _read_grey(bone_path))


def _slice_paths(root, patient, number):
    folder = os.path.join(root, f"{int(patient):03d}")
    name = f"{int(number):02d}.jpg"
    return os.path.join(folder, "brain", name), os.path.join(folder, "bone", name)


def _check_images(brain, bone):
    """Reason the slice cannot be used, or None (headers only, no decode)."""
    from PIL import Image

    if not os.path.isfile(brain):
        return "label without a brain-window image"
    if not os.path.isfile(bone):
        return "missing bone-window image"
    try:
        with Image.open(brain) as a, Image.open(bone) as b:
            if a.size != b.size:
                return f"brain window {a.size[0]}x{a.size[1]} and bone window " \
                       f"{b.size[0]}x{b.size[1]} differ in size"
    except OSError as exc:
        return f"unreadable image ({exc})"
    return None


def load_ctich(root, patients=None):
    """Index a CT-ICH folder: label rows matched to image pairs, checked.

    Args:
        root: folder holding ``labels.csv`` and the patient folders.
        patients: optional iterable of patient numbers to keep (default all).

    Returns:
        :class:`CtichData`, slices grouped by patient in slice order.

    Raises:
        FileNotFoundError: no ``labels.csv`` in ``root``;
        ValueError: the CSV lacks a required column.
    """
    csv_path = os.path.join(root, "labels.csv")
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"no labels.csv in {root} (expected the CT-ICH layout)")
    frame = read_ctich_labels(csv_path)
    if patients is not None:
        frame = frame[frame["patient"].isin({int(p) for p in patients})]
    frame = frame.sort_values(["patient", "slice"], kind="stable")
    report = CtichReport(label_rows=len(frame))
    rows, labels = [], []
    for record in frame.itertuples(index=False):
        brain, bone = _slice_paths(root, record.patient, record.slice)
        reason = _check_images(brain, bone)
        if reason:
            report.problems.append((os.path.relpath(brain, root), reason))
            continue
        study = f"CTICH{int(record.patient):03d}"
        rows.append({"image_id": f"{study}_{int(record.slice):02d}", "patient": study,
                     "study": study, "position": float(record.slice),
                     "brain": brain, "bone": bone})
        labels.append([getattr(record, c) for c in CLASSES])
    report.kept = len(rows)
    ids = pd.DataFrame(rows, columns=["image_id", "patient", "study", "position", "brain", "bone"])
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1, len(CLASSES))
    return CtichData(ids, labels, report)


def jpeg_roundtrip_hu(hu, quality=85, brain_window=BRAIN_WINDOW, bone_window=BONE_WINDOW):
    """HU slices as CT-ICH stores them: two 8-bit windows, JPEG, rebuilt.

    Puts a clean slice (a phantom, a DICOM series) through the same losses
    as the dataset's slices, so "looks like a JPEG" cannot stand in for
    "real" (or "no blood") when both are mixed in training.

    Args:
        hu: ``(rows, cols)`` or ``(n, rows, cols)`` HU array (not modified).
        quality: JPEG quality 1-95, or a sequence with one per slice.

    Returns:
        float32 HU of the same shape, from :func:`rebuild_hu`.
    """
    import io

    from PIL import Image

    hu = np.asarray(hu, dtype=np.float32)
    stack = hu[None] if hu.ndim == 2 else hu
    qualities = np.broadcast_to(np.asarray(quality, dtype=int), (len(stack),))
    out = np.empty(stack.shape, dtype=np.float32)

    def roundtrip(grey, q):
        buffer = io.BytesIO()
        Image.fromarray(grey, mode="L").save(buffer, format="JPEG", quality=int(q))
        buffer.seek(0)
        return _read_grey(buffer)

    for i, (image, q) in enumerate(zip(stack, qualities)):
        out[i] = rebuild_hu(roundtrip(hu_to_window(image, *brain_window), q),
                            roundtrip(hu_to_window(image, *bone_window), q),
                            brain_window, bone_window)
    return out[0] if hu.ndim == 2 else out
