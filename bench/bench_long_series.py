"""Benchmark: a thin-slice head CT (300 slices of 0.625 mm) loaded and scored, peak memory.

Real head CT is often 200-300 slices of 0.625 mm, JPEG-Lossless compressed.
This writes such a series (512x512 phantom head sections, native or JPEG
Lossless), then, each in a fresh Python process so that the peak resident
memory (``VmHWM``, :mod:`peak_memory`) belongs to one run:

* loads it with ``load_series`` and scores it with the shipped model's
  ``Predictor.predict_series`` (batches of 8, a progress callback counting
  the slices), the way the dashboard and ``cranioscan predict`` do;
* the same for a 30-slice series of the same kind: the baseline.

It prints seconds to load, seconds to score, the progress calls, the peak
RSS of each run, and the ratios long / baseline (per slice for the times).

Run from the repository root (about a minute for the 300 slices on 2 CPU
cores with the research model)::

    python3 bench/bench_long_series.py [--slices 300] [--codec jpeg-lossless]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def write_thin_series(folder, n_slices, codec, size=512, step=0.625):
    """``n_slices`` phantom head sections ``step`` mm apart; return the folder."""
    from bench_load import transcode_jpeg_lossless

    from cranioscan.testing.factory import head_like_slice, make_series, write_series

    datasets = make_series(
        n_slices, dz=step, thickness=step, spacing=(0.45, 0.45), intercept=-1024.0,
        pixels=lambda i: head_like_slice(size, size, z_frac=(i + 0.5) / n_slices, seed=i))
    paths = write_series(datasets, folder)
    if codec == "jpeg-lossless":
        transcode_jpeg_lossless(paths)
    return folder


def child(folder, model):
    """One run: load, score with progress; print a JSON line of figures."""
    from peak_memory import peak_rss_mib

    from cranioscan.cli.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from cranioscan.dicom import load_series
    from cranioscan.inference import Predictor

    predictor = Predictor.load(model)
    rss_model = peak_rss_mib()
    start = time.perf_counter()
    series = load_series(folder)
    t_load = time.perf_counter() - start
    calls = []
    start = time.perf_counter()
    probs = predictor.predict_series(series, batch_size=8,
                                     progress=lambda done, total: calls.append(done))
    t_score = time.perf_counter() - start
    print(json.dumps({
        "slices": series.n_slices, "load_s": t_load, "score_s": t_score,
        "progress_calls": len(calls), "progress_last": calls[-1] if calls else 0,
        "probs_shape": list(probs.shape),
        "rss_after_model_mib": rss_model,
        "peak_rss_mib": peak_rss_mib(),
        "volume_mib": series.hu.nbytes / 2**20,
    }))


def run_child(folder, model):
    proc = subprocess.run([sys.executable, __file__, "--child", str(folder), "--model", str(model)],
                          capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=300, help="slices of the long series (default: 300)")
    parser.add_argument("--baseline", type=int, default=30, help="slices of the baseline (default: 30)")
    parser.add_argument("--codec", choices=("native", "jpeg-lossless"), default="jpeg-lossless",
                        help="how the slices are stored (default: jpeg-lossless)")
    parser.add_argument("--model", default=str(REPO / "model" / "best_model.keras"),
                        help="model file (default: the shipped model)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.model)

    results = {}
    with tempfile.TemporaryDirectory(prefix="cranioscan_long_") as tmp:
        for n in (args.baseline, args.slices):
            folder = write_thin_series(Path(tmp) / f"s{n}", n, args.codec)
            results[n] = run_child(folder, args.model)
    base, long = results[args.baseline], results[args.slices]
    print(f"series: 512x512 phantom head sections, 0.625 mm apart, {args.codec}; "
          f"model {Path(args.model).name}, batches of 8")
    print(f"{'slices':>6} {'load s':>7} {'score s':>8} {'progress':>9} {'volume MiB':>11} "
          f"{'RSS after model MiB':>20} {'peak RSS MiB':>13}")
    for r in (base, long):
        print(f"{r['slices']:>6} {r['load_s']:7.2f} {r['score_s']:8.2f} "
              f"{r['progress_calls']:>4} -> {r['progress_last']:<3} {r['volume_mib']:11.0f} "
              f"{r['rss_after_model_mib']:20.0f} {r['peak_rss_mib']:13.0f}")
    per = lambda r, key: r[key] / r["slices"]  # noqa: E731
    print(f"ratio long / baseline per slice: load {per(long, 'load_s') / per(base, 'load_s'):.2f}, "
          f"score {per(long, 'score_s') / per(base, 'score_s'):.2f}; "
          f"peak RSS {long['peak_rss_mib'] / base['peak_rss_mib']:.2f}")
    print(f"peak RSS of the {long['slices']}-slice run: {long['peak_rss_mib'] / 1024:.2f} GiB "
          f"(target: at most 2 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
