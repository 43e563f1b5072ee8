"""`scarsynth synth` and `scarsynth synth-dataset`: AHA-guided scar masks and synthetic LGE images.

    scarsynth synth IMAGE LABELS --territory LAD --transmurality 0.6 --mvo -o OUTDIR
    scarsynth synth-dataset DATASET_DIR -n 200 -o OUTDIR [--from normal|infarct|both]

Scar already in the input labels is kept; the new scar is added on healthy myocardium beside it.
"""

import json
from pathlib import Path

import numpy as np

from LGECore.errors import InputError, ScarSynthError
from LGECore.requests import add_arguments, seed

from .request import RenderRequest, ScarRequest

SYNTH_CASE_PREFIX = "Case_Psyn"  # 'Case_P...': has scar, as EMIDEC names pathological cases


class SynthesisUnavailable(ScarSynthError):
    """The diffusion renderer (ScarSynthLib.diffusion) is not installed."""


def register(subparsers):
    synth = subparsers.add_parser(
        "synth", help="add an AHA-guided scar to a heart and synthesise its LGE image",
        description="Draw a scar in chosen AHA segments or a coronary territory of the heart in "
                    "LABELS, then render the LGE image with that scar. Writes image.nii.gz "
                    "(on the input grid), labels.nii.gz and params.json. Scar already in LABELS "
                    "is kept; the new scar is added beside it.")
    synth.add_argument("image", help="LGE image (NIfTI, NRRD, MHA or DICOM folder)")
    synth.add_argument("labels", help="its label map (1 LV blood pool, 2 myocardium; 5 RV optional)")
    where = synth.add_mutually_exclusive_group(required=True)
    where.add_argument("--segments", help="AHA segments, comma-separated, e.g. 1,2,7")
    where.add_argument("--territory", help="coronary territory: LAD, RCA or LCX")
    where.add_argument("--random", action="store_true",
                       help="a random plausible infarct chosen by --seed (ignores the scar options)")
    _add_scar_options(synth)
    synth.add_argument(
        "--rv-insertion", action="append", nargs="+", metavar="X,Y,Z", default=[],
        help="RV insertion point(s) in RAS mm, as for `scarsynth aha` (else the RV label, else "
             "an assumed orientation)")
    _add_render_options(synth)
    synth.add_argument("-o", "--outdir", required=True, help="output folder")
    synth.set_defaults(func=run_synth)

    dataset = subparsers.add_parser(
        "synth-dataset", help="build a synthetic training set from cases without scar (or with: --from)",
        description="For each of N synthetic cases take a case without scar (Case_N*) from "
                    "DATASET_DIR (EMIDEC layout), draw a random plausible scar and render its LGE "
                    "image (with --from infarct or both, infarct hearts too: the new scar goes into "
                    "segments without scar, and only it is painted). Writes "
                    "OUTDIR/Case_PsynNNNN/{Images,Contours}/Case_PsynNNNN.nii.gz "
                    "(the EMIDEC layout train-seg reads), a params.json per case and "
                    "synth_dataset.json. Each case appears complete or not at all.")
    dataset.add_argument("dataset", help="dataset folder in the EMIDEC layout")
    dataset.add_argument("-n", "--cases", type=int, default=200, help="number of synthetic cases")
    dataset.add_argument("--seed", type=seed, default=0, help="random seed of the whole set")
    dataset.add_argument("--non-ischaemic", type=float, default=0.0,
                         help="share (0..1) of mid-wall, epicardial and patchy scars (default 0)")
    dataset.add_argument("--from", dest="sources", default="normal", choices=("normal", "infarct", "both"),
                         help="hearts the scars are drawn on: normal (Case_N*, the default); infarct (Case_P*: "
                              "their scar is kept and the new one goes only into AHA segments without scar); "
                              "or both, alternating")
    dataset.add_argument("--resume", action="store_true",
                         help="keep cases already in OUTDIR and make only the missing ones")
    _add_render_options(dataset)
    dataset.add_argument("-o", "--outdir", required=True, help="output folder")
    dataset.set_defaults(func=run_synth_dataset)


def _add_scar_options(parser):
    add_arguments(parser, ScarRequest)


def _add_render_options(parser):
    add_arguments(parser, RenderRequest)


def parse_segments(text):
    """'1,2,7' -> [1, 2, 7] (InputError for anything else)."""
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"--segments expects AHA segment numbers like 1,2,7; got '{text}'.") from None


def render(image, labels, args, seed, progress=True, reference=None):
    """The LGE image with the scar of `labels`, from the diffusion renderer; `reference`, the labels
    of `image` as it is, so that only what changes is painted."""
    try:
        from .diffusion import synthesize_volume
    except ImportError as error:
        raise SynthesisUnavailable(
            f"The diffusion renderer is not available ({error}); use --mask-only to write the "
            "scar labels alone.") from None
    return synthesize_volume(image, labels, seed=seed, num_inference_steps=args.steps,
                             weights=args.weights, device=args.device, progress=progress, reference_labels=reference)


def run_synth(args):
    from LGECore.io import read_image, read_labels, write_volume
    from LGECore.outputs import atomic_output_dir
    from LGECore.volume import ras_to_lps

    from .scar_masks import make_scar_labels, random_scar_config

    _refuse_overwriting_inputs(args.outdir, ("image.nii.gz", "labels.nii.gz", "params.json"),
                               (args.image, args.labels))
    _check_renderer(args)
    image = read_image(args.image)
    labels = read_labels(args.labels, like=image)
    rv_points = _rv_points(args.rv_insertion)
    if args.random:
        request = random_scar_config(args.seed)
    else:
        request = dict(segments=parse_segments(args.segments) if args.segments else None,
                       territory=args.territory, transmurality=args.transmurality,
                       extent=args.extent, mvo=args.mvo, pattern=args.pattern, seed=args.seed)
    new_labels, params = make_scar_labels(
        labels, rv_insertion_lps=None if rv_points is None else ras_to_lps(rv_points), **request)
    if params["scar_voxels_added"] == 0:
        raise InputError("No scar could be drawn: the chosen segments hold no healthy myocardium.")
    synthetic = None if args.mask_only else render(image, new_labels, args, request["seed"], reference=labels)
    params.update(_source_record(args.image, args.labels, args, synthetic is not None))
    protect = (args.image, args.labels)
    with atomic_output_dir(args.outdir) as staging:
        if synthetic is not None:
            write_volume(synthetic, staging / "image.nii.gz", protect=protect)
        write_volume(new_labels, staging / "labels.nii.gz", protect=protect)
        _write_json(params, staging / "params.json")
    written = ("image.nii.gz, " if synthetic is not None else "") + "labels.nii.gz, params.json"
    print(f"scar: {params['scar_voxels_added']} voxels in segments {params['segments_with_scar']}, "
          f"transmurality {params['achieved_transmurality']:.2f}, MVO {params['mvo_voxels_added']} "
          f"voxels; existing scar ({params['existing_scar_voxels']} voxels) kept")
    print(f"wrote {Path(args.outdir)}: {written}")
    return 0


def run_synth_dataset(args):
    from tqdm import tqdm

    from LGECore.io import read_emidec_dataset
    from LGECore.outputs import atomic_output_dir, check_output_dir

    from .synth_sources import SOURCE_KINDS, source_cases

    if args.cases < 1:
        raise InputError(f"-n must be at least 1; got {args.cases}.")
    if not 0.0 <= args.non_ischaemic <= 1.0:
        raise InputError(f"--non-ischaemic must be a share in 0..1; got {args.non_ischaemic}.")
    outdir = Path(args.outdir)
    if outdir.resolve() == Path(args.dataset).resolve():
        raise InputError("Write the synthetic set to its own folder, not into the source dataset.")
    check_output_dir(outdir)
    sources = source_cases(read_emidec_dataset(args.dataset), args.sources)
    if not sources:
        raise InputError(f"{args.dataset} holds no {SOURCE_KINDS[args.sources]} to draw scars on.")
    names = [f"{SYNTH_CASE_PREFIX}{i + 1:04d}" for i in range(args.cases)]
    existing = sorted(p.name for p in outdir.glob(f"{SYNTH_CASE_PREFIX}*")) if outdir.is_dir() else []
    if existing and not args.resume:
        raise InputError(f"{outdir} already holds synthetic cases ({existing[0]}, ...); use "
                         "--resume to complete it or choose another folder.")
    _check_renderer(args)

    manifest, loaded = [], {}
    for i, name in enumerate(tqdm(names, desc="synthetic cases", unit="case")):
        if (outdir / name).exists():  # made by an earlier run (--resume)
            params = _made_before(outdir / name, args.sources)
        else:
            first = i % len(sources)  # the sources in turn, the next ones where one has no room left
            params = _synthetic_case(args, outdir, name, sources[first:] + sources[:first], loaded, i)
        manifest.append(dict(case=name, **{key: params[key] for key in MANIFEST_KEYS if key in params}))
    with atomic_output_dir(outdir) as staging:
        _write_json(dict(dataset=str(args.dataset), seed=args.seed, mask_only=args.mask_only,
                         non_ischaemic=args.non_ischaemic, sources=args.sources, cases=manifest),
                    staging / "synth_dataset.json")
    print(f"wrote {len(names)} synthetic cases from {len(sources)} source cases ({args.sources}) to {outdir}"
          + (" (masks only, no images)" if args.mask_only else ""))
    return 0


# What synth_dataset.json says of each case: its source, the request, what was drawn.
MANIFEST_KEYS = ("source", "segments", "transmurality", "extent", "mvo", "pattern", "seed", "requested_segments",
                 "existing_scar_segments", "scar_voxels_added", "segments_with_scar")


def _made_before(case_dir, kind):
    """The params of a case an earlier run made, after checking it was drawn on a heart of this kind."""
    from .synth_sources import fits_kind

    params = json.loads((case_dir / "params.json").read_text())
    if not fits_kind(params["source"], kind):
        raise InputError(f"{case_dir.name} was drawn on {params['source']}, not on a heart that --from {kind} "
                         "takes; resume with the options that made the set, or choose another folder.")
    return params


def _synthetic_case(args, outdir, name, sources, loaded, index):
    """Draw a random scar on the first of `sources` that has room for one, render it and write the
    case folder whole; returns its params. `loaded` keeps the last source heart in memory."""
    from LGECore.io import write_volume
    from LGECore.outputs import atomic_output_dir

    from .synth_sources import new_scar, source_scar

    for source in sources:
        if source.name not in loaded:
            image, labels = source.load()
            loaded.clear()
            loaded[source.name] = (image, labels, source_scar(labels))
        image, labels, scar = loaded[source.name]
        drawn = new_scar(labels, args.seed * 1_000_003 + index, args.non_ischaemic, scar)
        if drawn is not None:
            break
    else:
        raise InputError(f"No source heart has an AHA segment without scar left for {name}.")
    new_labels, params = drawn
    synthetic = None if args.mask_only else render(image, new_labels, args, params["seed"], False, labels)
    params.update(source=source.name, image_synthesised=synthetic is not None)
    with atomic_output_dir(outdir) as staging:  # the case folder appears whole
        case_dir = staging / name
        if synthetic is not None:
            write_volume(synthetic, case_dir / "Images" / f"{name}.nii.gz")
        write_volume(new_labels, case_dir / "Contours" / f"{name}.nii.gz")
        _write_json(params, case_dir / "params.json")
    return params


def _refuse_overwriting_inputs(outdir, names, inputs):
    for name in names:
        target = Path(outdir) / name
        for kept in inputs:
            if target.exists() and Path(kept).exists() and target.resolve() == Path(kept).resolve():
                raise InputError(f"Refusing to overwrite the input {kept}: choose another output folder.")


def _check_renderer(args):
    if args.mask_only:
        return
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1; got {args.steps}.")
    try:
        from . import diffusion  # noqa: F401
    except ImportError as error:
        raise SynthesisUnavailable(
            f"The diffusion renderer is not available ({error}); use --mask-only to write the "
            "scar labels alone.") from None


def _rv_points(groups):
    texts = [text for group in groups for text in group]
    if not texts:
        return None
    from AHABullseyeLib.cli import parse_point

    return np.array([parse_point(text) for text in texts])


def _source_record(image_path, labels_path, args, synthesised):
    record = dict(image=str(image_path), labels=str(labels_path), image_synthesised=synthesised)
    if synthesised:
        record.update(num_inference_steps=args.steps, weights=args.weights or "shipped model")
    return record


def _write_json(data, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
