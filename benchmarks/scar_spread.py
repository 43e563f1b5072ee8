"""How random scar requests spread over the 17 AHA segments, against real infarcts.

    python benchmarks/scar_spread.py [--data data/emidec] [--samples 200]

Real: per-segment share of the pathological EMIDEC cases (Case_P*) whose expert scar touches the
segment. Synthetic: the same share for `--samples` random_scar_config scars drawn on the cases
without scar (Case_N*, in turn). Both sides are split into segments by AHABullseyeLib on the
labels themselves. The EMIDEC files have no RV label, so that split uses the ASSUMED orientation
(anterior RV insertion at a typical angle); where a heart is rotated, segments around the ring
are off, on both sides alike. A segment "has scar" when at least MIN_SHARE of its myocardium is
scar (single stray voxels do not count). Prints both profiles, their Pearson correlation and the
total-variation distance between the two profiles normalised to sum 1, the distance of a uniform
profile as a baseline, and the time per mask.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from AHABullseyeLib.aha import segment_aha  # noqa: E402
from AHABullseyeLib.quantify import quantify_aha  # noqa: E402
from LGECore.io import read_emidec_dataset  # noqa: E402
from ScarSynthLib.scar_masks import make_scar_labels, random_scar_config  # noqa: E402

MIN_SHARE = 1.0  # percent of a segment's myocardium


def scarred_segments(labels):
    """Boolean vector (17,) of segments with at least MIN_SHARE % scar."""
    table = quantify_aha(labels, segment_aha(labels))
    return np.array([(row["scar_percent"] or 0.0) >= MIN_SHARE for row in table["segments"]])


def compare(real, synthetic):
    """(Pearson correlation, total-variation distance of the normalised profiles)."""
    correlation = float(np.corrcoef(real, synthetic)[0, 1]) if np.std(synthetic) > 0 else float("nan")
    distance = 0.5 * float(np.abs(real / real.sum() - synthetic / synthetic.sum()).sum())
    return correlation, distance


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    cases = read_emidec_dataset(args.data)
    pathological = [c for c in cases if c.has_infarct]
    normal = [c.load()[1] for c in cases if not c.has_infarct]
    real = np.mean([scarred_segments(c.load()[1]) for c in pathological], axis=0)

    hits, seconds = [], []
    for seed in range(args.samples):
        labels = normal[seed % len(normal)]
        start = time.perf_counter()
        new, _ = make_scar_labels(labels, **random_scar_config(seed))
        seconds.append(time.perf_counter() - start)
        hits.append(scarred_segments(new))
    synthetic = np.mean(hits, axis=0)

    print(f"real: {len(pathological)} EMIDEC Case_P*; synthetic: {args.samples} random scars on "
          f"{len(normal)} Case_N*; AHA split with the assumed orientation (no RV label)")
    print("segment  " + " ".join(f"{s:>5d}" for s in range(1, 18)))
    print("real     " + " ".join(f"{v:5.2f}" for v in real))
    print("random   " + " ".join(f"{v:5.2f}" for v in synthetic))
    r, tv = compare(real, synthetic)
    uniform = np.where(real > 0, 1.0, 0.0)  # every segment the real data has, equally often
    _, tv_uniform = compare(real, uniform)
    print(f"correlation {r:.3f}, total-variation distance {tv:.3f} "
          f"(a uniform profile over the same segments: distance {tv_uniform:.3f})")
    print(f"segments per scar: real {real.sum():.2f}, random {synthetic.sum():.2f}")
    print(f"time per mask (make_scar_labels, incl. AHA split): median {1000 * np.median(seconds):.0f} ms")


if __name__ == "__main__":
    main()
