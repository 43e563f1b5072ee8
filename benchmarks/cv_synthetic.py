"""The synthetic arm of benchmarks/cv.py (`--synthetic N`): each fold's model trains on the real
training cases and N synthetic cases made from those training cases alone, never from the held-out
fold, with the same folds, seeds and budget as the real-only arm.

The synthetic cases of fold K are made by `scarsynth synth-dataset` into RUNS_DIR/synthetic_fold_K
(kept, and completed by a later run), from a temporary folder of links to the fold's training cases,
and given to `scarsynth train-seg` as `--extra-train RUNS_DIR/synthetic_fold_K`; with `--synthetic-for scar` (or
`anatomy`) only that network trains on them, so that the two arms share the other network.
"""

import json
from pathlib import Path


def add_options(parser):
    from ScarSegmentLib.cascade_config import EXTRA_TRAIN_FOR
    from ScarSynthLib.synth_train_seg import SOURCES

    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="train each fold on N synthetic cases too, made from its training cases only")
    parser.add_argument("--synthetic-from", default="normal", choices=SOURCES,
                        help="hearts the synthetic scars are drawn on (synth-dataset --from; default normal)")
    parser.add_argument("--synthetic-steps", type=int, default=25, help="diffusion sampling steps per slice")
    parser.add_argument("--generator", metavar="WEIGHTS", help="diffusion weights (default: the shipped model)")
    parser.add_argument("--synthetic-for", default="both", choices=tuple(EXTRA_TRAIN_FOR),
                        help="the networks that train on them (train-seg --extra-train-for; default both)")


def check_options(parser, args):
    if args.synthetic < 0:
        parser.error(f"--synthetic must be a number of cases, at least 0; got {args.synthetic}.")
    if args.synthetic and args.trainer != "train-seg":
        parser.error("--synthetic trains with train-seg (pixel labels); the weak trainers take no extra cases.")


def synthetic_dir(runs, k):
    return Path(runs) / f"synthetic_fold_{k}"


def extra_training(args, k):
    """The train-seg options of fold K's arm: its synthetic set, or none."""
    if not args.synthetic:
        return []
    return ["--extra-train", str(synthetic_dir(args.runs, k)), "--extra-train-for", args.synthetic_for]


def fold_training_cases(data, preset, folds, count):
    """{fold: its training case names}, split exactly as `train-seg --fold K/count` splits them."""
    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSynthLib.synth_train_seg import runs_training_cases

    configs = [make_cascade_config(preset, fold=(k - 1, count)) for k in folds]
    return dict(zip(folds, runs_training_cases(data, configs)))


def made_set(args, k):
    """The manifest of fold K's finished synthetic set, None while it is unfinished; SystemExit when
    it was made with other settings than this run asks for."""
    manifest_path = synthetic_dir(args.runs, k) / "synth_dataset.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    cases = len(list(manifest_path.parent.glob("Case_*")))  # training reads every case folder there
    made = (max(cases, len(manifest["cases"])), manifest.get("sources", "normal"))
    if made != (args.synthetic, args.synthetic_from):
        raise SystemExit(f"{manifest_path.parent} holds {made[0]} cases from {made[1]} hearts, not the "
                         f"{args.synthetic} from {args.synthetic_from} hearts asked for; use another RUNS_DIR.")
    return manifest


def make_synthetic_sets(args, folds, count):
    """Fold K's synthetic set from its training cases, for each of `folds` (those still to train) that
    lacks one; nothing without --synthetic."""
    from LGECore.errors import InputError
    from ScarSynthLib.synth_train_seg import make_synthetic_set

    todo = [k for k in folds if args.synthetic and made_set(args, k) is None]
    if not todo:
        return
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    _note_paint_region(args)
    training = fold_training_cases(args.data, args.preset, todo, count)
    for k in todo:
        folder = synthetic_dir(args.runs, k)
        try:  # the held-out fold is not even in sight of the generator
            make_synthetic_set(args.data, training[k], folder, args.synthetic, args.synthetic_from,
                               args.synthetic_steps, args.generator)
        except InputError as error:
            raise SystemExit(f"synth-dataset failed for fold {k} ({error}); what it made so far is kept in "
                             f"{folder}.") from None


def _note_paint_region(args):
    """Say so where the generator repaints whole hearts: on an infarct heart, its real scar too."""
    from ScarSynthLib.diffusion import paint_region_kind

    if args.synthetic_from != "normal" and paint_region_kind(args.generator) == "heart":
        print("note: this generator paints the whole heart, so an infarct heart's real scar is rendered again too; "
              "one trained with `--paint-region scar` paints only the new scar and its margin", flush=True)


def check_arm(args, k, entry):
    """SystemExit unless fold K's model was trained as this run's arm asks (its synthetic set, or
    none) and none of its synthetic cases was drawn on a held-out heart."""
    from ScarSegmentLib.cascade_config import EXTRA_TRAIN_FOR, extra_train_networks

    expected = [synthetic_dir(args.runs, k).name] if args.synthetic else []
    config = entry["training"]["config"]
    trained = config.get("extra_train_dirs", [])
    if trained != expected:
        raise SystemExit(f"{args.runs}/fold_{k} was trained with extra training sets {trained}, not {expected}; "
                         "score each arm in its own RUNS_DIR.")
    networks = extra_train_networks(config)
    if expected and networks != list(EXTRA_TRAIN_FOR[args.synthetic_for]):
        raise SystemExit(f"{args.runs}/fold_{k}: the synthetic cases trained the {' and '.join(networks)} "
                         f"network(s), not --synthetic-for {args.synthetic_for}; score each arm in its own RUNS_DIR.")
    manifest = made_set(args, k) if args.synthetic else None
    leaked = sorted({case["source"] for case in (manifest or {}).get("cases", [])}
                    & set(entry["training"]["held_out_cases"]))
    if leaked:
        raise SystemExit(f"Synthetic cases of fold {k} were drawn on held-out hearts ({', '.join(leaked)}).")
