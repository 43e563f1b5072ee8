"""`scarsynth aha`: AHA 17-segment scar quantification and bullseye from a label map."""

from pathlib import Path

import numpy as np

from LGECore.errors import InputError
from LGECore.requests import add_arguments, from_args

from .request import AHARequest

OUTPUT_FILES = ("aha.csv", "aha.json", "aha_segments.nii.gz", "bullseye.png")


def parse_point(text):
    """'X,Y,Z' -> a float array of 3 numbers (InputError otherwise)."""
    parts = text.replace(" ", "").split(",")
    try:
        point = np.array([float(p) for p in parts])
    except ValueError:
        point = np.array([])
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise InputError(f"--rv-insertion expects points as X,Y,Z (three numbers, RAS mm); got '{text}'.")
    return point


def register(subparsers):
    parser = subparsers.add_parser(
        "aha", help="AHA 17-segment scar quantification and bullseye from a label map",
        description="Split the LV myocardium of a label map (0 bg, 1 LV blood pool, 2 myocardium, "
                    "3 scar, 4 MVO, 5 RV blood pool) into the AHA 17 segments and quantify scar per "
                    "segment. Writes aha.csv, aha.json, aha_segments.nii.gz and bullseye.png.")
    parser.add_argument("labels", help="label map (NIfTI, NRRD, MHA or .seg.nrrd)")
    parser.add_argument("--image", help="the LGE image the labels belong to (its geometry is checked)")
    parser.add_argument(
        "--rv-insertion", action="append", nargs="+", metavar="X,Y,Z", default=[],
        help="RV insertion point(s) in RAS mm as Slicer shows them: one (anterior) or two "
             "(anterior and inferior) for the whole stack, or one or two per slice")
    add_arguments(parser, AHARequest)
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    parser.set_defaults(func=run_aha)


def run_aha(args):
    from LGECore.io import read_image, read_labels, write_volume
    from LGECore.outputs import atomic_output_dir, check_outputs_spare_inputs
    from LGECore.volume import ras_to_lps

    from .aha import segment_aha
    from .quantify import quantify_aha
    from .report import bullseye_title, draw_scar_bullseye, record, spacing_warning, write_csv, write_json

    # Before any work: an input inside the output folder under an output's name would be replaced.
    check_outputs_spare_inputs(args.outdir, OUTPUT_FILES, (args.labels, args.image))
    image = read_image(args.image) if args.image else None
    labels = read_labels(args.labels, like=image)
    texts = [text for group in args.rv_insertion for text in group]
    points_lps = ras_to_lps(np.array([parse_point(t) for t in texts])) if texts else None

    request = from_args(AHARequest, args)
    result = segment_aha(labels, rv_insertion_lps=points_lps, apex=request.apex, direction=request.direction)
    table = quantify_aha(labels, result)
    protect = [p for p in (args.labels, args.image) if p]
    with atomic_output_dir(args.outdir) as staging:
        write_csv(table, staging / "aha.csv")
        write_json(record(table, result, [spacing_warning(labels)]), staging / "aha.json")
        write_volume(result.segments, staging / "aha_segments.nii.gz", protect=protect)
        draw_scar_bullseye(table, staging / "bullseye.png", title=bullseye_title(result))

    total = table["total"]
    print(f"LV myocardium {total['myocardium_ml']:.1f} mL, scar {total['scar_ml']:.1f} mL "
          f"({total['scar_percent']:.1f} %), MVO {total['mvo_ml']:.2f} mL; apex at the "
          f"{result.apex_side} slice ({result.apex_source}); insertion points: {result.insertion_source}")
    for warning in result.warnings + [spacing_warning(labels)]:
        if warning:
            print(f"warning: {warning}")
    print(f"wrote {Path(args.outdir) / 'aha.csv'}, aha.json, aha_segments.nii.gz, bullseye.png")
    return 0
