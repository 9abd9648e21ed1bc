"""Benchmark: a 40-slice CT series retrieved over DICOMweb against read from disk.

Starts a throwaway Orthanc with DICOMweb on loopback
(``cranioscan.pacs.orthanc_dev``), stores one phantom series in it (default
40 slices of 512x512, native int16, as a scanner sends them) and writes the
same files into a temporary folder. Then times, best of ``--repeat`` runs,
interleaved:

* ``PacsClient.load_series``: QIDO-RS lookup of the series, WADO-RS
  retrieve into memory through ``dicomweb-client`` (each part parsed by
  pydicom and written back to bytes), then ``cranioscan.dicom.load_series``
  on the ``(name, bytes)`` list, as the dashboard does;
* ``load_series(folder)`` on the same files on disk (page cache warm).

It checks that both give the same HU and prints the times and the ratio
DICOMweb / disk. Orthanc and the client share the machine's cores, so
the figure includes the server's own work (reading its storage, building
the multipart answer).

Run from the repository root::

    python3 bench/bench_dicomweb.py [--slices 40] [--size 512] [--repeat 5]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from cranioscan.dicom import load_series
from cranioscan.pacs.client import PacsClient
from cranioscan.pacs.config import PacsConfig
from cranioscan.pacs.orthanc_dev import OrthancServer, phantom_blobs


def best_of(repeat, fn):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=40, help="slices (default: 40)")
    parser.add_argument("--size", type=int, default=512, help="matrix (default: 512)")
    parser.add_argument("--repeat", type=int, default=5, help="runs, best kept (default: 5)")
    args = parser.parse_args(argv)

    blobs = phantom_blobs(0, matrix=args.size, n_slices=args.slices)
    with OrthancServer() as server, tempfile.TemporaryDirectory() as folder:
        server.upload(blobs)
        for k, blob in enumerate(blobs):
            (Path(folder) / f"slice{k:03d}.dcm").write_bytes(blob)
        with PacsClient(PacsConfig(url=server.dicomweb_url)) as client:
            (study,) = client.search_studies()
            (hit,) = client.series_of(study.study_uid)
            web_times, disk_times = [], []
            for _ in range(args.repeat):  # interleaved
                t, web = best_of(1, lambda: client.load_series(hit.study_uid, hit.series_uid))
                web_times.append(t)
                t, disk = best_of(1, lambda: load_series(folder))
                disk_times.append(t)
            t_files, files = best_of(args.repeat, lambda: client.retrieve_files(
                hit.study_uid, hit.series_uid))
    np.testing.assert_array_equal(web.hu, disk.hu)
    web_t, disk_t = min(web_times), min(disk_times)
    mb = sum(len(b) for _, b in files) / 1024 ** 2
    print(f"{args.slices} slices of {args.size}x{args.size} ({mb:.1f} MB), best of {args.repeat}:")
    print(f"  DICOMweb (QIDO + WADO-RS + load_series): {web_t * 1000:7.0f} ms "
          f"(retrieve alone {t_files * 1000:.0f} ms, {mb / t_files:.0f} MB/s)")
    print(f"  disk (load_series on the folder):        {disk_t * 1000:7.0f} ms")
    print(f"  ratio DICOMweb / disk: {web_t / disk_t:.2f}  (same HU: yes)")


if __name__ == "__main__":
    main()
