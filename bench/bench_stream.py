"""How fast phantoms stream into training (``train.py --stream-minutes``).

    python bench/bench_stream.py [--studies 8] [--workers 2] [--size 224] [--matrix 512]

Two comparisons in one run:

1. rendering: ``StudyStream`` with ``--workers`` processes against rendering
   the same studies one after another in this process (the baseline);
   studies/s and slices/s of each, and the ratio;
2. drawing batches: ``StreamBatches`` (class-balanced, power 0.5) against a
   bare uniform NumPy gather of as many rows from the same pool; ms per batch
   of ``--batch-size`` and the ratio; and, on a pool of ``--pool-rows``
   slices, the class-balanced weights (computed once each time the pool
   grows) and one draw from them. A GPU step must take longer than this for
   the feed not to be the limit.
"""

import argparse
import sys
import time

import numpy as np


from cranioscan.phantom import balanced_plan  # noqa: E402
from cranioscan.phantom.stream import StudyStream, _render  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=8, help="studies (default: 8)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--size", type=int, default=224, help="input side (default: 224)")
    parser.add_argument("--matrix", type=int, default=512, help="phantom matrix (default: 512)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch (default: 128)")
    parser.add_argument("--batches", type=int, default=50, help="batches timed (default: 50)")
    parser.add_argument("--pool-rows", type=int, default=223_000,
                        help="pool size for the class-balanced draw's own cost, with the "
                             "labels tiled (default: 223000, the demo model's GPU run)")
    args = parser.parse_args(argv)

    from cranioscan.train.stream import StreamBatches

    plan = balanced_plan(args.studies, 880000)
    start = time.perf_counter()
    slices = sum(len(_render((seed, kwargs, args.matrix, args.size, None))[1])
                 for seed, kwargs in plan)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    with StudyStream(plan, args.size, matrix=args.matrix, workers=args.workers) as stream:
        stream.wait_for(len(plan))
        streamed = time.perf_counter() - start
        assert stream.ready == slices
        print(f"rendering {args.studies} studies ({slices} slices, matrix {args.matrix}, "
              f"{args.size} px):")
        print(f"  in this process:        {serial:6.1f} s, {args.studies / serial:5.2f} studies/s")
        print(f"  StudyStream, {args.workers} workers: {streamed:6.1f} s, "
              f"{args.studies / streamed:5.2f} studies/s (ratio {serial / streamed:.2f})")

        batches = StreamBatches(stream, 0, args.batch_size, args.batches, power=0.5)
        start = time.perf_counter()
        for index in range(args.batches):
            batches[index]
        drawn = (time.perf_counter() - start) / args.batches
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(args.batches):
            rows = np.sort(rng.integers(0, stream.ready, args.batch_size))
            stream.images[rows], stream.labels[rows].astype(np.float32)
        bare = (time.perf_counter() - start) / args.batches
        from cranioscan.train.pipeline import class_balance_weights

        tiled = np.resize(stream.labels[:stream.ready], (args.pool_rows, stream.labels.shape[1]))
        start = time.perf_counter()
        for _ in range(5):
            cumulative = np.cumsum(class_balance_weights(tiled, 0.5))
        weighing = (time.perf_counter() - start) / 5
        start = time.perf_counter()
        for _ in range(args.batches):
            np.searchsorted(cumulative, rng.random(args.batch_size) * cumulative[-1])
        one_draw = (time.perf_counter() - start) / args.batches
    print(f"drawing batches of {args.batch_size} from {slices} slices:")
    print(f"  bare uniform gather:            {bare * 1e3:6.1f} ms per batch")
    print(f"  StreamBatches, class-balanced:  {drawn * 1e3:6.1f} ms per batch "
          f"(ratio {drawn / bare:.2f}; {args.batch_size / drawn:,.0f} slices/s)")
    print(f"  pool of {args.pool_rows:,} slices: class-balanced weights {weighing * 1e3:.1f} ms "
          f"each time the pool grows, then {one_draw * 1e3:.3f} ms per batch's draw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
