"""Train the CranioScan ResNet50 + Transformer slice classifier.

    python train.py --data phantom --out runs/demo
    python train.py --data rsna --data-dir /data/rsna --out runs/rsna-r50
    python train.py --data ctich --data-dir ../shared/ct-ich --phantom-studies 60 \
        --phantom-share 0.2 --cv-folds 5 --fold 0 --out runs/ctich-cv-fold0

Writes into the run folder: config.json, split.csv, data_report.txt,
history.csv, best_model.keras (best epoch by --monitor, no optimizer state),
val_predictions.csv, metrics.json, roc.json, pr.json, roc.png, pr.png.
Interrupt it at any time: the same command resumes from the last epoch.
"""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    data = parser.add_argument_group("data")
    data.add_argument("--data", choices=("phantom", "rsna", "ctich"), required=True,
                      help="synthetic phantoms generated on the fly, an RSNA-layout folder, or "
                           "a PhysioNet CT-ICH folder (real patients, brain/bone JPGs; mixed "
                           "with --phantom-studies phantoms at --phantom-share)")
    data.add_argument("--data-dir", default=None,
                      help="RSNA layout: folder with stage_2_train.csv and the .dcm files; "
                           "ctich: folder with labels.csv and <patient>/brain|bone/<slice>.jpg "
                           "(default: none)")
    data.add_argument("--labels", default=None,
                      help="labels CSV if not <data-dir>/stage_2_train.csv (default: none)")
    data.add_argument("--images", default=None,
                      help="DICOM folder if not <data-dir> (default: none)")
    data.add_argument("--phantom-studies", type=int, default=120,
                      help="phantom studies to generate (default: 120)")
    data.add_argument("--phantom-seed", type=int, default=1000,
                      help="seed of the first phantom study (default: 1000)")
    data.add_argument("--phantom-slices", type=int, default=None,
                      help="slices per phantom study (default: the generator's 24-40)")
    data.add_argument("--phantom-matrix", type=int, default=256,
                      help="phantom matrix; the field of view stays the same (default: 256)")
    data.add_argument("--phantom-share", type=float, default=None,
                      help="ctich: fraction of training draws taken from the phantoms, in "
                           "[0, 1) (default: none, in proportion to their slice count)")
    data.add_argument("--phantom-jpeg", type=float, default=0.5,
                      help="ctich: fraction of phantom studies put through CT-ICH's "
                           "window-JPEG-rebuild path, so JPEG artefacts do not mark real "
                           "slices (default: 0.5)")
    data.add_argument("--holdout", type=int, nargs="*", default=(),
                      help="ctich: patient numbers kept out of training and cross-validation "
                           "(the demo cases); without --cv-folds they form the validation "
                           "split (default: none)")
    data.add_argument("--cv-folds", type=int, default=None,
                      help="ctich: patient-level K-fold cross-validation, stratified by the "
                           "subtypes each patient has; validate on --fold (default: off)")
    data.add_argument("--fold", type=int, default=0,
                      help="fold to validate on, 0..K-1 (default: 0)")
    data.add_argument("--fold-seed", type=int, default=0,
                      help="seed of the fold assignment (default: 0)")
    data.add_argument("--cache-dir", default=None,
                      help="preprocessed slice cache (default: <out>/cache)")
    data.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="processes decoding DICOM into the cache (default: all cores)")
    data.add_argument("--val-fraction", type=float, default=0.2,
                      help="fraction of patients/studies held out (default: 0.2)")
    data.add_argument("--split-by", choices=("patient", "study"), default="patient",
                      help="grouping that never straddles the split (default: patient)")
    data.add_argument("--split-seed", type=int, default=0, help="split seed (default: 0)")

    model = parser.add_argument_group("model")
    model.add_argument("--input-size", type=int, default=224,
                       help="model input side in pixels (default: 224)")
    model.add_argument("--stage", type=int, choices=(4, 5), default=4,
                       help="ResNet50 stage the transformer reads (default: 4)")
    model.add_argument("--d-model", type=int, default=256, help="token width (default: 256)")
    model.add_argument("--depth", type=int, default=4, help="encoder blocks (default: 4)")
    model.add_argument("--heads", type=int, default=8, help="attention heads (default: 8)")
    model.add_argument("--mlp-dim", type=int, default=512, help="MLP width (default: 512)")
    model.add_argument("--dropout", type=float, default=0.1, help="dropout (default: 0.1)")
    model.add_argument("--init-from", default=None,
                       help="start from the weights of a saved .keras model of the same "
                            "architecture, e.g. to continue training a shipped model; its input "
                            "size may differ (the position embedding is resized) (default: none)")
    model.add_argument("--freeze-through", default=None, metavar="LAYER",
                       help="keep the weights of every layer up to this one fixed, e.g. "
                            "conv3_block4_out with --init-from (default: train all)")
    model.add_argument("--weights", default=None,
                       help="ResNet50 weights: a .h5 file or 'imagenet' if available "
                            "offline (default: random init)")

    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    train.add_argument("--steps-per-epoch", type=int, default=None,
                       help="batches per epoch (default: one pass over the training split)")
    train.add_argument("--batch-size", type=int, default=16,
                       help="global batch size (default: 16)")
    train.add_argument("--lr", type=float, default=3e-4,
                       help="peak learning rate, cosine decay (default: 3e-4)")
    train.add_argument("--warmup-steps", type=int, default=0,
                       help="linear learning-rate warmup before the cosine decay (default: 0)")
    train.add_argument("--weight-decay", type=float, default=1e-4,
                       help="AdamW weight decay (default: 1e-4)")
    train.add_argument("--monitor", default="val_auc",
                       help="validation metric that picks the best epoch, or 'last' to keep "
                            "the last epoch (cross-validation folds) (default: val_auc)")
    train.add_argument("--monitor-mode", choices=("max", "min"), default="max",
                       help="whether --monitor is better high or low (default: max)")
    train.add_argument("--class-balance", type=float, default=0.0, metavar="POWER",
                       help="oversample slices positive for rare classes by (f_max/f_class) "
                            "** POWER; 0.5 is square-root balancing (default: 0, uniform)")
    train.add_argument("--no-augment", action="store_true",
                       help="turn off rotation/zoom/shift/brightness/flip augmentation")
    train.add_argument("--rotation", type=float, default=10.0,
                       help="max rotation in degrees (default: 10)")
    train.add_argument("--zoom", type=float, default=0.1, help="max zoom fraction (default: 0.1)")
    train.add_argument("--shift", type=float, default=0.1,
                       help="max shift, fraction of the side (default: 0.1)")
    train.add_argument("--brightness", type=float, default=0.1,
                       help="max brightness change on the [0, 1] scale (default: 0.1)")
    train.add_argument("--noise", type=float, default=0.0,
                       help="Gaussian noise std on the [0, 1] scale (default: 0)")
    train.add_argument("--sharpness", type=float, default=0.0,
                       help="random blur-to-sharpen factor, 0-1 (default: 0)")
    train.add_argument("--contrast", type=float, default=0.0,
                       help="max contrast change, fraction (default: 0)")
    train.add_argument("--seed", type=int, default=0, help="global seed (default: 0)")
    train.add_argument("--bootstrap", type=int, default=1000,
                       help="bootstrap resamples for AUC intervals (default: 1000)")

    dist = parser.add_argument_group("devices")
    dist.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                      default="default",
                      help="one device, all local GPUs, or TF_CONFIG workers (default: default)")
    dist.add_argument("--mixed-precision", action="store_true",
                      help="float16 compute with float32 weights (GPUs; default: off)")

    stream = parser.add_argument_group("streaming (phantoms on a borrowed accelerator)")
    stream.add_argument("--stream-minutes", type=float, default=None, metavar="MINUTES",
                        help="render phantom studies in --workers processes while the model "
                             "trains on those ready, and stop after MINUTES of training (or "
                             "--epochs); --phantom-studies is then the most rendered, the "
                             "learning rate follows a cosine over the time, and batches are "
                             "--steps-per-epoch long (default 100). Keras only, no tf.data: "
                             "KERAS_BACKEND=jax trains on a GPU without TensorFlow. Not "
                             "resumable (default: off)")

    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="run folder")
    out.add_argument("--quiet", action="store_true", help="no per-batch progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # the trainers load after the arguments parse: --help and argument errors answer at once
    from cranioscan.train import trainer

    try:
        if args.stream_minutes:
            from cranioscan.train import stream as stream_trainer  # imports Keras at once

            stream_trainer.run(vars(args))
        else:
            trainer.run(vars(args))
    except trainer.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
