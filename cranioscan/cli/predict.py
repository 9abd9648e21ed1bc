"""``python -m cranioscan predict PATH ... --out results.csv``: score a worklist.

Scores every CT series found under the given paths (folders of studies,
searched recursively, in any layout including the flat RSNA one; .zip
archives; single DICOM files) without the dashboard. One bad file, folder,
zip or series never stops the worklist: it is listed with a one-line reason
on the terminal and in the series CSV, and the rest is scored.

Files written (checked for writability before anything is scored):

Both CSV files open with the dashboard's ``#`` lines (the model's name,
SHA-256 and validity statement, the thresholds: ``formats.csv_header``).

* ``--out`` (per slice): ``source, study_uid, series_uid, slice, sop_uid,
  position_mm, thickness_mm``, ``prob_<class>`` for the six classes and
  ``flagged`` (the classes flagged on the slice, ``;``-separated),
  slices inferior -> superior as ``load_series`` orders them and numbered
  from 1 as in the dashboard;
* ``--series-out`` (per series, default ``<out>_series.csv``):
  ``source, study_uid, series_uid, series_description, n_slices, status``,
  ``verdict_any`` (yes/no: the series verdict, empty without one),
  ``series_score_any``, ``series_threshold_any``, ``flagged`` (classes whose highest slice probability passes the
  threshold, ``;``-separated), ``max_prob_<class>`` and ``max_slice_<class>``
  (from 1) for the six classes, ``slices_above_any``, ``message``. ``status``
  is ``ok`` (scored; ``message`` holds the loader's warnings), ``error`` (a
  series that could not be scored) or ``skipped`` (a file, folder or
  non-CT series left out). Rows are in triage order: highest
  ``max_prob_any`` first, then errors, then skipped entries.

On the terminal: progress on stderr; on stdout one line per scored series
(slices, highest probability of any hemorrhage and its slice, flagged
findings), one line naming the model with its validity statement (from its
model card), and the totals. ``--json`` prints one JSON document on stdout
instead; ``--quiet`` prints neither the progress nor the summary, only
what was left out and errors. Names from the data are printed with control
characters escaped.

From a PACS over DICOMweb (see docs/pacs.md): ``--dicomweb URL --study UID``
(its CT series; ``--series UID`` for one), or ``--dicomweb URL --study-date
FROM-TO`` (every CT study of those dates); each series is retrieved into
memory and loaded as an upload is. ``--send-results`` then stores key images
and a structured report of each scored series back in its study (STOW-RS).

Thresholds come from the model card beside the model (``model_card.json``,
key ``thresholds``), else 0.5; ``--threshold`` sets one for all classes.

Exit codes: 0 when at least one series was scored, 2 when nothing could be
scored or the model, an option or ``--out`` cannot be used (the message
says which; no traceback).
"""

__all__ = [
    "DEFAULT_MODEL",
    "SERIES_COLUMNS",
    "SLICE_COLUMNS",
    "add_predict_parser",
    "default_series_out",
    "run_predict",
    "resolve_model_path",
]

import csv
import json
import math
import sys
import time
from pathlib import Path

from ..card_text import identity_lines, model_name, short_notice
from ..defaults import DEFAULT_MODEL, REPO_ROOT
from ..dicom import DicomLoadError, load_series
from ..formats import csv_header, csv_number, csv_row, plural, probability, terminal_safe
from ..inference import ModelLoadError, Predictor
from ..labels import CLASSES
from ..pacs.client import PacsClient, PacsError, parse_date_range
from ..uids import uid_argument
from .quiet import import_tensorflow_quietly
from .worklist import Problem, check_output, find_series


class _InputError(Exception):
    """The command cannot run with the given input; the message says why."""


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


SLICE_COLUMNS = (["source", "study_uid", "series_uid", "slice", "sop_uid", "position_mm",
                  "thickness_mm"]
                 + [f"prob_{c}" for c in CLASSES] + ["flagged"])
SERIES_COLUMNS = (["source", "study_uid", "series_uid", "series_description", "n_slices",
                   "status", "verdict_any", "series_score_any", "series_threshold_any", "flagged"]
                  + [f"max_prob_{c}" for c in CLASSES] + [f"max_slice_{c}" for c in CLASSES]
                  + ["slices_above_any", "message"])


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _series_result(job, series, assessed):
    """What the CSV, the summary line and the JSON say about one scored series
    (a :class:`~cranioscan.series_result.SeriesResult`, formatted)."""
    summary = assessed.summary()
    return {
        "source": job.display,
        "study_uid": series.study_uid or job.study_uid,
        "series_uid": series.series_uid,
        "series_description": series.meta.get("series_description") or "",
        "n_slices": series.n_slices,
        "flagged": assessed.flagged_classes,
        "max_prob": {c: _finite_or_none(summary[c]["max_prob"]) for c in CLASSES},
        "max_slice": {c: int(summary[c]["max_slice"]) + 1 for c in CLASSES},  # from 1
        "slices_above_any": len(summary["any"]["slices_above"]),
        "verdict": assessed.verdict_sentence(),
        "verdict_any": None if assessed.verdict is None else assessed.verdict["any"],
        "series_score_any": None if assessed.series_scores is None
        else _finite_or_none(assessed.series_scores["any"]),
        "series_threshold_any": None if assessed.series_thresholds is None
        else assessed.series_thresholds["any"],
        "warnings": list(series.warnings) + list(assessed.notes),
    }


def _ok_row(result):
    row = dict.fromkeys(SERIES_COLUMNS, "")
    for key in ("source", "study_uid", "series_uid", "series_description", "n_slices",
                "slices_above_any"):
        row[key] = result[key]
    row["status"] = "ok"
    row["verdict_any"] = "" if result["verdict_any"] is None else \
        ("yes" if result["verdict_any"] else "no")
    row["series_score_any"] = csv_number(result["series_score_any"])
    row["series_threshold_any"] = csv_number(result["series_threshold_any"])
    row["flagged"] = ";".join(result["flagged"])
    for c in CLASSES:
        row[f"max_prob_{c}"] = csv_number(result["max_prob"][c])
        row[f"max_slice_{c}"] = result["max_slice"][c]
    row["message"] = " | ".join(result["warnings"])
    return row


def _problem_row(problem):
    row = dict.fromkeys(SERIES_COLUMNS, "")
    row.update(source=problem.where, study_uid=problem.study_uid, series_uid=problem.series_uid,
               status=problem.status, message=problem.reason)
    return row


def _slice_rows(job, series, assessed):
    probs = assessed.probabilities
    rows = []
    for k in range(series.n_slices):
        row = {
            "source": job.display,
            "study_uid": series.study_uid or job.study_uid,
            "series_uid": series.series_uid,
            "slice": k + 1,
            "sop_uid": series.sop_uids[k] if k < len(series.sop_uids) else "",
            "position_mm": csv_number(series.positions[k], 3),
            "thickness_mm": csv_number(series.thickness_at(k), 3),
        }
        row.update({f"prob_{c}": csv_number(probs[k, j]) for j, c in enumerate(CLASSES)})
        row["flagged"] = ";".join(assessed.slice_flags(k))  # as the dashboard's CSV
        rows.append(row)
    return rows


def _write_csv(path, columns, rows, header=()):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        for line in header:  # the dashboard's '#' lines (formats.csv_header)
            fh.write(line + "\n")
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(csv_row(row) for row in rows)  # no cell runs as a spreadsheet formula


def default_series_out(out):
    """``results.csv`` -> ``results_series.csv``."""
    out = Path(out)
    suffix = out.suffix or ".csv"
    return out.with_name(f"{out.stem}_series{suffix}")


def _say(text, file=None):
    """Print one line (to stderr by default) with control characters from the data escaped."""
    print(terminal_safe(text), file=sys.stderr if file is None else file)


def summary_line(result):
    """One stdout line for a scored series: the verdict first, then slices, highest
    "any" and where, flagged."""
    desc = f" '{result['series_description']}'" if result["series_description"] else ""
    flagged = ", ".join(result["flagged"]) or "none"
    return (f"{result['source']}{desc} (series {result['series_uid'] or 'without UID'}): "
            f"{result['verdict']} {plural(result['n_slices'], 'slice')}; highest p(any) "
            f"{probability(result['max_prob']['any'], missing='unknown')} on slice "
            f"{result['max_slice']['any']}; "
            f"flagged: {flagged}")


def model_line(predictor, model_path):
    """The line naming the model, its file's SHA-256 and its validity statement."""
    name, file = model_name(predictor.card, model_path), Path(model_path).name
    sha = (predictor.sha256 or "")[:12]
    where = f"sha256 {sha}" if name == file else f"{file}, sha256 {sha}"
    return f"Model: {name} ({where}): {short_notice(predictor.card)}"


def _preflight(args, series_out):
    """Check the options and both output files before anything is read or scored."""
    if args.batch_size < 1:
        raise _InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise _InputError(f"--threshold must be in [0, 1], got {args.threshold}")
    if Path(args.out).resolve() == Path(series_out).resolve():
        raise _InputError("--out and --series-out name the same file")
    for option, path in (("--out", args.out), ("--series-out", series_out)):
        problem = check_output(path)
        if problem:
            raise _InputError(f"{option}: {problem}")
    return resolve_model_path(args.model)


def _load_predictor(model_path, threshold):
    import_tensorflow_quietly()
    try:
        return Predictor.load(model_path, thresholds=threshold)
    except ModelLoadError as exc:
        raise _InputError(str(exc)) from None


def _score(jobs, predictor, batch_size, progress, after_scored=None):
    """Load and score every job; return (results, slice rows, problems).

    A job's ``source`` may be a callable returning the source (a PACS series
    retrieved when its turn comes); ``after_scored(job, series, result)`` runs
    after each scored series (``--send-results``).
    """
    results, slice_rows, problems, seen = [], [], [], set()
    for i, job in enumerate(jobs, start=1):
        start = time.perf_counter()
        try:
            source = job.source() if callable(job.source) else job.source
            series = load_series(source, series_uid=job.series_uid)
            assessed = predictor.assess(series, batch_size=batch_size)
        except (DicomLoadError, PacsError) as exc:
            reason = str(exc)
        except (ValueError, MemoryError) as exc:
            reason = f"could not be scored ({type(exc).__name__}: {exc})"
        else:
            reason = None
        if reason is not None:
            problems.append(Problem("series", job.display, reason, job.series_uid or "",
                                    job.study_uid, status="error"))
            progress(f"[{i}/{len(jobs)}] {job.label}: not scored: {reason}")
            continue
        if after_scored is not None:
            after_scored(job, series, assessed)
        result = _series_result(job, series, assessed)
        results.append(result)
        slice_rows.extend(_slice_rows(job, series, assessed))
        for name, why in series.skipped:  # files of the series left out, e.g. truncated
            if (name, why) not in seen:
                seen.add((name, why))
                problems.append(Problem("file", name, f"left out of the series: {why}",
                                        series.series_uid, result["study_uid"]))
        progress(f"[{i}/{len(jobs)}] {job.label}: {plural(series.n_slices, 'slice')} scored in "
                 f"{time.perf_counter() - start:.1f} s")
    return results, slice_rows, problems


def _json_report(results, problems, predictor, model_path, out, series_out):
    return {
        "model": {"name": model_name(predictor.card, model_path), "path": str(model_path),
                  "sha256": predictor.sha256, "validity": short_notice(predictor.card),
                  "thresholds": dict(predictor.thresholds)},
        "series": results,
        "not_scored": [{"kind": p.kind, "status": p.status, "where": p.where, "reason": p.reason,
                        "series_uid": p.series_uid} for p in problems],
        "slice_csv": str(out),
        "series_csv": str(series_out),
    }


def run_predict(args):
    """Run ``predict``; return the exit code (0 something scored, 2 nothing or unusable input)."""
    quiet, as_json = args.quiet, args.json
    progress = (lambda text: None) if quiet else _say
    series_out = Path(args.series_out) if args.series_out else default_series_out(args.out)
    client = None
    try:
        model_path = _preflight(args, series_out)
        if args.dicomweb is not None:
            client, jobs, problems = _pacs_worklist(args)
        elif args.study or args.series or args.study_date or args.send_results:
            raise _InputError("--study, --series, --study-date and --send-results need "
                              "--dicomweb")
        elif not args.paths:
            raise _InputError("give a PATH to score, or --dicomweb URL with --study or "
                              "--study-date")
        else:
            jobs, problems = find_series(args.paths)
        if not jobs:
            raise _InputError("nothing to score: " + "; ".join(
                f"{p.where}: {p.reason}" for p in problems) if problems else "no input")
        progress(f"Found {plural(len(jobs), 'CT series', 'CT series')}; loading the model "
                 f"{model_path} ...")
        predictor = _load_predictor(model_path, args.threshold)
    except _InputError as exc:
        _say(f"cranioscan predict: error: {exc}")
        return 2

    after_scored = None
    if args.send_results:
        from ..pacs.worklist import result_sender  # the PACS results draw (scipy): --send-results only

        after_scored = result_sender(client, predictor, model_name(predictor.card, model_path),
                                     lambda text: _say(f"cranioscan predict: {text}"))
    results, slice_rows, failed = _score(jobs, predictor, args.batch_size, progress, after_scored)
    problems += failed
    if not results:
        _say(f"cranioscan predict: error: none of the {plural(len(jobs), 'series', 'series')} "
             "could be scored; no results written:")
        for p in problems:
            _say(f"  {p.where}: {p.reason}")
        return 2
    results.sort(key=lambda r: -(r["max_prob"]["any"] if r["max_prob"]["any"] is not None
                                 else -1.0))
    rows = [_ok_row(r) for r in results] + sorted(
        (_problem_row(p) for p in problems), key=lambda row: row["status"] != "error")
    header = csv_header(identity_lines(predictor.card, model_path, predictor.sha256),
                        predictor.thresholds, CLASSES)
    try:
        _write_csv(args.out, SLICE_COLUMNS, slice_rows, header)
        _write_csv(series_out, SERIES_COLUMNS, rows, header)
    except OSError as exc:
        _say(f"cranioscan predict: error: cannot write the results: {exc}")
        return 2

    for p in problems:
        _say(f"cranioscan predict: {'not scored' if p.status == 'error' else 'skipped'}: "
             f"{p.where}: {p.reason}")
    if as_json:
        report = _json_report(results, problems, predictor, model_path, args.out, series_out)
        print(json.dumps(report, indent=2, ensure_ascii=True))
    elif not quiet:
        for result in results:
            _say(summary_line(result), file=sys.stdout)
        _say(model_line(predictor, model_path), file=sys.stdout)
        left = (f"; {plural(len(problems), 'entry', 'entries')} not scored (listed on stderr and "
                "in the series file)" if problems else "")
        _say(f"Scored {plural(len(results), 'series', 'series')} "
             f"({plural(len(slice_rows), 'slice')}){left}. Per slice: {args.out}; "
             f"per series: {series_out}", file=sys.stdout)
    return 0


def _pacs_worklist(args):
    """``(client, jobs, problems)`` of ``--dicomweb``; ``_InputError`` when the PACS cannot be used."""
    if args.paths:
        raise _InputError("give either PATHs or --dicomweb, not both")
    if not (args.study or args.study_date):
        raise _InputError("--dicomweb needs --study UID (and optionally --series UID) or "
                          "--study-date FROM-TO")
    if args.study and args.study_date:
        raise _InputError("give either --study or --study-date, not both")
    from ..pacs.worklist import pacs_jobs  # as result_sender: loads with --dicomweb only

    try:
        date_from, date_to = parse_date_range(args.study_date) if args.study_date else ("", "")
        client = PacsClient(args.dicomweb or None)
        jobs, problems = pacs_jobs(client, args.study, args.series, date_from, date_to,
                                   keep_files=args.send_results)
    except ValueError as exc:
        raise _InputError(f"--study-date or the PACS settings: {exc}") from None
    except PacsError as exc:
        raise _InputError(str(exc)) from None
    if not jobs and not problems:
        raise _InputError(f"no CT study on the PACS at {client.url} matches --study-date "
                          f"{args.study_date}")
    return client, jobs, problems


def add_predict_parser(subparsers):
    """Register the ``predict`` subcommand on an argparse ``subparsers``."""
    parser = subparsers.add_parser(
        "predict",
        help="score CT series (a folder of studies, zips, files) and write CSV results",
        description="Score every CT series under PATH with a CranioScan model and write "
        "per-slice and per-series probabilities, for triaging a worklist. Files and series "
        "that cannot be scored are listed with their reason; the rest is scored.",
    )
    parser.add_argument("paths", metavar="PATH", nargs="*",
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
    pacs = parser.add_argument_group("from a PACS over DICOMweb (instead of PATH; docs/pacs.md)")
    pacs.add_argument("--dicomweb", nargs="?", const="", default=None, metavar="URL",
                      help="DICOMweb root URL (default: CRANIOSCAN_DICOMWEB_URL); authentication, "
                      "TLS and timeouts from the CRANIOSCAN_DICOMWEB_* variables")
    pacs.add_argument("--study", metavar="UID", default=None, type=uid_argument,
                      help="StudyInstanceUID: score its CT series")
    pacs.add_argument("--series", metavar="UID", default=None, type=uid_argument,
                      help="SeriesInstanceUID: score only this series of --study")
    pacs.add_argument("--study-date", metavar="FROM-TO", default=None,
                      help="score every CT study of this date range (YYYYMMDD-YYYYMMDD; either "
                      "side may be left empty)")
    pacs.add_argument("--send-results", action="store_true",
                      help="store key images and a structured report of each scored series in "
                      "its study on the PACS (STOW-RS; never without this flag)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true",
                        help="no progress and no summary; only what was left out, and errors")
    output.add_argument("--json", action="store_true",
                        help="print the summary as one JSON document on stdout")
    parser.set_defaults(func=run_predict)
    return parser
