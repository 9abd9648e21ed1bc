"""Built-in demo cases: phantom and real head CT series with known findings.

The dashboard opens on one of these, so a clinician or an educator sees the
tool work before loading a study of their own. Most cases are synthetic
phantoms (:mod:`cranioscan.phantom`) drawn from a fixed seed: one without
hemorrhage and one per subtype, with voxel masks. Three are real patients of
PhysioNet CT-ICH (CC BY 4.0; their JPGs ship in ``REAL_CASES_DIR``, kept out
of the shipped model's final training), with the radiologists' per-slice
labels and Hounsfield units rebuilt from the JPG windows. A case is
generated on first use, written as a DICOM series (plus masks for phantoms)
into a cache folder (never into the repository), and read back through
:func:`cranioscan.dicom.load_series` like any uploaded study; later uses
only read the cache.

Layout of a cached case: ``<cache_dir>/demo/v<DEMO_VERSION>/<key>/`` holding
``dicom/`` (the ``.dcm`` files), ``masks.npz`` (phantoms: one bool ``(n, rows, cols)``
array per subtype, slices in the order of ``sop_uids``) and ``case.json`` (labels,
lesion descriptions, the ``make_study`` arguments).
"""

__all__ = [
    "DEMO_VERSION",
    "DemoSpec",
    "DemoCase",
    "DEMO_CASES",
    "REAL_CASES_DIR",
    "DEFAULT_CASE",
    "demo_spec",
    "demo_folder",
    "ensure_demo",
    "prefetch",
    "load_demo",
    "cached_scores",
    "save_scores",
    "cached_reading",
]

import dataclasses
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from .dicom import load_series
from .labels import CLASSES, SUBTYPES

#: Bump when the cases' content changes, so stale caches are not reused.
DEMO_VERSION = 1

_LOCKS = {}
_LOCKS_GUARD = threading.Lock()


def _lock(folder):
    """One lock per case folder: threads of one process generate a case once."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(folder), threading.Lock())


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """How one demo case is generated.

    Attributes:
        key: short identifier (also the cache folder name).
        title: what the case picker shows.
        description: one or two sentences on the known findings.
        seed: phantom seed; same seed, same series.
        subtypes: hemorrhage subtypes the case shows (empty: no hemorrhage).
        n_slices: number of axial slices (phantoms).
        matrix: rows and columns of each slice (phantoms).
        patient: CT-ICH patient number of a real case (its JPGs ship in
            ``REAL_CASES_DIR``), or None for a phantom.
    """

    key: str
    title: str
    description: str
    seed: int = 0
    subtypes: tuple = ()
    n_slices: int = 28
    matrix: int = 512
    patient: int | None = None

    @property
    def is_real(self):
        """True for a real patient of PhysioNet CT-ICH (``patient``), False for a phantom."""
        return self.patient is not None

    def study_kwargs(self):
        """Keyword arguments of ``phantom.make_study`` for this case."""
        kwargs = {"matrix": self.matrix, "n_slices": self.n_slices, "size": (0.55, 1.0)}
        if self.subtypes:
            kwargs["subtypes"] = tuple(self.subtypes)
        else:
            kwargs["normal"] = True
        return kwargs


#: Folder of the real cases' files (CT-ICH JPGs and labels, shipped with the package).
REAL_CASES_DIR = Path(__file__).resolve().parent / "demo_data" / "ctich"

_REAL_NOTE = ("Hounsfield units are rebuilt from the dataset's brain- and bone-window JPGs, "
              "so fine texture shows JPEG artefacts; pixel size and slice spacing are nominal. "
              "Per-slice labels by radiologists; no outlines. Data: PhysioNet CT-ICH (Hssayeni "
              "2019, CC BY 4.0). This patient was kept out of the shipped model's final training.")

#: The demo cases, in the order the picker lists them.
DEMO_CASES = (
    DemoSpec("subdural", "Demo: subdural hematoma",
             "Crescent of acute blood along the convexity, between the dura and the arachnoid; "
             "it crosses suture lines but not the midline.", seed=7101, subtypes=("subdural",)),
    DemoSpec("epidural", "Demo: epidural hematoma",
             "Biconvex (lens-shaped) collection against the inner table of the skull, limited "
             "by the sutures.", seed=7202, subtypes=("epidural",)),
    DemoSpec("intraparenchymal", "Demo: intraparenchymal hemorrhage with ventricular extension",
             "Rounded hyperdense clot inside the brain with a dark rim of edema, and blood "
             "layering in the ventricles.", seed=7303,
             subtypes=("intraparenchymal", "intraventricular")),
    DemoSpec("subarachnoid", "Demo: subarachnoid hemorrhage",
             "Thin hyperdense blood filling sulci and basal cisterns.", seed=7404,
             subtypes=("subarachnoid",)),
    DemoSpec("normal", "Demo: no hemorrhage",
             "A head without hemorrhage: the model should stay low on every slice.", seed=7505),
    DemoSpec("real-epidural", "Real patient: epidural hematoma (CT-ICH 070)",
             "A real head CT of a patient with traumatic brain injury: radiologists marked an "
             "epidural hematoma on 14 of 34 slices. " + _REAL_NOTE, patient=70,
             subtypes=("epidural",)),
    DemoSpec("real-intraparenchymal", "Real patient: intraparenchymal hemorrhage (CT-ICH 092)",
             "A real head CT of a patient with traumatic brain injury: radiologists marked "
             "intraparenchymal blood on 10 of 31 slices, with small epidural, subarachnoid and "
             "intraventricular components. " + _REAL_NOTE, patient=92,
             subtypes=("intraparenchymal", "intraventricular")),
    DemoSpec("real-normal", "Real patient: no hemorrhage (CT-ICH 107)",
             "A real head CT of a patient with traumatic brain injury in whom radiologists marked "
             "no hemorrhage on any of the 30 slices. " + _REAL_NOTE, patient=107),
)

#: Key of the case the viewer opens on.
DEFAULT_CASE = "subdural"


@dataclasses.dataclass(eq=False)
class DemoCase:
    """A demo case loaded for display.

    Attributes:
        spec: the :class:`DemoSpec` it was made from.
        series: the :class:`~cranioscan.dicom.Series` read from its DICOM.
        masks: subtype -> bool ``(n, rows, cols)`` ground truth, slices in
            ``series`` order (every subtype present, empty where absent);
            None for a real case (per-slice labels only).
        labels: uint8 ``(n, 6)`` per-slice labels in ``CLASSES`` order.
        lesions: the phantom's description of each hemorrhage.
        folder: where the case's files are cached (DICOM in ``folder / "dicom"``).
    """

    spec: DemoSpec
    series: object
    masks: dict
    labels: np.ndarray
    lesions: list
    folder: Path


def demo_spec(key):
    """The :class:`DemoSpec` named ``key``.

    Raises:
        KeyError: no demo case of that name (the message lists them).
    """
    for spec in DEMO_CASES:
        if spec.key == key:
            return spec
    raise KeyError(f"no demo case {key!r}; demo cases are {[s.key for s in DEMO_CASES]}")


def demo_folder(cache_dir, key):
    """Folder where case ``key`` is (or will be) cached under ``cache_dir``."""
    return Path(cache_dir) / "demo" / f"v{DEMO_VERSION}" / key


def _is_complete(folder):
    return (folder / "case.json").is_file() and (
        (folder / "masks.npz").is_file() or demo_spec(folder.name).is_real)


def _write_case(spec, folder):
    """Generate ``spec`` and write it into the new folder ``folder``."""
    from . import phantom  # generating a case is rare; the dashboard imports demo at start

    if spec.is_real:
        return _write_real_case(spec, folder)
    study = phantom.make_study(spec.seed, **spec.study_kwargs())
    folder.mkdir(parents=True)
    phantom.write_series(study, folder / "dicom")
    np.savez_compressed(folder / "masks.npz", **{s: study.masks[s] for s in SUBTYPES})
    info = {
        "version": DEMO_VERSION,
        "spec": dataclasses.asdict(spec),
        "sop_uids": list(study.dicom["sop_uids"]),
        "labels": study.labels.astype(int).tolist(),
        "lesions": study.lesions,
        "synthetic": True,
    }
    (folder / "case.json").write_text(json.dumps(info, indent=1, default=str))


def _write_real_case(spec, folder):
    """Write CT-ICH patient ``spec.patient`` as a DICOM series (HU rebuilt from its JPGs)."""
    from .ctich import load_ctich, read_slice_hu  # as above: only when a case is generated
    from .ctich_series import write_ctich_series

    data = load_ctich(REAL_CASES_DIR, patients=[spec.patient])
    if not len(data) or data.report.problems:
        raise RuntimeError(f"the files of real demo case {spec.key!r} in {REAL_CASES_DIR} are "
                           f"incomplete: {data.report.problems[:3]}")
    hu = np.stack([read_slice_hu(a, b) for a, b in zip(data.ids["brain"], data.ids["bone"])])
    folder.mkdir(parents=True)
    sop_uids = write_ctich_series(hu, folder / "dicom", spec.patient)
    info = {
        "version": DEMO_VERSION,
        "spec": dataclasses.asdict(spec),
        "sop_uids": sop_uids,
        "labels": data.labels.astype(int).tolist(),
        "lesions": [],
        "synthetic": False,
    }
    (folder / "case.json").write_text(json.dumps(info, indent=1, default=str))


def ensure_demo(key, cache_dir):
    """Return the folder of case ``key``, generating it first if needed.

    Generation writes into a temporary folder beside the final one and
    renames it into place, so a half-written case is never read and two
    processes generating the same case at once both end with one complete
    copy.
    """
    spec = demo_spec(key)
    folder = demo_folder(cache_dir, key)
    if _is_complete(folder):
        return folder
    with _lock(folder):
        if not _is_complete(folder):
            _generate(spec, folder)
    return folder


def prefetch(key, cache_dir):
    """Start generating case ``key`` in a background thread if it is not cached.

    Lets the first start of the dashboard draw the phantom while it imports
    TensorFlow and loads the model. Returns the thread, or None when the case
    is already on disk.
    """
    if _is_complete(demo_folder(cache_dir, key)):
        return None
    thread = threading.Thread(target=ensure_demo, args=(key, cache_dir), daemon=True,
                              name=f"cranioscan-demo-{key}")
    thread.start()
    return thread


def _generate(spec, folder):
    """Write case ``spec`` into ``folder`` through a temporary sibling folder."""
    key = spec.key
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    try:
        _write_case(spec, tmp / key)
        if folder.exists() and not _is_complete(folder):
            shutil.rmtree(folder, ignore_errors=True)  # left by a crash mid-write
        try:
            os.replace(tmp / key, folder)
        except OSError:
            if not _is_complete(folder):  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_demo(key, cache_dir):
    """Load demo case ``key`` (generated on first use) as a :class:`DemoCase`."""
    folder = ensure_demo(key, cache_dir)
    info = json.loads((folder / "case.json").read_text())
    series = load_series(str(folder / "dicom"))
    order_of = {uid: i for i, uid in enumerate(info["sop_uids"])}
    try:
        order = np.array([order_of[uid] for uid in series.sop_uids])
    except KeyError as exc:
        raise RuntimeError(f"demo case {key!r} in {folder} is inconsistent; delete the folder") from exc
    masks = None  # real cases: per-slice labels only
    if not demo_spec(key).is_real:
        with np.load(folder / "masks.npz") as stored:
            masks = {s: np.ascontiguousarray(stored[s][order]) for s in SUBTYPES}
    labels = np.asarray(info["labels"], dtype=np.uint8)[order]
    if labels.shape != (series.n_slices, len(CLASSES)):
        raise RuntimeError(f"demo case {key!r} in {folder} is inconsistent; delete the folder")
    return DemoCase(spec=demo_spec(key), series=series, masks=masks, labels=labels,
                    lesions=info.get("lesions", []), folder=folder)


def _scores_path(folder, model_sha):
    if not model_sha or not all(c in "0123456789abcdef" for c in str(model_sha).lower()):
        raise ValueError(f"model_sha must be a hex digest, got {model_sha!r}")
    return Path(folder) / f"scores-{str(model_sha).lower()[:32]}.npy"


def cached_scores(folder, model_sha, n_slices):
    """Scores of a demo case by one model, saved by :func:`save_scores`, or None.

    Demo cases are synthetic, so their scores may be kept on disk: a restarted
    server shows a demo case without scoring it again. (Uploaded studies are
    never written anywhere.)

    Args:
        folder: the case's folder (``DemoCase.folder``).
        model_sha: hex SHA-256 of the model file.
        n_slices: expected number of slices; a file of another shape is ignored.

    Returns:
        float32 ``(n_slices, 6)`` or None.
    """
    path = _scores_path(folder, model_sha)
    if not path.is_file():
        return None
    try:
        probs = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if probs.shape != (n_slices, len(CLASSES)) or not np.isfinite(probs).all():
        return None
    return probs.astype(np.float32)


def save_scores(folder, model_sha, probs, reading=None):
    """Keep a demo case's scores by one model on disk (atomically replaced).

    ``reading``: optional JSON-able dict (the series scores, context and
    notes of ``Predictor.read``), kept beside the scores.
    """
    path = _scores_path(folder, model_sha)
    if reading is not None:
        side = path.with_suffix(".json")
        tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(reading), encoding="utf-8")
        os.replace(tmp, side)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, np.asarray(probs, dtype=np.float32), allow_pickle=False)
    os.replace(tmp, path)
    return path


def cached_reading(folder, model_sha):
    """The dict :func:`save_scores` kept beside a demo case's scores, or None."""
    side = _scores_path(folder, model_sha).with_suffix(".json")
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
