"""`scarsynth phantom`: write a synthetic LGE stack, its labels, true AHA map and truth JSON."""

import json
from pathlib import Path

from .errors import InputError

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats only


def output_paths(image_path):
    """The four files written for OUT.nii.gz: image, _labels, _aha and _truth.json."""
    path = Path(image_path)
    name = path.name
    suffix = next((s for s in SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        raise InputError(f"The output {name} needs an image suffix: {', '.join(SUFFIXES)}.")
    stem = name[: -len(suffix)]
    if not stem:
        raise InputError(f"The output name {name} has no stem.")
    return {
        "image": path,
        "labels": path.with_name(f"{stem}_labels{suffix}"),
        "aha": path.with_name(f"{stem}_aha{suffix}"),
        "truth": path.with_name(f"{stem}_truth.json"),
    }


def _segments(text):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--segments takes AHA numbers separated by commas, e.g. 1,2,7; got {text!r}.") from None


def run_phantom(args):
    from . import io
    from .phantom import make_phantom

    paths = output_paths(args.output)
    phantom = make_phantom(
        seed=args.seed, n_slices=args.slices, pixel_spacing=args.pixel_spacing,
        slice_spacing=args.slice_spacing, matrix_size=args.matrix,
        apex_first=not args.apex_last,
        scar_segments=_segments(args.segments) if args.segments else (),
        territory=args.territory, transmurality=args.transmurality, mvo=args.mvo,
        with_rv=not args.no_rv, look=args.look)
    # All four files appear together, or none does.
    with io.atomic_output_dir(paths["image"].resolve().parent) as staging:
        io.write_volume(phantom.image, staging / paths["image"].name)
        io.write_volume(phantom.labels, staging / paths["labels"].name)
        io.write_volume(phantom.aha_segments, staging / paths["aha"].name)
        (staging / paths["truth"].name).write_text(json.dumps(phantom.truth, indent=1))
    truth = phantom.truth
    print(f"wrote {paths['image']} ({args.slices} slices), {paths['labels'].name}, "
          f"{paths['aha'].name}, {paths['truth'].name}; scar {truth['scar_voxels']} voxels, "
          f"MVO {truth['mvo_voxels']} voxels")
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "phantom", help="write a synthetic LGE short-axis stack with exact labels and its truth",
        description="Synthetic LGE stack: OUT image, OUT_labels, OUT_aha (true AHA segments) and "
                    "OUT_truth.json (insertion points, per-segment scar, ...). Deterministic by seed.")
    parser.add_argument("-o", "--output", required=True, help="image path, e.g. case.nii.gz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", type=int, default=10, help="number of short-axis slices (>= 3)")
    parser.add_argument("--pixel-spacing", type=float, default=1.5, metavar="MM")
    parser.add_argument("--slice-spacing", type=float, default=10.0, metavar="MM")
    parser.add_argument("--matrix", type=int, default=160, help="rows = columns of each slice")
    scar = parser.add_mutually_exclusive_group()
    scar.add_argument("--territory", choices=("LAD", "RCA", "LCX"), type=str.upper)
    scar.add_argument("--segments", help="AHA segments holding scar, e.g. 1,2,7")
    parser.add_argument("--transmurality", type=float, default=0.5,
                        help="scar depth as a fraction of the wall, (0, 1]")
    parser.add_argument("--mvo", action="store_true", help="add microvascular obstruction in the scar")
    parser.add_argument("--apex-last", action="store_true", help="slice 0 at the base instead of the apex")
    parser.add_argument("--no-rv", action="store_true", help="do not label the RV blood pool (5)")
    parser.add_argument("--look", choices=("emidec", "scanner", "psir"), default="emidec",
                        help="grey levels: the low-contrast 8-bit EMIDEC export (default), "
                             "scanner LGE contrast (magnitude, myocardium nulled near 0) or PSIR "
                             "(phase-sensitive: myocardium darker than air)")
    parser.set_defaults(func=run_phantom)
