"""`scarsynth phantom`: write a synthetic LGE stack, its labels, true AHA map and truth JSON."""

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .phantom_intensity import LOOKS
from .requests import add_arguments, from_args, option, seed
from .territories import TERRITORIES

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats only


@dataclass(frozen=True)
class PhantomRequest:
    """The phantom's options (the scar's place, a territory or segments, is given beside them)."""
    seed: int = option(0, "--seed", "random seed: one seed, one phantom (default 0)", type=seed)
    slices: int = option(10, "--slices", "number of short-axis slices (>= 3)", type=int)
    pixel_spacing: float = option(1.5, "--pixel-spacing", "pixel size in mm (default 1.5)", type=float, metavar="MM")
    slice_spacing: float = option(10.0, "--slice-spacing", "slice spacing in mm (default 10)", type=float, metavar="MM")
    matrix: int = option(160, "--matrix", "rows = columns of each slice", type=int)
    transmurality: float = option(0.5, "--transmurality", "scar depth as a fraction of the wall, (0, 1]", type=float)
    mvo: bool = option(False, "--mvo", "add microvascular obstruction in the scar", action="store_true")
    apex_last: bool = option(False, "--apex-last", "slice 0 at the base instead of the apex", action="store_true")
    no_rv: bool = option(False, "--no-rv", "do not label the RV blood pool (5)", action="store_true")
    look: str = option("emidec", "--look", "grey levels: the low-contrast 8-bit EMIDEC export (default), scanner "
                                           "LGE contrast (magnitude, myocardium nulled near 0) or PSIR "
                                           "(phase-sensitive: myocardium darker than air)", choices=LOOKS)

    def phantom_options(self):
        """Keyword arguments of make_phantom."""
        return dict(seed=self.seed, n_slices=self.slices, pixel_spacing=self.pixel_spacing,
                    slice_spacing=self.slice_spacing, matrix_size=self.matrix, apex_first=not self.apex_last,
                    transmurality=self.transmurality, mvo=self.mvo, with_rv=not self.no_rv, look=self.look)


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
    from .outputs import atomic_output_dir
    from .phantom import make_phantom

    paths = output_paths(args.output)
    phantom = make_phantom(scar_segments=_segments(args.segments) if args.segments else (),
                           territory=args.territory, **from_args(PhantomRequest, args).phantom_options())
    # All four files appear together, or none does.
    with atomic_output_dir(paths["image"].resolve().parent) as staging:
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
    add_arguments(parser, PhantomRequest)
    scar = parser.add_mutually_exclusive_group()
    scar.add_argument("--territory", choices=tuple(TERRITORIES), type=str.upper)
    scar.add_argument("--segments", help="AHA segments holding scar, e.g. 1,2,7")
    parser.set_defaults(func=run_phantom)
