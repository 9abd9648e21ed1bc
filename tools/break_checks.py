"""Each deliberate break of the product makes a test fail (issue 29, "Done when").

One command, from anywhere::

    nice -n 15 python3 tools/break_checks.py                 # every break
    nice -n 15 python3 tools/break_checks.py --only 4 12a    # some of them
    nice -n 15 python3 tools/break_checks.py --baseline      # and each test set on an unbroken copy
    python3 tools/break_checks.py --list                     # the breaks, no run

For each break in ``BREAKS`` below it

1. unpacks the committed tree (``git archive <commit> | tar -x``, the commit
   being HEAD when the script starts, or ``--rev``) into
   ``/tmp/breaks/<name>``; the working tree and its uncommitted edits are
   never touched;
2. applies the break there: exact-text substitutions (each must match the
   file exactly once, or the script stops with an error: code that moved
   must be noticed, not silently left unbroken) or a replaced file;
3. runs ``python3 -m pytest -q -x -p no:cacheprovider <tests>`` inside that
   copy with ``PYTHONPATH=<copy>``, so that the copy's ``cranioscan`` is
   imported and not the editable install's (checked: ``cranioscan.__file__``
   is printed from the copy and must lie inside it);
4. records whether pytest failed (it must) and the first test that failed,
   and how many of those tests the fast subset (``-m "not slow and not
   browser"``) selects, then deletes the copy (``--keep`` keeps it).

A break whose tests pass, or only skip, is reported ``NOT CAUGHT``: the
tests are never edited here; where a break lists wider tests (``also``),
they run next and the table says whether they catch it (the break still
counts as not caught by its own tests). The result is a markdown table on stdout
(and in ``--out``, default ``/tmp/breaks_table.md``). With ``--baseline``
the same tests also run on one unbroken copy, so that "caught" cannot mean
"fails anyway". The exit status is 1 when a break is not caught or a
baseline fails, 2 when a break could not be applied.
"""

import argparse
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/breaks")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
FAST = "not slow and not browser"  # the README's fast subset


def _existing(copy, path):
    """``copy / path``, which must be a file of the committed tree."""
    target = copy / path
    if not target.is_file():
        raise BreakNotApplied(f"{path}: no such file in the committed tree")
    return target


@dataclass
class Sub:
    """Replace ``old`` by ``new`` in ``path``; ``old`` must occur exactly once."""

    path: str
    old: str
    new: str

    def apply(self, copy):
        target = _existing(copy, self.path)
        text = target.read_text(encoding="utf-8")
        found = text.count(self.old)
        if found != 1:
            raise BreakNotApplied(f"{self.path}: the text to replace occurs {found} times "
                                  f"(must be once): {self.old!r}")
        target.write_text(text.replace(self.old, self.new), encoding="utf-8")


@dataclass
class Overwrite:
    """Replace the content of an existing file ``path`` by ``text``."""

    path: str
    text: str

    def apply(self, copy):
        _existing(copy, self.path).write_text(self.text, encoding="utf-8")


@dataclass
class Break:
    key: str  # short id on the command line (--only)
    name: str  # folder name under /tmp/breaks
    what: str  # the break, in words (table's first column)
    edits: list
    tests: list  # pytest arguments (files, node ids, -m ...)
    fake_orthanc: bool = False  # an Orthanc that exits 1 at start, first on PATH
    must_show: list = field(default_factory=list)  # text pytest's output must hold when caught
    must_not_show: list = field(default_factory=list)  # text it must not hold
    also: list = field(default_factory=list)  # wider tests tried when ``tests`` do not catch it
    #: a command a user runs in the broken copy; its output must hold ``must_show``, no traceback
    user_command: list = field(default_factory=list)


class BreakNotApplied(RuntimeError):
    """The text a break replaces is not (or not once) in the committed tree."""


FAKE_ORTHANC = "#!/bin/sh\necho broken >&2; exit 1\n"
#: What else could catch a loader break: every loader test, and the dashboard's loading errors.
WIDER_LOADER_TESTS = ["tests/dicom", "tests/ui/test_loader_failures.py"]

BREAKS = [
    Break("1", "model-is-text", "`model/best_model.keras` replaced by a line of text",
          [Overwrite("model/best_model.keras", "this is not a Keras model\n")],
          ["tests/test_shipped_model.py"]),
    Break("2", "orthanc-exits-1",
          "an `Orthanc` first on PATH that exits 1 at start (`echo broken >&2; exit 1`); "
          "`orthanc_dev.find_orthanc` takes `shutil.which('Orthanc')` before /usr/sbin",
          [], ["tests/pacs/test_client.py"], fake_orthanc=True,
          must_show=["exited at start", "broken"], must_not_show=["AttributeError"],
          user_command=["-m", "cranioscan.pacs.orthanc_dev", "--phantoms", "0"]),
    Break("3", "dicomweb-root",
          "Orthanc's DICOMweb root `/dicom-web/` -> `/dicomweb/` (`pacs/orthanc_dev.py` config)",
          [Sub("cranioscan/pacs/orthanc_dev.py", '"Root": "/dicom-web/"', '"Root": "/dicomweb/"')],
          ["tests/pacs/test_client.py"], must_show=["not its DICOMweb root"],
          must_not_show=["AttributeError"]),
    Break("4", "viewer-next-slice-map",
          "viewer draws the next slice's map (`pages/viewer.py`: heatmap index -> "
          "`min(index + 1, n - 1)`)",
          [Sub("pages/viewer.py",
               "heat = caches.heatmap(predictor, case, index, cam_class,",
               "heat = caches.heatmap(predictor, case, min(index + 1, n - 1), cam_class,")],
          ["tests/ui/test_app.py::test_viewer_gradcam_overlay_truth_and_metadata"]),
    Break("5", "attention-verdict-inverted",
          "Attention page's 'peak inside the lesion' verdict inverted (`pages/attention.py`)",
          [Sub("pages/attention.py",
               'verdict = " · peak inside the lesion ✓" if inside else',
               'verdict = " · peak inside the lesion ✓" if not inside else')],
          ["tests/ui/test_attention_truth.py"]),
    Break("6", "localisation-empty-mask",
          "model card's held-out localisation scored against an empty mask "
          "(`evaluation/heldout.py`: `peak_in_mask(cam, np.zeros_like(mask), ...)`)",
          [Sub("cranioscan/evaluation/heldout.py",
               "hits[m][name].append(explain.peak_in_mask(cam, mask, series.spacing,",
               "hits[m][name].append(explain.peak_in_mask(cam, np.zeros_like(mask), "
               "series.spacing,")],
          ["tests/evaluation/test_localisation_truth.py"]),
    Break("7", "prefetch-requeues-in-flight",
          "heatmap prefetch re-queues maps still in flight (`ui/caches.py`: reuse a queued "
          "map only when `future.done()`)",
          [Sub("cranioscan/ui/caches.py",
               "            future = _prefetched.get(key)\n"
               "            if future is not None and not future.cancelled():\n"
               "                _remember(key, future)",
               "            future = _prefetched.get(key)\n"
               "            if future is not None and future.done() and not future.cancelled():\n"
               "                _remember(key, future)")],
          ["tests/ui/test_heatmap_prefetch.py"]),
    Break("8", "zip-member-kept-15x",
          "each zip member's bytes unpacked and kept 15 times in a list "
          "(`dicom/sources.py` `_expand_zip`)",
          [Sub("cranioscan/dicom/sources.py",
               "    files, skipped = [], []\n    with archive:",
               "    files, skipped, kept = [], [], []\n    with archive:"),
           Sub("cranioscan/dicom/sources.py",
               "                    data = head + member.read(info.file_size - len(head))\n",
               "                    data = head + member.read(info.file_size - len(head))\n"
               "                    kept.extend(bytearray(data) for _ in range(15))\n")],
          ["tests/dicom/test_hardening.py"], also=WIDER_LOADER_TESTS),
    Break("9", "zip-sniff-removed",
          "zip recognised by its name only, the magic-bytes sniff removed "
          "(`dicom/sources.py` `_looks_like_zip`)",
          [Sub("cranioscan/dicom/sources.py",
               'return name.lower().endswith(".zip") or head[:4] in _ZIP_MAGIC',
               'return name.lower().endswith(".zip")')],
          ["tests/dicom/test_hardening.py"], also=WIDER_LOADER_TESTS),
    Break("10a", "learning-rate-0",
          "trainer's optimizer learning rate 0 (`train/losses.py` `compile_model`, used by "
          "`train/trainer.py` and `train/stream.py`: `AdamW(learning_rate=0.0, ...)`)",
          [Sub("cranioscan/train/losses.py",
               "optimizer = keras.optimizers.AdamW(learning_rate=learning_rate,",
               "optimizer = keras.optimizers.AdamW(learning_rate=0.0,")],
          ["tests/train/test_learning.py"]),
    Break("10b", "series-learning-rate-0",
          "series model trainer's learning rate 0 (`train/series_trainer.py`: "
          "`AdamW(0.0, ...)` instead of the cosine schedule)",
          [Sub("cranioscan/train/series_trainer.py",
               "optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay,",
               "optimizer = keras.optimizers.AdamW(0.0, weight_decay=recipe.weight_decay,")],
          ["tests/train/test_series_model.py::"
           "test_training_from_the_cache_learns_a_separable_set"]),
    Break("11", "calibration-identity",
          "calibration fit returns the identity (`calibration.py` `fit_platt` -> `(1.0, 0.0)`)",
          [Sub("cranioscan/calibration.py",
               "    return float(np.exp(result.x[0])), float(result.x[1])",
               "    return 1.0, 0.0")],
          ["tests/evaluation/test_crossval_calibration.py"]),
    Break("12a", "flag-strict-greater",
          "flag rule `>=` -> `>` (`series_result.py` `flag_matrix`)",
          [Sub("cranioscan/series_result.py",
               "(probs[:, j] >= float(t))", "(probs[:, j] > float(t))")],
          ["tests/test_series_result.py"]),
    Break("12b", "flag-nan-counts",
          "flag rule counts NaN as flagged (`series_result.py` `flag_matrix`)",
          [Sub("cranioscan/series_result.py",
               "out[:, j] = np.isfinite(probs[:, j]) & (probs[:, j] >= float(t))",
               "out[:, j] = np.isnan(probs[:, j]) | (probs[:, j] >= float(t))")],
          ["tests/test_series_result.py"]),
]


# ------------------------------------------------------------------------------ helpers
def unpack(rev, dest):
    """The committed tree of ``rev`` in ``dest`` (a fresh folder)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", rev], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {rev} failed")


def environment(copy, extra_path=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if extra_path:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def imported_from(copy, env):
    """``cranioscan.__file__`` as the tests in ``copy`` import it; must lie inside ``copy``."""
    out = subprocess.run([sys.executable, "-c", "import cranioscan; print(cranioscan.__file__)"],
                         cwd=copy, env=env, capture_output=True, text=True, check=True)
    path = out.stdout.strip()
    if not Path(path).resolve().is_relative_to(copy.resolve()):
        raise RuntimeError(f"the copy imports cranioscan from {path}, not from {copy}")
    return path


def summary_counts(output):
    """``{"failed": n, "passed": n, "skipped": n, "error": n, ...}`` from pytest's last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return {word.rstrip("s"): int(n)
            for n, word in re.findall(r"(\d+) (failed|passed|skipped|errors?|xfailed|xpassed|"
                                      r"deselected|warnings?)", last)}


def first_failure(output):
    """The id of the first FAILED / ERROR entry of pytest's short summary (or None)."""
    for line in output.splitlines():
        match = re.match(r"^(FAILED|ERROR) (\S+)", line)
        if match:
            kind = "error in" if match.group(1) == "ERROR" else ""
            return f"{kind} `{match.group(2)}`".strip()
    return None


def run_pytest(copy, tests, env, timeout):
    """``(exit status or None on timeout, output, seconds)``; pytest and whatever it started
    (Streamlit, Orthanc) run in their own process group, ended with it."""
    started = time.monotonic()
    proc = subprocess.Popen(PYTEST + list(tests), cwd=copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code, output = None, ""
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of this run only
        except ProcessLookupError:
            pass
        if code is None:
            output = proc.communicate()[0] or ""
    return code, output, time.monotonic() - started


def fast_subset(copy, tests, env):
    """How many of ``tests`` the fast subset (``-m FAST``) selects: ``"k of n"``."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--collect-only", "-m", FAST] + list(tests),
                          cwd=copy, env=env, capture_output=True, text=True)
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    counts = summary_counts(done.stdout)
    total = len(ids) + counts.get("deselected", 0)
    return f"{len(ids)} of {total}"


def verdict(brk, code, output):
    """(caught?, text of the result column)."""
    counts = summary_counts(output)
    if code is None:
        return False, "NOT CAUGHT: pytest ran past the time limit"
    if code == 0:
        tail = f" ({counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped)"
        return False, "NOT CAUGHT: pytest passed" + tail
    if code not in (1, 2):
        return False, f"NOT CAUGHT: pytest exit status {code} (no test failed)"
    where = first_failure(output) or "(no FAILED/ERROR line)"
    text = f"caught by {where}"
    if code == 2:
        text += " (collection/usage error, exit 2)"
    problems = [f"output lacks {s!r}" for s in brk.must_show if s not in output]
    problems += [f"output shows {s!r}" for s in brk.must_not_show if s in output]
    if problems:
        text += "; but " + ", ".join(problems)
    elif brk.must_show:
        text += "; the message shows " + " and ".join(repr(s) for s in brk.must_show)
    return True, text


def user_check(brk, copy, env, log):
    """What ``python3 <brk.user_command>`` tells its user in the broken copy (one cell's text)."""
    shown = " ".join(["python3"] + brk.user_command)
    try:
        done = subprocess.run([sys.executable] + brk.user_command, cwd=copy, env=env,
                              capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return f"`{shown}` ran past 180 s"
    output = done.stdout + done.stderr
    log.write(f"\n===== break {brk.key}, {shown}: exit {done.returncode}\n{tail(output, 20)}\n")
    problems = [f"lacks {s!r}" for s in brk.must_show if s not in output]
    problems += [f"shows {s!r}" for s in brk.must_not_show + ["Traceback"] if s in output]
    said = " ".join(line.strip() for line in output.strip().splitlines()[:3])
    verdict_text = "PROBLEM: its output " + ", ".join(problems) if problems else "good"
    return f"`{shown}` exits {done.returncode} saying \"{said}\" ({verdict_text})"


def tail(output, n=25):
    return "\n".join(output.rstrip().splitlines()[-n:])


def run_break(brk, rev, timeout, keep, log):
    copy = WORK / brk.name
    unpack(rev, copy)
    fake_dir = None
    try:
        for edit in brk.edits:
            edit.apply(copy)
        if brk.fake_orthanc:
            fake_dir = Path(tempfile.mkdtemp(prefix="fake-orthanc-"))
            fake = fake_dir / "Orthanc"
            fake.write_text(FAKE_ORTHANC)
            fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        env = environment(copy, fake_dir)
        origin = imported_from(copy, env)
        if brk.fake_orthanc:
            found = subprocess.run(
                [sys.executable, "-c", "from cranioscan.pacs.orthanc_dev import find_orthanc; "
                                       "print(find_orthanc())"],
                cwd=copy, env=env, capture_output=True, text=True, check=True).stdout.strip()
            if Path(found) != fake:
                raise BreakNotApplied(f"find_orthanc() gives {found}, not the broken {fake}")
        fast = fast_subset(copy, brk.tests, env)
        code, output, seconds = run_pytest(copy, brk.tests, env, timeout)
        log.write(f"\n===== break {brk.key} ({brk.name}): exit {code}, {seconds:.0f} s\n"
                  f"cranioscan imported from {origin}\n{tail(output, 60)}\n")
        log.flush()
        caught, text = verdict(brk, code, output)
        if brk.user_command:
            text += "; " + user_check(brk, copy, env, log)
        if not caught and brk.also:  # what else was tried (the break still counts as not caught)
            more_code, more_output, more_seconds = run_pytest(copy, brk.also, env, timeout)
            log.write(f"\n===== break {brk.key}, also tried {' '.join(brk.also)}: exit "
                      f"{more_code}, {more_seconds:.0f} s\n{tail(more_output, 40)}\n")
            more_caught, more_text = verdict(brk, more_code, more_output)
            tried = " ".join(f"`{t}`" for t in brk.also)
            text += (f"; also tried {tried} ({more_seconds:.0f} s): "
                     + (more_text if more_caught
                        else more_text.replace("NOT CAUGHT: ", "not caught: ")))
            seconds += more_seconds
        return caught, text, seconds, origin, fast
    finally:
        if fake_dir is not None:
            shutil.rmtree(fake_dir, ignore_errors=True)
        if not keep:
            shutil.rmtree(copy, ignore_errors=True)


def run_baseline(breaks, rev, timeout, log):
    """{break key: (passed?, text)}: each break's tests on one unbroken copy."""
    copy = WORK / "unbroken"
    unpack(rev, copy)
    env = environment(copy)
    imported_from(copy, env)
    results = {}
    try:
        for brk in breaks:
            code, output, seconds = run_pytest(copy, brk.tests, env, timeout)
            counts = summary_counts(output)
            log.write(f"\n===== unbroken copy, tests of break {brk.key}: exit {code}, "
                      f"{seconds:.0f} s\n{tail(output, 30)}\n")
            log.flush()
            if code == 0:
                results[brk.key] = (True, f"pass ({counts.get('passed', 0)} passed, "
                                          f"{counts.get('skipped', 0)} skipped, {seconds:.0f} s)")
            else:
                where = first_failure(output) or f"exit {code}"
                results[brk.key] = (False, f"FAILS unbroken too: {where}")
            print(f"[unbroken] {brk.key}: {results[brk.key][1]}", flush=True)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return results


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _stop(signum, _frame):
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")  # runs the clean-ups


def main(argv=None):
    global WORK
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="KEY", help="run these breaks (1 .. 12b)")
    parser.add_argument("--rev", default="HEAD", help="commit to copy (default HEAD at start)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run")
    parser.add_argument("--baseline", action="store_true",
                        help="also run each break's tests on an unbroken copy (must pass)")
    parser.add_argument("--keep", action="store_true", help="keep the broken copies")
    parser.add_argument("--work", default=str(WORK),
                        help="folder of the copies (default %(default)s)")
    parser.add_argument("--out", default="/tmp/breaks_table.md", help="markdown table file")
    parser.add_argument("--log", default="/tmp/breaks_log.txt",
                        help="pytest output of every run (its last lines)")
    parser.add_argument("--list", action="store_true", help="list the breaks and exit")
    args = parser.parse_args(argv)

    breaks = BREAKS
    if args.only:
        unknown = set(args.only) - {b.key for b in BREAKS}
        if unknown:
            parser.error(f"unknown breaks {sorted(unknown)}; known: {[b.key for b in BREAKS]}")
        breaks = [b for b in BREAKS if b.key in args.only]
    if args.list:
        for brk in breaks:
            print(f"{brk.key:4} {brk.what}\n     tests: {' '.join(brk.tests)}")
        return 0

    WORK = Path(args.work)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", args.rev], capture_output=True,
                         text=True, check=True).stdout.strip()
    WORK.mkdir(parents=True, exist_ok=True)
    rows, status, printed_origin = [], 0, False
    with open(args.log, "w", encoding="utf-8") as log:
        log.write(f"commit {rev}\n")
        baseline = (run_baseline(breaks, rev, args.timeout, log)
                    if args.baseline else {})
        for brk in breaks:
            print(f"[break {brk.key}] {brk.what}", flush=True)
            try:
                caught, text, seconds, origin, fast = run_break(brk, rev, args.timeout, args.keep,
                                                                log)
            except BreakNotApplied as exc:
                caught, text, seconds, origin = False, f"BREAK NOT APPLIED: {exc}", 0.0, None
                fast = "-"
                status = max(status, 2)
            if origin and not printed_origin:
                print(f"cranioscan imported from {origin} (the copy, not {ROOT})", flush=True)
                printed_origin = True
            if not caught:
                status = max(status, 1)
            if brk.key in baseline and not baseline[brk.key][0]:
                status = max(status, 1)
            print(f"[break {brk.key}] {text} ({seconds:.0f} s)", flush=True)
            rows.append((brk, text, seconds, fast))

    head = ["break", "tests run", "result", "seconds",
            f"of the tests run, `-m \"{FAST}\"` selects"]
    if baseline:
        head.append("same tests, unbroken copy")
    lines = [f"Commit `{rev[:12]}`; each break in a fresh `git archive` copy, "
             f"`{' '.join(['python3'] + PYTEST[1:])} <tests>` with PYTHONPATH=<copy>.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for brk, text, seconds, fast in rows:
        row = [f"{brk.key}. {brk.what}", " ".join(f"`{t}`" for t in brk.tests), text,
               f"{seconds:.0f}", fast]
        if baseline:
            row.append(baseline[brk.key][1])
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    Path(args.out).write_text(table, encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
