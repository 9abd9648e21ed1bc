"""``python -m cranioscan predict PATH ... --out results.csv``: score a worklist.

Scores every CT series found under the given paths (folders of studies,
searched recursively, in any layout including the flat RSNA one; .zip
archives; single DICOM files) without the dashboard, and writes two CSV
files:

* ``--out`` (per slice): ``source, study_uid, series_uid, slice_index,
  sop_uid, position_mm`` and ``prob_<class>`` for the six classes, slices
  inferior -> superior as ``load_series`` orders them;
* ``--series-out`` (per series, default ``<out>_series.csv``):
  ``source, study_uid, series_uid, series_description, n_slices, status``
  (``ok`` or ``error``), ``flagged`` (classes whose highest slice
  probability passes the threshold, ``;``-separated), ``max_prob_<class>``
  and ``max_slice_<class>`` for the six classes, ``slices_above_any``,
  ``message`` (the loader's error or warnings). Rows are in triage order:
  highest ``max_prob_any`` first, series that could not be read last.

Thresholds come from the model card beside the model (``model_card.json``,
key ``thresholds``), else 0.5; ``--threshold`` sets one for all classes.

Exit codes: 0 when at least one series was scored (series that could not
be read are listed on stderr and in the series CSV), 2 when the model or
the input cannot be used (the message says why; no traceback).
"""

__all__ = [
    "DEFAULT_MODEL",
    "SeriesJob",
    "add_predict_parser",
    "default_series_out",
    "find_series",
    "run_predict",
    "resolve_model_path",
]

import csv
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..defaults import DEFAULT_MODEL, REPO_ROOT
from ..labels import CLASSES


class _InputError(Exception):
    """The command cannot run with the given input; the message says why."""


@dataclass
class SeriesJob:
    """One series to score: ``load_series(source, series_uid=series_uid)``.

    ``label`` names it in messages (the folder or file and the series UID).
    """

    label: str
    source: object
    series_uid: str | None = None
    display: str = ""
    study_uid: str = ""
    notes: list = field(default_factory=list)


def resolve_model_path(model_arg):
    """The model file to load; raise ``_InputError`` with advice when missing."""
    path = Path(model_arg)
    if path.exists():
        return path
    if model_arg == DEFAULT_MODEL and not path.is_absolute() and (REPO_ROOT / path).exists():
        return REPO_ROOT / path
    if model_arg == DEFAULT_MODEL:
        raise _InputError(
            f"Model file not found: {model_arg} (the default). Pass the trained model "
            "with --model PATH (a .keras file written by train.py, e.g. "
            "runs/NAME/best_model.keras).")
    raise _InputError(f"Model file not found: {model_arg}")


def _series_key(path):
    """``(series_uid, study_uid, modality)`` of a DICOM file, or None when it is not one."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    tags = ["SeriesInstanceUID", "StudyInstanceUID", "Modality"]
    try:
        try:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=tags)
        except InvalidDicomError:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=tags, force=True)
    except Exception:  # not DICOM, unreadable: load_series would skip it too
        return None
    series_uid = str(ds.get("SeriesInstanceUID", "") or "")
    study_uid = str(ds.get("StudyInstanceUID", "") or "")
    if not series_uid and not study_uid:
        return None
    return series_uid, study_uid, str(ds.get("Modality", "") or "").upper()


def _folder_jobs(folder, notes):
    """Group a folder's files (recursively) by series, one header read each.

    Series whose Modality is given and is not CT are left out with a note.
    """
    groups = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            if name.lower().endswith(".zip"):
                groups.setdefault(("zip", path), [])
                continue
            key = _series_key(path)
            if key is not None:
                groups.setdefault(key, []).append(path)
    jobs = []
    for key, paths in groups.items():
        if key[0] == "zip":
            jobs.extend(_file_jobs(key[1], notes))
            continue
        series_uid, study_uid, modality = key
        common = os.path.commonpath([os.path.dirname(p) for p in paths])
        where = os.path.relpath(common, os.path.dirname(os.path.abspath(folder)))
        label = f"{where} (series {series_uid or 'without UID'})"
        if modality and modality != "CT":
            notes.append(f"{label}: left out, it is {modality}, not CT")
            continue
        jobs.append(SeriesJob(label=label, source=paths, display=where, study_uid=study_uid))
    return jobs


def _file_jobs(path, notes):
    from ..dicom import DicomLoadError, discover_series

    try:
        infos = discover_series(path)
    except DicomLoadError as exc:
        notes.append(f"{path}: left out, {exc}")
        return []
    jobs = []
    for info in infos:
        if not info.is_ct:
            notes.append(f"{path} ({info.label()}): left out, {info.problem}")
            continue
        jobs.append(SeriesJob(label=f"{path} (series {info.uid or 'without UID'})", source=path,
                              series_uid=info.uid or None, display=str(path),
                              study_uid=info.study_uid))
    return jobs


def find_series(paths, notes=None):
    """The series to score under ``paths`` (folders, zips, DICOM files).

    Args:
        paths: folders (searched recursively), .zip archives, DICOM files.
        notes: optional list receiving a line per series left out (not CT).

    Returns:
        ``(jobs, failed)``: the ``SeriesJob`` list, and ``(SeriesJob,
        message)`` for each path that does not exist or holds no CT series
        (the message is the loader's own).
    """
    from ..dicom import DicomLoadError, load_series

    notes = [] if notes is None else notes
    jobs, failed = [], []
    for raw in paths:
        path = Path(raw)
        here = SeriesJob(label=str(raw), source=path, display=str(raw))
        if not path.exists():
            failed.append((here, f"{raw} does not exist."))
            continue
        found = _folder_jobs(path, notes) if path.is_dir() else _file_jobs(path, notes)
        if not found:
            # No CT series under the path: the loader explains best.
            try:
                load_series(path)
            except DicomLoadError as exc:
                failed.append((here, str(exc)))
                continue
            found = [here]
        jobs.extend(found)
    return jobs, failed


def _fmt(value, digits=6):
    return "" if value is None else f"{float(value):.{digits}f}"


SLICE_COLUMNS = (["source", "study_uid", "series_uid", "slice_index", "sop_uid", "position_mm"]
                 + [f"prob_{c}" for c in CLASSES])
SERIES_COLUMNS = (["source", "study_uid", "series_uid", "series_description", "n_slices",
                   "status", "flagged"]
                  + [f"max_prob_{c}" for c in CLASSES] + [f"max_slice_{c}" for c in CLASSES]
                  + ["slices_above_any", "message"])


def _series_row(job, series=None, summary=None, error=None, flagged=()):
    row = dict.fromkeys(SERIES_COLUMNS, "")
    row["source"] = job.display
    row["study_uid"] = job.study_uid
    row["series_uid"] = job.series_uid or ""
    if error is not None:
        row["status"] = "error"
        row["message"] = error
        return row
    row["study_uid"] = series.study_uid or job.study_uid
    row["series_uid"] = series.series_uid
    row["series_description"] = series.meta.get("series_description") or ""
    row["n_slices"] = series.n_slices
    row["status"] = "ok"
    row["flagged"] = ";".join(flagged)
    for c in CLASSES:
        row[f"max_prob_{c}"] = _fmt(summary[c]["max_prob"])
        row[f"max_slice_{c}"] = summary[c]["max_slice"]
    row["slices_above_any"] = len(summary["any"]["slices_above"])
    row["message"] = " | ".join(series.warnings)
    return row


def _slice_rows(job, series, probs):
    rows = []
    for k in range(series.n_slices):
        row = {
            "source": job.display,
            "study_uid": series.study_uid or job.study_uid,
            "series_uid": series.series_uid,
            "slice_index": k,
            "sop_uid": series.sop_uids[k] if k < len(series.sop_uids) else "",
            "position_mm": _fmt(series.positions[k], 3),
        }
        row.update({f"prob_{c}": _fmt(probs[k, j]) for j, c in enumerate(CLASSES)})
        rows.append(row)
    return rows


def _write_csv(path, columns, rows):
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _triage_key(row):
    if row["status"] != "ok":
        return (1, 0.0)
    return (0, -float(row["max_prob_any"] or 0.0))


def default_series_out(out):
    """``results.csv`` -> ``results_series.csv``."""
    out = Path(out)
    suffix = out.suffix or ".csv"
    return out.with_name(f"{out.stem}_series{suffix}")


def run_predict(args):
    """Run ``predict``; return the exit code (0 ok, 2 unusable model or input)."""
    say = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    series_out = Path(args.series_out) if args.series_out else default_series_out(args.out)
    if Path(args.out).resolve() == series_out.resolve():
        print("cranioscan predict: error: --out and --series-out name the same file",
              file=sys.stderr)
        return 2
    try:
        if args.batch_size < 1:
            raise _InputError(f"--batch-size must be at least 1, got {args.batch_size}")
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise _InputError(f"--threshold must be in [0, 1], got {args.threshold}")
        model_path = resolve_model_path(args.model)
        notes = []
        jobs, failed = find_series(args.paths, notes)
        for note in notes:
            say(note)
        if not jobs:
            raise _InputError("\n".join(text for _job, text in failed) or "no input")
        say(f"Found {len(jobs)} CT series; loading the model {model_path} ...")
        from ..inference import ModelLoadError, Predictor

        try:
            predictor = Predictor.load(model_path, thresholds=args.threshold)
        except ModelLoadError as exc:
            raise _InputError(str(exc)) from None
    except _InputError as exc:
        print(f"cranioscan predict: error: {exc}", file=sys.stderr)
        return 2

    from ..dicom import DicomLoadError, load_series

    slice_rows, failures = [], list(failed)
    series_rows = [_series_row(job, error=text) for job, text in failed]
    for i, job in enumerate(jobs, start=1):
        start = time.perf_counter()
        try:
            series = load_series(job.source, series_uid=job.series_uid)
            probs = predictor.predict_series(series, batch_size=args.batch_size)
        except DicomLoadError as exc:
            failures.append((job, str(exc)))
            series_rows.append(_series_row(job, error=str(exc)))
            say(f"[{i}/{len(jobs)}] {job.label}: not scored: {exc}")
            continue
        except (ValueError, MemoryError) as exc:
            text = f"could not be scored ({type(exc).__name__}: {exc})"
            failures.append((job, text))
            series_rows.append(_series_row(job, error=text))
            say(f"[{i}/{len(jobs)}] {job.label}: {text}")
            continue
        summary = predictor.summarize(probs)
        flagged = [c for c in CLASSES if summary[c]["slices_above"]]
        series_rows.append(_series_row(job, series, summary, flagged=flagged))
        slice_rows.extend(_slice_rows(job, series, probs))
        say(f"[{i}/{len(jobs)}] {job.label}: {series.n_slices} slices in "
            f"{time.perf_counter() - start:.1f} s; any {summary['any']['max_prob']:.3f}"
            + (f"; flagged: {', '.join(flagged)}" if flagged else ""))

    if len(failures) == len(jobs) + len(failed):
        for job, text in failures:
            print(f"cranioscan predict: error: {job.label}: {text}", file=sys.stderr)
        return 2
    series_rows.sort(key=_triage_key)
    try:
        _write_csv(args.out, SLICE_COLUMNS, slice_rows)
        _write_csv(series_out, SERIES_COLUMNS, series_rows)
    except OSError as exc:
        print(f"cranioscan predict: error: cannot write the results: {exc}", file=sys.stderr)
        return 2
    scored = len(jobs) + len(failed) - len(failures)
    say(f"Scored {scored} series ({len(slice_rows)} slices) with {model_path} "
        f"(sha256 {predictor.sha256[:12]}): per-slice {args.out}, per-series {series_out}")
    for job, text in failures:
        print(f"cranioscan predict: warning: {job.label} not scored: {text}", file=sys.stderr)
    return 0


def add_predict_parser(subparsers):
    """Register the ``predict`` subcommand on an argparse ``subparsers``."""
    parser = subparsers.add_parser(
        "predict",
        help="score CT series (a folder of studies, zips, files) and write CSV results",
        description="Score every CT series under PATH with a CranioScan model and write "
        "per-slice and per-series probabilities, for triaging a worklist.",
    )
    parser.add_argument("paths", metavar="PATH", nargs="+",
                        help="folder (searched recursively), .zip or DICOM file")
    parser.add_argument("--out", required=True, metavar="CSV",
                        help="per-slice results file (required)")
    parser.add_argument("--series-out", default=None, metavar="CSV",
                        help="per-series results file (default: <out>_series.csv)")
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="PATH",
                        help=f"model file (default: {DEFAULT_MODEL})")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="probability that flags a class, for every class "
                        "(default: the model card's thresholds, else 0.5)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N",
                        help="slices per forward pass (default: 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run_predict)
    return parser
