"""A folder of phantom studies in the RSNA 2019 layout.

:func:`make_dataset` writes, for ``n_studies`` studies drawn from one seed:

* ``ID_<sop>.dcm``: one DICOM file per slice (``<sop>`` is its SOPInstanceUID);
* ``stage_2_train.csv``: header ``ID,Label`` and six rows per image,
  ``ID_<sop>_<class>,<0|1>``, subtypes first and ``any`` last as in the
  RSNA file;
* ``masks/<series_uid>.npz``: one boolean ``(n_slices, rows, cols)`` array
  per subtype, keyed by class name, slices in ``load_series`` order
  (inferior to superior);
* ``phantom_studies.json``: per study its UIDs, geometry and hemorrhages.

Study ``i`` depends only on ``(seed, i)``, and nothing depends on the clock,
so the same arguments give byte-identical files.
"""

__all__ = ["RSNA_CSV_ORDER", "make_dataset", "save_masks", "study_seed_for"]

import io
import json
import multiprocessing
import os
import zipfile

import numpy as np
from tqdm import tqdm

from ..labels import CLASSES, SUBTYPES
from .dicom_writer import write_series
from .study import make_study

#: Class order of the six rows per image in the RSNA ``stage_2_train.csv``.
RSNA_CSV_ORDER = SUBTYPES + ("any",)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def study_seed_for(seed, index):
    """SeedSequence of study ``index`` of a dataset made with ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def save_masks(path, masks):
    """Write ``{name: bool array}`` as an ``.npz`` (deflated, fixed timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in SUBTYPES:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(masks[name], dtype=bool), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _one_study(args):
    out_dir, seed, index, matrix, rle, study_kwargs = args
    study = make_study(study_seed_for(seed, index), matrix=matrix, **study_kwargs)
    write_series(study, out_dir, rle=rle)
    save_masks(os.path.join(out_dir, "masks", study.dicom["series_uid"] + ".npz"), study.masks)
    rows = []
    for k, sop in enumerate(study.dicom["sop_uids"]):
        labels = dict(zip(CLASSES, (int(x) for x in study.labels[k])))
        rows.extend(f"ID_{sop}_{name},{labels[name]}\n" for name in RSNA_CSV_ORDER)
    record = {
        "index": index,
        "patient_id": study.dicom["patient_id"],
        "study_uid": study.dicom["study_uid"],
        "series_uid": study.dicom["series_uid"],
        "n_slices": study.n_slices,
        "rows_cols": list(study.hu.shape[1:]),
        "spacing_mm": list(study.spacing),
        "slice_thickness_mm": study.slice_thickness,
        "storage": study.dicom["storage"],
        "positive_slices": {c: int(study.labels[:, j].sum()) for j, c in enumerate(CLASSES)},
        "lesions": study.lesions,
    }
    return rows, record


def make_dataset(out_dir, n_studies, seed, *, matrix=512, rle=False, progress=True, workers=1,
                 **study_kwargs):
    """Write ``n_studies`` phantom studies in the RSNA 2019 layout.

    Args:
        out_dir: output folder (created if missing).
        n_studies: number of studies.
        seed: non-negative int; study ``i`` is ``make_study(study_seed_for(seed, i))``.
        matrix: rows and columns of the slices.
        rle: compress the pixel data with RLE Lossless.
        progress: show a tqdm progress bar.
        workers: processes generating studies in parallel (output is the same).
        **study_kwargs: passed to :func:`make_study` (``n_slices``, ``size``,
            ``p_normal``, ``subtypes``, ``normal``).

    Returns:
        dict: ``csv`` path, ``studies``, ``images``, positive images per class.
    """
    n_studies = int(n_studies)
    if n_studies < 1:
        raise ValueError(f"n_studies must be at least 1, got {n_studies}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    os.makedirs(os.path.join(out_dir, "masks"), exist_ok=True)
    jobs = [(out_dir, int(seed), i, int(matrix), bool(rle), study_kwargs) for i in range(n_studies)]
    if workers and int(workers) > 1:
        pool = multiprocessing.get_context("spawn").Pool(int(workers))
        results = pool.imap(_one_study, jobs)
    else:
        pool = None
        results = map(_one_study, jobs)
    if progress:
        results = tqdm(results, total=n_studies, desc="phantom studies", unit="study")
    csv_path = os.path.join(out_dir, "stage_2_train.csv")
    records = []
    counts = dict.fromkeys(CLASSES, 0)
    images = 0
    try:
        with open(csv_path, "w", newline="\n", encoding="ascii") as fh:
            fh.write("ID,Label\n")
            for rows, record in results:
                fh.writelines(rows)
                records.append(record)
                images += record["n_slices"]
                for c in CLASSES:
                    counts[c] += record["positive_slices"][c]
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    with open(os.path.join(out_dir, "phantom_studies.json"), "w", encoding="utf-8") as fh:
        json.dump({"seed": int(seed), "matrix": int(matrix), "studies": records}, fh, indent=1)
        fh.write("\n")
    return {"csv": csv_path, "studies": n_studies, "images": images, "positives": counts}
