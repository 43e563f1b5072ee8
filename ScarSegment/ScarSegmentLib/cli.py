"""`scarsynth segment` and `scarsynth evaluate`: scar segmentation and its metrics from the shell."""

import json
from pathlib import Path

from LGECore.errors import InputError, WeightsError

OUTPUT_FILES = ("labels.nii.gz", "probabilities.nii.gz", "metrics.json")


def add_spacing_option(parser):
    parser.add_argument(
        "--spacing", nargs=3, type=float, metavar=("X", "Y", "Z"),
        help="voxel spacing in mm (column, row, slice) for files whose header lost it")


def add_method_options(parser, auto=False):
    if auto:
        parser.add_argument("--method", choices=("auto", "dl", "nsd", "fwhm"), default="auto",
                            help="deep network, n-SD or FWHM threshold; auto (default): the network "
                                 "when a model is installed, else FWHM inside the given myocardium")
    else:
        parser.add_argument("--method", choices=("dl", "nsd", "fwhm"), default="dl",
                            help="deep network (default), n-SD threshold or FWHM threshold")
    parser.add_argument("--sd", type=float, default=5.0,
                        help="n for the n-SD threshold: 2, 3, 5 (default) or 6 SD above remote")
    parser.add_argument("--myocardium", metavar="LABELS",
                        help="label map on the image grid whose LV myocardium (2, 3, 4) the "
                             "thresholds use; default: the deep network's")
    parser.add_argument("--remote", metavar="MASK",
                        help="mask of remote myocardium (non-zero voxels); default: found automatically")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="device of the deep network")
    parser.add_argument("--weights", metavar="PATH", help="other network weights (.safetensors)")
    add_spacing_option(parser)


def register(subparsers):
    segment = subparsers.add_parser(
        "segment", help="segment LV, myocardium, scar and MVO of an LGE volume",
        description="Writes labels.nii.gz (input grid, labels 0-5), probabilities.nii.gz "
                    "(dl only; 5 channels) and metrics.json (volumes, mass, burden) into OUTDIR.")
    segment.add_argument("input", help="LGE image: NIfTI, NRRD, MHA, or a DICOM series folder")
    segment.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_method_options(segment)
    segment.set_defaults(func=run_segment)

    evaluate = subparsers.add_parser(
        "evaluate", help="EMIDEC metrics of predicted labels against reference labels",
        description="PRED and GT are two label files, or two folders matched by case name "
                    "(flat files, EMIDEC layout Case/Contours/Case.nii.gz, or Case/labels.nii.gz).")
    evaluate.add_argument("prediction", metavar="PRED")
    evaluate.add_argument("reference", metavar="GT")
    evaluate.add_argument("-o", "--output", metavar="PATH",
                          help="write the metrics: .json or .csv for one case, .csv for folders")
    add_spacing_option(evaluate)
    evaluate.set_defaults(func=run_evaluate)


def check_outputs_spare_inputs(outdir, names, inputs):
    """InputError if writing `names` into `outdir` would replace one of the input files."""
    for name in names:
        target = (Path(outdir) / name).resolve()
        for path in inputs:
            if path and Path(path).exists() and Path(path).resolve() == target:
                raise InputError(f"Refusing to overwrite the input {path}; choose another output folder.")


def check_metrics_output(output, inputs, folders):
    """InputError, before any work, for a metrics file that could not be written or would replace
    an input: one of the label files, or any file inside an input folder."""
    allowed = (".csv",) if folders else (".json", ".csv")
    if output.suffix.lower() not in allowed:
        raise InputError(f"The metrics file {output.name} must end in {' or '.join(allowed)}.")
    if output.is_dir():
        raise InputError(f"{output} is a folder; give the metrics file's name.")
    target = output.resolve()
    for path in inputs:
        path = path.resolve()
        if target == path or (output.exists() and path in target.parents):
            raise InputError(f"Refusing to overwrite the input {output}; choose another metrics file.")


def check_weights(path):
    """Weights are a .safetensors file (its NAME.json beside it), a NAME.json or a model folder."""
    if path and not Path(path).exists():
        raise WeightsError(f"Weights file not found: {path}")


def load_inputs(args, image_path):
    """(image, myocardium or None, remote mask or None, dicom.FolderChoice or None) with the
    --spacing override applied; the choice names the stack read from a DICOM folder."""
    from LGECore.io import read_image_and_choice, read_labels, read_mask

    from .evaluate import with_spacing

    image, choice = read_image_and_choice(image_path)
    image = with_spacing(image, args.spacing)
    myocardium = remote = None
    if args.myocardium:
        myocardium = with_spacing(read_labels(args.myocardium), args.spacing)
        image.check_same_grid(myocardium, what=f"myocardium label map {Path(args.myocardium).name}")
    if args.remote:
        remote_volume = with_spacing(read_mask(args.remote, name="remote mask"), args.spacing)
        image.check_same_grid(remote_volume, what=f"remote mask {Path(args.remote).name}")
        remote = remote_volume.array
    return image, myocardium, remote, choice


def check_method_arguments(args):
    if args.method == "dl" and (args.myocardium or args.remote):
        raise InputError("--myocardium and --remote apply to --method nsd or fwhm only.")
    if args.sd <= 0:
        raise InputError(f"--sd must be positive; got {args.sd}.")
    if args.method == "dl" or not args.myocardium:
        check_weights(args.weights)


def network_available(weights=None):
    """True when the deep model (the shipped one, or `weights`) can be found."""
    try:
        from .segmenter import find_entry

        find_entry(weights)
        return True
    except (ImportError, WeightsError):
        return False


def print_progress(percent, message):
    from LGECore.progress import report

    report(percent, message)


def run_segment(args):
    from LGECore.io import atomic_output_dir, check_output_dir

    from .outputs import write_segmentation
    from .segment import segment

    check_method_arguments(args)
    check_output_dir(args.output)
    check_outputs_spare_inputs(args.output, OUTPUT_FILES, (args.input, args.myocardium, args.remote))
    print_progress(0, f"reading {args.input}")
    image, myocardium, remote, choice = load_inputs(args, args.input)
    result = segment(image, method=args.method, n_sd=args.sd, myocardium=myocardium, remote=remote,
                     device=args.device, weights=args.weights, progress=print_progress)
    with atomic_output_dir(args.output, replaces=OUTPUT_FILES) as folder:
        write_segmentation(result, folder, {"input": str(args.input), **(choice.metadata() if choice else {})})
        written = sorted(path.name for path in folder.iterdir())
    if choice and choice.note():
        print(f"warning: {choice.note()}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    metrics = result.metrics
    print(f"scar {metrics['scar_volume_ml']:.2f} mL ({metrics['scar_burden_percent']:.1f} % of "
          f"{metrics['myocardium_volume_ml']:.1f} mL myocardium), MVO {metrics['mvo_volume_ml']:.2f} mL")
    print(f"wrote {', '.join(written)} to {args.output}")
    return 0


def _format_metrics(metrics):
    lines = []
    for key, value in metrics.items():
        lines.append(f"  {key:52s} {value:10.4f}" if isinstance(value, float) else f"  {key:52s} {value}")
    return "\n".join(lines)


def run_evaluate(args):
    from LGECore.io import read_labels

    from .evaluate import evaluate_folders, evaluate_labels, summary_row, with_spacing, write_csv

    prediction, reference = Path(args.prediction), Path(args.reference)
    for path in (prediction, reference):
        if not path.exists():
            raise InputError(f"No such file or folder: {path}")
    if prediction.is_dir() != reference.is_dir():
        raise InputError("PRED and GT must both be label files or both be folders.")
    if args.output:
        check_metrics_output(Path(args.output), (prediction, reference), folders=prediction.is_dir())
    if prediction.is_dir():
        rows = evaluate_folders(prediction, reference, spacing=args.spacing)
        rows.append(summary_row(rows))
        print(_format_metrics({k: v for k, v in rows[-1].items() if k != "case"}))
        if args.output:
            write_csv(rows, args.output)
            evaluated = sum(row.get("status") == "ok" for row in rows[:-1])
            print(f"wrote {len(rows) - 1} reference cases ({evaluated} evaluated) and their mean to {args.output}")
        return 0
    truth = with_spacing(read_labels(reference), args.spacing)
    predicted = with_spacing(read_labels(prediction), args.spacing)
    metrics = evaluate_labels(predicted, truth)
    print(_format_metrics(metrics))
    if args.output:
        if str(args.output).lower().endswith(".csv"):
            write_csv([{"case": prediction.name, **metrics}], args.output)
        else:
            _write_json_atomic(metrics, args.output)
        print(f"wrote {args.output}")
    return 0


def _write_json_atomic(document, path):
    import math

    from LGECore.io import write_text_atomic

    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in document.items()}
    write_text_atomic(json.dumps(clean, indent=2), path)


def main(argv=None):
    """`python -m ScarSegmentLib.cli segment|evaluate ...`: these commands without ScarSynthLib
    (the Slicer module runs segmentation this way, as a background process)."""
    import argparse
    import sys

    from LGECore.errors import ScarSynthError

    parser = argparse.ArgumentParser(prog="python -m ScarSegmentLib.cli")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    register(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ScarSynthError as error:
        print(f"{args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    import sys

    sys.exit(main())
