"""Benchmark: dashboard start-up to the first demo case, and the cost of a slice change.

Measures, with the model the dashboard would load (``model/best_model.keras``
by default; a full-size model with random weights is built in a temporary
folder when there is none, which costs the same to run):

1. **First demo case after start** (server side): a fresh Python process
   runs ``app.py`` once through ``streamlit.testing.v1.AppTest`` and stops
   the clock when the viewer page holds the demo case's probabilities.
   Everything a new server pays is included: imports (TensorFlow), model
   load, the demo case (generated on first use, or read from the disk
   cache), scoring with the progress bar, drawing. Done twice: with an
   empty demo cache ("first use", what a clean clone pays) and with the
   case and its scores cached on disk ("later starts"). Wall time and the
   child's CPU time are printed: on a shared machine the CPU time is the
   better guide to what idle cores would take. Then the same steps one by
   one (imports, model, demo case, scoring) in another fresh process.
2. **First demo case in a browser** (end to end, optional, needs
   ``/usr/bin/chromium`` and playwright): ``streamlit run app.py`` is
   started and headless Chromium opens it; the clock runs from launching
   the server to the probability table being visible.
3. **Slice change and window change** (server side): in one AppTest
   session, the slider moves ``--moves`` times and the window preset
   changes; reported are the time the ``slice_view`` fragment spends
   (measured inside it: image, table, chart) and the time of AppTest's
   whole rerun (an upper bound: AppTest reruns the full script, a browser
   only the fragment). Without Grad-CAM, then turning it on (after the
   viewer's background trace), then with it; and, as the baseline, with
   it while Streamlit clears the Keras session after every run (its own
   cleanup, which ``cranioscan.ui.streamlit_fixes`` replaces): kept / cleared ratio.

Run from the repository root::

    python3 bench/bench_app.py [--model PATH] [--moves 10] [--no-browser]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cranioscan.defaults import DEFAULT_MODEL, REPO_ROOT as REPO
CHROMIUM = "/usr/bin/chromium"

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=600)
at.run()
elapsed = time.perf_counter() - t0
assert not at.exception, [e.message for e in at.exception]
table = next(d.value for d in at.dataframe if "Probability" in d.value.columns)
print(json.dumps({"seconds": elapsed, "rows": len(table)}))
"""


def full_size_model(folder):
    """A full-size CranioScan model (random weights) with a synthetic-model card."""
    import keras

    from cranioscan.net.model import build_model, save_for_inference

    keras.utils.set_random_seed(0)
    path = Path(folder) / "best_model.keras"
    save_for_inference(build_model(), path)
    (Path(folder) / "model_card.json").write_text(json.dumps(
        {"name": "benchmark model (random weights)", "synthetic": True,
         "trained_on": "nothing: random weights, same size as the shipped model"}))
    return path


def cold_start(env):
    """First demo case with probabilities in a fresh process (AppTest).

    Returns:
        ``(wall seconds, CPU seconds)``; the CPU time (user + system of the
        child) tells what the wall time would be on idle cores when the
        machine is shared.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(REPO / "app.py")], cwd=REPO, env=env,
                         capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"], cpu


_STEPS = r"""
import sys, time
t0 = time.perf_counter(); c0 = time.process_time()
def lap(label):
    print(f"{label}	{time.perf_counter() - t0:.2f}	{time.process_time() - c0:.2f}", flush=True)
import streamlit; lap("import streamlit")
import tensorflow; lap("import tensorflow")
from cranioscan.inference import Predictor
predictor = Predictor.load(sys.argv[1]); predictor.sha256; lap("load the model")
from cranioscan.ui import demo
case = demo.load_demo(demo.DEFAULT_CASE, sys.argv[2]); lap("demo case (generate or read)")
predictor.predict_series(case.series, batch_size=8); lap("score the series (first call)")
predictor.predict_series(case.series, batch_size=8); lap("score the series again")
"""


def steps(env, model, cache):
    """Wall and CPU seconds of each start-up step, run one after another in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _STEPS, str(model), str(cache)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    rows, wall0, cpu0 = [], 0.0, 0.0
    for line in out.stdout.strip().splitlines():
        label, wall, cpu = line.split("\t")
        rows.append((label, float(wall) - wall0, float(cpu) - cpu0))
        wall0, cpu0 = float(wall), float(cpu)
    return rows


def browser_start(env):
    """Seconds from ``streamlit run`` to the probability table visible in Chromium."""
    import socket

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            deadline = time.time() + 120
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}", timeout=5000)
                    break
                except Exception:  # noqa: BLE001 - server not up yet
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            page.get_by_text("Any hemorrhage").filter(visible=True).first.wait_for(timeout=300_000)
            elapsed = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return elapsed


def interaction(env, moves):
    """Fragment and full-rerun times of slice and window changes (AppTest, warm caches)."""
    os.environ.update(env)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.run()
    n = at.slider(key="slice_no").max
    results = {}

    def measure(label, actions):
        fragment, rerun = [], []
        for act in actions:
            t0 = time.perf_counter()
            act()
            at.run()
            rerun.append((time.perf_counter() - t0) * 1000)
            fragment.append(at.session_state["cs_slice_view_ms"])
            assert not at.exception, [e.message for e in at.exception]
        results[label] = {
            "fragment_ms_median": statistics.median(fragment), "fragment_ms_max": max(fragment),
            "apptest_rerun_ms_median": statistics.median(rerun), "n": len(fragment)}

    targets = [(k * 7) % n + 1 for k in range(1, moves + 1)]
    measure("slice change", [lambda t=t: at.slider(key="slice_no").set_value(t) for t in targets])
    presets = ["bone", "subdural", "stroke", "soft_tissue", "brain"]
    measure("window change", [lambda p=p: at.radio(key="win_preset").set_value(p) for p in presets])
    # The viewer traces the default layer's Grad-CAM in a background thread
    # once the page is drawn; a user takes longer to reach the toggle.
    for thread in threading.enumerate():
        if thread.name.startswith("cranioscan-gradcam-warm-up"):
            thread.join()
    measure("Grad-CAM turned on (first overlay, after the background trace)",
            [lambda: at.toggle(key="cam_on").set_value(True)])
    measure("slice change with Grad-CAM (first visit of each slice)",
            [lambda t=t: at.slider(key="slice_no").set_value(t) for t in targets[:4]])
    # Baseline: Streamlit's own post-run cleanup, which clears the Keras
    # session after every run (cranioscan.ui.streamlit_fixes), on slices not yet visited.
    from streamlit.runtime.scriptrunner import script_runner

    from cranioscan.ui import streamlit_fixes as ui_runner

    ours = script_runner._clean_problem_modules
    script_runner._clean_problem_modules = ui_runner._STREAMLIT_CLEANUP
    try:
        measure("baseline: slice change with Grad-CAM, Keras session cleared after each run",
                [lambda t=t: at.slider(key="slice_no").set_value(t)
                 for t in sorted(set(range(1, int(n) + 1)) - set(targets))[:4]])
    finally:
        script_runner._clean_problem_modules = ours
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file (default: model/best_model.keras, or a "
                                        "full-size random model when it is missing)")
    parser.add_argument("--moves", type=int, default=10, help="slice changes to time (default: 10)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else REPO / DEFAULT_MODEL
        if not model.is_file():
            print("no model/best_model.keras: building a full-size model with random weights")
            model = full_size_model(tmp)
        env = {**os.environ, "CRANIOSCAN_MODEL": str(model), "CRANIOSCAN_CACHE": str(Path(tmp) / "cache"),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        print(f"model: {model} ({model.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        wall, cpu = cold_start(env)
        print(f"first demo case after start, empty demo cache (AppTest): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU")
        wall, cpu = cold_start(env)
        print(f"first demo case after start, demo and its scores cached on disk (AppTest): "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU")
        print("start-up steps, one after another in a fresh process (wall s, CPU s):")
        for label, wall, cpu in steps(env, model, Path(tmp) / "cache2"):
            print(f"  {label:32s} {wall:6.1f} {cpu:6.1f}")
        if not args.no_browser and os.path.exists(CHROMIUM):
            seconds = browser_start(env)
            print(f"first demo case after 'streamlit run', in Chromium (demo cached): {seconds:.1f} s")
        results = interaction(env, args.moves)
        for label, stats in results.items():
            print(f"{label}: slice_view fragment median {stats['fragment_ms_median']:.0f} ms "
                  f"(max {stats['fragment_ms_max']:.0f} ms), whole AppTest rerun median "
                  f"{stats['apptest_rerun_ms_median']:.0f} ms, n={stats['n']}")
        ours = results["slice change with Grad-CAM (first visit of each slice)"]
        base = results["baseline: slice change with Grad-CAM, Keras session cleared after each run"]
        print(f"slice change with Grad-CAM, Keras session kept / cleared (fragment medians): "
              f"{ours['fragment_ms_median'] / base['fragment_ms_median']:.2f}")


if __name__ == "__main__":
    main()
