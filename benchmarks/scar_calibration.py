"""How the segmenter's labels are taken from its probabilities, measured by nested
cross-validation: a bias added to the scar and MVO log probabilities (a network trained on few
scar pixels draws too little), and a minimum scar burden per case below which the scar drawn is
dropped (keeps normal hearts clean).

    python benchmarks/scar_calibration.py cv.json PREDICTIONS_DIR [--biases 0,0.25,0.5,0.75,1,1.25,1.5,2]
                                          [--minimums 0,0.5,1,1.5,2,2.5,3,4] [--entry NAME.json]

Reads what benchmarks/cv.py wrote with --json and --save (each held-out case's probabilities).
For each fold, the pair is chosen on the other folds' held-out cases, as the one that maximises
the mean scar score over all cases, EMIDEC's way (Dice where the expert drew scar, 1 for a normal
heart left clean, 0 for scar drawn in one), and applied to that fold's cases: printed per fold
and as mean (SD), beside the plain argmax. The pair chosen on all folds is the one a model's
registry entry gives (`postprocessing`).
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth", "benchmarks"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from cv import case_figures, print_table, summarise, table_of  # noqa: E402
from ScarSegmentLib.postprocess import biased_argmax, clean_labels  # noqa: E402

PIXEL_AREA_MM2 = 1.35 ** 2  # cv.py segments the EMIDEC grid with this spacing assumed


def gated(row, minimum):
    """A case's figures once scar below `minimum` percent of the myocardium is dropped."""
    if row["predicted_burden"] >= minimum or not row["scar_drawn"]:
        return row
    return {**row, "scar": 0.0 if row["scar"] is not None else None, "mvo": 0.0 if row["mvo"] is not None else None,
            "scar_drawn": False, "burden_error": row["true_burden"], "predicted_burden": 0.0}


def scar_score(row):
    """EMIDEC's per-case scar score: Dice where there is scar, else 1 for a clean heart."""
    return row["scar"] if row["scar"] is not None else float(not row["scar_drawn"])


def rows_by_bias(predictions, folds, biases):
    """{bias: {fold: [case figures]}} with the labels taken again from the saved probabilities."""
    table = {}
    for bias in biases:
        table[bias] = {}
        for fold, names in folds.items():
            table[bias][fold] = []
            for name in names:
                saved = np.load(predictions / f"{name}.npz")
                labels = clean_labels(biased_argmax(saved["probabilities"].astype(np.float32), bias), PIXEL_AREA_MM2)
                table[bias][fold].append({"case": name, **case_figures(labels, saved["truth"])})
    return table


def mean_score(rows, minimum):
    return float(np.mean([scar_score(gated(row, minimum)) for row in rows]))


def best_pair(table, folds_used, minimums):
    pairs = itertools.product(table, minimums)
    return max(pairs, key=lambda pair: mean_score([r for f in folds_used for r in table[pair[0]][f]], pair[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cv_json", help="the --json output of benchmarks/cv.py")
    parser.add_argument("predictions", help="the --save folder of benchmarks/cv.py")
    parser.add_argument("--biases", default="0,0.25,0.5,0.75,1,1.25,1.5,2", help="scar log-probability biases tried")
    parser.add_argument("--entry", help="registry entry (NAME.json) of the model trained on all cases with the same "
                        "recipe: the chosen pair and the table go into it and its model card")
    parser.add_argument("--minimums", default="0,0.5,1,1.5,2,2.5,3,4", help="minimum scar burdens tried (percent)")
    args = parser.parse_args()
    biases = [float(value) for value in args.biases.split(",")]
    minimums = [float(value) for value in args.minimums.split(",")]
    folds = {k: [row["case"] for row in fold["held_out"]["rows"]]
             for k, fold in json.loads(Path(args.cv_json).read_text()).items()}
    table = rows_by_bias(Path(args.predictions), folds, sorted(set(biases) | {0.0}))
    plain, nested = [], []
    for fold in folds:
        bias, minimum = best_pair(table, [f for f in folds if f != fold], minimums)
        plain.append((fold, summarise(table[0.0][fold])))
        nested.append((f"{fold} (bias {bias:g}, min {minimum:g}%)",
                       summarise([gated(row, minimum) for row in table[bias][fold]])))
    plain, nested = table_of(plain), table_of(nested)
    print_table(plain, "plain argmax")
    print_table(nested, "bias and minimum chosen on the other folds")
    bias, minimum = best_pair(table, list(folds), minimums)
    print(f"\nchosen on all folds: scar_log_bias {bias:g}, min_scar_burden_percent {minimum:g}")
    if args.entry:
        from ScarSegmentLib.cascade_output import update_entry

        update_entry(args.entry, postprocessing={"scar_log_bias": bias, "min_scar_burden_percent": minimum},
                     calibration={"plain": plain, "calibrated": nested})



if __name__ == "__main__":
    main()
