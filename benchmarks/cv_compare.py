"""Two arms of benchmarks/cv.py side by side, fold by fold: e.g. real cases only against real and
synthetic cases (`cv.py --synthetic`), trained with the same folds, seeds and budget.

    python benchmarks/cv.py RUNS_REAL --train --json real.json
    python benchmarks/cv.py RUNS_SYNTHETIC --train --synthetic 40 --json synthetic.json
    python benchmarks/cv_compare.py real.json synthetic.json

For each figure of the held-out table: each fold's value in both arms and the difference (second
minus first), then mean (SD) over the folds both arms scored, and in how many folds the second arm
did better. Whatever the result, every fold is printed.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

# (key in cv.py's summaries, what it is, +1 where higher is better, -1 where lower is)
FIGURES = (("scar", "scar Dice, infarct cases", +1),
           ("normals_with_scar", "share of normal hearts given any scar", -1),
           ("median_burden_error", "median scar-burden error (points)", -1),
           ("myocardium", "myocardium Dice", +1),
           ("mvo", "MVO Dice, MVO cases", +1))


# the groups of cases a cv.py --json may hold, as the comparison names them
GROUPS = {"held_out": "held out", "held_out_other_grids": "held out, on other scanners' grids"}


def held_out_summaries(per_fold, group="held_out"):
    """{fold: summary of the group's cases} of a cv.py --json file's contents (folds without the group left out)."""
    return {str(k): fold[group]["summary"] for k, fold in per_fold.items() if (fold.get(group) or {}).get("summary")}


def _extras(per_fold):
    """What each fold of an arm trained on besides the real cases, in words."""
    counts = sorted({sum(fold.get("extra_train_cases", {}).values()) for fold in per_fold.values()})
    return "real cases only" if counts == [0] else f"plus {'/'.join(map(str, counts))} extra training cases per fold"


def _mean_sd(values, sign=""):
    values = [v for v in values if not math.isnan(v)]
    return f"{np.mean(values):{sign}.3f} ({np.std(values):.3f})" if values else "nan"


def comparison_lines(first, second, first_name, second_name, group="held_out"):
    """The text lines of the comparison of two cv.py --json contents, on one group of cases."""
    a, b = held_out_summaries(first, group), held_out_summaries(second, group)
    folds = sorted(set(a) & set(b), key=int)
    if not folds:
        return [f"No fold was scored {GROUPS[group]} in both {first_name} and {second_name}."]
    lines = [f"{GROUPS[group]}, {len(folds)} fold(s) scored in both: {first_name} (first: {_extras(first)}) against "
             f"{second_name} (second: {_extras(second)})"]
    for key, what, sign in FIGURES:
        lines += ["", f"{what} ({'higher' if sign > 0 else 'lower'} is better)",
                  "  fold | first | second | second - first"]
        differences = []
        for k in folds:
            differences.append(b[k][key] - a[k][key])
            lines.append(f"  {k} | {a[k][key]:.3f} | {b[k][key]:.3f} | {differences[-1]:+.3f}")
        better, worse = (sum(1 for d in differences if side * sign * d > 0) for side in (1, -1))
        counted = sum(1 for d in differences if not math.isnan(d))
        lines.append(f"  mean (SD) | {_mean_sd([a[k][key] for k in folds])} | {_mean_sd([b[k][key] for k in folds])}"
                     f" | {_mean_sd(differences, '+')}; second better in {better}, worse in {worse} of {counted} fold(s)")
    missing = sorted((set(a) ^ set(b)), key=int)
    if missing:
        lines += ["", f"folds scored in one arm only (left out above): {', '.join(missing)}"]
    return lines


def print_comparison(first, second, first_name, second_name):
    """Both arms on the held-out cases, and on other scanners' grids where both arms scored them."""
    for group in GROUPS:
        if group == "held_out" or (held_out_summaries(first, group) and held_out_summaries(second, group)):
            print("\n" + "\n".join(comparison_lines(first, second, first_name, second_name, group)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="cv.py --json of the first arm (e.g. real cases only)")
    parser.add_argument("second", help="cv.py --json of the second arm (e.g. with synthetic cases)")
    args = parser.parse_args()
    arms = []
    for path in (args.first, args.second):
        try:
            arms.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            parser.error(f"cannot read {path} as a cv.py --json file: {error}")
    print_comparison(*arms, Path(args.first).name, Path(args.second).name)


if __name__ == "__main__":
    main()
