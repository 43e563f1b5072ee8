"""CLI: `scarsynth train-synth` (the diffusion generator), `scarsynth train-joint` (generator and
segmenter trained together with a segmentation-consistency loss) and `scarsynth evaluate-synth`.

Several GPUs or nodes: `torchrun --nproc_per_node N -m ScarSynthLib.cli train-synth ...` (or
train-joint); each process draws --batch-size slices per step and rank 0 writes the run's files.
"""

from pathlib import Path

from LGECore.requests import add_arguments, from_args, number_in, seed

from .request import LR_SCHEDULES, GeneratorTrainingRequest
from .synth_train_seg import add_synthetic_options

_SEVERAL_GPUS = ("On several GPUs: torchrun --nproc_per_node N -m ScarSynthLib.cli {command} DATASET_DIR -o OUT ...; "
                 "each process then draws --batch-size slices per step, and the first one writes the loss log, "
                 "checkpoints and weights.")


def _common_arguments(parser):
    parser.add_argument("dataset_dir", type=Path, help="dataset in the EMIDEC layout (Case_X/Images, Case_X/Contours)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for checkpoints, loss log and weights")
    add_arguments(parser, GeneratorTrainingRequest)


def _set_threads(args):
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _train_synth(args):
    from .diffusion_train import train_synth

    train_synth(args.dataset_dir, args.output, init_weights=args.init_weights,
                **from_args(GeneratorTrainingRequest, args).run_options())
    return 0


def _train_joint(args):
    from .joint_train import train_joint

    train_joint(args.dataset_dir, args.output, generator_weights=args.generator_weights,
                consistency_weight=args.consistency_weight, segmenter_warmup=args.segmenter_warmup,
                lr_schedule=args.lr_schedule, adversarial_weight=args.adversarial_weight,
                **from_args(GeneratorTrainingRequest, args).run_options())
    return 0


def _check_report_file(path, suffix, dataset_dir, option):
    """InputError, before any work, for a report file that cannot be written or would replace an input."""
    from LGECore.errors import InputError
    from LGECore.outputs import check_output_dir

    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise InputError(f"{option} {path.name} must end in {suffix}.")
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name.")
    if path.exists() and Path(dataset_dir).resolve() in path.resolve().parents:
        raise InputError(f"Refusing to overwrite {path}, a file of the dataset; choose another {option} file.")
    check_output_dir(path.parent)


def _evaluate_synth(args):
    import json

    from LGECore.outputs import write_text_atomic

    from .diffusion_eval import evaluate_generator, save_montage

    _check_report_file(args.json, ".json", args.dataset_dir, "--json")
    _check_report_file(args.montage, ".png", args.dataset_dir, "--montage")
    _set_threads(args)
    rows, summary, examples = evaluate_generator(args.dataset_dir, weights=args.weights,
                                                 num_inference_steps=args.steps, seed=args.seed,
                                                 progress=not args.no_progress, strength=args.strength)
    for row in rows:
        print(json.dumps(row))
    print(json.dumps(summary, indent=2))
    if args.json:
        from .diffusion import sampling_settings

        strength, _ = sampling_settings(args.weights, args.strength)
        write_text_atomic(json.dumps(dict(steps=args.steps, seed=args.seed, strength=strength, rows=rows,
                                          summary=summary), indent=2) + "\n", args.json)
    if args.montage:
        print(f"montage: {save_montage(examples, args.montage)}")
    return 0


def register(subparsers):
    evaluate = subparsers.add_parser(
        "evaluate-synth",
        help="realism figures (scar/remote and blood/myocardium intensity ratios, real vs synthetic) "
             "of the generator on the held-out cases of a dataset")
    evaluate.add_argument("dataset_dir", type=Path, help="dataset in the EMIDEC layout")
    evaluate.add_argument("--weights", default=None, help="generator weights (default: the shipped model)")
    evaluate.add_argument("--steps", type=number_in(int, 1, 50), default=25,
                          help="sampling steps = network evaluations, 1 to 50 (default 25)")
    evaluate.add_argument("--seed", type=seed, default=0)
    evaluate.add_argument("--strength", type=number_in(float, 0, 1, above=True), default=None,
                          help="1 = start from pure noise; below 1 from a noised label template "
                               "(default: the weights' recommended value)")
    evaluate.add_argument("--montage", type=Path, default=None, help="write a PNG montage real | labels | synthetic")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    evaluate.add_argument("--threads", type=number_in(int, 1), default=None)
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(func=_evaluate_synth)

    synth = subparsers.add_parser(
        "train-synth", help="train the conditional diffusion generator (DDPM) on a labelled dataset",
        description=f"Train the conditional diffusion generator (DDPM). {_SEVERAL_GPUS.format(command='train-synth')}")
    _common_arguments(synth)
    synth.add_argument("--init-weights", default=None, metavar="WEIGHTS",
                       help="continue training trained weights ('shipped' or a .safetensors file) with a "
                            "fresh optimiser; --steps counts the new steps")
    synth.set_defaults(func=_train_synth)

    joint = subparsers.add_parser(
        "train-joint",
        help="train generator and segmenter together: the segmenter sees real and freshly synthesised "
             "slices, the generator a segmentation-consistency loss",
        description=f"Train generator and segmenter together. {_SEVERAL_GPUS.format(command='train-joint')}")
    _common_arguments(joint)
    joint.add_argument("--generator-weights", default=None,
                       help="start the generator from these weights (.safetensors; 'shipped' for the "
                            "shipped model; default: from scratch)")
    joint.add_argument("--consistency-weight", type=number_in(float, 0), default=0.1,
                       help="weight of the segmentation-consistency loss on the generator")
    joint.add_argument("--segmenter-warmup", type=number_in(int, 0), default=20,
                       help="steps of segmenter training before the consistency loss starts (default 20)")
    joint.add_argument("--adversarial-weight", type=number_in(float, 0), default=0.0,
                       help="weight of a patch critic's term on the generator, which asks painted scar to look "
                            "like real scar patch by patch (default 0: none)")
    joint.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                       help="the generator's learning rate: constant, or cosine decay to zero over --steps "
                            "(lets a long run settle; default constant)")
    joint.set_defaults(func=_train_joint)
    add_synthetic_options(subparsers)  # train-seg --synthetic: synthesis lives in this layer
