"""`scarsynth train-seg DATASET_DIR -o MODEL_DIR`: train the deep scar segmenter with one command.

Several GPUs or nodes: `torchrun --nproc_per_node N -m ScarSynthLib.cli train-seg ...`.
"""

from LGECore.device import COMMAND_LINE_DEVICES
from LGECore.requests import seed


def register(subparsers):
    parser = subparsers.add_parser(
        "train-seg", help="train the deep LV / scar / MVO segmenter on an EMIDEC-layout dataset",
        description="Train the 2D segmenter; writes weights, registry entry, model card, "
                    "training_log.csv and a checkpoint (for --resume) into MODEL_DIR.")
    parser.add_argument("dataset_dir", help="folder of Case_X/Images/*.nii.gz and Case_X/Contours/*.nii.gz")
    parser.add_argument("-o", "--output", required=True, help="model folder (MODEL_DIR)")
    parser.add_argument("--preset", default="cpu", choices=("cpu", "gpu", "tiny"),
                        help="cpu: under an hour on 2 cores (the shipped model); gpu: larger and longer")
    parser.add_argument("--resume", action="store_true", help="continue from MODEL_DIR/checkpoint.pt")
    parser.add_argument("--init-weights", metavar="MODEL",
                        help="fine-tune instead of starting from scratch: 'shipped' or a trained model "
                             "(weights file, registry entry or model folder), e.g. on local labelled scans")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--iterations-per-epoch", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--class-weights", type=float, nargs=5, metavar="W",
                        help="cross-entropy weights of background, blood pool, myocardium, scar and MVO "
                             "(default 0.5 1 1 2 3)")
    parser.add_argument("--context-slices", type=int, choices=(0, 1, 2), metavar="N",
                        help="neighbouring slices on each side as extra input channels (2.5D; default 0); "
                             "with --init-weights the first layer is widened from the parent's")
    parser.add_argument("--channels", type=int, nargs="+", metavar="N",
                        help="features per level of the U-Net (default 16 32 64 128 256); with --init-weights "
                             "as many levels as the parent, each at least the parent's, whose weights are kept")
    parser.add_argument("--intensity-anchors", choices=("image", "window"),
                        help="normalise intensities on the percentiles of the whole image, or of the "
                             "network's window around the LV (independent of the field of view; default)")
    parser.add_argument("--split-file", help='JSON {"validation": [case names]} to hold out')
    parser.add_argument("--extra-train", action="append", metavar="DIR",
                        help="another EMIDEC-layout dataset used for training only, e.g. phantoms (repeatable)")
    parser.add_argument("--validation-cases", type=int, help="cases held out when no split file is given")
    parser.add_argument("--device", choices=COMMAND_LINE_DEVICES, help="default: a GPU when there is one")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    parser.add_argument("--workers", type=int, help="data loader worker processes")
    parser.add_argument("--seed", type=seed, help="seed of the validation split, the initial weights and the patches "
                        "drawn (default 0); a fine-tuning run draws other patches than its parent, whatever the seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args):
    from ScarSegmentLib.train import check_channels_hold_parent, make_config, train_segmenter

    names = ("epochs", "iterations_per_epoch", "batch_size", "learning_rate", "split_file",
             "validation_cases", "device", "threads", "workers", "seed", "init_weights", "context_slices")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.intensity_anchors:
        overrides["window_normalisation"] = args.intensity_anchors == "window"
    if args.channels:
        if args.init_weights:
            check_channels_hold_parent(args.init_weights, tuple(args.channels))
        overrides["channels"] = tuple(args.channels)
    if args.class_weights:
        overrides["class_weights"] = tuple(args.class_weights)
    if args.extra_train:
        overrides["extra_train_dirs"] = tuple(args.extra_train)
    config = make_config(args.preset, **overrides)
    weights = train_segmenter(args.dataset_dir, args.output, config, resume=args.resume,
                              progress=not args.no_progress)
    if weights is not None:
        print(f"weights: {weights}")
    return 0
