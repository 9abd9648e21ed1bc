"""Mutation score of the modules that decide things (issue 29, item 5).

One command, from the repository root::

    python3 tools/mutation.py            # fresh run, then the score
    python3 tools/mutation.py --report   # the score of the last run only

It runs mutmut 3 (``requirements-dev.txt``; configuration in ``setup.cfg``,
``[mutmut]``) with one worker at ``nice -n 15`` over the functions listed in
``TARGETS`` below, against the focused tests named in ``setup.cfg``, then
prints, per module, the mutants, killed, survived, timeouts and the score,
and each surviving mutant with its file line and change. mutmut works in a
copy of the package under ``mutants/`` (ignored by git); the source tree is
not changed. The run starts from an empty ``mutants/`` so that it does not
depend on an earlier one.

mutmut 3 mutates the bodies of undecorated functions and methods only: the
``functools.lru_cache`` functions of ``cranioscan.preprocess``
(``resize_matrix``, ``_resize_taps``), ``SeriesResult``'s properties and
module constants (``PRESETS``, thresholds) get no mutants; their tests are
direct (``tests/test_windowing_preprocess.py``, ``tests/test_series_result.py``).
"""

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: module -> the functions mutated ("*": every function of the module). The
#: names are mutmut's mangled ones: ``x_<function>``, ``xǁ<Class>ǁ<method>``.
TARGETS = {
    "cranioscan.series_result": ["*"],
    "cranioscan.windowing": ["*"],
    "cranioscan.preprocess": [
        "to_model_input", "pad_to_square", "_square_offsets", "crop_to_box", "head_box",
        "_head_mask", "resize_stack", "_resize_axis",
    ],
    "cranioscan.dicom.geometry": ["*"],
    "cranioscan.dicom.assemble": ["_order"],
    "cranioscan.evaluation.metrics": [
        "wilson_interval", "bootstrap_auc_ci", "bootstrap_fraction_ci", "proportion_ci",
    ],
    "cranioscan.evaluation.heldout": ["fraction_interval", "fraction_ci"],
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          None: "not checked", 36: "timeout", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}


def patterns():
    """Mutant name globs of ``TARGETS`` for ``mutmut run``."""
    out = []
    for module, functions in TARGETS.items():
        if functions == ["*"]:
            out.append(f"{module}.x*__mutmut_*")
        else:
            out += [f"{module}.x_{name}__mutmut_*" for name in functions]
    return out


def selected(name):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns())


def results():
    """dict module -> dict mutant name -> status, for the targeted mutants."""
    out = {module: {} for module in TARGETS}
    for module in TARGETS:
        meta = ROOT / "mutants" / (module.replace(".", "/") + ".py.meta")
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if selected(name):
                out[module][name] = STATUS.get(code, "suspicious")
    return out


def _function_span(module, mangled):
    """(first, last) file line of the function a mutant belongs to."""
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")
    else:
        cls, func = None, mangled[2:]
    tree = ast.parse(source)
    scope = tree.body
    if cls:
        scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == func)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return first, node.end_lineno, source.splitlines()


def describe(name):
    """``(file line, "old -> new")`` of one mutant, from ``mutmut show``."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    module, _, _ = name.rpartition(".")
    shown = get_diff_for_mutant(name, path=Path(module.replace(".", "/") + ".py"))
    removed = [line[1:] for line in shown.splitlines()
               if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in shown.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    module, mangled = name.rsplit(".", 1)
    mangled = mangled.split("__mutmut_")[0]
    first, last, lines = _function_span(module, mangled)
    line = None
    if removed:
        hits = [i + 1 for i in range(first - 1, last) if lines[i].strip() == removed[0].strip()]
        line = hits[0] if hits else None
    change = " / ".join(r.strip() for r in removed) + "  ->  " + " / ".join(a.strip() for a in added)
    return line, change


def report(show_survivors=True):
    by_module = results()
    rows, totals = [], dict(mutants=0, killed=0, survived=0, timeout=0, other=0)
    survivors = []
    for module, statuses in by_module.items():
        values = list(statuses.values())
        row = dict(mutants=len(values), killed=values.count("killed"),
                   survived=values.count("survived"), timeout=values.count("timeout"))
        row["other"] = row["mutants"] - row["killed"] - row["survived"] - row["timeout"]
        for key in totals:
            totals[key] += row[key]
        rows.append((module, row))
        survivors += [(module, name) for name, s in sorted(statuses.items()) if s != "killed"
                      and s != "timeout"]

    def score(row):
        return (row["killed"] + row["timeout"]) / row["mutants"] if row["mutants"] else float("nan")

    print(f"{'module':34} {'mutants':>7} {'killed':>6} {'survived':>8} {'timeout':>7} "
          f"{'other':>5} {'score':>6}")
    for module, row in rows + [("all", totals)]:
        print(f"{module:34} {row['mutants']:7d} {row['killed']:6d} {row['survived']:8d} "
              f"{row['timeout']:7d} {row['other']:5d} {score(row):6.1%}")
    print("score = (killed + timeouts) / mutants; other = no tests, not checked, suspicious")
    if show_survivors and survivors:
        print(f"\n{len(survivors)} not killed:")
        for module, name in survivors:
            line, change = describe(name)
            print(f"  {name} [{by_module[module][name]}] {module.replace('.', '/')}.py:{line}: "
                  f"{change}")
    return totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true",
                        help="print the score of the last run without running mutmut")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if not args.report:
        if shutil.which("mutmut") is None:
            sys.exit("mutmut is not installed: python3 -m pip install -r requirements-dev.txt")
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        (ROOT / "mutants").mkdir()
        log = ROOT / "mutants" / "run.log"
        start = time.monotonic()
        with open(log, "w") as out:
            code = subprocess.call(["nice", "-n", "15", "mutmut", "run", "--max-children", "1",
                                    *patterns()], stdout=out, stderr=subprocess.STDOUT)
        minutes = (time.monotonic() - start) / 60.0
        if code != 0:
            sys.exit(f"mutmut run failed (exit code {code}); its output is in {log}")
        print(f"mutmut run: {minutes:.1f} min wall clock")
    report()


if __name__ == "__main__":
    main()
