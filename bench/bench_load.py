"""Benchmark: ``load_series`` against SimpleITK's ImageSeriesReader.

Writes a CT series (default 40 slices of 512x512, int16 stored values,
RescaleIntercept -1024, a crude head section with -2000 padding outside the
field of view) into a temporary folder, then times, best of ``--repeat``
runs, interleaved:

* ``cranioscan.dicom.load_series(folder)``;
* SimpleITK: ``ImageSeriesReader.GetGDCMSeriesFileNames`` + ``Execute`` and
  ``GetArrayFromImage`` (the usual way to read a series with ITK);
* ``cranioscan.preprocess.to_model_input`` on the loaded volume.

It checks that both readers give the same HU inside the field of view and
prints the times and the ratio load_series / SimpleITK (below 1: faster).

Run from the repository root::

    python3 bench/bench_load.py [--slices 40] [--size 512] [--repeat 5]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
from cranioscan.dicom import load_series  # noqa: E402
from cranioscan.preprocess import to_model_input  # noqa: E402
from cranioscan.dicom.factory import head_like_slice, make_series, write_series  # noqa: E402


def write_head_series(folder, n_slices, size):
    """Write the benchmark series; return the list of file paths."""
    datasets = make_series(
        n_slices,
        dz=5.0,
        pixels=lambda i: head_like_slice(size, size, z_frac=(i + 0.5) / n_slices, seed=i),
        spacing=(0.45, 0.45),
        thickness=5.0,
        intercept=-1024.0,
        signed=True,
    )
    return write_series(datasets, folder)


def read_sitk(folder):
    """Read the series with SimpleITK; return (n, rows, cols) as stored by ITK."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def best_of(fn, repeat):
    """Best wall time of ``repeat`` calls (s) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=40, help="slices (default: 40)")
    parser.add_argument("--size", type=int, default=512, help="rows = cols (default: 512)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per reader (default: 5)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cranioscan_bench_") as tmp:
        folder = Path(tmp)
        write_head_series(folder, args.slices, args.size)
        load_series(folder), read_sitk(folder)  # warm caches and imports

        t_ours = t_sitk = float("inf")
        for _ in range(args.repeat):  # interleave so both see the same machine load
            t, series = best_of(lambda: load_series(folder), 1)
            t_ours = min(t_ours, t)
            t, itk = best_of(lambda: read_sitk(folder), 1)
            t_sitk = min(t_sitk, t)
        t_model, model_input = best_of(lambda: to_model_input(series.hu), max(1, args.repeat // 2))

    inside = itk > -1500  # SimpleITK keeps the -3024 HU padding; load_series makes it air
    diff = float(np.abs(series.hu[inside] - itk[inside]).max())
    print(f"series: {series.n_slices} slices of {series.hu.shape[1]}x{series.hu.shape[2]}, "
          f"int16, intercept -1024")
    print(f"load_series          best of {args.repeat}: {t_ours * 1000:8.1f} ms")
    print(f"SimpleITK reader     best of {args.repeat}: {t_sitk * 1000:8.1f} ms")
    print(f"ratio load_series / SimpleITK: {t_ours / t_sitk:.2f}")
    print(f"to_model_input -> {model_input.shape} best of {max(1, args.repeat // 2)}: "
          f"{t_model * 1000:8.1f} ms")
    print(f"max |HU difference| inside the field of view: {diff:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
