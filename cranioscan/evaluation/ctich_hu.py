"""Two checks on the CT-ICH slices stored in true HU with radiologists' masks.

``../shared/ct-ich-hu`` holds 19 slices of patients that are also in the
JPG-rebuilt CT-ICH set, as 512-px int16 HU with a hemorrhage mask each:

- **Same slice, two sources**: the true-HU slice and the JPG-rebuilt slice
  of the same patient and slice number should get the same probabilities
  (the head is framed the same way whatever the matrix); the gap in
  p(any) is reported per slice, target <= 0.05.
- **Where the map peaks**: the viewer's default map (Grad-CAM++ at the
  model's default layer, for "any hemorrhage") on the true-HU slice, and
  whether its peak falls inside the radiologists' outline grown by 5 mm (a
  peak on bone or outside the head is a miss whatever the tolerance).

The files carry no pixel spacing; :data:`ASSUMED_SPACING_MM` (a 240 mm field
of view on 512 pixels, usual for a head) sizes the 5 mm tolerance. Each
slice is read on its own (no neighbours: the single-slice path).

``python -m cranioscan.evaluation.ctich_hu --hu-dir ../shared/ct-ich-hu
--ctich ../shared/ct-ich`` prints one line per slice and the totals.
"""

__all__ = ["ASSUMED_SPACING_MM", "read_hu_pairs", "check", "main"]

import argparse
import glob
import os

import numpy as np

from ..ctich import read_slice_hu
from ..defaults import DEFAULT_MODEL
from ..dicom.read import stored_pixels
from ..inference import Predictor
from ..labels import CLASSES

#: Pixel spacing assumed for the 512-px true-HU slices (mm): 240 mm / 512.
ASSUMED_SPACING_MM = 240.0 / 512.0


def read_hu_pairs(hu_dir):
    """``[(patient, slice, hu (512, 512) float32, mask bool)]`` of the folder."""
    out = []
    for path in sorted(glob.glob(os.path.join(hu_dir, "slices", "*.dcm"))):
        name = os.path.basename(path)[:-4]
        patient, number = (int(v) for v in name.split("_"))
        hu = stored_pixels(path).astype(np.float32)
        mask = stored_pixels(os.path.join(hu_dir, "masks", name + ".dcm")) > 0
        out.append((patient, number, hu, mask))
    return out


def check(predictor, hu_dir, ctich_dir, class_name="any"):
    """Both checks on every slice.

    Returns:
        list of dicts: ``patient``, ``slice``, ``p_true_hu``, ``p_jpg`` (p of
        ``class_name``), ``gap``, ``peak_inside`` (bool), ``peak_tissue``.
    """
    from .. import explain  # imports TensorFlow: only when the check runs

    j = CLASSES.index(class_name)
    layer = explain.default_layer(predictor)
    rows = []
    for patient, number, hu, mask in read_hu_pairs(hu_dir):
        folder = os.path.join(ctich_dir, f"{patient:03d}")
        brain = os.path.join(folder, "brain", f"{number:02d}.jpg")
        p_true = float(predictor.predict_series(hu[None])[0, j])
        p_jpg = None  # some slices have no JPG of the same number
        if os.path.isfile(brain):
            jpg = read_slice_hu(brain, os.path.join(folder, "bone", f"{number:02d}.jpg"))
            p_jpg = float(predictor.predict_series(jpg[None])[0, j])
        heat = explain.gradcam(predictor, hu[None], 0, class_name, layer=layer,
                               method="gradcam++")
        inside = bool(explain.peak_in_mask(heat, mask, (ASSUMED_SPACING_MM,) * 2, dilate_mm=5.0,
                                           hu=hu))
        rows.append({"patient": patient, "slice": number, "p_true_hu": p_true, "p_jpg": p_jpg,
                     "gap": None if p_jpg is None else abs(p_true - p_jpg), "peak_inside": inside,
                     "peak_tissue": explain.peak_tissue(heat, hu)})
    return rows


def main(argv=None):
    """Print the per-slice figures and the totals."""
    parser = argparse.ArgumentParser(prog="python -m cranioscan.evaluation.ctich_hu",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--hu-dir", default="../shared/ct-ich-hu")
    parser.add_argument("--ctich", default="../shared/ct-ich")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args(argv)
    rows = check(Predictor.load(args.model), args.hu_dir, args.ctich)
    for r in rows:
        jpg = "no JPG of this slice" if r["p_jpg"] is None else \
            f"JPG-rebuilt {r['p_jpg']:.3f}, gap {r['gap']:.3f}"
        print(f"{r['patient']:03d}_{r['slice']:02d}: p(any) true HU {r['p_true_hu']:.3f}, {jpg}; peak "
              f"{'inside' if r['peak_inside'] else 'outside'} the outline (+5 mm), "
              f"on {r['peak_tissue']}")
    gaps = np.array([r["gap"] for r in rows if r["gap"] is not None])
    hits = sum(r["peak_inside"] for r in rows)
    print(f"{len(rows)} slices ({len(gaps)} with a JPG twin): p(any) gap mean {gaps.mean():.3f}, max {gaps.max():.3f}, "
          f"{int((gaps <= 0.05).sum())} of {len(gaps)} pairs within 0.05; "
          f"Grad-CAM++ peak inside the outline on {hits} of {len(rows)} "
          f"({hits / max(len(rows), 1):.0%})")


if __name__ == "__main__":
    main()
