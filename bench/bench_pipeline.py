"""Training input throughput: DICOM decoding into the cache, and cache reads.

    python bench/bench_pipeline.py [--slices 200] [--size 224]

Writes phantom studies as 512x512 DICOM, then measures in one run:

1. decoding to cache rows (``pipeline.decode_dicom_slice``: pydicom read,
   HU, three windows, anti-aliased resize, uint8) on one core, against the
   bare baseline of ``pydicom.dcmread(...).pixel_array`` on the same files;
2. reading training batches from the cache through ``pipeline.make_dataset``
   (no augmentation), against a bare memmap fancy-index read of the same
   rows; with and without augmentation, and with class-balanced draws
   (``--class-balance``) against plain shuffling.

Prints slices/s and the ratios. For the full RSNA set (about 750,000
slices) the numbers give the hours to build the cache and whether the
cache can feed a GPU.
"""

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cranioscan.train import pipeline  # noqa: E402
from cranioscan.phantom import make_dataset  # noqa: E402


def _rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


def bench_decode(paths, size):
    import pydicom

    start = time.perf_counter()
    for path in paths:
        pydicom.dcmread(path).pixel_array
    bare = time.perf_counter() - start
    start = time.perf_counter()
    for path in paths:
        pipeline.decode_dicom_slice(path, size)
    ours = time.perf_counter() - start
    return _rate(len(paths), bare), _rate(len(paths), ours)


def bench_cache_read(cache, batch_size, epochs=3):
    rng = np.random.default_rng(0)
    rows = np.arange(len(cache))
    start = time.perf_counter()
    served = 0
    for _ in range(epochs):
        order = rng.permutation(rows)
        for i in range(0, len(order), batch_size):
            batch = np.sort(order[i:i + batch_size])
            x = np.asarray(cache.images[batch], dtype=np.float32) / 255.0
            served += len(x)
    bare = _rate(served, time.perf_counter() - start)

    batches = epochs * int(np.ceil(len(cache) / batch_size))
    # Class-balanced draws (train.py --class-balance) on made-up labels: the
    # point is the cost of the weighted sampler, not the labels.
    labels = (rng.random((len(cache), 6)) < [0.3, 0.07, 0.03, 0.02, 0.06, 0.12]).astype(np.uint8)
    weights = pipeline.class_balance_weights(labels, 0.5)

    def through(augmenter, weights=None):
        ds = pipeline.make_dataset(cache.images, labels, batch_size=batch_size, shuffle=True,
                                   augmenter=augmenter, repeat=True, weights=weights)
        for _ in ds.take(2):  # warm-up: graph tracing
            pass
        start, n = time.perf_counter(), 0
        for x, _y in ds.take(batches):
            n += int(x.shape[0])
        return _rate(n, time.perf_counter() - start)

    return (bare, through(None), through(pipeline.make_augmenter(0)),
            through(None, weights))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=160, help="slices to decode (default: 160)")
    parser.add_argument("--size", type=int, default=224, help="model input size (default: 224)")
    parser.add_argument("--batch-size", type=int, default=64, help="read batch (default: 64)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        n_studies = max(1, int(np.ceil(args.slices / 32)))
        make_dataset(tmp, n_studies, seed=7, n_slices=32, progress=False)
        paths = sorted(os.path.join(tmp, p) for p in os.listdir(tmp) if p.endswith(".dcm"))
        paths = paths[:args.slices]
        bare_dec, ours_dec = bench_decode(paths, args.size)
        print(f"{len(paths)} slices of 512x512 DICOM, one core, model input {args.size}px")
        print(f"  pydicom read + pixel_array (baseline) {bare_dec:8.1f} slices/s")
        print(f"  decode_dicom_slice (HU, 3 windows, resize) {ours_dec:8.1f} slices/s"
              f"   ratio to baseline {ours_dec / bare_dec:.2f}")

        labels = np.zeros((len(paths), 6), np.uint8)
        cache = pipeline.create_cache(os.path.join(tmp, "cache"), labels, args.size)
        start = time.perf_counter()
        pipeline.fill_cache(cache, paths, workers=os.cpu_count() or 1)
        fill = _rate(len(paths), time.perf_counter() - start)
        print(f"  fill_cache with {os.cpu_count()} processes {fill:8.1f} slices/s")

        bare_read, tf_read, tf_aug, tf_weighted = bench_cache_read(
            pipeline.open_cache(cache.path, False), args.batch_size)
        print(f"cache reads, batches of {args.batch_size}, {os.cpu_count()} cores")
        print(f"  bare memmap read (baseline)         {bare_read:8.1f} slices/s")
        print(f"  make_dataset, no augmentation       {tf_read:8.1f} slices/s"
              f"   ratio to baseline {tf_read / bare_read:.2f}")
        print(f"  make_dataset, with augmentation     {tf_aug:8.1f} slices/s"
              f"   ratio to baseline {tf_aug / bare_read:.2f}")
        print(f"  make_dataset, class-balanced draws  {tf_weighted:8.1f} slices/s"
              f"   ratio to shuffled {tf_weighted / tf_read:.2f}")
        hours = 750_000 / ours_dec / 3600
        print(f"RSNA (750,000 slices): about {hours:.1f} core-hours to build the cache; "
              f"{750_000 * args.size * args.size * 3 / 1e9:.0f} GB of cache at {args.size}px")


if __name__ == "__main__":
    main()
