"""`scarsynth segment` and `scarsynth evaluate`: scar segmentation and its metrics from the shell."""

import json
from pathlib import Path

from LGECore.errors import InputError, WeightsError
from LGECore.outputs import check_output_dir, check_outputs_spare_inputs
from LGECore.progress import report
from LGECore.requests import add_arguments, from_args

from .request import RUN_METHOD, SegmentRequest

OUTPUT_FILES = ("labels.nii.gz", "grey_zone_sd.nii.gz", "grey_zone_max.nii.gz", "probabilities.nii.gz",
                "metrics.json", "labels.seg.dcm")


def add_spacing_option(parser):
    add_arguments(parser, SegmentRequest, only=("spacing",))


def add_method_options(parser, auto=False):
    """The segmentation options of SegmentRequest; with `auto`, --method also takes "auto"."""
    add_arguments(parser, SegmentRequest, **({"method": RUN_METHOD} if auto else {}))


def register(subparsers):
    segment = subparsers.add_parser(
        "segment", help="segment LV, myocardium, scar and MVO of an LGE volume",
        description="Writes labels.nii.gz (input grid, labels 0-5), grey_zone_sd.nii.gz and "
                    "grey_zone_max.nii.gz (1 infarct core, 2 grey zone), probabilities.nii.gz "
                    "(dl only; 5 channels) and metrics.json (volumes, mass, burden, core and grey zone) into OUTDIR.")
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


def check_metrics_output(output, inputs, folders):
    """InputError, before any work, for a metrics file that could not be written or would replace
    an input: one of the label files, or any file inside an input folder."""
    allowed = (".csv",) if folders else (".json", ".csv")
    if output.suffix.lower() not in allowed:
        raise InputError(f"The metrics file {output.name} must end in {' or '.join(allowed)}.")
    if output.is_dir():
        raise InputError(f"{output} is a folder; give the metrics file's name.")
    check_output_dir(output.parent)
    target = output.resolve()
    for path in inputs:
        path = path.resolve()
        if target == path or (output.exists() and path in target.parents):
            raise InputError(f"Refusing to overwrite the input {output}; choose another metrics file.")


def load_inputs(request, image_path):
    """(image, myocardium or None, remote mask or None, dicom.FolderChoice or None) with the
    request's --spacing applied; the choice names the stack read from a DICOM folder."""
    from LGECore.io import read_image_and_choice, read_labels, read_mask

    from .evaluate import with_spacing

    image, choice = read_image_and_choice(image_path)
    image = with_spacing(image, request.spacing)
    myocardium = remote = None
    if request.myocardium:
        myocardium = with_spacing(read_labels(request.myocardium), request.spacing)
        image.check_same_grid(myocardium, what=f"myocardium label map {Path(request.myocardium).name}")
    if request.remote:
        remote_volume = with_spacing(read_mask(request.remote, name="remote mask"), request.spacing)
        image.check_same_grid(remote_volume, what=f"remote mask {Path(request.remote).name}")
        remote = remote_volume.array
    return image, myocardium, remote, choice


def network_available(weights=None):
    """True when the deep model (the shipped one, or `weights`) can be found."""
    try:
        from .segmenter import find_entry

        find_entry(weights)
        return True
    except (ImportError, WeightsError):
        return False


def run_segment(args):
    from LGECore.dicom_out import check_dicom_sources, write_dicom_seg
    from LGECore.outputs import atomic_output_dir

    from . import __version__

    from .outputs import write_segmentation
    from .segment import segment

    request = from_args(SegmentRequest, args).check()
    check_output_dir(args.output)
    check_outputs_spare_inputs(args.output, OUTPUT_FILES, (args.input, request.myocardium, request.remote))
    report(0.0, f"reading {args.input}")
    image, myocardium, remote, choice = load_inputs(request, args.input)
    if request.dicom:
        check_dicom_sources(choice)
    result = segment(image, method=request.method, n_sd=request.n_sd, myocardium=myocardium, remote=remote,
                     device=request.device, weights=request.weights, progress=report)
    with atomic_output_dir(args.output, replaces=OUTPUT_FILES) as folder:
        write_segmentation(result, folder, {"input": str(args.input), **(choice.metadata() if choice else {})})
        if request.dicom:
            write_dicom_seg(result.labels, choice.files, folder / "labels.seg.dcm", __version__)
        written = sorted(path.name for path in folder.iterdir())
    if choice and choice.note():
        print(f"warning: {choice.note()}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    metrics = result.metrics
    print(f"scar {metrics['scar_volume_ml']:.2f} mL ({metrics['scar_burden_percent']:.1f} % of "
          f"{metrics['myocardium_volume_ml']:.1f} mL myocardium), MVO {metrics['mvo_volume_ml']:.2f} mL; "
          f"infarct core / grey zone {metrics['infarct_core_sd_volume_ml']:.2f} / "
          f"{metrics['grey_zone_sd_volume_ml']:.2f} mL (2-3 SD band), {metrics['infarct_core_max_volume_ml']:.2f} / "
          f"{metrics['grey_zone_max_volume_ml']:.2f} mL (band to half the maximum)")
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
        kinds = {path: "a folder" if path.is_dir() else "a file" for path in (prediction, reference)}
        raise InputError(f"PRED and GT must both be label files or both be folders; PRED {prediction.name} is "
                         f"{kinds[prediction]} and GT {reference.name} is {kinds[reference]}.")
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

    from LGECore.outputs import write_text_atomic

    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in document.items()}
    write_text_atomic(json.dumps(clean, indent=2), path)


def main(argv=None):
    """`python -m ScarSegmentLib.cli segment|evaluate ...`: these commands without ScarSynthLib,
    through the one command-line entry (the Slicer module runs segmentation so, in the background)."""
    import sys

    from LGECore import command_line

    return command_line.main(argv, [sys.modules[__name__]])


if __name__ == "__main__":
    import sys

    sys.exit(main())
