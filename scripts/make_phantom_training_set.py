"""Write LGE phantoms in the EMIDEC layout, as extra training data for the segmenter.

    python scripts/make_phantom_training_set.py OUT_DIR [--cases 40] [--seed 0]
    scarsynth train-seg EMIDEC_DIR -o MODEL_DIR --extra-train OUT_DIR

Most phantoms have the contrast of LGE as it comes from a scanner (nulled myocardium, bright
blood and scar), the rest the low-contrast look of the EMIDEC 8-bit export; pixel size, field of
view, slice count and order, orientation, scar territory, transmurality and MVO vary by seed.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore.io import atomic_output_dir, write_volume  # noqa: E402
from LGECore.phantom import make_phantom  # noqa: E402


def phantom_settings(rng):
    spacing = float(rng.uniform(1.0, 2.0))
    territory = rng.choice(["none", "LAD", "RCA", "LCX"])
    transmurality = float(rng.uniform(0.3, 1.0))
    return dict(
        n_slices=int(rng.integers(6, 13)), pixel_spacing=spacing, slice_spacing=float(rng.uniform(8, 10)),
        matrix_size=int(np.clip(rng.uniform(200, 380) / spacing, 128, 256)),
        apex_first=bool(rng.random() < 0.5), look="scanner" if rng.random() < 0.7 else "emidec",
        territory=None if territory == "none" else str(territory), transmurality=transmurality,
        mvo=bool(territory != "none" and transmurality >= 0.5 and rng.random() < 0.5))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with atomic_output_dir(args.output) as folder:
        for index in range(args.cases):
            settings = phantom_settings(rng)
            phantom = make_phantom(seed=args.seed * 1000 + index, **settings)
            name = f"Case_{'P' if settings['territory'] else 'N'}9{index:03d}"
            write_volume(phantom.image, folder / name / "Images" / f"{name}.nii.gz")
            write_volume(phantom.labels, folder / name / "Contours" / f"{name}.nii.gz")
    print(f"{args.cases} phantoms in {args.output}")


if __name__ == "__main__":
    main()
