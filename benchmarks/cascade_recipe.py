"""What each part of a cascade network's training recipe costs in fit and buys in held-out Dice:
short runs of one network (the anatomy network, or with --network scar the scar network, which
trains on the true anatomy), one recipe change each, on chosen folds of the 5-fold split that cv.py
and `train-seg --fold` use (same seed). Each run is scored on its held-out fold and on every fourth
of its real training cases (of those with scar, for the scar network), on windows centred on the
true LV (the per-epoch validation), so that fit and generalisation show side by side.

    python benchmarks/cascade_recipe.py RUNS_DIR [--data data/emidec] [--folds 1,4] [--epochs 10]
                                        [--variants base,light,nokl,norot,int05] [--preset cpu]
                                        [--network anatomy|scar] [--json FILE] [--export DIR]

Variants (changes to the preset's recipe of that network): base, nokl (no KL to the smoothed
labels), int05 (half-strength gamma, contrast, brightness and noise), norot (right-angle turns and
flips only, no zoom), nobg (no patches away from the LV), nophantom (no LGE phantoms), light (nokl,
int05 and norot together), heavy (KL weight 0.5, full-strength appearance, any angle, zoom +-15 %:
the presets' recipe), lightrot (nokl and int05: rotations and zoom kept), blur (half the patches
blurred by a Gaussian of 0.5 or 1 pixel, as coarser or resampled pixels are), edge (a quarter of the
anatomy network's patches end at a straight image edge near the LV, as small fields of view do;
meant for other scanners' grids, where benchmarks/cv.py --other-grids scores it), misses (the scar
network: half its windows' anatomy input calls part of the scar blood pool or background, as the
anatomy network does, and at inference its scar counts within 3 pixels of the anatomy's myocardium;
its held-out figures here are on the true anatomy, so judge it by the whole pipeline after --export), infw2
(the anatomy network's infarcted myocardium weighs twice in the cross-entropy, against scar called
blood pool), ctx2 (two neighbouring slices on each side instead of one: more of the wall's course through
the stack where bright scar meets bright blood), narrow (16-256 features per level instead of 32-512: about
twice the steps per second on this CPU, so twice the epochs in the same time), batch8 (batches of 8 instead of 16 and
twice the steps per epoch: the same patches and about the same time, twice the optimiser steps), patch96 (the
anatomy network's windows 96 pixels wide instead of 128, at training and inference: a step costs less, so
70 epochs took about the time of the preset's 40). Each run trains in
RUNS_DIR/VARIANT_fK (scar_VARIANT_fK for the scar network) and resumes from its checkpoint; its figures go to result.json there. Two processes with different
--folds share two cores well (--threads 1 each). Held-out cases are also scored "moved": each
slice turned by a random angle about the LV, perhaps flipped, blurred as a coarser grid would
(Gaussian, sigma up to half a pixel) and given another gamma, a quick proxy for other scanners'
grids; check a chosen recipe on those grids too (benchmarks/segment.py), as the five-fold runs did.

--export DIR makes each anatomy run, with its fold's base scar network (RUNS_DIR/scar_base_fK, from a
--network scar run of the same --epochs, or of --partner-epochs: e.g. a longer anatomy run beside the preset's
scar network), a cascade model folder DIR/VARIANT/fold_K, so that the whole
pipeline can score the variants fold by fold, also on other scanners' grids:
`benchmarks/cv.py DIR/VARIANT --other-grids --json VARIANT.json`.
"""

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from ScarSegmentLib.cascade_config import StageConfig  # noqa: E402

LIGHT = {"kl_weight": 0.0, "intensity": 0.5, "rotation": False, "scale": 0.0}
HEAVY = {name: getattr(StageConfig(), name) for name in LIGHT}  # the defaults, both networks' preset
# variant: (StageConfig changes of the network, CascadeConfig changes)
VARIANTS = {
    "base": ({}, {}),
    "nokl": ({"kl_weight": 0.0}, {}),
    "int05": ({"intensity": 0.5}, {}),
    "norot": ({"rotation": False, "scale": 0.0}, {}),
    "nobg": ({"background_patches": 0.0}, {}),
    "nophantom": ({}, {"phantoms": 0}),
    "light": (LIGHT, {}),
    "heavy": (HEAVY, {}),
    "lightrot": ({"kl_weight": 0.0, "intensity": 0.5}, {}),
    "blur": ({"blur": 1.0}, {}),
    "edge": ({"edge_cuts": 0.25}, {}),
    "misses": ({"anatomy_misses": 0.5, "network": {"claims_border_px": 3}}, {}),
    "infw2": ({"class_weights": (1.0, 1.0, 1.0, 2.0)}, {}),
    "ctx2": ({"network": {"context_slices": 2}}, {}),
    "narrow": ({"network": {"channels": (16, 32, 64, 128, 256)}}, {}),
    "batch8": ({"batch_size": 8, "iterations_per_epoch": 200}, {}),
    "patch96": ({"network": {"patch_size": 96}}, {}),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", help="folder of the runs (VARIANT_fK each)")
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--folds", default="1,4", help="held-out folds of 5, comma-separated")
    parser.add_argument("--fold-count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--variants", default="base,light,nokl,norot,int05")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--network", default="anatomy", choices=("anatomy", "scar"))
    parser.add_argument("--partner-epochs", type=int, help="with --export: the epochs of the fold's base network "
                        "of the other kind (default --epochs)")
    parser.add_argument("--export", metavar="DIR", help="write each anatomy run with its fold's base scar network "
                        "as a cascade model folder DIR/VARIANT/fold_K (for benchmarks/cv.py); each scar run with "
                        "the fold's base anatomy network as DIR/scar_VARIANT/fold_K")
    args = parser.parse_args(argv)
    args.variants = args.variants.split(",")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    args.folds = [int(k) for k in args.folds.split(",")]
    if any(not 1 <= k <= args.fold_count for k in args.folds):
        parser.error(f"--folds must lie between 1 and {args.fold_count}; got {args.folds}")
    if args.partner_epochs is None:
        args.partner_epochs = args.epochs
    if args.epochs < 1 or args.partner_epochs < 1:
        parser.error(f"--epochs and --partner-epochs must be at least 1; got {args.epochs}, {args.partner_epochs}")
    return args


def variant_config(args, variant, k):
    from ScarSegmentLib.cascade_config import make_cascade_config

    stage_changes, overrides = VARIANTS[variant]
    network_changes = stage_changes.get("network", {})
    stage_changes = {name: value for name, value in stage_changes.items() if name != "network"}
    config = make_cascade_config(args.preset, fold=(k - 1, args.fold_count), threads=args.threads, **overrides)
    stage = replace(getattr(config, args.network), epochs=args.epochs, **stage_changes)
    stage = replace(stage, network=replace(stage.network, **network_changes))
    return replace(config, **{args.network: stage})


def moved_case(case, rng):
    """`case` as another scanner might show it (see the module's docstring); labels follow the image."""
    from scipy import ndimage

    from ScarSegmentLib.data import lv_centres

    angle, flip = rng.uniform(0, 360), rng.random() < 0.5
    coarser, gamma = rng.uniform(1.0, 1.5), rng.uniform(0.7, 1.4)

    def move(slices, order):
        out = []
        for z in range(slices.shape[0]):
            plane = np.flip(slices[z], 1) if flip else slices[z]
            plane = ndimage.rotate(plane, angle, reshape=False, order=order, mode="constant")
            if order:  # a coarser grid's blur
                plane = ndimage.gaussian_filter(plane, coarser - 1.0)
            out.append(plane)
        return np.stack(out)

    image = np.clip(move(case.image, 1), 0, None) ** gamma
    labels = move(case.labels, 0)
    return replace(case, image=image.astype(np.float32), labels=labels, centres=lv_centres(labels))


def run_name(network, variant):
    """VARIANT for the anatomy network, scar_VARIANT for the scar network: its runs' and exports' folder names."""
    return f"{'scar_' if network == 'scar' else ''}{variant}"


def run_folder(runs, network, variant, k):
    return Path(runs) / f"{run_name(network, variant)}_f{k}"


def run_variant(args, variant, k):
    """Train (or resume) one variant's network on fold k's training cases; its figures."""
    import torch
    from tqdm import tqdm

    from ScarSegmentLib.cascade_train import load_training_cases, train_stage
    from ScarSegmentLib.cascade_validate import validate_stage
    from ScarSegmentLib.train_distributed import Distributed

    out = run_folder(args.runs, args.network, variant, k)
    if (out / "result.json").exists():
        return json.loads((out / "result.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    config = variant_config(args, variant, k)
    stage = getattr(config, args.network)
    torch.set_num_threads(args.threads)
    torch.manual_seed(config.seed)
    train, held_out = load_training_cases(args.data, config, show_progress=False)
    real = [case for case in train if not case.name.startswith("Phantom_")]
    if args.network == "scar":  # the scar network's fit is read on hearts with scar
        real = [case for case in real if case.kind != "normal"]
    scored = real[::4]
    run = SimpleNamespace(config=config, dist=Distributed(""), out_dir=out, model_parts=None,
                          bar=tqdm(total=args.epochs * stage.iterations_per_epoch, desc=f"{variant} fold {k}",
                                   unit="it"))
    network, held_scores, seconds = train_stage(run, args.network, train, held_out)
    run.bar.close()
    fit = validate_stage(network, scored, stage, args.network, run.dist.device)
    rng = np.random.default_rng(k)  # the same moved cases for every variant of a fold
    moved = validate_stage(network, [moved_case(case, rng) for case in held_out], stage, args.network,
                           run.dist.device)
    result = {"variant": variant, "fold": k, "network": args.network, "epochs": args.epochs,
              "train_seconds": round(seconds, 1), "recipe": stage.to_dict(), "phantoms": config.phantoms,
              "held_out": held_scores, "held_out_moved": moved, "training_cases": fit,
              "training_cases_scored": len(scored)}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


# (the figure compared, the second one shown) of each network's validation
FIGURES = {"anatomy": ("dice_myocardium", "dice_blood_pool"), "scar": ("dice_scar", "dice_mvo")}


def print_table(results):
    """Held-out and training-case Dice per run, and each variant's mean change from base."""
    main_figure, other = FIGURES[results[0].get("network", "anatomy")]
    names = main_figure[5:], other[5:]
    print(f"{'variant':10s} {'fold':>4s} {'held-out ' + names[0]:>16s} {names[1]:>10s} {'training ' + names[0]:>16s} "
          f"{'gap':>6s} {'moved ' + names[0]:>16s}")
    for r in results:
        held, fit, moved = (r.get(part, {}).get(main_figure, float("nan"))
                            for part in ("held_out", "training_cases", "held_out_moved"))
        print(f"{r['variant']:10s} {r['fold']:4d} {held:16.3f} {r['held_out'].get(other, float('nan')):10.3f} "
              f"{fit:16.3f} {fit - held:6.3f} {moved:16.3f}")
    base = {r["fold"]: r for r in results if r["variant"] == "base"}
    for variant in dict.fromkeys(r["variant"] for r in results if r["variant"] != "base"):
        pairs = [(r, base[r["fold"]]) for r in results if r["variant"] == variant and r["fold"] in base]
        if pairs:
            held, fit, moved = ([r.get(part, {}).get(main_figure, float("nan"))
                                 - b.get(part, {}).get(main_figure, float("nan")) for r, b in pairs]
                                for part in ("held_out", "training_cases", "held_out_moved"))
            print(f"  {variant} against base over {len(pairs)} folds: held-out {names[0]} "
                  f"{sum(held) / len(held):+.3f}, training cases {sum(fit) / len(fit):+.3f}, "
                  f"moved {sum(moved) / len(moved):+.3f}")


def export_cascade(args, variant, k):
    """DIR/VARIANT/fold_K: the variant's anatomy network and the fold's base scar network as one cascade
    (with --network scar, DIR/scar_VARIANT/fold_K: the fold's base anatomy network and the variant's scar
    network), written by train-seg's own code (both checkpoints complete, so nothing trains again)."""
    import torch

    from ScarSegmentLib.cascade_train import train_cascade

    out = Path(args.export) / run_name(args.network, variant) / f"fold_{k}"
    if (out / "scar_cascade.json").exists():
        return
    other = "anatomy" if args.network == "scar" else "scar"
    sources = {args.network: run_folder(args.runs, args.network, variant, k),
               other: run_folder(args.runs, other, "base", k)}
    if not (sources[other] / f"checkpoint_{other}.pt").exists():
        raise SystemExit(f"No {other} network for fold {k}: run `--network {other} --variants base --folds {k}` first.")
    config = variant_config(args, variant, k)
    config = replace(config, **{other: replace(getattr(config, other), epochs=args.partner_epochs)})
    checkpoints = {role: torch.load(folder / f"checkpoint_{role}.pt", map_location="cpu", weights_only=True)
                   for role, folder in sources.items()}
    for role, checkpoint in checkpoints.items():  # checked before anything is written
        if checkpoint["epoch"] != getattr(config, role).epochs:
            option = "--epochs" if role == args.network else "--partner-epochs"
            raise SystemExit(f"{sources[role]} trained {checkpoint['epoch']} epochs, not {option} "
                             f"{getattr(config, role).epochs}.")
    out.mkdir(parents=True, exist_ok=True)
    for role, checkpoint in checkpoints.items():
        torch.save({**checkpoint, "config": json.dumps(config.to_dict())}, out / f"checkpoint_{role}.pt")
    train_cascade(args.data, out, config, resume=True, progress=False)


def main(argv=None):
    args = parse_args(argv)
    results = [run_variant(args, variant, k) for k in args.folds for variant in args.variants]
    if args.export:
        for k in args.folds:
            for variant in args.variants:
                export_cascade(args, variant, k)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
