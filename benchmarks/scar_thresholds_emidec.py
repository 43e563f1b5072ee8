"""Clinical thresholds on the real EMIDEC stacks, given the expert myocardium: Dice per method.

    python benchmarks/scar_thresholds_emidec.py [EMIDEC_DIR] [--limit N]

For each pathological case, the expert label map gives the myocardium (and blood pool); n-SD
(2, 3, 5, 6) and FWHM then find scar and MVO, which are compared with the expert scar (labels
3+4) and MVO (4). Prints per-method means. These files are 8-bit rescaled PNG exports with low
infarct contrast (see the data README), so they are a hard case for any fixed threshold.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment"):  # "": LGECore at the root
    sys.path.insert(0, str(ROOT / module))

from LGECore import labels as L  # noqa: E402
from LGECore.io import read_emidec_dataset  # noqa: E402
from ScarSegmentLib.evaluate import dice  # noqa: E402
from ScarSegmentLib.thresholds import fwhm_scar, nsd_scar  # noqa: E402

METHODS = {
    "2-SD": lambda image, labels: nsd_scar(image, labels, 2),
    "3-SD": lambda image, labels: nsd_scar(image, labels, 3),
    "5-SD": lambda image, labels: nsd_scar(image, labels, 5),
    "6-SD": lambda image, labels: nsd_scar(image, labels, 6),
    "FWHM": fwhm_scar,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?", default=os.environ.get("SCARSYNTH_EMIDEC", str(ROOT / "data" / "emidec")))
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    cases = [c for c in read_emidec_dataset(args.root) if c.has_infarct][: args.limit]
    scores = {name: {"scar": [], "mvo": [], "burden_error": []} for name in METHODS}
    start = time.perf_counter()
    for case in cases:
        image, labels = case.load()
        truth = labels.array
        true_burden = 100 * L.scar(truth).sum() / L.lv_myocardium(truth).sum()
        for name, method in METHODS.items():
            found = method(image, labels).labels.array
            scores[name]["scar"].append(dice(L.scar(found), L.scar(truth)))
            if (truth == L.MVO).any():
                scores[name]["mvo"].append(dice(found == L.MVO, truth == L.MVO))
            burden = 100 * L.scar(found).sum() / L.lv_myocardium(found).sum()
            scores[name]["burden_error"].append(abs(burden - true_burden))
    seconds = time.perf_counter() - start
    print(f"{len(cases)} pathological EMIDEC cases, expert myocardium given, "
          f"{seconds / max(len(cases), 1) / len(METHODS):.2f} s per case and method")
    print(f"{'method':8s} {'scar Dice':>18s} {'MVO Dice (cases w/ MVO)':>26s} {'|burden error| (points)':>25s}")
    for name, s in scores.items():
        print(f"{name:8s} {np.mean(s['scar']):8.3f} +- {np.std(s['scar']):5.3f} "
              f"{np.mean(s['mvo']):16.3f} (n={len(s['mvo'])}) {np.mean(s['burden_error']):20.1f}")


if __name__ == "__main__":
    main()
