"""Write LGE phantoms in the EMIDEC layout, as extra training data for the segmenter.

    python scripts/make_phantom_training_set.py OUT_DIR [--cases 40] [--seed 0]

The same phantoms that `scarsynth train-seg` makes for itself (`--phantoms`, LGECore.phantom_training),
written out to look at or to train other tools with.
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore.io import write_volume  # noqa: E402
from LGECore.outputs import atomic_output_dir
from LGECore.phantom_training import training_phantoms  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with atomic_output_dir(args.output) as folder:
        for name, phantom in training_phantoms(args.cases, args.seed):
            write_volume(phantom.image, folder / name / "Images" / f"{name}.nii.gz")
            write_volume(phantom.labels, folder / name / "Contours" / f"{name}.nii.gz")
    print(f"{args.cases} phantoms in {args.output}")


if __name__ == "__main__":
    main()
