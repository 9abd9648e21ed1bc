"""Does the model read blood, or the look of its source? A JPEG round-trip check.

Real training slices (CT-ICH) went through 8-bit JPG windows; a user's DICOM
and the phantoms did not. A model that learned "JPEG texture" instead of
"blood" changes its answer when the same slice is put through the CT-ICH
window-JPEG-rebuild path (:func:`cranioscan.ctich.jpeg_roundtrip_hu`). This
module scores slices both ways and reports how far the probabilities move,
and the AUC of each version where labels are known (held-out phantoms).

    cranioscan source-check --model model/best_model.keras \\
        --dicom ../shared/realct/*.dcm --phantoms 8 --card model/model_card.json
"""

__all__ = ["roundtrip_shift", "check_phantoms", "check_dicom", "main"]

import argparse
import sys

import numpy as np

from ..ctich import jpeg_roundtrip_hu
from ..dicom import load_series
from ..evaluation.metrics import auc_score
from ..evaluation.model_card import add_measurement_arguments, load_measured_model, store_measurement
from ..labels import CLASSES
from ..phantom import balanced_plan, make_study
from ..series_result import flag_matrix

#: First seed of the phantom studies used here (apart from training and test seeds).
CHECK_SEED = 970000


def roundtrip_shift(predictor, hu, quality=75):
    """Probabilities of HU slices as they are and after a JPEG round-trip.

    Args:
        predictor: a ``cranioscan.inference.Predictor``.
        hu: ``(n, rows, cols)`` HU slices (not modified).
        quality: JPEG quality of the round-trip.

    Returns:
        ``(clean, jpeg)``: float32 ``(n, 6)`` probabilities each.
    """
    hu = np.asarray(hu, dtype=np.float32)
    return predictor.predict_series(hu), predictor.predict_series(jpeg_roundtrip_hu(hu, quality))


def _shift_summary(clean, jpeg):
    delta = np.abs(jpeg - clean)
    return {"slices": int(len(clean)),
            "mean_abs_change": {c: float(delta[:, i].mean()) for i, c in enumerate(CLASSES)},
            "max_abs_change": {c: float(delta[:, i].max()) for i, c in enumerate(CLASSES)},
            "mean_prob_clean": {c: float(clean[:, i].mean()) for i, c in enumerate(CLASSES)},
            "mean_prob_jpeg": {c: float(jpeg[:, i].mean()) for i, c in enumerate(CLASSES)}}


def check_phantoms(predictor, n_studies=8, seed=CHECK_SEED, matrix=256, quality=75):
    """Held-out phantom studies scored clean and JPEG round-tripped: shifts and AUCs."""
    clean, jpeg, labels = [], [], []
    for study_seed, kwargs in balanced_plan(n_studies, seed):
        study = make_study(study_seed, matrix=matrix, **kwargs)
        a, b = roundtrip_shift(predictor, study.hu, quality)
        clean.append(a), jpeg.append(b), labels.append(study.labels)
    clean, jpeg, labels = np.concatenate(clean), np.concatenate(jpeg), np.concatenate(labels)
    out = _shift_summary(clean, jpeg)
    out["auc_clean"] = {c: auc_score(labels[:, i], clean[:, i]) for i, c in enumerate(CLASSES)}
    out["auc_jpeg"] = {c: auc_score(labels[:, i], jpeg[:, i]) for i, c in enumerate(CLASSES)}
    out["data"] = f"{n_studies} phantom studies, seeds {seed}-{seed + n_studies - 1}, matrix {matrix}"
    return out


def _flagged_classes(probs, thresholds):
    """Classes with at least one slice flagged by the series result's rule (``flag_matrix``)."""
    flags = flag_matrix(probs, thresholds)
    return [c for i, c in enumerate(CLASSES) if flags[:, i].any()]


def check_dicom(predictor, paths, quality=75):
    """Each DICOM source (file or folder) loaded with ``load_series``, scored both ways."""
    rows = []
    for path in paths:
        series = load_series(path)
        clean, jpeg = roundtrip_shift(predictor, series.hu, quality)
        rows.append({"source": str(path), "slices": series.n_slices,
                     "any_clean": float(clean[:, 0].max()), "any_jpeg": float(jpeg[:, 0].max()),
                     "flagged_clean": _flagged_classes(clean, predictor.thresholds),
                     "flagged_jpeg": _flagged_classes(jpeg, predictor.thresholds)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_measurement_arguments(parser)
    parser.add_argument("--dicom", nargs="*", default=(),
                        help="DICOM files or folders to score clean and round-tripped")
    parser.add_argument("--phantoms", type=int, default=8,
                        help="held-out phantom studies to score both ways (default: 8)")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality (default: 75)")
    args = parser.parse_args(argv)
    predictor = load_measured_model(parser, args)
    result = {"command": "cranioscan source-check " + " ".join(argv or sys.argv[1:]),
              "quality": args.quality, "dicom": check_dicom(predictor, args.dicom, args.quality)}
    for row in result["dicom"]:
        print(f"{row['source']}: {row['slices']} slice(s), p(any) max {row['any_clean']:.3f} "
              f"clean, {row['any_jpeg']:.3f} after JPEG; flagged {row['flagged_clean'] or 'none'}"
              f" / {row['flagged_jpeg'] or 'none'}")
    if args.phantoms:
        result["phantoms"] = ph = check_phantoms(predictor, args.phantoms, quality=args.quality)
        print(f"phantoms ({ph['data']}, {ph['slices']} slices):")
        for c in CLASSES:
            print(f"  {c:17s} mean |change| {ph['mean_abs_change'][c]:.3f}  AUC clean "
                  f"{ph['auc_clean'][c]:.3f}  JPEG {ph['auc_jpeg'][c]:.3f}  mean p "
                  f"{ph['mean_prob_clean'][c]:.3f} -> {ph['mean_prob_jpeg'][c]:.3f}")
    if args.card:
        store_measurement(args.card, "source_check", result, predictor.sha256)
        print(f"stored under source_check in {args.card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
