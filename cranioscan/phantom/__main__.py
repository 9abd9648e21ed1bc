"""Command line: ``python -m cranioscan.phantom --out DIR --studies N --seed S``.

Writes a phantom dataset in the RSNA 2019 layout (see
:func:`cranioscan.phantom.make_dataset`) with a progress bar, or, with
``--contact-sheet PNG``, a picture of phantom slices beside a real one.
"""

import argparse
import sys

from ..labels import SUBTYPES
from .contact_sheet import make_contact_sheet
from .dataset import make_dataset


def _size(text):
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers in [0, 1]), got {text!r}") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise argparse.ArgumentTypeError(f"size range must satisfy 0 <= LO <= HI <= 1, got {text!r}")
    return lo, hi


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m cranioscan.phantom",
        description="Generate synthetic head CT phantoms with known hemorrhages "
                    "(RSNA 2019 layout: stage_2_train.csv, ID_<sop>.dcm, masks/<series_uid>.npz).")
    out = p.add_argument_group("output")
    out.add_argument("--out", help="output folder (required unless only --contact-sheet)")
    out.add_argument("--studies", type=int, default=10, help="number of studies (default: 10)")
    out.add_argument("--seed", type=int, default=0, help="seed; same seed, same bytes (default: 0)")
    out.add_argument("--matrix", type=int, default=512, help="rows and columns per slice (default: 512)")
    out.add_argument("--rle", action="store_true", help="RLE Lossless compression (default: uncompressed)")
    out.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    st = p.add_argument_group("studies")
    st.add_argument("--slices", type=int, default=None, help="slices per study (default: drawn from 24-40)")
    st.add_argument("--p-normal", type=float, default=0.5,
                    help="probability that a study has no hemorrhage (default: 0.5)")
    st.add_argument("--size", type=_size, default=(0.0, 1.0),
                    help="relative lesion size range LO,HI in [0, 1] (default: 0,1)")
    st.add_argument("--subtypes", default=None,
                    help="comma-separated subtypes every study shows, from " + ",".join(SUBTYPES)
                         + " (default: drawn per study)")
    pic = p.add_argument_group("picture")
    pic.add_argument("--contact-sheet", metavar="PNG", default=None,
                     help="write a contact sheet of phantom slices beside a real slice")
    pic.add_argument("--real", metavar="DCM", default=None,
                     help="real head CT slice for the contact sheet (default: "
                          "../shared/realct/rsna_ID_0000ca2f6.dcm when present)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.out is None and args.contact_sheet is None:
        build_parser().error("give --out DIR (and/or --contact-sheet PNG)")
    if args.contact_sheet:
        path = make_contact_sheet(args.contact_sheet, seed=args.seed, real_path=args.real)
        print(f"contact sheet: {path}")
    if args.out:
        kwargs = {"n_slices": args.slices, "size": args.size, "p_normal": args.p_normal}
        if args.subtypes:
            subtypes = tuple(s.strip() for s in args.subtypes.split(",") if s.strip())
            bad = [s for s in subtypes if s not in SUBTYPES]
            if bad:
                build_parser().error(f"unknown subtypes {bad}; choose from {','.join(SUBTYPES)}")
            kwargs["subtypes"] = subtypes
        summary = make_dataset(args.out, args.studies, args.seed, matrix=args.matrix, rle=args.rle,
                               progress=not args.no_progress, workers=args.workers, **kwargs)
        pos = ", ".join(f"{k} {v}" for k, v in summary["positives"].items())
        print(f"{summary['studies']} studies, {summary['images']} images -> {args.out}")
        print(f"positive images: {pos}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
