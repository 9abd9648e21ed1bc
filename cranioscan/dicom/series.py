"""What a DICOM source becomes: :class:`Series` (and :class:`SeriesInfo` for listing).

``Series.hu`` is float32 ``(n, rows, cols)`` in Hounsfield units, slices
ordered inferior -> superior; the loader is :mod:`cranioscan.dicom.load`.
"""

__all__ = ["Series", "SeriesInfo"]

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a source (from headers only; no pixels read).

    Attributes:
        uid: SeriesInstanceUID ("" when the files carry none).
        modality: Modality tag (or derived from the SOP class), e.g. "CT".
        description: SeriesDescription ("" when absent).
        n_files: number of image files of this series in the source.
        study_uid: StudyInstanceUID ("" when absent).
        series_number: SeriesNumber or None.
        rows, cols: image matrix of the first file.
        sop_class: name of the SOP class, e.g. "CT Image Storage".
        problem: why ``load_series`` refuses this series (e.g. "is MR, not
            CT"), or None for a loadable CT series.
    """

    uid: str
    modality: str
    description: str
    n_files: int
    study_uid: str = ""
    series_number: int | None = None
    rows: int | None = None
    cols: int | None = None
    sop_class: str = ""
    problem: str | None = None

    @property
    def is_ct(self):
        """True when ``load_series`` accepts this series."""
        return self.problem is None

    def label(self):
        """Short text naming the series for messages."""
        desc = f"'{self.description}'" if self.description else "(no description)"
        return f"series {desc} (UID {self.uid or 'missing'})"


@dataclass(repr=False, eq=False)
class Series:
    """A loaded CT series in Hounsfield units, slices inferior -> superior.

    Attributes:
        hu: float32 ``(n, rows, cols)`` Hounsfield units; padding and pixels
            outside the field of view are air (-1000 HU).
        positions: float64 ``(n,)`` slice positions in mm along ``normal``
            (strictly increasing, inferior -> superior).
        spacing: ``(row, col)`` pixel spacing in mm (PixelSpacing).
        warnings: plain-language warnings for the reader of the study.
        skipped: ``(name, reason)`` for every file left out.
        meta: display tags (patient, study, series, acquisition, window);
            a fixed set of keys, None where the tag is absent.
        sop_uids: SOPInstanceUID per slice, in slice order.
        names: source file name per slice, in slice order.
        series_uid, study_uid: the series' and study's instance UIDs.
        slice_thickness: SliceThickness of the first slice in mm, or None
            (the series' nominal value; see ``slice_thicknesses``).
        slice_thicknesses: float64 ``(n,)`` each slice's own SliceThickness
            in mm, in slice order (NaN where the tag is absent); a series can
            change thickness part way (e.g. 4 mm below the skull base, 7 mm
            above).
        slice_spacing: median distance between slice positions in mm (None
            for a single slice).
        slice_gaps: float64 ``(n - 1,)`` distances between neighbours, mm.
        tilt_degrees: gantry tilt, the angle between the slice normal and
            the line through the slice origins (degrees; for one slice the
            GantryDetectorTilt tag, or 0).
        orientation: float64 ``(6,)`` ImageOrientationPatient.
        normal: float64 ``(3,)`` unit slice normal (LPS, pointing superior
            for axial series).
        image_positions: float64 ``(n, 3)`` ImagePositionPatient per slice
            (NaN where absent).
        instance_numbers: InstanceNumber per slice (None where absent).
    """

    hu: np.ndarray
    positions: np.ndarray
    spacing: tuple
    warnings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    sop_uids: list = field(default_factory=list)
    names: list = field(default_factory=list)
    series_uid: str = ""
    study_uid: str = ""
    slice_thickness: float | None = None
    slice_thicknesses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slice_spacing: float | None = None
    slice_gaps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tilt_degrees: float = 0.0
    orientation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0, 0, 0, 1, 0]))
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0, 1]))
    image_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    instance_numbers: list = field(default_factory=list)

    @property
    def n_slices(self):
        """Number of slices."""
        return int(self.hu.shape[0])

    @property
    def shape(self):
        """``(n, rows, cols)`` of ``hu``."""
        return tuple(self.hu.shape)

    def thickness_at(self, index):
        """SliceThickness of slice ``index`` (0-based) in mm, or None when unknown.

        The slice's own value where the loader recorded one, else the
        series' ``slice_thickness``.
        """
        if len(self.slice_thicknesses) == self.n_slices:
            value = float(self.slice_thicknesses[index])
            return value if np.isfinite(value) else None
        return self.slice_thickness

    def __len__(self):
        return self.n_slices

    def __repr__(self):
        return (
            f"Series(uid={self.series_uid!r}, shape={self.shape}, "
            f"spacing={self.spacing}, slice_spacing={self.slice_spacing}, "
            f"tilt_degrees={self.tilt_degrees:.2f}, warnings={len(self.warnings)}, "
            f"skipped={len(self.skipped)})"
        )


# --- headers ----------------------------------------------------------------
