"""`scarsynth run`: segmentation, AHA quantification, bullseye and report in one command.

With no INPUT it runs on the project's LGE phantom, so a first-time user sees the whole chain
(and how close it comes to a known truth) without any data. The work itself is
ScarSegmentLib.pipeline; this file adds the phantom (LGECore.phantom) and the AHA options.
"""

from pathlib import Path

from LGECore.errors import InputError

DEMO_SCAR = dict(territory="LAD", transmurality=0.6, mvo=True)


def register(subparsers):
    from AHABullseyeLib.request import AHARequest
    from LGECore.requests import add_arguments, seed
    from ScarSegmentLib.cli import add_method_options

    run = subparsers.add_parser(
        "run", help="segment, quantify per AHA segment, draw the bullseye and write a report",
        description="Writes report.html / report.md (bullseye, key numbers, method, warnings), "
                    "labels, AHA segments and figures into OUTDIR. Without INPUT it runs on a "
                    "synthetic phantom with an LAD scar and MVO and compares with the truth.")
    run.add_argument("input", nargs="?", help="LGE image or DICOM folder (default: a phantom)")
    run.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_method_options(run, auto=True)
    run.add_argument("--rv-insertion", nargs=3, type=float, action="append", metavar=("R", "A", "S"),
                     help="RV insertion point in RAS mm (as Slicer shows it); give the anterior "
                          "one, and optionally again for the inferior one")
    add_arguments(run, AHARequest, only=("apex",),
                  apex={"help": "which end of the stack is the apex (default: from the image geometry)"})
    run.add_argument("--seed", type=seed, default=0, help="phantom seed when there is no INPUT")
    run.add_argument("--look", choices=("scanner", "emidec"), default="scanner",
                     help="phantom contrast when there is no INPUT: LGE as from a scanner "
                          "(default) or the low-contrast 8-bit EMIDEC export")
    run.set_defaults(func=run_command)


def _phantom_inputs(args, request):
    from LGECore.phantom import make_phantom

    if request.myocardium or request.remote or request.spacing:
        raise InputError("--myocardium, --remote and --spacing need an INPUT image; the phantom "
                         "brings its own labels and spacing.")
    phantom = make_phantom(seed=args.seed, look=args.look, **DEMO_SCAR)
    notes = ["Phantom: this report was made on a synthetic LGE phantom (seed "
             f"{args.seed}, {args.look} contrast, LAD scar at 60 % transmurality with MVO), "
             "not on a patient scan."]
    myocardium = None
    if request.method != "dl":
        myocardium = phantom.labels
    return phantom, myocardium, notes


def resolve_method(args, request):
    """(request with --method auto turned into a method, notes for the report)."""
    from ScarSegmentLib.cli import network_available

    if request.method != "auto":
        return request, []
    if request.weights or network_available():  # weights given: the user wants the network
        return request.with_method("dl"), []
    if args.input and not request.myocardium:
        raise InputError("No deep segmentation model is installed: give --myocardium (a label map "
                         "of the LV myocardium) to use the FWHM or n-SD threshold.")
    return request.with_method("fwhm"), [
        "No deep segmentation model is installed, so FWHM scar thresholding inside the given myocardium was used."]


def run_command(args):
    from LGECore.outputs import check_output_dir, check_outputs_spare_inputs
    from LGECore.progress import report
    from LGECore.requests import from_args
    from LGECore.volume import ras_to_lps
    from ScarSegmentLib.cli import load_inputs
    from ScarSegmentLib.pipeline import FILES, run_pipeline
    from ScarSegmentLib.request import SegmentRequest

    request, notes = resolve_method(args, from_args(SegmentRequest, args))
    request.check()
    rv_points = ras_to_lps(args.rv_insertion) if args.rv_insertion else None
    if args.rv_insertion and len(args.rv_insertion) > 2:
        raise InputError("Give at most two RV insertion points: anterior, then inferior.")
    check_output_dir(args.output)
    report(0.0, "preparing the input")
    if args.input:
        check_outputs_spare_inputs(args.output, FILES, (args.input, request.myocardium, request.remote))
        image, myocardium, remote, choice = load_inputs(request, args.input)
        if remote is not None:
            raise InputError("--remote is supported by `scarsynth segment`; `run` finds it automatically.")
        source, truth, save_input = Path(args.input).name, None, False
        if choice:
            source = f"{source}: {choice.read}"
            notes = notes + ([choice.note()] if choice.note() else [])
    else:
        phantom, myocardium, phantom_notes = _phantom_inputs(args, request)
        notes = phantom_notes + notes
        image, truth, source, save_input = phantom.image, phantom.labels, f"phantom (seed {args.seed})", True
    context = run_pipeline(image, args.output, source, method=request.method, n_sd=request.n_sd,
                           myocardium=myocardium, device=request.device, weights=request.weights,
                           rv_insertion_lps=rv_points, apex=args.apex, truth_labels=truth,
                           notes=notes, save_input=save_input, progress=report,
                           myocardium_source=None if args.input else "the phantom's true labels")
    for warning in context["warnings"]:
        print(f"warning: {warning}")
    metrics = context["metrics"]
    print(f"scar {metrics['scar_volume_ml']:.2f} mL, burden {metrics['scar_burden_percent']:.1f} %, "
          f"MVO {metrics['mvo_volume_ml']:.2f} mL")
    print(f"report: {Path(args.output) / 'report.html'}")
    return 0
