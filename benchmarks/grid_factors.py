"""Which part of another scanner's grid costs a model its accuracy: held-out cases scored as stored,
then with each factor of benchmarks/segment.py's random move alone (pixel size, rotation, flips,
heart off-centre, intensity range), all of them together (as segment.py scores them), and blurred
in-plane by a Gaussian of 0.5 and 0.8 pixels (coarser or interpolated pixels).

    python benchmarks/grid_factors.py [--weights MODEL] [--held-out-of MODEL] [--cases N] [--json OUT]

Each case's move is drawn as segment.py draws it (same seed), so "all" repeats its figures.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):
    sys.path.insert(0, str(REPO / module))

from other_grid import FACTORS, draw_move, moved_case, only  # noqa: E402

BLURS = (0.5, 0.8)  # Gaussian sigma, pixels of the stored grid
CONDITIONS = ("stored",) + tuple(FACTORS) + ("all",) + tuple(f"blur {s:g} px" for s in BLURS)
SHOWN = ("dice_myocardium", "dice_scar", "dice_mvo", "scar_burden_abs_error")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--weights", default=None, help="model (default: the shipped one)")
    parser.add_argument("--held-out-of", metavar="MODEL", help="score on the cases this other model held out")
    parser.add_argument("--cases", type=int, default=0, help="first N held-out cases (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args()


def variants(image, labels, move):
    """{condition: (image, labels)} of one case."""
    from scipy import ndimage

    found = {"stored": (image, labels)}
    for factor in FACTORS:
        found[factor] = moved_case(image, labels, only(move, factor))[:2]
    found["all"] = moved_case(image, labels, move)[:2]
    for sigma in BLURS:
        blurred = ndimage.gaussian_filter(image.array.astype(np.float32), (0, sigma, sigma))
        found[f"blur {sigma:g} px"] = (image.with_array(blurred), labels)
    return found


def score_conditions(cases, names, weights):
    """{condition: (summary scores over the cases, scores per case)}."""
    from LGECore.volume import Volume
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.metrics import score_cases
    from ScarSegmentLib.segmenter import find_entry

    assumed = find_entry(weights)["training"]["config"]["lost_spacing_mm"]
    rng = np.random.default_rng(0)
    found = {condition: ([], []) for condition in CONDITIONS}
    for name in names:
        image, labels = cases[name].load()
        image = Volume(image.array, (assumed, assumed, 10.0))
        for condition, (moved_image, moved_labels) in variants(image, Volume(labels.array, image.spacing),
                                                              draw_move(rng)).items():
            found[condition][0].append(segment_dl(moved_image, weights=weights, device="cpu", progress=False).labels.array)
            found[condition][1].append(moved_labels.array)
        print(f"{name} done", flush=True)
    return {condition: score_cases(*pair) for condition, pair in found.items()}


def print_table(summaries):
    stored = summaries["stored"]
    print(f"\n{'condition':14s} " + " ".join(f"{k.replace('dice_', ''):>16s}" for k in SHOWN))
    for condition, summary in summaries.items():
        cells = [f"{summary[k]:7.3f} ({summary[k] - stored[k]:+.3f})" for k in SHOWN]
        print(f"{condition:14s} " + " ".join(f"{c:>16s}" for c in cells))


def main():
    args = parse_args()
    import torch

    from LGECore.io import read_emidec_dataset
    from ScarSegmentLib.segmenter import find_entry
    from segment import scored_cases

    torch.set_num_threads(args.threads)
    cases = {case.name: case for case in read_emidec_dataset(args.data)}
    names = [n for n in scored_cases(find_entry(args.weights), args.held_out_of) if n in cases][: args.cases or None]
    if not names:
        raise SystemExit("The model holds out none of these cases; give a fold's model, or --held-out-of.")
    print(f"{len(names)} held-out cases; Dice (change against the stored grid)", flush=True)
    scores = score_conditions(cases, names, args.weights)
    summaries = {condition: summary for condition, (summary, _) in scores.items()}
    print_table(summaries)
    if args.json:
        per_case = {condition: rows for condition, (_, rows) in scores.items()}
        report = {"cases": names, "summaries": summaries, "per_case": per_case}
        Path(args.json).write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
