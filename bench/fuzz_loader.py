"""Fuzz campaign against the DICOM loader: mutated real and phantom series.

Builds ``--count`` cases from ``--seed`` (see :mod:`cranioscan.testing.mutate`),
loads each through ``load_series`` in its source form, and prints the outcome
table. The contract: every case is ``loaded`` (finite HU) or a
``DicomLoadError``, within ``--max-seconds`` per case, under an address-space
limit of ``--max-gib`` (so an allocation the caps should have prevented shows
up as an escaped ``MemoryError``). Exit status 1 when any case breaks it.

    python bench/fuzz_loader.py --seed 2026 --count 5000
"""

import argparse
import collections
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

from cranioscan.dicom import decode_pool, load_series
from cranioscan.testing.mutate import GOOD_OUTCOMES, make_case, run_case, seed_series
from cranioscan.formats import terminal_safe

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "realct"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--start", type=int, default=0, help="first case index")
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--max-gib", type=float, default=4.0)
    parser.add_argument("--in-process", action="store_true",
                        help="decode everything in this process (by default every compressed "
                        "file on disk goes to the GDCM worker pool, whose crashes must be absorbed)")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR,
                        help="folder of real slices used as extra seeds (skipped if absent)")
    args = parser.parse_args(argv)

    limit = int(args.max_gib * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")
    if not args.in_process:
        decode_pool.MIN_BATCH, decode_pool.MAX_BROKEN = 1, float("inf")
    real = sorted(args.real_dir.glob("*.dcm")) if args.real_dir.is_dir() else []
    seeds = seed_series(real)
    print(f"seeds: {', '.join(sorted(seeds))}; seed {args.seed}, cases "
          f"{args.start}..{args.start + args.count - 1}, limits {args.max_seconds:g} s and "
          f"{args.max_gib:g} GiB address space per process")
    outcomes = collections.Counter()
    by_mutation = collections.defaultdict(collections.Counter)
    failures, slowest = [], (0.0, None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.start, args.start + args.count):
            decode_pool._broken_in_a_row = 0  # every case may use the workers
            case = make_case(seeds, args.seed, index)
            outcome, seconds, message = run_case(case, Path(tmp) / str(index), load_series)
            if outcome in GOOD_OUTCOMES and seconds > args.max_seconds:
                outcome = "too slow"
            outcomes[outcome] += 1
            by_mutation[case.mutation][outcome] += 1
            slowest = max(slowest, (seconds, case.label()), key=lambda s: s[0])
            if outcome not in GOOD_OUTCOMES:
                failures.append((case, outcome, seconds, message))
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.count} cases in {elapsed:.1f} s; slowest {slowest[0]:.2f} s "
          f"({terminal_safe(str(slowest[1]))}); peak RSS {peak_mib:.0f} MiB; "
          f"GDCM worker crashes absorbed: {decode_pool.crashes}")
    names = sorted({o for c in by_mutation.values() for o in c})
    print(f"\n{'mutation':<18}" + "".join(f"{n:>16}" for n in names))
    for mutation in sorted(by_mutation):
        print(f"{mutation:<18}" + "".join(f"{by_mutation[mutation][n]:>16}" for n in names))
    print(f"{'total':<18}" + "".join(f"{outcomes[n]:>16}" for n in names))
    for case, outcome, seconds, message in failures[:40]:
        print(f"FAIL {terminal_safe(case.label())}: {outcome} after {seconds:.2f} s: "
              f"{terminal_safe(message)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
