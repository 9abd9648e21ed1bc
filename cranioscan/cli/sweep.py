"""Where Grad-CAM peaks land, for several layers and methods, on a selection set.

    cranioscan sweep [--model model/best_model.keras] [--studies 48]
        [--layers conv3_block2_out,conv3_block3_out,conv3_block4_out]
        [--methods gradcam,gradcam++] [--class any] [--card model/model_card.json]

For choosing the layer or method that ``cranioscan evaluate`` then checks
once on the test set. Phantom studies with seeds 950000 onward (neither
training's nor the test set's) are written as 512x512 DICOM and read back;
every positive slice gets one map per layer and method. Prints, per layer and
method, the fraction of peaks inside the lesion mask grown by 5 mm with a
study-level bootstrap 95% interval, and where the other peaks landed: air
around the head, bone, or soft tissue elsewhere in the head. With --card,
the result is stored in the model card's "localisation_sweep".
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .. import explain
from ..evaluation import localisation, model_card
from ..explain.scoring import PLACES
from ..evaluation.heldout import TEST_SEED
from ..labels import CLASSES


def main(argv=None):
    """``cranioscan sweep [options]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="cranioscan sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model_card.add_measurement_arguments(parser)
    parser.add_argument("--studies", type=int, default=48, help="studies (default: 48)")
    parser.add_argument("--seed", type=int, default=localisation.SELECTION_SEED,
                        help=f"first study seed (default: {localisation.SELECTION_SEED})")
    parser.add_argument("--layers", default=None,
                        help="comma-separated layer names (default: the model's stage outputs)")
    parser.add_argument("--methods", default="gradcam",
                        help=f"comma-separated, from {', '.join(explain.METHODS)} "
                             "(default: gradcam)")
    parser.add_argument("--class", dest="class_name", default="any", choices=CLASSES,
                        help="class explained (default: any)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)

    if args.seed < TEST_SEED + 1000 and args.seed + args.studies > TEST_SEED:
        print(f"note: seeds {args.seed}-{args.seed + args.studies - 1} overlap the test set "
              f"({TEST_SEED} onward); choices made on them are not tested by cranioscan evaluate")
    predictor = model_card.load_measured_model(parser, args)
    layers = (args.layers.split(",") if args.layers
              else list(explain.available_layers(predictor).values()))
    methods = args.methods.split(",")
    start = time.perf_counter()
    result = localisation.localisation_sweep(
        predictor, layers, methods, class_name=args.class_name, n_studies=args.studies,
        seed=args.seed, progress=lambda done, total: print(f"  study {done}/{total}",
                                                           end="\r", flush=True))
    print(f"\n{result['n_studies']} phantom studies (seeds {args.seed}-"
          f"{args.seed + args.studies - 1}), {result['n_slices']} slices positive for "
          f"{args.class_name!r}, {time.perf_counter() - start:.0f} s; peak in the mask grown by "
          f"{result['dilate_mm']:g} mm")
    misses = [p for p in PLACES if p != "lesion"]
    print(f"{'layer':18s} {'method':10s} {'in mask':>8s} {'95% CI':>13s}  "
          + "  ".join(f"{p:>11s}" for p in misses))
    for row in result["rows"]:
        ci = f"{row['ci95'][0]:.0%}-{row['ci95'][1]:.0%}" if row["ci95"] else "n/a"
        frac = f"{row['fraction_in_mask']:.1%}" if row["fraction_in_mask"] is not None else "n/a"
        print(f"{row['layer']:18s} {row['method']:10s} {frac:>8s} {ci:>13s}  "
              + "  ".join(f"{row['places'][p]:>11d}" for p in misses))

    if args.card:
        model_card.store_measurement(args.card, "localisation_sweep", {
            "command": "cranioscan sweep " + " ".join(argv),
            "data": (f"{result['n_studies']} synthetic phantom studies written as 512x512 DICOM, "
                     f"seeds {args.seed}-{args.seed + args.studies - 1} (neither training's nor "
                     f"the test set's); {result['n_slices']} slices positive for "
                     f"{args.class_name!r}"),
            "class": result["class"], "dilate_mm": result["dilate_mm"],
            "n_slices": result["n_slices"],
            "rule": "peak of the class map inside the lesion mask grown by the tolerance; "
                    "otherwise where it landed, by the HU under it (air below -300, bone from "
                    "300); ci95 as ci95_method names it (a bootstrap over studies where "
                    "there are 20 or more, else the Wilson interval on slices)",
            "rows": result["rows"],
        }, predictor.sha256)
        print(f"stored in {args.card}")
    return 0
