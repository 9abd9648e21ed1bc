"""Benchmark: series inference and explanations on the full-size model.

Builds (or loads) the model, writes a 40-slice phantom head CT as DICOM into
a temporary folder and reads it back with ``load_series``, then, after one
warm-up of each path, times in the same run, interleaved, median of
``--repeat``:

* ``Predictor.predict_series(series)`` (``to_model_input`` included) against
  a bare ``model.predict(x, batch_size=8)`` on the ready-made input, and the
  pipeline's overhead in per cent (target: at most 10 %);
* one slice's map, after warm-up, for each explanation method and engine
  (``gradcam`` / ``gradcam++`` compiled and through tf-keras-vis,
  ``scorecam`` through tf-keras-vis with ``SCORECAM_MAX_N`` masks) and the
  attention rollout (target for Grad-CAM: at most 0.5 s on two idle cores).

The model is ``--model PATH`` if given, else ``model/best_model.keras`` when
it exists, else the default ``build_model()`` (stage 4, d_model 256, depth 4,
224 pixels) with random weights: timings do not depend on the weights.
The machine's load average is printed before and after: on a shared machine
compare only numbers from one run. Each time is given as wall-clock and as
this process' CPU time (less sensitive to other processes on the cores; on
two idle cores the wall time is at least half the CPU time).

Run from the repository root::

    python3 bench/bench_inference.py [--slices 40] [--matrix 512] [--repeat 3] [--compare-forward]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cranioscan.calibration import apply_calibration  # noqa: E402
from cranioscan.defaults import DEFAULT_MODEL, REPO_ROOT as REPO  # noqa: E402


def load_average():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "load average unknown"


def make_series(n_slices, matrix, folder):
    """Write a phantom study as DICOM and read it back as a Series."""
    from cranioscan.dicom import load_series
    from cranioscan.phantom import make_study, write_series

    study = make_study(7, matrix=matrix, n_slices=n_slices, subtypes=("subdural",))
    write_series(study, folder)
    return load_series(folder)


def timed(fn, repeat):
    """``(wall, cpu)`` seconds of ``repeat`` calls; cpu is this process' CPU time."""
    times = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def median_wall(times):
    return statistics.median(t[0] for t in times)


def fmt(times):
    walls = [t[0] for t in times]
    cpu = statistics.median(t[1] for t in times)
    return (f"median {statistics.median(walls):.3f} s (min {min(walls):.3f}, n={len(walls)}; "
            f"CPU {cpu:.3f} s)")


def compare_forward(predictor, x, batch_size, repeat):
    """Time the ways of running the model on ready input, interleaved."""
    model = predictor.model

    def loop(step):
        for start in range(0, len(x), batch_size):
            np.asarray(step(x[start:start + batch_size]))

    variants = {
        "tf.function (Predictor.predict_inputs)":
            lambda: predictor.predict_inputs(x, batch_size=batch_size),
        "model.predict_on_batch per batch": lambda: loop(model.predict_on_batch),
        "model(x, training=False) eager per batch":
            lambda: loop(lambda b: model(b, training=False)),
        f"model.predict(x, batch_size={batch_size})":
            lambda: model.predict(x, batch_size=batch_size, verbose=0),
    }
    for fn in variants.values():  # warm-up / tracing
        fn()
    times = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            times[name] += timed(fn, 1)
    print(f"\nforward pass on ready input ({len(x)} slices), interleaved:")
    for name, t in times.items():
        print(f"  {name:42s} {fmt(t)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None,
                        help="model file (default: model/best_model.keras if present, "
                        "else a random-weight default build_model())")
    parser.add_argument("--slices", type=int, default=40, help="slices in the series (default: 40)")
    parser.add_argument("--matrix", type=int, default=512, help="slice matrix (default: 512)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of each series path (default: 3)")
    parser.add_argument("--cam-slices", type=int, default=5,
                        help="slices timed per explanation method (default: 5)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size (default: 8)")
    parser.add_argument("--compare-forward", action="store_true",
                        help="also time tf.function / predict_on_batch / eager / predict")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from cranioscan import explain
    from cranioscan.inference import Predictor
    from cranioscan.net.model import build_model

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; {load_average()}")
    default_path = REPO / DEFAULT_MODEL
    path = args.model or (str(default_path) if default_path.exists() else None)
    start = time.perf_counter()
    if path:
        predictor = Predictor.load(path)
        print(f"model: {path} (loaded in {time.perf_counter() - start:.1f} s)")
    else:
        predictor = Predictor(build_model())
        print(f"model: build_model() defaults, random weights (built in "
              f"{time.perf_counter() - start:.1f} s)")
    model = predictor.model
    print(f"  input {predictor.input_size} px, {model.count_params() / 1e6:.1f} M parameters, "
          f"layers {list(explain.available_layers(predictor).values())}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        series = make_series(args.slices, args.matrix, tmp)
        print(f"series: {series.n_slices} slices of {series.hu.shape[1]}x{series.hu.shape[2]} "
              f"(phantom written and loaded in {time.perf_counter() - start:.1f} s)")

    bs = args.batch_size
    x = predictor.prepare(series.hu)
    # Warm-up: trace both paths once.
    predictor.predict_series(series, batch_size=bs)
    model.predict(x, batch_size=bs, verbose=0)
    t_series, t_bare = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same load
        t_series += timed(lambda: predictor.predict_series(series, batch_size=bs), 1)
        t_bare += timed(lambda: model.predict(x, batch_size=bs, verbose=0), 1)
    p_series = predictor.predict_series(series, batch_size=bs)
    # predict_series applies the card's calibration; compare like with like
    p_bare = apply_calibration(model.predict(x, batch_size=bs, verbose=0), predictor.calibration)
    t_prep = timed(lambda: predictor.prepare(series.hu), args.repeat)
    overhead = median_wall(t_series) / median_wall(t_bare) - 1.0
    overhead_cpu = (statistics.median(t[1] for t in t_series)
                    / statistics.median(t[1] for t in t_bare) - 1.0)
    print(f"\npredict_series ({args.slices} slices, incl. to_model_input): {fmt(t_series)}")
    print(f"model.predict(x, batch_size={bs}) on ready input:   {fmt(t_bare)}")
    print(f"  of which to_model_input alone:                    {fmt(t_prep)}")
    print(f"pipeline overhead: {100 * overhead:+.1f} % wall, {100 * overhead_cpu:+.1f} % CPU time "
          f"(max |difference| of probabilities {np.abs(p_series - p_bare).max():.2e})")
    print(f"throughput: {args.slices / median_wall(t_series):.1f} slices/s")

    if args.compare_forward:
        compare_forward(predictor, x, bs, args.repeat)

    layer = explain.default_layer(predictor)
    slices = np.linspace(0, series.n_slices - 1, args.cam_slices + 1).round().astype(int)
    print(f"\nexplanations of one slice ({series.hu.shape[1]}x{series.hu.shape[2]}), "
          f"layer {layer}, "
          "class 'any', after one warm-up call:")
    cases = [("gradcam", "compiled"), ("gradcam", "tf-keras-vis"),
             ("gradcam++", "compiled"), ("gradcam++", "tf-keras-vis"),
             ("scorecam", "tf-keras-vis")]
    for method, engine in cases:
        start = time.perf_counter()
        explain.gradcam(predictor, series, int(slices[0]), "any", layer, method, engine)
        warm = time.perf_counter() - start
        n = args.cam_slices if method != "scorecam" else max(1, min(2, args.cam_slices))
        times = []
        for k in slices[1:n + 1]:
            times += timed(lambda: explain.gradcam(predictor, series, int(k), "any", layer,
                                                   method, engine), 1)
        extra = f", {explain.SCORECAM_MAX_N} masks" if method == "scorecam" else ""
        print(f"  {method:9s} {engine:12s} first call {warm:6.2f} s; {fmt(times)}{extra}")
    start = time.perf_counter()
    explain.attention_map(predictor, series, int(slices[0]))
    warm = time.perf_counter() - start
    times = []
    for k in slices[1:args.cam_slices + 1]:
        times += timed(lambda: explain.attention_map(predictor, series, int(k)), 1)
    print(f"  {'attention rollout':22s} first call {warm:6.2f} s; {fmt(times)}")
    print(f"\n{load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
