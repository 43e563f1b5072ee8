"""The deep segmenter on unseen phantoms in three LGE contrasts, side by side on the same anatomy.

    python benchmarks/contrast.py [--cases 10] [--seed 77] [--weights MODEL] [--threads 1]

Each phantom (same settings as the phantoms of the training set, from a seed that set does not
use) is rendered in three looks: "scanner" (magnitude inversion recovery, myocardium nulled near
0), "psir" (phase-sensitive: signed signal stored with an offset of 2048, myocardium darker than
air; no phantom of this look is in the training set) and "emidec" (the low-contrast 8-bit export
of the training data). Printed per look: mean Dice of myocardium, scar (incl. MVO), MVO and blood
pool over the cases whose truth holds the structure, and the scar volume the model finds on the
phantoms without scar (false positives, mL).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore.phantom import make_phantom  # noqa: E402
from LGECore.phantom_training import phantom_settings  # noqa: E402
from ScarSegmentLib.inference import segment_dl  # noqa: E402
from ScarSegmentLib.metrics import score_cases  # noqa: E402

LOOKS = ("scanner", "psir", "emidec")


def phantom_cases(count, seed):
    """(seed, settings) of `count` phantoms drawn as the training set draws them."""
    rng = np.random.default_rng(seed)
    return [(seed * 1000 + index, phantom_settings(rng)) for index in range(count)]


def evaluate_look(cases, look, weights):
    predictions, truths, false_scar_ml = [], [], []
    for case_seed, settings in cases:
        phantom = make_phantom(seed=case_seed, **dict(settings, look=look))
        labels = segment_dl(phantom.image, weights=weights, progress=False).labels
        predictions.append(labels.array)
        truths.append(phantom.labels.array)
        if not settings["territory"]:
            false_scar_ml.append(float(np.isin(labels.array, (3, 4)).sum() * labels.voxel_volume_ml))
    summary, _ = score_cases(predictions, truths)
    return {
        **{name: round(float(value), 3) for name, value in summary.items() if name.startswith("dice")},
        "false_scar_ml_on_normal_cases": [round(v, 2) for v in false_scar_ml],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--seed", type=int, default=77, help="phantom seed (the training set uses 0)")
    parser.add_argument("--weights", default=None, help="model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cases = phantom_cases(args.cases, args.seed)
    print(f"{len(cases)} phantoms ({sum(bool(s['territory']) for _, s in cases)} with scar), seed {args.seed}")
    print(f"{'look':<9} {'myocardium':>10} {'scar':>6} {'MVO':>6} {'blood':>6}  false scar on normal cases (mL)")
    results = {}
    for look in LOOKS:
        result = results[look] = evaluate_look(cases, look, args.weights)
        print(f"{look:<9} {result['dice_myocardium']:>10.3f} {result['dice_scar']:>6.3f} "
              f"{result['dice_mvo']:>6.3f} {result['dice_blood_pool']:>6.3f}  "
              f"{result['false_scar_ml_on_normal_cases']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": args.cases, "seed": args.seed, "looks": results}, indent=2))


if __name__ == "__main__":
    main()
