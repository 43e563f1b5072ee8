"""Five-fold cross-validation of the whole segmentation pipeline, by case, stratified over normal,
infarct and MVO hearts: train the cascade on four folds, segment the fifth with `segment` (the
pipeline `scarsynth segment` runs: LV search on whole slices, anatomy, scar, clean-up), score.

    python benchmarks/cv.py RUNS_DIR [--data data/emidec] [--train] [--jobs 2] [--preset cpu]
                            [--trainer train-seg|weak-slice|weak-stack]
                            [--fit-cases 8] [--json cv.json] [--save DIR] [--card MODEL_DIR/NAME.json]
                            [--synthetic N [--synthetic-from normal|infarct|both] [--synthetic-for both|scar|anatomy]
                                          [--generator WEIGHTS]]
                            [--compare OTHER_CV.json] [--other-grids] [--train-args "--edge-cuts 0.25"]

With --train, the folds' models are trained first into RUNS_DIR/fold_K (`scarsynth train-seg
--fold K/5`; a fold already trained is kept, a fold stopped half way resumes), `--jobs` at a time
sharing the CPU cores; `--trainer weak-slice` or `weak-stack` trains them from scar yes/no per
slice or per stack instead (`scarsynth train-weak`), for the weak-supervision table. Then every
held-out case is segmented with its fold's model; with --fit-cases, as many of the fold's training cases too, so that fit and generalisation show side by
side. Printed: per fold and as mean (SD) over folds, myocardium Dice, scar Dice on infarct cases,
MVO Dice on MVO cases, the share of normal hearts given any scar, and the median scar-burden error;
then the AUROC of the pipeline's probability that scar is present (metrics' scar_presence), per case
(stack) and per slice, pooled over the held-out cases of all folds.
With --card, the table is written into the registry entry and model card of the model trained on
all cases with the same recipe (`scarsynth train-seg DATASET -o MODEL_DIR` without --fold; MODEL_DIR/scar_cascade.json).

With --synthetic N, each fold's model also trains on N synthetic cases made from that fold's training
cases only (benchmarks/cv_synthetic.py): the synthetic arm, in its own RUNS_DIR. --compare prints this
run's table beside another run's --json, fold by fold, with the differences (benchmarks/cv_compare.py).

With --other-grids, each held-out case is also moved onto another scanner's grid (benchmarks/other_grid.py:
pixel size and matrix, rotation, flips, the heart off-centre, intensity range; one draw per case, seeded by
its name, so every arm and fold sees the same grid) and segmented and scored there too. --train-args
passes further options to the trainer of every fold (e.g. "--edge-cuts 0.25" for that arm).
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

import cv_synthetic

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore import labels as L  # noqa: E402
from LGECore.io import read_emidec_dataset  # noqa: E402
from LGECore.outputs import write_text_atomic  # noqa: E402
from LGECore.volume import Volume  # noqa: E402

FOLDS = 5
MODEL = "scar_cascade.json"
# The command line of each supervision; a weak model is named like a cascade so one scorer reads both.
TRAINERS = {"train-seg": ["train-seg"],
            "weak-slice": ["train-weak", "--level", "slice", "--name", "scar_cascade"],
            "weak-stack": ["train-weak", "--level", "stack", "--name", "scar_cascade"]}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", help="folder of the folds' models (fold_1 .. fold_5)")
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--train", action="store_true", help="train the folds' models that are missing")
    parser.add_argument("--jobs", type=int, default=2, help="folds trained at once (threads shared among them)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--trainer", default="train-seg", choices=tuple(TRAINERS),
                        help="pixel labels (train-seg), or scar yes/no per slice or per stack (train-weak)")
    parser.add_argument("--folds", default="1,2,3,4,5", help="which folds to train and score")
    parser.add_argument("--fit-cases", type=int, default=0, help="also score this many training cases per fold")
    parser.add_argument("--threads", type=int, default=2, help="threads for segmenting")
    parser.add_argument("--json", help="write the per-case and per-fold figures here")
    parser.add_argument("--card", help="registry entry (NAME.json) of the model trained on all cases with the same "
                        "recipe: the table goes into it and its model card")
    parser.add_argument("--save", help="folder for each segmented case's labels and probabilities (.npz)")
    parser.add_argument("--scores", nargs="+", metavar="CV.json", help="take the folds' figures from earlier runs' "
                        "--json instead of segmenting again (e.g. folds scored as they finished training)")
    parser.add_argument("--compare", metavar="OTHER_CV.json", help="print this run's held-out figures beside those "
                        "of another run's --json (e.g. the real-only arm), fold by fold")
    parser.add_argument("--other-grids", action="store_true",
                        help="also score each held-out case moved onto another scanner's grid")
    parser.add_argument("--train-args", default="", help="further options for the trainer of every fold, quoted")
    cv_synthetic.add_options(parser)
    args = parser.parse_args(argv)
    cv_synthetic.check_options(parser, args)
    if args.train_args:
        check_train_args(parser, args)
    if args.compare and not Path(args.compare).is_file():
        parser.error(f"--compare: no file {args.compare} (the --json of another cv.py run)")
    return args


def check_train_args(parser, args):
    """Refuse --train-args the trainer would refuse, before any fold starts."""
    from ScarSynthLib.cli import build_parser

    try:
        build_parser().parse_args([*TRAINERS[args.trainer], args.data, "-o", "fold", *shlex.split(args.train_args)])
    except SystemExit:
        parser.error(f"--train-args {args.train_args!r}: the {TRAINERS[args.trainer][0]} options above are refused")
    except ValueError as error:  # unbalanced quotes
        parser.error(f"--train-args {args.train_args!r}: {error}")


def fold_command(args, k, threads):
    """The command line that trains (or resumes) fold k's model in RUNS_DIR/fold_K."""
    folder = Path(args.runs) / f"fold_{k}"
    command = [sys.executable, "-m", "ScarSynthLib.cli", *TRAINERS[args.trainer], args.data, "-o", str(folder),
               "--fold", f"{k}/{FOLDS}", "--preset", args.preset, "--threads", str(threads), "--no-progress",
               *cv_synthetic.extra_training(args, k), *shlex.split(args.train_args)]
    return command + (["--resume"] if any(folder.glob("checkpoint_*.pt")) else [])


def train_folds(args, folds):
    """Train the missing folds' models, `args.jobs` at a time."""
    todo = [k for k in folds if not trained(args, k)]
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    running = []
    for k in todo:
        folder = Path(args.runs) / f"fold_{k}"
        command = fold_command(args, k, threads)
        folder.parent.mkdir(parents=True, exist_ok=True)
        log = open(Path(args.runs) / f"fold_{k}.log", "a")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / m) for m in ("", "AHABullseye", "ScarSegment",
                                                                                  "ScarSynth"))}
        running.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        if len(running) >= args.jobs:
            running.pop(0).wait()
    for process in running:
        process.wait()


def case_figures(predicted, truth):
    """Dice per structure (None where the truth lacks it), predicted scar and burden error of a case."""
    from ScarSegmentLib.metrics import dice

    def burden(labels):
        return 100.0 * float(L.scar(labels).sum()) / max(float(L.lv_myocardium(labels).sum()), 1.0)

    figures = {"kind": "mvo" if (truth == L.MVO).any() else "infarct" if L.scar(truth).any() else "normal"}
    figures["myocardium"] = dice(L.lv_myocardium(predicted), L.lv_myocardium(truth))
    figures["scar"] = dice(L.scar(predicted), L.scar(truth)) if L.scar(truth).any() else None
    figures["mvo"] = dice(predicted == L.MVO, truth == L.MVO) if (truth == L.MVO).any() else None
    figures["scar_drawn"] = bool(L.scar(predicted).any())
    figures["predicted_burden"], figures["true_burden"] = burden(predicted), burden(truth)
    figures["burden_error"] = abs(burden(predicted) - burden(truth))
    return figures


def presence_figures(result, truth):
    """The pipeline's probability that scar is present (metrics' scar_presence) per case and per
    slice, with the truth of each slice (slices without myocardium left out)."""
    presence = result.metrics.get("scar_presence")
    if not presence:
        return {}
    myocardium = L.lv_myocardium(truth).any(axis=(1, 2))
    return {"presence_case": presence["case"],
            "presence_slices": [p for p, m in zip(presence["per_slice"], myocardium) if m],
            "scar_slices": [bool(s) for s, m in zip(L.scar(truth).any(axis=(1, 2)), myocardium) if m]}


def presence_auroc(per_fold, group="held_out"):
    """AUROC of scar present per case (stack) and per slice over the group's cases of every fold."""
    from ScarSegmentLib.weak_pooling import auroc

    rows = [r for fold in per_fold.values() for r in fold[group]["rows"] if "presence_case" in r]
    if not rows:
        return {}
    slices = [(p, s) for r in rows for p, s in zip(r["presence_slices"], r["scar_slices"])]
    return {"auroc_per_stack": auroc([r["presence_case"] for r in rows], [r["kind"] != "normal" for r in rows]),
            "auroc_per_slice": auroc(*zip(*slices)) if slices else float("nan"), "cases": len(rows)}


def classifier_aurocs(runs, per_fold):
    """{fold: held-out AUROC} of the weak classifiers of the folds' models (empty for train-seg's)."""
    found = {}
    for k in per_fold:
        entry = json.loads((Path(runs) / f"fold_{k}" / MODEL).read_text())
        value = entry.get("weak_supervision", {}).get("classifier", {}).get("held_out_auroc")
        if value is not None:
            found[str(k)] = value
    return found


def summarise(rows):
    def mean(key, kinds=None):
        values = [r[key] for r in rows if r[key] is not None and (kinds is None or r["kind"] in kinds)]
        return float(np.mean(values)) if values else float("nan")

    normals = [r for r in rows if r["kind"] == "normal"]
    return {"cases": len(rows), "myocardium": mean("myocardium"), "scar": mean("scar"), "mvo": mean("mvo"),
            "normals_with_scar": float(np.mean([r["scar_drawn"] for r in normals])) if normals else float("nan"),
            "median_burden_error": float(np.median([r["burden_error"] for r in rows]))}


def save_prediction(path, result, truth):
    """Labels, truth and probabilities of a case, to try post-processing without
    segmenting again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, labels=result.labels.array, truth=truth,
                        probabilities=result.probabilities)


def other_grid_figures(name, image, labels, weights):
    """A case's figures on another scanner's grid, drawn from its name (the same grid in every run)."""
    from ScarSegmentLib.segment import segment
    from other_grid import draw_move, moved_case

    move = draw_move(np.random.default_rng(zlib.crc32(name.encode())))
    moved_image, moved_labels, _ = moved_case(image, image.with_array(labels.array), move)
    result = segment(moved_image, "dl", weights=weights)
    return {"case": name, **case_figures(result.labels.array, moved_labels.array)}


def score_fold(args, k, cases):
    from ScarSegmentLib.segment import segment

    entry_path = Path(args.runs) / f"fold_{k}" / MODEL
    entry = json.loads(entry_path.read_text())
    cv_synthetic.check_arm(args, k, entry)
    assumed = entry["training"]["config"]["lost_spacing_mm"]
    groups = {"held_out": entry["training"]["held_out_cases"],
              "training": entry["training"]["train_cases"][::max(1, 64 // max(args.fit_cases, 1))][:args.fit_cases]}
    results, moved = {}, []
    for group, names in groups.items():
        rows = []
        for name in names:
            image, labels = cases[name].load()
            image = Volume(image.array, (assumed, assumed, 10.0))
            result = segment(image, "dl", weights=str(entry_path))
            if args.save:
                save_prediction(Path(args.save) / f"{name}.npz", result, labels.array)
            rows.append({"case": name, **case_figures(result.labels.array, labels.array),
                         **presence_figures(result, labels.array)})
            if args.other_grids and group == "held_out":
                moved.append(other_grid_figures(name, image, labels, str(entry_path)))
        results[group] = {"rows": rows, "summary": summarise(rows) if rows else None}
    if moved:
        results["held_out_other_grids"] = {"rows": moved, "summary": summarise(moved)}
    results["extra_train_cases"] = {folder: len(names) for folder, names in
                                    entry["training"].get("extra_train_cases", {}).items()}
    return results


KEYS = ("myocardium", "scar", "mvo", "normals_with_scar", "median_burden_error")


def fold_table(per_fold, group):
    """{folds: [per-fold summary], mean, sd} of one group of cases (held out, or training)."""
    return table_of([(k, fold[group]["summary"]) for k, fold in per_fold.items() if fold[group]["summary"]])


def table_of(summaries):
    """{folds, mean, sd} from (fold, summary) pairs: the per-fold figures and their spread."""
    summaries = [{"fold": fold, **summary} for fold, summary in summaries]
    return {"folds": summaries,
            "mean": {key: float(np.nanmean([s[key] for s in summaries])) for key in KEYS},
            "sd": {key: float(np.nanstd([s[key] for s in summaries])) for key in KEYS}}


def print_table(table, group):
    print(f"\n{group}: fold | " + " | ".join(KEYS))
    for summary in table["folds"]:
        print(f"  {summary['fold']} | " + " | ".join(f"{summary[key]:.3f}" for key in KEYS))
    print("  mean (SD) | " + " | ".join(f"{table['mean'][key]:.3f} ({table['sd'][key]:.3f})" for key in KEYS))


def pooled_training_cases(per_fold):
    """Figures over the scored training cases of all folds together (fit)."""
    rows = [row for fold in per_fold.values() for row in fold["training"]["rows"]]
    return summarise(rows) if rows else None


def trained(args, k):
    return (Path(args.runs) / f"fold_{k}" / MODEL).exists()


def main():
    args = parse_args()
    import torch

    folds = [int(k) for k in args.folds.split(",")]
    torch.set_num_threads(args.threads)
    if args.train:
        cv_synthetic.make_synthetic_sets(args, [k for k in folds if not trained(args, k)], FOLDS)
        train_folds(args, folds)
    if args.scores:
        per_fold = dict(sorted((int(k), fold) for path in args.scores
                               for k, fold in json.loads(Path(path).read_text()).items()))
    else:
        cases = {case.name: case for case in read_emidec_dataset(args.data)}
        per_fold = {k: score_fold(args, k, cases) for k in folds if trained(args, k)}
    held_out = fold_table(per_fold, "held_out")
    print_table(held_out, "held_out")
    if all("held_out_other_grids" in fold for fold in per_fold.values()) and per_fold:
        print_table(fold_table(per_fold, "held_out_other_grids"), "held out, on other scanners' grids")
    classifier = classifier_aurocs(args.runs, per_fold)
    if classifier:
        held_out["classifier_auroc"] = classifier
        print("  weak classifier's held-out AUROC: " + ", ".join(f"fold {k} {v:.3f}" for k, v in classifier.items()))
    presence = presence_auroc(per_fold)
    if presence:
        held_out["scar_presence"] = presence
        print(f"  scar present, pooled over the folds' {presence['cases']} held-out cases: AUROC per stack "
              f"{presence['auroc_per_stack']:.3f}, per slice {presence['auroc_per_slice']:.3f}")
    extras = {k: fold.get("extra_train_cases") for k, fold in per_fold.items() if fold.get("extra_train_cases")}
    if extras:
        print(f"  also trained on (training only): {extras}")
    if args.fit_cases:
        print_table(fold_table(per_fold, "training"), "training")
    if args.card:
        from ScarSegmentLib.cascade_output import update_entry

        fit = pooled_training_cases(per_fold)
        update_entry(args.card, cross_validation={**held_out, **({"training_cases": fit} if fit else {})})
    as_json = json.dumps(per_fold, indent=2, default=float) + "\n"
    if args.json:
        write_text_atomic(as_json, args.json)
    if args.compare:
        from cv_compare import print_comparison

        print_comparison(json.loads(Path(args.compare).read_text()), json.loads(as_json), Path(args.compare).name,
                         Path(args.runs).name)

if __name__ == "__main__":
    main()
