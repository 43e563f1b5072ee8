"""`scarsynth train-seg DATASET_DIR -o MODEL_DIR --synthetic N`: the segmenter cascade trained with N
synthetic cases that the shipped generator (or --generator) draws on the run's own training hearts,
never on a held-out fold. The cases go to the anatomy network by default: in 5-fold
cross-validation 40 such cases per fold lifted held-out scar Dice from 0.546 to 0.560 (better in 4
of 5 folds) without more false scar on normal hearts (README, *Scar synthesis*).

Synthesis lives above segmentation, so this layer adds the options to ScarSegmentLib's `train-seg`
and makes the set (`synth-dataset`) in MODEL_DIR/synthetic before the cascade trains on it as an
--extra-train set; a resumed run completes the set and goes on.
"""

import os
import tempfile
from pathlib import Path

from LGECore.errors import InputError
from LGECore.requests import number_in

SYNTHETIC_DIR = "synthetic"
SOURCES = ("normal", "infarct", "both")  # synth-dataset --from


def add_synthetic_options(subparsers):
    """--synthetic and its companions on the train-seg subcommand (registered before this one)."""
    from ScarSegmentLib.cascade_config import ANATOMY, EXTRA_TRAIN_FOR

    parser = subparsers.choices["train-seg"]
    group = parser.add_argument_group("synthetic cases")
    group.add_argument("--synthetic", type=number_in(int, 0), default=0, metavar="N",
                       help="also train on N synthetic cases drawn on this run's training hearts "
                            "(written to MODEL_DIR/synthetic; default 0, none)")
    group.add_argument("--synthetic-from", choices=SOURCES, default="both",
                       help="hearts the synthetic scars are drawn on (synth-dataset --from; default both)")
    group.add_argument("--synthetic-for", choices=tuple(EXTRA_TRAIN_FOR), default=ANATOMY,
                       help="the networks that train on them (default anatomy, which measured best)")
    group.add_argument("--generator", metavar="WEIGHTS", help="diffusion weights (default: the shipped model)")
    group.add_argument("--synthetic-steps", type=number_in(int, 1, 50), default=25,
                       help="diffusion sampling steps per slice (default 25)")
    train = parser.get_default("func")
    parser.set_defaults(func=lambda args: train_with_synthetic(args, train))


def train_with_synthetic(args, train):
    """Make the synthetic set the options ask for, then run train-seg's own `train` on the dataset
    with that set added to its --extra-train folders."""
    from ScarSegmentLib.cascade_train import check_run_folder

    if not args.synthetic:
        return train(args)
    if args.extra_train_for != "both" and args.extra_train:  # "both" is the default: not asked for
        raise InputError("--extra-train-for applies to --extra-train sets; with --synthetic use --synthetic-for.")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("Under torchrun, make the synthetic set first (`scarsynth synth-dataset`) and pass it "
                         "with --extra-train; --synthetic makes it in a single process.")
    check_run_folder(Path(args.output), args.resume)  # train-seg's own check, before minutes of synthesis
    folder = Path(args.output) / SYNTHETIC_DIR
    _check_earlier_set(folder, args)
    make_synthetic_set(args.dataset_dir, training_case_names(args), folder, args.synthetic, args.synthetic_from,
                       args.synthetic_steps, args.generator, args.seed)
    args.extra_train = list(args.extra_train or []) + [str(folder)]
    args.extra_train_for = args.synthetic_for
    args.synthetic_set = synthetic_set_record(args)
    return train(args)


def synthetic_set_record(args):
    """How the set was made, for the cascade's entry and card (the generator by name and checksum,
    never by a machine path)."""
    from .diffusion import resolve_weights

    _, entry = resolve_weights(args.generator)
    generator = "shipped" if args.generator is None else Path(args.generator).name
    return dict(cases=args.synthetic, sources=args.synthetic_from, steps=args.synthetic_steps,
                generator=generator, generator_sha256=entry["sha256"])


def training_case_names(args):
    """The names of the cases this train-seg run trains on: all, or those outside its held-out fold."""
    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSegmentLib.train_cli import config_changes

    stage_changes, overrides = config_changes(args)
    return runs_training_cases(args.dataset_dir, [make_cascade_config(args.preset, stage_changes, **overrides)])[0]


def runs_training_cases(dataset_dir, configs):
    """For each train-seg run config (of one preset), the names of the cases it trains on, split as
    train-seg splits them: the kind of each case read once from its labels on the network's grid."""
    from types import SimpleNamespace

    from LGECore.io import read_emidec_dataset
    from ScarSegmentLib.cascade_train import split_cases
    from ScarSegmentLib.data import load_case_slices

    cases = read_emidec_dataset(dataset_dir)
    if not any(config.fold for config in configs):
        return [[case.name for case in cases] for _ in configs]
    grid = configs[0]
    kinds = [SimpleNamespace(name=case.name, kind=load_case_slices(case, grid.anatomy.network,
                                                                   grid.lost_spacing_mm).kind)
             for case in cases]  # one at a time: only the kind is kept
    return [[case.name for case in split_cases(kinds, config)[0]] for config in configs]


def make_synthetic_set(dataset_dir, names, folder, count, sources, steps=25, generator=None, seed=None):
    """`synth-dataset` on links to the named cases of `dataset_dir` into `folder`, completing a set
    made there before; InputError where it fails (what it made is kept)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".training_cases_", dir=folder.parent) as links:
        for name in names:  # the other cases (a held-out fold) are not even in sight of the generator
            (Path(links) / name).symlink_to((Path(dataset_dir) / name).resolve())
        _synth_dataset(["synth-dataset", links, "-n", str(count), "--from", sources, "--steps", str(steps),
                        "-o", str(folder)]
                       + (["--weights", generator] if generator else [])
                       + (["--seed", str(seed)] if seed is not None else [])
                       + (["--resume"] if folder.exists() else []))


def _check_earlier_set(folder, args):
    import json

    manifest_path = folder / "synth_dataset.json"
    if not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text())
    made = (len(manifest["cases"]), manifest.get("sources", "normal"))
    if made != (args.synthetic, args.synthetic_from):
        raise InputError(f"{folder} holds {made[0]} synthetic cases from {made[1]} hearts, not the {args.synthetic} "
                         f"from {args.synthetic_from} hearts asked for; use a new MODEL_DIR.")


def _synth_dataset(argv):
    """Run the synth-dataset subcommand's own function on `argv` (its checks and messages included)."""
    import argparse

    from . import synth_cli

    parser = argparse.ArgumentParser(prog="scarsynth")
    synth_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    if args.func(args):
        raise InputError("synth-dataset could not make the synthetic set.")
