"""The same cascades under another inference rule: a copy of a folder of fold models (fold_1 ..
fold_5, as benchmarks/cv.py reads them) whose scar networks claim the myocardium's border
(NetworkSettings.claims_border_px: their scar and MVO also count in blood-pool and background
pixels within PX pixels of the anatomy's myocardium). The weights are linked, not copied or
trained again, so that cv.py scores the same networks with and without the claim.

    python benchmarks/border_claim.py CASCADES_DIR OUT_DIR --px 3
    python benchmarks/cv.py OUT_DIR --other-grids --json claim3.json
"""

import argparse
import json
import os
from pathlib import Path

MODEL = "scar_cascade.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cascades", help="folder of the folds' cascade models (fold_K/scar_cascade.json)")
    parser.add_argument("out", help="new folder for the copies; must not exist")
    parser.add_argument("--px", type=int, required=True, help="claimed distance from the myocardium, in pixels")
    args = parser.parse_args(argv)
    if args.px < 0:
        parser.error(f"--px must be 0 or more; got {args.px}")
    if not sorted(Path(args.cascades).glob(f"fold_*/{MODEL}")):
        parser.error(f"no fold_K/{MODEL} in {args.cascades}")
    if Path(args.out).exists():
        parser.error(f"{args.out} exists; give a new folder")
    return args


def claiming_copy(fold, out, px):
    """fold/ as out/: the entry with the scar stage's claim set to `px`, its weights linked."""
    entry = json.loads((fold / MODEL).read_text())
    if "scar_stage" not in entry:
        raise SystemExit(f"{fold / MODEL} is not a cascade (no scar network)")
    entry["scar_stage"]["settings"]["claims_border_px"] = px
    out.mkdir(parents=True)
    for weights in (entry["file"], entry["scar_stage"]["file"]):
        os.symlink((fold / weights).resolve(), out / weights)
    (out / MODEL).write_text(json.dumps(entry, indent=2) + "\n")


def main(argv=None):
    args = parse_args(argv)
    for entry in sorted(Path(args.cascades).glob(f"fold_*/{MODEL}")):
        claiming_copy(entry.parent, Path(args.out) / entry.parent.name, args.px)
        print(Path(args.out) / entry.parent.name)


if __name__ == "__main__":
    main()
