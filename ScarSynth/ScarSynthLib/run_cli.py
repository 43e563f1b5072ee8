"""`scarsynth run`: segmentation, AHA quantification, bullseye and report in one command.

With no INPUT it runs on the project's LGE phantom, so a first-time user sees the whole chain
(and how close it comes to a known truth) without any data. The work itself is
ScarSegmentLib.pipeline; this file adds the phantom (LGECore.phantom) and the AHA options. A folder
of studies runs each through the same pipeline (cohort.py); `cohort-merge` joins shard tables.
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
    run.add_argument("input", nargs="?", help="LGE image, DICOM folder, or a folder of studies: image files "
                                             "and/or DICOM study folders (default: a phantom)")
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
    run.add_argument("--resume", action="store_true",
                     help="folder of studies: skip the studies whose folder in OUTDIR is complete")
    run.add_argument("--shard", metavar="K/N",
                     help="folder of studies: run shard K of N only (every N-th study, for a job array) "
                          "and write cohort_shard_K_of_N.csv; join the tables with `cohort-merge`")
    run.set_defaults(func=run_command)

    merge = subparsers.add_parser(
        "cohort-merge", help="join the shard tables of `run STUDIES_DIR --shard K/N` into cohort.csv",
        description="Reads OUTDIR/cohort_shard_K_of_N.csv (all N shards of one N) and writes "
                    "OUTDIR/cohort.csv; refuses shards of different N and studies missing or in two shards.")
    merge.add_argument("output", metavar="OUTDIR", help="the output folder of the shards")
    merge.set_defaults(func=merge_command)


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


def resolve_method(args, request, cohort=False):
    """(request with --method auto turned into a method, notes for the report)."""
    from ScarSegmentLib.cli import network_available

    if request.method != "auto":
        return request, []
    if request.weights or network_available():  # weights given: the user wants the network
        return request.with_method("dl"), []
    if cohort:
        raise InputError("No deep segmentation model is installed, and a folder of studies needs it: "
                         "the thresholds need a myocardium, which only the network finds per study.")
    if args.input and not request.myocardium:
        raise InputError("No deep segmentation model is installed: give --myocardium (a label map "
                         "of the LV myocardium) to use the FWHM or n-SD threshold.")
    return request.with_method("fwhm"), [
        "No deep segmentation model is installed, so FWHM scar thresholding inside the given myocardium was used."]


def run_command(args):
    from LGECore.outputs import check_output_dir
    from LGECore.requests import from_args
    from ScarSegmentLib.request import SegmentRequest

    from .cohort import is_cohort, parse_shard

    shard = parse_shard(args.shard) if args.shard is not None else None
    check_output_dir(args.output)
    cohort = bool(args.input) and is_cohort(args.input)
    request, notes = resolve_method(args, from_args(SegmentRequest, args), cohort)
    request.check()
    if cohort:
        return _run_cohort(args, request, shard)
    if shard is not None:
        raise InputError("--shard splits a folder of studies; INPUT is one study (or none: the phantom).")
    return _run_one_input(args, request, notes)


def _run_cohort(args, request, shard):
    from .cohort import check_folders, check_network, list_studies, run_cohort

    if request.myocardium or request.remote or args.rv_insertion:
        raise InputError("--myocardium, --remote and --rv-insertion belong to one image; a folder of "
                         "studies takes none of them (each study's myocardium is the network's).")
    check_folders(args.input, args.output)
    studies = list_studies(args.input)
    if request.uses_network:
        check_network(request.weights)

    def run_one(path, outdir):
        run_input(request, path, outdir, notes=(), apex=args.apex)

    return run_cohort(studies, args.output, run_one, resume=args.resume, shard=shard)


def run_input(request, path, outdir, notes=(), apex="auto", rv_points=None, progress=None):
    """`run` on one image file or DICOM folder into `outdir`; returns the report context."""
    from ScarSegmentLib.cli import load_inputs
    from ScarSegmentLib.pipeline import run_pipeline

    image, myocardium, remote, choice = load_inputs(request, path)
    if remote is not None:
        raise InputError("--remote is supported by `scarsynth segment`; `run` finds it automatically.")
    if request.dicom:
        from LGECore.dicom_out import check_dicom_sources

        check_dicom_sources(choice)
    source, notes = Path(path).name, list(notes)
    if choice:
        source = f"{source}: {choice.read}"
        notes += [choice.note()] if choice.note() else []
    return run_pipeline(image, outdir, source, method=request.method, n_sd=request.n_sd,
                        myocardium=myocardium, device=request.device, weights=request.weights,
                        rv_insertion_lps=rv_points, apex=apex, notes=notes, progress=progress,
                        dicom_files=choice.files if request.dicom else ())


def _run_one_input(args, request, notes):
    """`run` on INPUT, or on the phantom without one, printing the key figures."""
    from LGECore.outputs import check_outputs_spare_inputs
    from LGECore.progress import report
    from LGECore.volume import ras_to_lps
    from ScarSegmentLib.pipeline import FILES, run_pipeline

    rv_points = ras_to_lps(args.rv_insertion) if args.rv_insertion else None
    if args.rv_insertion and len(args.rv_insertion) > 2:
        raise InputError("Give at most two RV insertion points: anterior, then inferior.")
    report(0.0, "preparing the input")
    if args.input:
        check_outputs_spare_inputs(args.output, FILES, (args.input, request.myocardium, request.remote))
        context = run_input(request, args.input, args.output, notes, args.apex, rv_points, progress=report)
    else:
        if request.dicom:
            raise InputError("--dicom writes DICOM objects that reference the images read; the phantom has none.")
        phantom, myocardium, phantom_notes = _phantom_inputs(args, request)
        context = run_pipeline(phantom.image, args.output, f"phantom (seed {args.seed})", method=request.method,
                               n_sd=request.n_sd, myocardium=myocardium, device=request.device,
                               weights=request.weights, rv_insertion_lps=rv_points, apex=args.apex,
                               truth_labels=phantom.labels, notes=phantom_notes + notes, save_input=True,
                               progress=report, myocardium_source="the phantom's true labels")
    for warning in context["warnings"]:
        print(f"warning: {warning}")
    metrics = context["metrics"]
    print(f"scar {metrics['scar_volume_ml']:.2f} mL, burden {metrics['scar_burden_percent']:.1f} %, "
          f"MVO {metrics['mvo_volume_ml']:.2f} mL")
    print(f"report: {Path(args.output) / 'report.html'}")
    return 0


def merge_command(args):
    from .cohort_table import merge_shards

    path, rows = merge_shards(args.output)
    failed = sum(row["status"] == "failed" for row in rows)
    print(f"{len(rows)} studies ({failed} failed) from the shard tables into {path}")
    return 0
