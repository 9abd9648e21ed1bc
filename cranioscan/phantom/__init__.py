"""Synthetic head CT phantoms with known hemorrhages.

No labelled head CT can be downloaded where CranioScan is built and tested,
so this package makes its own: seeded head CT volumes with believable
anatomy (scalp, skull with diploe, gray and white matter, sulci, ventricles,
falx, cisterns, posterior fossa, CT noise) and hemorrhages of the five RSNA
subtypes drawn by their radiological shape and place, each with a voxel mask.

* :func:`make_study` -> :class:`PhantomStudy`: one study in memory (HU,
  masks, per-slice labels), for training on the fly.
* :func:`write_series`: a study as a DICOM CT series.
* :func:`make_dataset`: many studies in the RSNA 2019 layout
  (``stage_2_train.csv``, ``ID_<sop>.dcm``, ``masks/<series_uid>.npz``);
  ``python -m cranioscan.phantom --help`` does the same from a shell.
* :func:`cranioscan.phantom.contact_sheet.make_contact_sheet`: a picture
  of phantom slices beside a real one (needs matplotlib).

Every phantom is marked as synthetic in its DICOM header; none is a patient.
"""

from .render import ANATOMY_LABELS, CSF_SPACES, PARENCHYMA
from .lesions import SIZE_RANGES_MM, sample_lesion
from .study import MIN_POSITIVE_AREA_MM2, PhantomStudy, make_study, slice_labels
from .dicom_writer import write_series
from .dataset import make_dataset, study_seed_for
from .plan import balanced_plan

__all__ = [
    "make_study",
    "PhantomStudy",
    "write_series",
    "make_dataset",
    "balanced_plan",
    "study_seed_for",
    "slice_labels",
    "MIN_POSITIVE_AREA_MM2",
    "SIZE_RANGES_MM",
    "sample_lesion",
    "ANATOMY_LABELS",
    "PARENCHYMA",
    "CSF_SPACES",
]
