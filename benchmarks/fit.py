"""Does the segmenter underfit or overfit? Dice on its own training cases beside its held-out ones.

    python benchmarks/fit.py [--data data/emidec] [--weights MODEL_DIR] [--threads 1]

Both groups are scored as training validates (`ScarSegmentLib.train.validate`): one network pass per
slice on the patch centred on the true LV, normalised as inference does, no test-time flips. A
model that scores no better on the cases it was trained on than on held-out ones underfits, and
more capacity or training should help; a large gap the other way means it memorises its cases.
The training cases are the dataset's cases not held out in the model's registry entry; synthetic
cases it also trained on are not scored.
"""

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from ScarSegmentLib import data as D  # noqa: E402
from ScarSegmentLib.segmenter import find_entry, load_segmenter  # noqa: E402
from ScarSegmentLib.train import make_config, validate  # noqa: E402

STRUCTURES = ("myocardium", "scar", "mvo", "blood_pool")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--weights", default=None, help="model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    entry = find_entry(args.weights)
    network, settings = load_segmenter(args.weights)
    config = replace(make_config("cpu"), network=settings)
    lost_spacing = entry["training"]["config"].get("lost_spacing_mm", config.lost_spacing_mm)
    cases = D.load_dataset(args.data, settings, lost_spacing, progress=True)
    held_out = set(entry["training"]["validation_cases"])
    groups = {"training": [case for case in cases if case.name not in held_out],
              "held_out": [case for case in cases if case.name in held_out]}
    print(f"model {entry['name']}; Dice on patches centred on the true LV (as training validates)")
    figures = {}
    for group, members in groups.items():
        if not members:
            print(f"{group}: no cases in {args.data}")
            continue
        scores = validate(network, members, config, torch.device("cpu"))
        figures[group] = {"cases": len(members), **{s: round(scores[f"dice_{s}"], 4) for s in STRUCTURES}}
        print(f"{group:>9} ({len(members)} cases): " + ", ".join(f"{s} {figures[group][s]:.3f}" for s in STRUCTURES))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": entry["name"], "sha256": entry["sha256"], **figures}, indent=2))


if __name__ == "__main__":
    main()
