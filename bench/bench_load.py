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

Run from the repository root::

    python3 bench/bench_load.py [--slices 40] [--size 512] [--repeat 5]
    python3 bench/bench_load.py --codec jpeg-lossless --slices 300 --repeat 3
    python3 bench/bench_load.py --codec jpeg-lossless --real --slices 300 --repeat 3
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
    parser.add_argument("--codec", choices=("native", "jpeg-lossless"), default="native",
                        help="how the slices are stored (default: native)")
    parser.add_argument("--real", action="store_true",
                        help="copies of the real JPEG-Lossless slice (../shared/realct) "
                        "instead of the phantom; implies --codec jpeg-lossless")
    args = parser.parse_args(argv)
    if args.real:
        if not REAL_JPEG_LOSSLESS.exists():
            parser.error(f"--real needs {REAL_JPEG_LOSSLESS}")
        args.codec = "jpeg-lossless"

    with tempfile.TemporaryDirectory(prefix="cranioscan_bench_") as tmp:
        folder = Path(tmp)
        if args.real:
            write_real_copies(folder, args.slices)
        else:
            paths = write_head_series(folder, args.slices, args.size)
            if args.codec == "jpeg-lossless":
                transcode_jpeg_lossless(paths)
        load_series(folder), read_sitk(folder)  # warm caches and imports

        t_ours = t_sitk = t_plugins = float("inf")
        for _ in range(args.repeat):  # interleave so all see the same machine load
            t, series = best_of(lambda: load_series(folder), 1)
            t_ours = min(t_ours, t)
            t, itk = best_of(lambda: read_sitk(folder), 1)
            t_sitk = min(t_sitk, t)
            if args.codec != "native":
                with without_gdcm():
                    t, plain = best_of(lambda: load_series(folder), 1)
                t_plugins = min(t_plugins, t)
        t_model, model_input = best_of(lambda: to_model_input(series.hu), max(1, args.repeat // 2))

    inside = itk > -1500  # SimpleITK keeps the -3024 HU padding; load_series makes it air
    diff = float(np.abs(series.hu[inside] - itk[inside]).max())
    what = "copies of the real JPEG-Lossless slice" if args.real else \
        f"phantom, int16, intercept -1024, {args.codec}"
    print(f"series: {series.n_slices} slices of {series.hu.shape[1]}x{series.hu.shape[2]} "
          f"({what}; {series.meta['transfer_syntax']})")
    print(f"load_series          best of {args.repeat}: {t_ours * 1000:8.1f} ms")
    if args.codec != "native":
        np.testing.assert_array_equal(plain.hu, series.hu)
        print(f"  without GDCM       best of {args.repeat}: {t_plugins * 1000:8.1f} ms "
              f"(pylibjpeg through pydicom; same HU; ratio to SimpleITK "
              f"{t_plugins / t_sitk:.2f})")
    print(f"SimpleITK reader     best of {args.repeat}: {t_sitk * 1000:8.1f} ms")
    print(f"ratio load_series / SimpleITK: {t_ours / t_sitk:.2f}")
    print(f"to_model_input -> {model_input.shape} best of {max(1, args.repeat // 2)}: "
          f"{t_model * 1000:8.1f} ms")
    print(f"max |HU difference| inside the field of view: {diff:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
