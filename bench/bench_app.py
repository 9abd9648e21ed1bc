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

4. **First visit to a freshly started server, in a browser** (optional,
   needs Chromium): ``streamlit run app.py`` is started and the clock starts
   once the server answers its health check (the user opens the address):
   seconds to the first probabilities; then ten slice changes by the Down
   key (end to end: key press to the new slice's table), the Grad-CAM
   overlay turned on and ten slice changes with it; then the first visit of
   the Attention maps page: seconds to the first map and to all maps.
5. **A long thin-slice series** (``--long 300``): a 300-slice series of
   0.625 mm (512 x 512 phantom sections, JPEG Lossless, as
   ``bench_long_series.py`` writes it) opened from a server folder in a
   fresh AppTest process: seconds to open and score it, the process's peak
   RSS, and the slice-change fragment time against a 30-slice series of
   the same kind.

Run from the repository root::

    python3 bench/bench_app.py [--model PATH] [--moves 10] [--no-browser] [--long 300]
        [--only cold,browser,interaction,long]
    python3 bench/bench_app.py --quick   # CI's report: one cold start, 3 slice changes

``--quick`` (what ``.ci/run`` prints) measures the two targets only, once
each and server side: first probabilities after start with an empty demo
cache (target 10 s) and the slice change (target 100 ms), without the
browser, the start-up steps or the long series.
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
assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
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
from cranioscan import demo
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
    from playwright.sync_api import sync_playwright

    from cranioscan.launch import free_port

    port = free_port()
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


def _start_server(env):
    """``streamlit run app.py`` on a free port; returns ``(process, url)`` once it is healthy."""
    from cranioscan.launch import start_dashboard

    return start_dashboard({**env, "CRANIOSCAN_TIMING": "1"}, timeout=120)


_SLICE_JS = """() => { const e = [...document.querySelectorAll('p, span, div, strong')].find(
    p => /^Slice \\d+ probabilities$/.test(p.innerText.trim()));
    return e ? parseInt(e.innerText.match(/\\d+/)[0]) : null; }"""
_BUSY_JS = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
    + '[data-testid="stSpinner"], [data-testid="stSkeleton"], [data-stale="true"]')"""


def _idle(page, timeout=300_000):
    page.wait_for_timeout(300)
    page.wait_for_function(_BUSY_JS, timeout=timeout, polling=50)


_IMAGE_JS = """() => { const img = document.querySelector('[data-testid="stImage"] img');
    return img ? img.src : null; }"""


def _key_slice_changes(page, moves):
    """Seconds from a Down (or Up) key press until the new slice's table and image are shown."""
    times = []
    for _ in range(moves):
        now = page.evaluate(_SLICE_JS)
        image = page.evaluate(_IMAGE_JS)
        key, expected = ("ArrowDown", now + 1) if now < 20 else ("ArrowUp", now - 1)
        t0 = time.perf_counter()
        page.keyboard.press(key)
        page.wait_for_function(
            f"""() => ({_SLICE_JS})() === {expected} && ({_IMAGE_JS})() !== {json.dumps(image)}""",
            timeout=120_000, polling="raf")
        times.append(time.perf_counter() - t0)
        _idle(page)
    return times


def _cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_first_visit(env, moves):
    """First visit to a fresh server in Chromium: probabilities, slice changes, Attention maps.

    Returns:
        dict of seconds: ``first_probabilities``, ``slice_change`` (list),
        ``overlay_on``, ``slice_change_overlay`` (list), ``attention_first_map``,
        ``attention_all_maps``.
    """
    from playwright.sync_api import sync_playwright

    proc, url = _start_server(env)
    out = {}
    try:
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            t0, cpu0 = time.perf_counter(), _cpu_seconds(proc.pid)
            page.goto(url)
            # The slice's probability table has its heading ("Slice N probabilities").
            page.wait_for_function(f"() => ({_SLICE_JS})() !== null", timeout=300_000, polling=50)
            out["first_probabilities"] = time.perf_counter() - t0
            out["first_probabilities_cpu"] = _cpu_seconds(proc.pid) - cpu0
            _idle(page)
            page.wait_for_timeout(3000)  # a user reads; the background Grad-CAM trace runs
            page.get_by_role("heading", name="Case viewer").click()
            out["slice_change"] = _key_slice_changes(page, moves)
            t0 = time.perf_counter()
            page.get_by_text("Grad-CAM heatmap").filter(visible=True).first.click()
            page.get_by_text("ResNet layer").filter(visible=True).first.wait_for(timeout=120_000)
            _idle(page)
            out["overlay_on"] = time.perf_counter() - t0
            page.get_by_role("heading", name="Case viewer").click()
            out["slice_change_overlay"] = _key_slice_changes(page, moves)
            t0 = time.perf_counter()
            page.get_by_role("link", name="Attention maps").first.click()
            page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid="stImage"]')].some(
                       e => /^(Grad-CAM|Score-CAM|Attention rollout)/.test(e.innerText))""",
                timeout=300_000, polling=50)
            out["attention_first_map"] = time.perf_counter() - t0
            page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid="stImage"]')].filter(
                       e => /^(Grad-CAM|Score-CAM|Attention rollout)/.test(e.innerText)).length >= 6""",
                timeout=600_000, polling=100)
            _idle(page, timeout=600_000)
            out["attention_all_maps"] = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


_LONG_CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, "bench")  # run from the repository root
from peak_memory import peak_rss_mib
from streamlit.testing.v1 import AppTest
from cranioscan.ui.state import SLICE_VIEW_MS
at = AppTest.from_file(sys.argv[1], default_timeout=900)
at.run()
at.radio(key="source").set_value("Folder on the server").run()
t0 = time.perf_counter()
at.text_input(key="folder_path").set_value(sys.argv[2]).run()
opened = time.perf_counter() - t0
assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
n = at.slider(key="slice_no").max
fragment = []
for k in range(1, int(sys.argv[3]) + 1):
    at.slider(key="slice_no").set_value((k * 7) % n + 1).run()
    fragment.append(at.session_state[SLICE_VIEW_MS])
assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
print(json.dumps({"slices": int(n), "open_and_score_s": opened,
                  "fragment_ms_median": statistics.median(fragment),
                  "peak_rss_mib": peak_rss_mib()}))
"""


def long_series(env, n_long, moves, n_base=30):
    """A long thin-slice series against a 30-slice one, each in a fresh AppTest process."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_long_series import write_thin_series

    results = {}
    with tempfile.TemporaryDirectory(prefix="cranioscan_app_long_") as tmp:
        for n in (n_base, n_long):
            folder = write_thin_series(Path(tmp) / f"s{n}", n, "jpeg-lossless")
            out = subprocess.run(
                [sys.executable, "-c", _LONG_CHILD, str(REPO / "app.py"), str(folder), str(moves)],
                cwd=REPO, env={**env, "CRANIOSCAN_ALLOW_FOLDER": "1", "CRANIOSCAN_TIMING": "1"},
                capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
            results[n] = json.loads(out.stdout.strip().splitlines()[-1])
    return results[n_base], results[n_long]


def _unvisited(n, visited, count):
    """``count`` 1-based slices at least 2 away from ``visited`` and from each other.

    (The viewer computes the maps of a visited slice's neighbours ahead, so a
    slice next to one already shown is not a first visit.)
    """
    chosen = []
    for t in range(1, int(n) + 1):
        if all(abs(t - v) >= 2 for v in list(visited) + chosen):
            chosen.append(t)
    return chosen[:count]


def interaction(env, moves):
    """Fragment and full-rerun times of slice and window changes (AppTest, warm caches)."""
    os.environ.update(env)
    from streamlit.testing.v1 import AppTest

    from cranioscan.ui.state import SLICE_VIEW_MS

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
            fragment.append(at.session_state[SLICE_VIEW_MS])
            assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
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
                [lambda t=t: at.slider(key="slice_no").set_value(t) for t in _unvisited(n, targets, 4)])
    finally:
        script_runner._clean_problem_modules = ours
    # Scrolling: one slice at a time (the navigator's keys and wheel), where the
    # maps of the neighbouring slices are computed ahead in the background.
    at.slider(key="slice_no").set_value(1).run()
    measure("slice step of one with Grad-CAM (scrolling; next map computed ahead)",
            [lambda: at.button(key="next").click() for _ in range(min(moves, int(n) - 1))])
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file (default: model/best_model.keras, or a "
                                        "full-size random model when it is missing)")
    parser.add_argument("--moves", type=int, default=10, help="slice changes to time (default: 10)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    parser.add_argument("--long", type=int, default=300,
                        help="slices of the long series (default: 300; 0 skips it)")
    parser.add_argument("--only", default="cold,browser,interaction,long",
                        help="comma-separated parts to run (default: all of "
                             "cold,browser,interaction,long)")
    parser.add_argument("--quick", action="store_true",
                        help="short report (CI): one cold start and --moves 3 slice changes, "
                             "server side; no browser, start-up steps or long series")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    if args.quick:
        parts &= {"cold", "interaction"}
        args.moves, args.no_browser, args.long = min(args.moves, 3), True, 0

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else REPO / DEFAULT_MODEL
        if not model.is_file():
            print("no model/best_model.keras: building a full-size model with random weights")
            model = full_size_model(tmp)
        env = {**os.environ, "CRANIOSCAN_MODEL": str(model), "CRANIOSCAN_CACHE": str(Path(tmp) / "cache"),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        print(f"model: {model} ({model.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        if "cold" in parts and args.quick:
            wall, cpu = cold_start(env)
            print(f"first demo case after start, empty demo cache (AppTest): {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU (target 10 s)")
        elif "cold" in parts:
            cold_parts(env, model, tmp, args.no_browser)
        if "browser" in parts and not args.no_browser and os.path.exists(CHROMIUM):
            for _ in range(2):  # a clean clone, then a restart with the demo cached on disk
                browser_report(env, args.moves)
        if "interaction" in parts:
            interaction_parts(env, args.moves)
        if "long" in parts and args.long:
            base, long = long_series(env, args.long, args.moves)
            for r in (base, long):
                print(f"{r['slices']}-slice series of 0.625 mm from a server folder (AppTest, fresh "
                      f"process): opened and scored in {r['open_and_score_s']:.1f} s, slice change "
                      f"fragment median {r['fragment_ms_median']:.0f} ms, peak RSS "
                      f"{r['peak_rss_mib']:.0f} MiB")
            print(f"long / short: slice change {long['fragment_ms_median'] / base['fragment_ms_median']:.2f}, "
                  f"peak RSS {long['peak_rss_mib'] / base['peak_rss_mib']:.2f} (target: RSS at most 2 GB)")


def browser_report(env, moves):
    """Part 4, printed: first visit to a fresh server in Chromium."""
    cached = any(Path(env["CRANIOSCAN_CACHE"]).glob("**/scores-*.npy"))
    first = browser_first_visit(env, moves)
    print(f"first visit to a fresh server, Chromium, demo case "
          f"{'and its scores cached on disk' if cached else 'not cached (first use)'}: first "
          f"probabilities {first['first_probabilities']:.1f} s after opening the address "
          f"(target 10 s), the server spent {first['first_probabilities_cpu']:.1f} CPU s")
    print(f"  slice change by key, end to end in Chromium: median "
          f"{statistics.median(first['slice_change']) * 1000:.0f} ms, max "
          f"{max(first['slice_change']) * 1000:.0f} ms")
    print(f"  Grad-CAM overlay turned on: {first['overlay_on']:.2f} s; slice change with it, "
          f"end to end: median {statistics.median(first['slice_change_overlay']):.2f} s, "
          f"max {max(first['slice_change_overlay']):.2f} s (target 0.4 s)")
    print(f"  first Attention maps visit: first map {first['attention_first_map']:.1f} s "
          f"(target 8 s), all maps {first['attention_all_maps']:.1f} s")


def cold_parts(env, model, tmp, no_browser):
    """Part 1 and 2: first demo case after start (AppTest, steps, Chromium from 'streamlit run')."""
    wall, cpu = cold_start(env)
    print(f"first demo case after start, empty demo cache (AppTest): {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU")
    wall, cpu = cold_start(env)
    print(f"first demo case after start, demo and its scores cached on disk (AppTest): "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU")
    print("start-up steps, one after another in a fresh process (wall s, CPU s):")
    for label, wall, cpu in steps(env, model, Path(tmp) / "cache2"):
        print(f"  {label:32s} {wall:6.1f} {cpu:6.1f}")
    if not no_browser and os.path.exists(CHROMIUM):
        seconds = browser_start(env)
        print(f"first demo case after 'streamlit run', in Chromium (demo cached): {seconds:.1f} s")


def interaction_parts(env, moves):
    """Part 3: slice and window changes, server side (AppTest)."""
    results = interaction(env, moves)
    for label, stats in results.items():
        print(f"{label}: slice_view fragment median {stats['fragment_ms_median']:.0f} ms "
              f"(max {stats['fragment_ms_max']:.0f} ms), whole AppTest rerun median "
              f"{stats['apptest_rerun_ms_median']:.0f} ms, n={stats['n']}")
    print("target: a slice change within 100 ms (the slice_view fragment, server side)")
    ours = results["slice change with Grad-CAM (first visit of each slice)"]
    base = results["baseline: slice change with Grad-CAM, Keras session cleared after each run"]
    print(f"slice change with Grad-CAM, Keras session kept / cleared (fragment medians): "
          f"{ours['fragment_ms_median'] / base['fragment_ms_median']:.2f}")

if __name__ == "__main__":
    main()
