"""Benchmark: ``load_series`` against SimpleITK's ImageSeriesReader.

Writes a CT series (default 40 slices of 512x512, int16 stored values,
RescaleIntercept -1024, a crude head section with -2000 padding outside the
field of view) into a temporary folder, then times, best of ``--repeat``
runs, interleaved:

* ``cranioscan.dicom.load_series(folder)``;
* SimpleITK: ``ImageSeriesReader.GetGDCMSeriesFileNames`` + ``Execute`` and
  ``GetArrayFromImage`` (the usual way to read a series with ITK);
* with ``--codec jpeg-lossless`` also ``load_series`` with its GDCM fast
  path switched off (pydicom's decoder plugins), to show what it buys;
* ``cranioscan.preprocess.to_model_input`` on the loaded volume.

``--codec jpeg-lossless`` writes the slices JPEG Lossless (process 14,
selection value 1, what CT scanners and PACS send) by transcoding the
native files with GDCM; ``--real`` uses copies of the real JPEG-Lossless
head slice in ``../shared/realct`` instead of the phantom (each copy with its
own position and UIDs), so the codestreams are a scanner's.

It checks that both readers give the same HU inside the field of view and
prints the times and the ratio load_series / SimpleITK (below 1: faster).

``--unguarded`` times the same series from a user's script without an
``if __name__ == "__main__":`` guard (:data:`UNGUARDED_SCRIPT`, run in a
fresh interpreter): its first ``load_series`` call (worker processes started
on the way), then the interleaved best-of runs against SimpleITK. It checks
that the script's top level ran once (the decoding workers never import the
caller's ``__main__``) and says how many worker processes decoded slices.

Run from the repository root::

    python3 bench/bench_load.py [--slices 40] [--size 512] [--repeat 5]
    python3 bench/bench_load.py --codec jpeg-lossless --slices 300 --repeat 3
    python3 bench/bench_load.py --codec jpeg-lossless --real --slices 300 --repeat 3
    python3 bench/bench_load.py --real --slices 238 --repeat 5 --unguarded
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
from cranioscan.dicom import load_series  # noqa: E402
from cranioscan.preprocess import to_model_input  # noqa: E402
from cranioscan.testing.factory import head_like_slice, make_series, write_series  # noqa: E402


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


REAL_JPEG_LOSSLESS = REPO.parent / "shared" / "realct" / "headct_skullbase_jpeg_lossless.dcm"


def transcode_jpeg_lossless(paths):
    """Rewrite native DICOM files as JPEG Lossless SV1 in place, with GDCM."""
    import gdcm

    syntax = gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1)
    for path in paths:
        reader = gdcm.ImageReader()
        reader.SetFileName(str(path))
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(syntax)
        if not reader.Read() or not (change.SetInput(reader.GetImage()) or change.Change()):
            raise RuntimeError(f"GDCM could not compress {path}")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError(f"GDCM could not write {path}")


def write_real_copies(folder, n_slices, step=0.625):
    """``n_slices`` copies of the real JPEG-Lossless slice, ``step`` mm apart."""
    import copy

    import pydicom
    from pydicom.uid import generate_uid

    source = pydicom.dcmread(REAL_JPEG_LOSSLESS)
    series_uid = generate_uid()
    x, y, z = (float(v) for v in source.ImagePositionPatient)
    for i in range(n_slices):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImagePositionPatient = [x, y, z + i * step]
        ds.InstanceNumber = i + 1
        ds.save_as(Path(folder) / f"real_{i:03d}.dcm")


def read_sitk(folder):
    """Read the series with SimpleITK; return (n, rows, cols) as stored by ITK."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


class without_gdcm:
    """Context: ``load_series`` as it decodes without python-gdcm (pylibjpeg only).

    Keeps every slice out of the GDCM worker pool (restored on exit); the
    loader never uses pydicom's own GDCM plugin.
    """

    def __enter__(self):
        from cranioscan.dicom import decode_pool

        self.module, self.min_batch = decode_pool, decode_pool.MIN_BATCH
        decode_pool.MIN_BATCH = float("inf")

    def __exit__(self, *exc):
        self.module.MIN_BATCH = self.min_batch


#: A user's first script: no main guard. argv: bench folder, series folder, repeats,
#: marker file; its top level appends one line to the marker and prints a JSON report.
UNGUARDED_SCRIPT = """\
import json
import sys
import time

sys.path.insert(0, sys.argv[1])
folder, repeat, marker = sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(marker, "a") as fh:
    fh.write("top level ran\\n")

from bench_load import hu_difference, interleaved
from cranioscan.dicom import decode_pool, load_series

start = time.perf_counter()
load_series(folder)
first = time.perf_counter() - start
first_batch = decode_pool.last_batch
times, series, itk = interleaved(folder, repeat)
print(json.dumps({
    "first": first, "ours": times["ours"], "sitk": times["sitk"],
    "slices": series.n_slices, "diff": hu_difference(series, itk),
    "workers": len([n for n in first_batch.per_worker.values() if n]) if first_batch else 0,
}))
"""


def best_of(fn, repeat):
    """Best wall time of ``repeat`` calls (s) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def interleaved(folder, repeat, plugins=False):
    """Best times (s) of ``load_series`` and SimpleITK on ``folder``, runs interleaved.

    Both readers are called once first (imports, caches, worker processes).
    With ``plugins`` also ``load_series`` without GDCM, checked to give the
    same HU.

    Returns:
        ``(times, series, itk)``: dict ``"ours"`` / ``"sitk"`` (/ ``"plugins"``)
        -> best wall time in s; the last ``Series``; SimpleITK's ``(n, rows,
        cols)`` array.
    """
    load_series(folder), read_sitk(folder)  # warm caches and imports
    times = {"ours": float("inf"), "sitk": float("inf")}
    if plugins:
        times["plugins"] = float("inf")
    for _ in range(repeat):  # interleave so all see the same machine load
        t, series = best_of(lambda: load_series(folder), 1)
        times["ours"] = min(times["ours"], t)
        t, itk = best_of(lambda: read_sitk(folder), 1)
        times["sitk"] = min(times["sitk"], t)
        if plugins:
            with without_gdcm():
                t, plain = best_of(lambda: load_series(folder), 1)
            times["plugins"] = min(times["plugins"], t)
            np.testing.assert_array_equal(plain.hu, series.hu)
    return times, series, itk


def hu_difference(series, itk):
    """Largest |HU difference| (HU) between the two readers inside the field of view."""
    inside = itk > -1500  # SimpleITK keeps the -3024 HU padding; load_series makes it air
    return float(np.abs(series.hu[inside] - itk[inside]).max())


def run_unguarded(folder, repeat):
    """Run :data:`UNGUARDED_SCRIPT` on ``folder`` in a fresh interpreter; return its report.

    Raises:
        RuntimeError: the script failed, or its top level did not run exactly once.
    """
    with tempfile.TemporaryDirectory(prefix="cranioscan_unguarded_") as tmp:
        script, marker = Path(tmp) / "first_script.py", Path(tmp) / "top_level_runs.txt"
        script.write_text(UNGUARDED_SCRIPT)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        done = subprocess.run([sys.executable, str(script), str(Path(__file__).parent),
                               str(folder), str(repeat), str(marker)],
                              capture_output=True, text=True, cwd=tmp, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"the unguarded script failed:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        report["top_level_runs"] = len(marker.read_text().splitlines())
    if report["top_level_runs"] != 1:
        raise RuntimeError(f"the script's top level ran {report['top_level_runs']} times")
    return report


def print_unguarded(report, repeat):
    """Print :func:`run_unguarded`'s report: times (ms) and ratios to SimpleITK."""
    print(f"unguarded script (no main guard): top level ran {report['top_level_runs']} time, "
          f"{report['workers']} worker processes decoded, {report['slices']} slices")
    print(f"load_series first call           : {report['first'] * 1000:8.1f} ms "
          f"(workers started on the way; ratio to SimpleITK {report['first'] / report['sitk']:.2f})")
    print(f"load_series          best of {repeat}: {report['ours'] * 1000:8.1f} ms")
    print(f"SimpleITK reader     best of {repeat}: {report['sitk'] * 1000:8.1f} ms")
    print(f"ratio load_series / SimpleITK: {report['ours'] / report['sitk']:.2f}")
    print(f"max |HU difference| inside the field of view: {report['diff']:g}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=40, help="slices (default: 40)")
    parser.add_argument("--size", type=int, default=512, help="rows = cols (default: 512)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per reader (default: 5)")
    parser.add_argument("--codec", choices=("native", "jpeg-lossless"), default="native",
                        help="how the slices are stored (default: native)")
    parser.add_argument("--real", action="store_true",
                        help="copies of the real JPEG-Lossless slice (../shared/realct) "
                        "instead of the phantom; implies --codec jpeg-lossless")
    parser.add_argument("--unguarded", action="store_true",
                        help="time load_series from a script without a main guard, run in a "
                        "fresh interpreter")
    args = parser.parse_args(argv)
    if args.real:
        if not REAL_JPEG_LOSSLESS.exists():
            parser.error(f"--real needs {REAL_JPEG_LOSSLESS}")
        args.codec = "jpeg-lossless"

    what = "copies of the real JPEG-Lossless slice" if args.real else \
        f"phantom, int16, intercept -1024, {args.codec}"
    with tempfile.TemporaryDirectory(prefix="cranioscan_bench_") as tmp:
        folder = Path(tmp)
        if args.real:
            write_real_copies(folder, args.slices)
        else:
            paths = write_head_series(folder, args.slices, args.size)
            if args.codec == "jpeg-lossless":
                transcode_jpeg_lossless(paths)
        if args.unguarded:
            print(f"series: {args.slices} slices ({what})")
            print_unguarded(run_unguarded(folder, args.repeat), args.repeat)
            return 0
        times, series, itk = interleaved(folder, args.repeat, plugins=args.codec != "native")
        t_model, model_input = best_of(lambda: to_model_input(series.hu), max(1, args.repeat // 2))

    t_ours, t_sitk = times["ours"], times["sitk"]
    print(f"series: {series.n_slices} slices of {series.hu.shape[1]}x{series.hu.shape[2]} "
          f"({what}; {series.meta['transfer_syntax']})")
    print(f"load_series          best of {args.repeat}: {t_ours * 1000:8.1f} ms")
    if "plugins" in times:
        print(f"  without GDCM       best of {args.repeat}: {times['plugins'] * 1000:8.1f} ms "
              f"(pylibjpeg through pydicom; same HU; ratio to SimpleITK "
              f"{times['plugins'] / t_sitk:.2f})")
    print(f"SimpleITK reader     best of {args.repeat}: {t_sitk * 1000:8.1f} ms")
    print(f"ratio load_series / SimpleITK: {t_ours / t_sitk:.2f}")
    print(f"to_model_input -> {model_input.shape} best of {max(1, args.repeat // 2)}: "
          f"{t_model * 1000:8.1f} ms")
    print(f"max |HU difference| inside the field of view: {hu_difference(series, itk):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
