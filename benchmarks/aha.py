"""Speed of AHA 17-segment assignment and quantification on a 12-slice 256 x 256 phantom stack.

    python benchmarks/aha.py [--repeats 20]

Prints the median wall time of segment_aha, quantify_aha, wall_depth and draw_bullseye, next to
a floor measured in the same process: one pass that finds the myocardium voxels and their
angles (the least any per-voxel assignment has to do).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("AHABullseye", "ScarSegment", "ScarSynth"):
    sys.path.insert(0, str(REPO / module))

from AHABullseyeLib import labels as L  # noqa: E402
from AHABullseyeLib.aha import segment_aha  # noqa: E402
from AHABullseyeLib.bullseye import draw_bullseye  # noqa: E402
from AHABullseyeLib.quantify import quantify_aha  # noqa: E402
from AHABullseyeLib.wall import wall_depth  # noqa: E402
from ScarSynthLib.phantom import make_phantom  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
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
        ("floor: myocardium voxels + angles", lambda: floor(labels)),
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


if __name__ == "__main__":
    main()
