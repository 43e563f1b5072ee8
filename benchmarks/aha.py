"""Speed of AHA 17-segment assignment and quantification on a 12-slice 256 x 256 phantom stack.

    python benchmarks/aha.py [--repeats 20] [--accuracy 8]

Prints the median wall time of segment_aha, quantify_aha, wall_depth and draw_bullseye, next to
a reference measured in the same process: one pass over the whole grid that finds the
myocardium voxels and their angles (what an assignment costs without cropping to the heart).
Then the accuracy on phantoms of varied geometry: the share of myocardium voxels given their
true segment, per source of the RV insertion points, and the largest per-segment scar % error.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from AHABullseyeLib.aha import segment_aha  # noqa: E402
from AHABullseyeLib.bullseye import draw_bullseye  # noqa: E402
from AHABullseyeLib.quantify import quantify_aha  # noqa: E402
from AHABullseyeLib.wall import wall_depth  # noqa: E402
from LGECore import labels as L  # noqa: E402
from LGECore.phantom import make_phantom  # noqa: E402


def median_ms(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def floor(labels):
    k, row, column = np.nonzero(L.lv_myocardium(labels.array))
    return np.arctan2(row - row.mean(), column - column.mean())


def accuracy(n_phantoms):
    """Agreement with the true segment map per insertion source, and scar % errors."""
    rng = np.random.default_rng(0)
    scores = {"rv_label": [], "two points": [], "per-slice points": [], "assumed": []}
    scar_errors = []
    for seed in range(n_phantoms):
        phantom = make_phantom(
            seed=seed, apex_first=bool(seed % 2), direction=np.eye(3) if seed % 3 == 0 else None,
            pixel_spacing=float(rng.uniform(1.2, 2.0)), slice_spacing=float(rng.uniform(6.0, 10.0)),
            n_slices=int(rng.integers(9, 14)), matrix_size=128,
            territory=("LAD", "RCA", "LCX")[seed % 3], transmurality=float(rng.uniform(0.3, 1.0)))
        labels, truth = phantom.labels, phantom.aha_segments.array
        myocardium = truth > 0
        no_rv = labels.with_array(np.where(labels.array == L.RV_BLOOD_POOL, 0, labels.array))
        pair = phantom.truth["representative_insertion_points_lps"]
        points = phantom.truth["insertion_points_lps"]
        per_slice = [p for p in points["anterior"] + points["inferior"] if p is not None]
        runs = {"rv_label": segment_aha(labels),
                "two points": segment_aha(no_rv, np.array([pair["anterior"], pair["inferior"]])),
                "per-slice points": segment_aha(no_rv, np.array(per_slice)),
                "assumed": segment_aha(no_rv)}
        for name, result in runs.items():
            scores[name].append(np.mean(result.segments.array[myocardium] == truth[myocardium]))
        table = quantify_aha(labels, runs["rv_label"])
        for row in table["segments"]:
            expected = phantom.truth["scar_percent_by_segment"][str(row["segment"])]
            if expected is not None:
                scar_errors.append(abs(row["scar_percent"] - expected))
    print(f"\naccuracy on {n_phantoms} phantoms (oblique and identity geometry, apex first and last, "
          "1.2-2.0 mm pixels, 6-10 mm slices)")
    for name, values in scores.items():
        print(f"  {name:18s} true segment for {100 * np.mean(values):5.1f} % of myocardium voxels "
              f"(worst phantom {100 * np.min(values):5.1f} %)")
    print(f"  scar % per segment (RV label): mean error {np.mean(scar_errors):.2f}, "
          f"largest {np.max(scar_errors):.2f} percentage points")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--accuracy", type=int, default=8, help="number of phantoms (0: skip)")
    args = parser.parse_args()
    phantom = make_phantom(seed=1, n_slices=12, matrix_size=256, pixel_spacing=1.4,
                           slice_spacing=8.0, territory="LAD", transmurality=0.6, mvo=True)
    labels = phantom.labels
    without_rv = labels.with_array(np.where(labels.array == L.RV_BLOOD_POOL, 0, labels.array))
    result = segment_aha(labels)
    n_myocardium = int(np.count_nonzero(L.lv_myocardium(labels.array)))
    print(f"stack {labels.shape} (slices, rows, columns), {n_myocardium} myocardium voxels, "
          f"median of {args.repeats} runs")
    rows = [
        ("reference: whole-grid nonzero+angles", lambda: floor(labels)),
        ("segment_aha (RV label)", lambda: segment_aha(labels)),
        ("segment_aha (no RV: assumed)", lambda: segment_aha(without_rv)),
        ("quantify_aha", lambda: quantify_aha(labels, result)),
        ("segment_aha + quantify_aha", lambda: quantify_aha(labels, segment_aha(labels))),
        ("wall_depth", lambda: wall_depth(labels)),
    ]
    for name, function in rows:
        print(f"{name:36s} {median_ms(function, args.repeats):8.1f} ms")
    with tempfile.TemporaryDirectory() as folder:
        values = {row["segment"]: row["scar_percent"] for row in quantify_aha(labels, result)["segments"]}
        ms = median_ms(lambda: draw_bullseye(values, Path(folder) / "b.png"), max(3, args.repeats // 5))
        print(f"{'draw_bullseye (PNG)':36s} {ms:8.1f} ms")
    if args.accuracy:
        accuracy(args.accuracy)


if __name__ == "__main__":
    main()
