"""`scarsynth train-seg DATASET_DIR -o MODEL_DIR`: train the segmenter cascade with one command.

Several GPUs or nodes: `torchrun --nproc_per_node N -m ScarSynthLib.cli train-seg ...`.
"""

from LGECore.device import COMMAND_LINE_DEVICES
from LGECore.errors import InputError
from LGECore.requests import number_in, seed
from ScarSegmentLib.cascade_config import EXTRA_TRAIN_FOR, MAX_BLUR


def register(subparsers):
    parser = subparsers.add_parser(
        "train-seg", help="train the deep LV / scar / MVO segmenter (anatomy, then scar) on an EMIDEC-layout dataset",
        description="Train the two networks of the segmenter cascade; writes both weights, the registry entry, "
                    "a model card, a training log per network and checkpoints (for --resume) into MODEL_DIR.")
    parser.add_argument("dataset_dir", help="folder of Case_X/Images/*.nii.gz and Case_X/Contours/*.nii.gz")
    parser.add_argument("-o", "--output", required=True, help="model folder (MODEL_DIR)")
    parser.add_argument("--preset", default="cpu", choices=("cpu", "gpu", "tiny"),
                        help="cpu: about 45 minutes of 1 core, 28 of 2; gpu: more and larger batches; tiny: a few steps, for tests")
    parser.add_argument("--fold", metavar="K/N", help="hold out fold K of N stratified folds by case and score the "
                        "networks on it every 5 epochs and at the end (cross-validation); default: train on every case")
    parser.add_argument("--init-weights", metavar="WEIGHTS", help="fine-tune a trained cascade (a model name "
                        "or a model folder) rather than start from scratch, e.g. on a few labelled local scans")
    parser.add_argument("--phantoms", type=int, help="LGE phantoms made for training only (scanner contrast, other "
                        "grids and orientations; default 40, 0 for none)")
    parser.add_argument("--extra-train", action="append", metavar="DIR", help="another EMIDEC-layout dataset "
                        "(synthetic cases, say) for training only, never held out; repeat for more")
    parser.add_argument("--extra-train-for", choices=EXTRA_TRAIN_FOR, default="both",
                        help="which networks train on the --extra-train cases (default both)")
    parser.add_argument("--blur", type=number_in(float, 0, MAX_BLUR), default=0.0, metavar="PX",
                        help="blur half the training patches of both networks by a Gaussian of up to PX pixels, "
                        "as other scanners' coarser or resampled pixels are (default 0; read the README first)")
    parser.add_argument("--edge-cuts", type=number_in(float, 0, 1), default=0.0, metavar="SHARE",
                        help="end this share of the anatomy network's patches at an image edge near the LV, as in "
                        "small or cropped fields of view (default 0; over five folds 0.25 cost scar Dice: read the README first)")
    parser.add_argument("--name", help="model name (default scar_cascade)")
    add_run_options(parser)
    parser.set_defaults(func=run)


def add_run_options(parser):
    """The options train-seg and train-weak share: how long, how and where a run trains."""
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in MODEL_DIR")
    parser.add_argument("--epochs", type=int, help="epochs of each network")
    parser.add_argument("--iterations-per-epoch", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--device", choices=COMMAND_LINE_DEVICES, help="default: a GPU when there is one")
    parser.add_argument("--threads", type=number_in(int, 1), help="CPU threads per process")
    parser.add_argument("--seed", type=seed, help="seed of the folds, the initial weights and the patches (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_changes(args):
    """(changes of both networks' settings, changes of the run's) that the options ask for."""
    from ScarSegmentLib.folds import parse_fold

    stage_names = ("epochs", "iterations_per_epoch", "batch_size", "learning_rate")
    stage_changes = {name: getattr(args, name) for name in stage_names if getattr(args, name) is not None}
    overrides = {name: getattr(args, name) for name in ("device", "threads", "seed", "name", "init_weights", "phantoms")
                 if getattr(args, name) is not None}
    if args.fold:
        overrides["fold"] = parse_fold(args.fold)
    if getattr(args, "synthetic_set", None):  # set where `--synthetic` made an extra set (ScarSynthLib)
        overrides["synthetic_set"] = args.synthetic_set
    return stage_changes, overrides


def run(args):
    from ScarSegmentLib.cascade_config import make_cascade_config, with_grid_augmentation
    from ScarSegmentLib.cascade_train import train_cascade

    stage_changes, overrides = config_changes(args)
    overrides["extra_train_dirs"] = extra_training_sets(args.extra_train, args.dataset_dir)
    overrides["extra_train_networks"] = EXTRA_TRAIN_FOR[args.extra_train_for]
    config = with_grid_augmentation(make_cascade_config(args.preset, stage_changes, **overrides),
                                    args.blur, args.edge_cuts)
    entry = train_cascade(args.dataset_dir, args.output, config, resume=args.resume, progress=not args.no_progress)
    if entry is not None:
        print(f"model: {entry}")
    return 0


def extra_training_sets(folders, dataset_dir):
    """The --extra-train folders, each checked before any work: it must hold EMIDEC-layout cases, none
    of them named as another training case or the same files as a case of DATASET_DIR (that case could
    be in the held-out fold and train too; and the registry entry tells cases apart by name)."""
    from LGECore.io import read_emidec_dataset

    if not folders:
        return ()
    try:
        own = read_emidec_dataset(dataset_dir)
    except InputError:
        own = []  # a missing or empty DATASET_DIR is refused by training itself, as without --extra-train
    names, files = {case.name for case in own}, {case.image_path.resolve() for case in own}
    for folder in folders:
        try:
            cases = read_emidec_dataset(folder)
        except InputError as error:
            raise InputError(f"--extra-train: {error}") from None
        shared = [case.name for case in cases if case.name in names or case.image_path.resolve() in files]
        if shared:
            raise InputError(f"--extra-train {folder} holds cases named as, or the same files as, other training "
                             f"cases ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}); give a folder of "
                             "other, distinctly named cases.")
        names |= {case.name for case in cases}
    return tuple(str(folder) for folder in folders)
