"""Benchmark of the phantom generator (cranioscan.phantom).

Times, per study of ``--slices`` slices (median of ``--repeat`` seeds):

* in memory at 256 x 256 (what training generates on the fly);
* in memory at 512 x 512;
* at 512 x 512 generated and written as DICOM (uncompressed), the target
  being under 2 s for 32 slices on a 2-core machine;
* the same with RLE compression.

Wall time depends on what else the machine runs; CPU time is this
process's own (numpy runs single-threaded here). Run from the repository
root::

    python3 bench/bench_phantom.py --slices 32 --repeat 5
"""

import argparse
import os
import statistics
import sys
import tempfile
import time


from cranioscan.phantom import make_study, write_series  # noqa: E402


def _time(fn, seeds):
    """Median wall and CPU seconds of ``fn(seed)`` over the seeds."""
    wall, cpu = [], []
    for seed in seeds:
        w0, c0 = time.perf_counter(), time.process_time()
        fn(seed)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(wall), statistics.median(cpu), max(wall)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=32, help="slices per study (default: 32)")
    p.add_argument("--repeat", type=int, default=5, help="studies (seeds) timed per case (default: 5)")
    args = p.parse_args(argv)
    seeds = list(range(1000, 1000 + args.repeat))
    make_study(1, matrix=64, n_slices=2)  # warm-up: imports, caches
    print(f"cranioscan.phantom benchmark: {args.slices} slices per study, median over "
          f"{args.repeat} studies, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("in memory, 256 x 256", lambda s: make_study(s, matrix=256, n_slices=args.slices)),
            ("in memory, 512 x 512", lambda s: make_study(s, matrix=512, n_slices=args.slices)),
            ("512 x 512 + DICOM write", lambda s: write_series(
                make_study(s, matrix=512, n_slices=args.slices), os.path.join(tmp, f"u{s}"))),
            ("512 x 512 + DICOM write, RLE", lambda s: write_series(
                make_study(s, matrix=512, n_slices=args.slices), os.path.join(tmp, f"r{s}"), rle=True)),
        ]
        print(f"  {'case':30s} {'wall s/study':>12s} {'CPU s/study':>12s} {'worst wall':>11s} {'CPU ms/slice':>13s}")
        for name, fn in cases:
            wall, cpu, worst = _time(fn, seeds)
            print(f"  {name:30s} {wall:12.3f} {cpu:12.3f} {worst:11.3f} {1000 * cpu / args.slices:13.1f}")
    print("(wall: elapsed time; CPU: this process's CPU time, what an idle core would take;"
          " load average now " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
