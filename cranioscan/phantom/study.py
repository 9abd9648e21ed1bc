"""One phantom study in memory: HU volume, hemorrhage masks, slice labels.

:func:`make_study` draws a head, its hemorrhages and the scan geometry from
a seed, renders every axial slice (:mod:`.render`), adds CT noise and
returns a :class:`PhantomStudy` holding exactly what ``load_series`` would
return after the study is written as DICOM (integer HU, slices inferior to
superior), plus the masks and labels. Nothing is written to disk here.
"""

__all__ = ["MIN_POSITIVE_AREA_MM2", "PhantomStudy", "make_study", "slice_labels", "study_seed"]

import dataclasses
import hashlib
import uuid

import numpy as np

from ..labels import CLASSES, SUBTYPES, any_from_subtypes
from . import anatomy, lesions as lesion_mod
from .grid import SliceGrid, upsample
from .render import MassEffect, coarse_for_slices, render_slice

#: A slice is positive for a subtype when that subtype's mask covers at least
#: this area on the slice (mm^2); ``any`` is positive when a subtype is.
MIN_POSITIVE_AREA_MM2 = 20.0

#: Stored HU range: what 12-bit unsigned storage with intercept -1024 holds.
HU_MIN, HU_MAX = -1024.0, 3071.0

_RENDER_MAX = 256  # larger matrices are drawn at half resolution, then upsampled
_REFERENCE_PIXEL_MM = 0.488  # noise_sd of a Head is the noise at this pixel size


@dataclasses.dataclass
class PhantomStudy:
    """A generated head CT study (in memory).

    Attributes:
        hu: float32 ``(n, rows, cols)`` Hounsfield units, integer valued and
            clipped to [-1024, 3071], slices ordered inferior -> superior:
            what ``load_series`` returns for the written series.
        masks: subtype name -> bool ``(n, rows, cols)`` voxel mask of that
            hemorrhage subtype (all five subtypes present, empty when absent).
        labels: uint8 ``(n, 6)`` per-slice labels in ``CLASSES`` order: a
            subtype is 1 where its mask covers at least
            ``MIN_POSITIVE_AREA_MM2`` on the slice; ``any`` is their OR.
        anatomy: uint8 ``(n, rows, cols)`` anatomy labels before hemorrhage
            (codes in ``cranioscan.phantom.ANATOMY_LABELS``).
        spacing: ``(row, col)`` pixel spacing in mm.
        positions: float64 ``(n,)`` slice positions along the slice normal
            (scanner z, mm), increasing.
        slice_thickness: slice thickness and spacing between slices (mm).
        origin: scanner ``(x, y)`` (mm) of the centre of pixel (0, 0).
        lesions: one description dict per hemorrhage (subtype, place, size,
            density, volume in ml, positive slice indices).
        dicom: header values for writing (UIDs, patient, storage scheme, ...).
    """

    hu: np.ndarray
    masks: dict
    labels: np.ndarray
    anatomy: np.ndarray
    spacing: tuple
    positions: np.ndarray
    slice_thickness: float
    origin: tuple
    lesions: list
    dicom: dict

    @property
    def n_slices(self):
        return int(self.hu.shape[0])

    @property
    def subtypes(self):
        """Subtypes positive on at least one slice."""
        return tuple(c for j, c in enumerate(CLASSES[1:], start=1) if self.labels[:, j].any())


def slice_labels(masks, spacing, min_area_mm2=MIN_POSITIVE_AREA_MM2):
    """Per-slice labels from subtype masks.

    Args:
        masks: subtype name -> bool ``(n, rows, cols)``.
        spacing: ``(row, col)`` pixel spacing (mm).
        min_area_mm2: smallest mask area on a slice that makes it positive.

    Returns:
        uint8 ``(n, 6)`` in ``CLASSES`` order.
    """
    pixel_area = float(spacing[0]) * float(spacing[1])
    sub = np.stack([masks[s].sum(axis=(1, 2)) * pixel_area >= min_area_mm2 for s in SUBTYPES], axis=1)
    return any_from_subtypes(sub)


def study_seed(seed):
    """Normalise a seed (int, SeedSequence, Generator or None) to a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence([int(x) for x in seed.integers(0, 2 ** 32, size=4)])
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (int, np.integer)) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise ValueError(f"seed must be a non-negative int, a SeedSequence or a Generator, got {seed!r}")


def _seed_key(ss):
    return f"{ss.entropy}/{'.'.join(str(k) for k in ss.spawn_key)}"


def _pick_subtypes(rng, p_normal):
    if rng.random() < p_normal:
        return ()
    weights = np.array([0.15, 0.22, 0.22, 0.2, 0.21])  # SUBTYPES order
    k = int(rng.choice([1, 2, 3], p=[0.6, 0.28, 0.12]))
    chosen = list(rng.choice(len(SUBTYPES), size=k, replace=False, p=weights))
    if SUBTYPES.index("intraparenchymal") in chosen and rng.random() < 0.3:
        chosen.append(SUBTYPES.index("intraventricular"))  # ventricular extension
    return tuple(SUBTYPES[i] for i in sorted(set(chosen)))


def _mass_effect(lesions):
    shift, w_sum, v_sum = 0.0, 0.0, 0.0
    pushes = []
    for les in lesions:
        if les.subtype in ("epidural", "subdural", "intraparenchymal"):
            side = getattr(les, "side", 0.0)
            mm = float(np.clip((les.volume_ml() - 12.0) * 0.22, 0.0, 12.0))
            shift -= side * mm
            w_sum += mm * les.center[2]
            v_sum += mm
        if les.subtype == "intraparenchymal":
            pushes.append((tuple(les.center), max(les.radii) * 1.3))
    shift_w = w_sum / v_sum if v_sum else 20.0
    return MassEffect(shift=float(shift), shift_w=float(np.clip(shift_w, -10.0, 40.0)), pushes=tuple(pushes))


def _noise(rng, shape, sd):
    """CT-like noise: white noise smoothed by a separable [1, 2, 1] kernel.

    Neighbour correlations (0.67 at one pixel, 0.17 at two) match those
    measured on a real 512 x 512 head CT slice.
    """
    white = rng.standard_normal((shape[0] + 2, shape[1] + 2), dtype=np.float32)
    rows = white[1:-1] * np.float32(2.0)
    rows += white[:-2]
    rows += white[2:]
    out = rows[:, 1:-1] * np.float32(2.0)
    out += rows[:, :-2]
    out += rows[:, 2:]
    out *= np.float32(sd / 16.0 / 0.375)  # the kernel keeps 0.375 of the sd
    return out


def _upsample_mask(alpha, factor):
    """``alpha > 0.5`` at ``factor`` times the resolution, upsampling only the box around it."""
    n = alpha.shape[0]
    out = np.zeros((n * factor, n * factor), dtype=bool)
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    cols = np.flatnonzero(alpha.max(axis=0) > 0)
    if rows.size == 0:
        return out
    if factor == 1:
        return alpha > 0.5
    r0, r1 = max(rows[0] - 2, 0), min(rows[-1] + 3, n)
    c0, c1 = max(cols[0] - 2, 0), min(cols[-1] + 3, n)
    crop = upsample(alpha[r0:r1, c0:c1], factor)
    out[r0 * factor:r1 * factor, c0 * factor:c1 * factor] = crop > 0.5
    return out


def _describe(les, masks, spacing, thickness, labels):
    d = {"subtype": les.subtype}
    for f in dataclasses.fields(les):
        val = getattr(les, f.name)
        if isinstance(val, (tuple, list)):
            val = [round(float(x), 2) if not isinstance(x, (tuple, list)) else [round(float(y), 3) for y in x]
                   for x in val]
        elif isinstance(val, float):
            val = round(val, 2)
        d[f.name] = val
    j = CLASSES.index(les.subtype)
    d["positive_slices"] = [int(i) for i in np.flatnonzero(labels[:, j])]
    d["subtype_volume_ml"] = round(float(masks[les.subtype].sum()) * spacing[0] * spacing[1] * thickness / 1000, 2)
    return d


def make_study(seed=None, *, matrix=512, n_slices=None, subtypes=None, normal=None, size=(0.0, 1.0),
               lesions=None, p_normal=0.5):
    """Generate one phantom head CT study in memory.

    Args:
        seed: int, ``numpy.random.SeedSequence`` or ``numpy.random.Generator``;
            the same seed gives the same study (byte for byte). ``None`` draws
            fresh entropy.
        matrix: rows and columns of the slices. The field of view (0.40-0.50
            mm pixels at 512) does not depend on it: a smaller matrix shows
            the same anatomy with larger pixels. Matrices of 384 and more
            are drawn at half resolution and upsampled.
        n_slices: number of axial slices from the skull base to the vertex
            (default: drawn from 24-40); thickness is 2.5-5 mm.
        subtypes: hemorrhage subtypes the study must show (each on at least
            one slice), e.g. ``("epidural",)``; ``None`` draws them (about
            half the studies normal, see ``p_normal``).
        normal: ``True`` for a study without hemorrhage.
        size: ``(lo, hi)`` relative lesion size range in [0, 1], mapped onto
            ``lesions.SIZE_RANGES_MM``.
        lesions: explicit lesion objects (:mod:`.lesions`), overriding
            ``subtypes`` and ``normal``.
        p_normal: probability of a normal study when subtypes are drawn.

    Returns:
        :class:`PhantomStudy`.
    """
    matrix = int(matrix)
    if not 32 <= matrix <= 2048:
        raise ValueError(f"matrix must be between 32 and 2048 pixels, got {matrix}")
    if n_slices is not None and not 1 <= int(n_slices) <= 200:
        raise ValueError(f"n_slices must be between 1 and 200, got {n_slices}")
    if subtypes is not None:
        subtypes = (subtypes,) if isinstance(subtypes, str) else tuple(subtypes)
        bad = [s for s in subtypes if s not in SUBTYPES]
        if bad:
            raise ValueError(f"unknown hemorrhage subtypes {bad}; expected some of {SUBTYPES}")
        if normal:
            raise ValueError("normal=True contradicts subtypes=" + repr(subtypes))
    ss = study_seed(seed)
    key = _seed_key(ss)
    rng_geo, rng_les, rng_noise, rng_meta = (np.random.default_rng(s) for s in ss.spawn(4))

    # Scan geometry: field of view and slices.
    pix512 = float(rng_geo.uniform(0.40, 0.50))
    fov = pix512 * 512
    spacing = round(fov / matrix, 6)
    fov = spacing * matrix
    head = anatomy.sample_head(rng_geo, fov)
    n = int(n_slices) if n_slices is not None else int(rng_geo.integers(24, 41))
    top_w = head.vertex_w + float(rng_geo.uniform(-2.0, 3.0))
    bottom_w = float(rng_geo.uniform(-58.0, -44.0))

    # Hemorrhages.
    if lesions is not None:
        lesion_list = list(lesions)
        grow = False
    else:
        grow = True
        if normal:
            wanted = ()
        elif subtypes is not None:
            wanted = tuple(dict.fromkeys(subtypes))
        else:
            wanted = _pick_subtypes(rng_les, p_normal)
        lesion_list = [lesion_mod.sample_lesion(rng_les, head, s, size) for s in wanted]

    # Slices: skull base to vertex; a slab too short for that (few slices)
    # is centred on the hemorrhages, or on the middle of the brain.
    thickness = round(float(np.clip((top_w - bottom_w) / n, 2.5, 5.0)), 2)
    span = thickness * (n - 1)
    if span >= top_w - bottom_w - thickness:
        first_w = top_w - thickness / 2 - span
    else:
        focus = float(np.mean([les.center[2] for les in lesion_list])) if lesion_list else 15.0
        first_w = float(np.clip(focus - span / 2, bottom_w, top_w - thickness / 2 - span))
    positions = np.round(float(head.center[2]) + first_w + thickness * np.arange(n), 3)

    factor = 2 if (matrix >= 384 and matrix % 2 == 0) else 1
    n_r = matrix // factor
    pix_r = fov / n_r
    x0 = -fov / 2 + spacing / 2
    for attempt in range(5):
        effects = _mass_effect(lesion_list)
        out = _render_volume(head, lesion_list, effects, positions, fov, n_r, factor, pix_r)
        masks = out["masks"]
        labels = slice_labels(masks, (spacing, spacing))
        missing = {les.subtype for les in lesion_list if not labels[:, CLASSES.index(les.subtype)].any()}
        if not grow or not missing or attempt == 4:
            break
        lesion_list = [les.scaled(1.35) if les.subtype in missing else les for les in lesion_list]

    hu = out["clean"]
    for k in range(n):
        hu[k] += _noise(rng_noise, hu[k].shape, head.noise_sd * _REFERENCE_PIXEL_MM / spacing)
    np.rint(hu, out=hu)
    np.clip(hu, HU_MIN, HU_MAX, out=hu)

    dicom = _dicom_meta(rng_meta, key, n, head)
    return PhantomStudy(
        hu=hu, masks=masks, labels=labels, anatomy=out["anatomy"], spacing=(spacing, spacing),
        positions=positions.astype(np.float64), slice_thickness=thickness, origin=(x0, x0),
        lesions=[_describe(les, masks, (spacing, spacing), thickness, labels) for les in lesion_list],
        dicom=dicom)


def _render_volume(head, lesion_list, effects, positions, fov, n_r, factor, pix_r):
    n = len(positions)
    m = n_r * factor
    clean = np.empty((n, m, m), dtype=np.float32)
    anat = np.empty((n, m, m), dtype=np.uint8)
    masks = {s: np.zeros((n, m, m), dtype=bool) for s in SUBTYPES}
    x0r = -fov / 2 + pix_r / 2
    cache = {}
    grids = [SliceGrid(n_r, pix_r, x0r, x0r, z, head.rotation, head.center, cache=cache) for z in positions]
    coarse = coarse_for_slices(head, grids)
    for k, grid in enumerate(grids):
        rs = render_slice(head, lesion_list, grid, effects, coarse[k])
        clean[k] = upsample(rs.hu, factor)
        anat[k] = rs.anatomy if factor == 1 else np.repeat(np.repeat(rs.anatomy, factor, 0), factor, 1)
        for st, alpha in rs.lesion_alpha.items():
            masks[st][k] = _upsample_mask(alpha, factor)
    return {"clean": clean, "anatomy": anat, "masks": masks}


def _dicom_meta(rng, key, n, head):
    """Header values of the study, all derived from the seed."""
    def uid(*parts):
        # A "2.25." UID (an integer UUID, DICOM PS3.5 B.2) hashed from the seed.
        digest = hashlib.sha256("/".join(("cranioscan-phantom", key) + parts).encode()).digest()
        return "2.25." + str(uuid.UUID(bytes=digest[:16], version=4).int)

    days = int(rng.integers(0, 3650))
    date = np.datetime64("2015-01-01") + np.timedelta64(days, "D")
    storage = str(rng.choice(["signed", "unsigned", "signed0"], p=[0.4, 0.4, 0.2]))
    window = [(40, 80), (35, 80), (40, 120), (30, 80)][int(rng.integers(0, 4))]
    return {
        "study_uid": uid("study"),
        "series_uid": uid("series"),
        "frame_uid": uid("frame"),
        "sop_uids": [uid("sop", str(i)) for i in range(n)],
        "patient_id": "PHANTOM-" + uid("patient").split(".")[-1][:10],
        "study_date": str(date).replace("-", ""),
        "study_time": f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 60)):02d}00",
        "storage": storage,
        "window": window,
        "instance_order": str(rng.choice(["inferior_first", "superior_first"])),
        "age_years": int(np.clip(25 + 70 * head.atrophy + rng.normal(0, 6), 18, 99)),
        "sex": str(rng.choice(["M", "F"])),
        "seed_key": key,
    }
