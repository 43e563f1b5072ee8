"""`scarsynth train-weak DATASET_DIR -o MODEL_DIR --level slice|stack`: a scar segmenter from
"scar yes / no" per slice or per stack (weak_train)."""

from LGECore.requests import number_in

from .train_cli import add_run_options, config_changes


def register(subparsers):
    parser = subparsers.add_parser(
        "train-weak", help="train a scar segmenter from scar yes/no per slice or per stack (weak supervision)",
        description="Train a segmenter cascade whose scar network learns from whether scar is present per slice or "
                    "per stack: a scar classifier pooled over the myocardium, pseudo-labels from its maps, then the "
                    "scar network on them. Writes the model (as train-seg does), a log and a checkpoint per network.")
    parser.add_argument("dataset_dir", help="folder of Case_X/Images/*.nii.gz and Case_X/Contours/*.nii.gz (the "
                        "contours give the blood pool and myocardium; their scar only yes/no, without --labels)")
    parser.add_argument("-o", "--output", required=True, help="model folder (MODEL_DIR)")
    parser.add_argument("--level", required=True, choices=("slice", "stack"), help="what a yes/no label is about")
    parser.add_argument("--labels", metavar="CSV", help="yes/no per case (columns case,scar) or per slice "
                        "(case,slice,scar; slices from 0); default: derived from the dataset (stacks: Case_P* yes, "
                        "Case_N* no; slices: the label maps read as yes/no)")
    parser.add_argument("--anatomy-weights", metavar="WEIGHTS", help="take the anatomy network from this trained "
                        "cascade (name or folder) rather than train it on the contours")
    parser.add_argument("--init-weights", metavar="WEIGHTS", help="start from a trained cascade (name, folder, or "
                        "'shipped' for the shipped weak model of the level): its anatomy network as it is, its scar "
                        "network as the classifier's start; to adapt a model to a site's own yes/no-labelled scans")
    parser.add_argument("--preset", default="cpu", choices=("cpu", "gpu", "tiny"),
                        help="as train-seg's; tiny: a few steps, for tests")
    parser.add_argument("--fold", metavar="K/N", help="hold out fold K of N stratified folds by case and score on it")
    parser.add_argument("--pooling-sharpness", type=number_in(float, 0, above=True), default=5.0,
                        help="log-mean-exp pooling of the scar map over the myocardium: near 0 the mean, large the "
                        "max (default 5)")
    parser.add_argument("--phantoms", type=int, help="LGE phantoms made for training only (their yes/no from their "
                        "own label maps; default as the preset)")
    parser.add_argument("--name", help="model name (default scar_weak_LEVEL)")
    add_run_options(parser)
    parser.set_defaults(func=run)


def run(args):
    from ScarSegmentLib.weak_config import make_weak_config
    from ScarSegmentLib.weak_train import train_weak

    stage_changes, overrides = config_changes(args)
    config = make_weak_config(args.level, args.preset, stage_changes, labels_file=args.labels or "",
                              anatomy_weights=args.anatomy_weights or "", pooling_sharpness=args.pooling_sharpness,
                              **overrides)
    entry = train_weak(args.dataset_dir, args.output, config, resume=args.resume, progress=not args.no_progress)
    print(f"model: {entry}")
    return 0
