"""Command line of CranioScan: ``python -m cranioscan COMMAND ...``.

Each subcommand lives in an ``add_<name>_parser(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments,
returning the exit code); ``SUBCOMMANDS`` lists them and ``main`` dispatches.
A new command (e.g. ``predict``) adds its own ``add_predict_parser`` to
``SUBCOMMANDS``.

``inspect PATH [--series UID] [--no-slices]`` lists the series in a folder,
zip or file and describes the one ``load_series`` loads: geometry, warnings,
skipped files and a table of every slice's position and own thickness.
Names from the data are printed with control characters escaped. Exit code 0 on success, 2 (with the loader's message, no traceback)
when the source cannot be loaded.
"""

__all__ = [
    "SUBCOMMANDS",
    "add_inspect_parser",
    "build_parser",
    "format_inspect",
    "slice_table",
    "thickness_summary",
    "main",
    "console",
    "run_inspect",
]

import argparse
import importlib
import sys

import numpy as np

from ..dicom import DicomLoadError, discover_series, load_series
from ..dicom.geometry import value_runs
from ..formats import number, plural, terminal_safe
from ..uids import uid_argument
from .predict import add_predict_parser


def thickness_summary(series):
    """Slice thickness in words: ``"4 mm"``, or per run ``"4 mm (slices 1–15), 7 mm (16–28)"``."""
    runs = value_runs(series.slice_thicknesses)
    if not runs:
        return "unknown" if series.slice_thickness is None else f"{number(series.slice_thickness)} mm"

    def text(value):
        return "unknown" if not np.isfinite(value) else f"{number(value)} mm"

    if len(runs) == 1:
        return text(runs[0][2])
    return ", ".join(f"{text(value)} ({'slices ' if k == 0 else ''}{start + 1}–{stop})"
                     for k, (start, stop, value) in enumerate(runs))


def slice_table(series):
    """One line per slice: number (from 1), position, own thickness, gap below it, file."""
    lines = ["  slice  position mm  thickness mm  gap mm  file"]
    for k in range(series.n_slices):
        thickness = series.thickness_at(k)
        gap = number(series.slice_gaps[k - 1], 2) if k else "-"
        name = series.names[k] if k < len(series.names) else ""
        lines.append(f"  {k + 1:>5}  {number(series.positions[k], 2):>11}  "
                     f"{number(thickness, 2, missing='?'):>12}  {gap:>6}  {name}")
    return lines


def format_inspect(infos, series, source, slices=True):
    """Return the ``inspect`` report as text (control characters in names escaped).

    Args:
        infos: list of ``SeriesInfo`` found in the source.
        series: the loaded ``Series``.
        source: the path shown in the header line.
        slices: whether to end with the per-slice table (position and own
            thickness of every slice).
    """
    lines = [f"Source: {source}", f"Series found: {len(infos)}"]
    for info in infos:
        mark = "*" if info.uid == series.series_uid else "-"
        desc = f"'{info.description}'" if info.description else "(no description)"
        line = (f"  {mark} {info.uid or '(no series UID)'}  {info.modality or '?'}  {desc}  "
                f"{plural(info.n_files, 'file')}")
        if info.problem:
            line += f"  [not loadable: {info.problem}]"
        lines.append(line)
    gaps = series.slice_gaps
    meta = series.meta
    rows, cols = series.hu.shape[1:]
    desc = meta.get("series_description") or "(no description)"
    lines += [
        "",
        f"Loaded series: {series.series_uid or '(no series UID)'}  {desc}",
        f"  modality:        {meta.get('modality') or '?'}"
        f"  ({meta.get('manufacturer') or 'unknown manufacturer'})",
        f"  slices:          {series.n_slices}",
        f"  matrix:          {rows} x {cols} (rows x columns)",
        f"  pixel spacing:   {number(series.spacing[0], 4)} x {number(series.spacing[1], 4)} mm "
        "(row x column)",
        f"  slice thickness: {thickness_summary(series)}",
    ]
    if len(gaps):
        lines.append(
            f"  slice spacing:   min {number(gaps.min())} / median {number(np.median(gaps))} / "
            f"max {number(gaps.max())} mm"
        )
    else:
        lines.append("  slice spacing:   unknown (single slice)")
    lines += [
        f"  gantry tilt:     {number(series.tilt_degrees, 2)} degrees",
        f"  positions:       {number(series.positions[0])} to {number(series.positions[-1])} mm "
        "along the slice normal (inferior to superior)",
        f"  HU range:        {number(series.hu.min(), 0)} to {number(series.hu.max(), 0)}",
        f"  window (tags):   level {number(meta.get('window_center'))} / "
        f"width {number(meta.get('window_width'))}",
        "",
        f"Warnings: {len(series.warnings)}",
    ]
    lines += [f"  - {text}" for text in series.warnings]
    lines.append(f"Skipped files: {len(series.skipped)}")
    lines += [f"  - {name}: {reason}" for name, reason in series.skipped]
    if slices:
        lines += ["", "Slices (inferior to superior, numbered from 1 as in the viewer):"]
        lines += slice_table(series)
    return "\n".join(terminal_safe(line) for line in lines)


def run_inspect(args):
    """Run ``inspect``; return the exit code (0 ok, 2 not loadable)."""
    try:
        infos = discover_series(args.path)
        series = load_series(args.path, series_uid=args.series)
    except DicomLoadError as exc:
        print(f"cranioscan inspect: error: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    print(format_inspect(infos, series, args.path, slices=not args.no_slices))
    return 0


def add_inspect_parser(subparsers):
    """Register the ``inspect`` subcommand on an argparse ``subparsers``."""
    parser = subparsers.add_parser(
        "inspect",
        help="list the series in a DICOM folder / zip / file and describe the loaded one",
        description="List the DICOM series in PATH and describe the CT series that "
        "CranioScan would load: geometry, warnings and skipped files.",
    )
    parser.add_argument("path", metavar="PATH", help="folder, .zip or DICOM file")
    parser.add_argument(
        "--series",
        metavar="UID",
        default=None,
        type=uid_argument,
        help="SeriesInstanceUID to load (default: the CT series with the most slices)",
    )
    parser.add_argument("--no-slices", action="store_true",
                        help="leave out the per-slice table (position and thickness of each slice)")
    parser.set_defaults(func=run_inspect)
    return parser


#: Commands whose own module parses their options: name -> (module, one-line help).
#: ``main`` hands them the rest of the command line as it is.
DELEGATED = {
    "phantom": ("cranioscan.phantom.__main__",
                "write synthetic head CT phantoms with known hemorrhages (RSNA layout)"),
    "evaluate": ("cranioscan.cli.evaluate",
                 "held-out phantom evaluation of a model: AUC and Grad-CAM localisation"),
    "sweep": ("cranioscan.cli.sweep",
              "where Grad-CAM peaks land for several layers and methods (selection set)"),
    "card": ("cranioscan.evaluation.model_card",
             "write model_card.json from a model and its validation run"),
    "crossval": ("cranioscan.evaluation.crossval",
                 "merge cross-validation folds into one out-of-fold run folder; calibrate"),
    "orthanc": ("cranioscan.pacs.orthanc_dev",
                "start a throwaway local Orthanc PACS (DICOMweb) loaded with phantoms"),
    "source-check": ("cranioscan.cli.source_check",
                     "score slices clean and after a JPEG round-trip (source shortcut check)"),
}


def _add_delegated_parsers(subparsers):
    for name, (_module, text) in DELEGATED.items():
        subparsers.add_parser(name, help=f"{text} (see cranioscan {name} --help)", add_help=False)


#: Functions registering one subcommand each on the ``subparsers`` object.
SUBCOMMANDS = [add_inspect_parser, add_predict_parser, _add_delegated_parsers]


#: The command's name in usage and help: the console script's.
PROG = "cranioscan"


def build_parser(prog=PROG):
    """Return the top-level ``argparse.ArgumentParser`` with all subcommands.

    Args:
        prog: the name usage lines give the command: ``cranioscan`` (the
            console script), ``python -m cranioscan`` when run that way.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="CranioScan: intracranial hemorrhage review on head CT.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def console():
    """Entry point of the ``cranioscan`` console script (``pyproject.toml``)."""
    sys.exit(main())


def main(argv=None, prog=PROG):
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code.

    ``prog`` is the command's name in usage and help (:func:`build_parser`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    args = build_parser(prog).parse_args(argv)
    return int(args.func(args) or 0)
