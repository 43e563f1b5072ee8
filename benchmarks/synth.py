"""Synthetic LGE with AHA-guided scars: speed, realism, and what it adds to segmenter training.

    python benchmarks/synth.py speed     [--cases 2] [--steps 25] [--repaint-slices 2]
    python benchmarks/synth.py realism   [--cases 10] [--steps 25]
    python benchmarks/synth.py training  [--train-cases 20] [--test-cases 10] [--synthetic 20]
                                         [--epochs 3] [--iterations 20]
    python benchmarks/synth.py training  [--synthetic-dir DIR] [--extra DIR] [--learning-rate 0.001]

Data: the EMIDEC folder (--data, default $SCARSYNTH_EMIDEC or data/emidec). Runs on CPU unless --device.

speed: per painted slice, wall time and network evaluations of synthesize_volume (counted with a
  forward hook on the generator), side by side with RePaint, CLAIM's sampler (1,480 evaluations
  per slice, benchmarks/repaint.py), on the same network and the first --repaint-slices crops
  synthesize_volume painted; then the time of one generator evaluation and of drawing a scar mask.
realism: random scars (random_scar_config) on cases without scar, rendered; a segmenter trained
  on real data (--seg-weights, default the shipped one) segments the synthetic images; prints the
  Dice of its scar with the requested scar, the same segmenter's scar Dice on real infarcts
  (reference), and the scar / remote-myocardium mean-intensity ratio of the synthetic scars next
  to that of the real expert-labelled scars. Cases the segmenter never trained on come first.
training: a segmenter trained on real cases, and one on the same cases plus synthetic ones (made
  from that training split's cases without scar only; training-only extras, so validation stays
  real), same seed and budget, both scored with the full pipeline (myocardium, scar and MVO Dice)
  on held-out real cases. From scratch: N random training cases, small on purpose (CPU).
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore import labels as L  # noqa: E402
from LGECore.io import read_emidec_dataset  # noqa: E402
from ScarSynthLib.scar_masks import make_scar_labels, random_scar_config  # noqa: E402
from synth_speed import run_speed  # noqa: E402


def dice(a, b):
    total = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / total) if total else 1.0


def intensity_ratio(image, labels):
    """Mean intensity of scar over that of healthy (remote) myocardium; NaN without both."""
    scar, remote = L.scar(labels), labels == L.MYOCARDIUM
    if not scar.any() or not remote.any():
        return float("nan")
    return float(image[scar].mean() / max(image[remote].mean(), 1e-6))


def predicted_labels(result):
    """Label array of a segment_dl result."""
    return np.asarray(result.labels.array)


def segment_labels(image, weights, device):
    """The segmenter's labels for `image`. EMIDEC headers lost the pixel size (1x1x1 mm): the
    image then gets the size the segmenter assumed in training, as benchmarks/segment.py does."""
    from ScarSegmentLib.data import with_assumed_spacing
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.segmenter import find_entry

    assumed = find_entry(weights)["training"]["config"]["lost_spacing_mm"]
    image = with_assumed_spacing(image, assumed)
    return predicted_labels(segment_dl(image, weights=weights, device=device, progress=False))


def summary(values):
    values = np.asarray([v for v in values if np.isfinite(v)])
    if not len(values):
        return "n/a"
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"mean {values.mean():.3f}, median {median:.3f} (IQR {q1:.3f}-{q3:.3f}, n={len(values)})"


def random_scars(cases, count, seed=0):
    """(case, image, labels with a random scar, config) for `count` scars on `cases` in turn."""
    loaded = {}
    for i in range(count):
        case = cases[i % len(cases)]
        if case.name not in loaded:
            loaded[case.name] = case.load()
        image, labels = loaded[case.name]
        config = random_scar_config(seed * 1_000_003 + i)
        yield case, image, make_scar_labels(labels, **config)[0], config


def held_out_first(cases, seg_weights=None):
    """`cases` with those the segmenter never trained on (its registry entry) first."""
    from ScarSegmentLib.segmenter import find_entry

    training = find_entry(seg_weights).get("training", {})
    held_out = set(training.get("held_out_cases", training.get("validation_cases", [])))
    return sorted(cases, key=lambda case: case.name not in held_out)


def run_realism(args, normal, pathological):
    from ScarSynthLib.diffusion import synthesize_volume

    segment = _segmenter(args)
    if segment is not None:  # compare on cases the segmenter has not seen
        normal = held_out_first(normal, args.seg_weights)
        pathological = held_out_first(pathological, args.seg_weights)
    dices, ratios = [], []
    for _, image, labels, config in random_scars(normal, args.cases, args.seed):
        synthetic = synthesize_volume(image, labels, seed=config["seed"],
                                      num_inference_steps=args.steps, weights=args.weights,
                                      device=args.device, progress=False)
        ratios.append(intensity_ratio(synthetic.array, labels.array))
        if segment is not None:
            dices.append(dice(L.scar(segment(synthetic)), L.scar(labels.array)))
    real_dices, real_ratios = [], []
    for index, case in enumerate(pathological[:max(args.cases, 10)]):
        image, labels = case.load()
        real_ratios.append(intensity_ratio(image.array, labels.array))
        if segment is not None and index < args.cases:
            real_dices.append(dice(L.scar(segment(image)), L.scar(labels.array)))
    print(f"realism: {args.cases} synthetic scars ({args.steps} steps) vs {len(real_ratios)} real infarcts")
    if segment is not None:
        print(f"  segmenter scar Dice, synthetic vs requested: {summary(dices)}")
        print(f"  segmenter scar Dice, real vs expert (reference): {summary(real_dices)}")
    print(f"  scar / remote myocardium intensity, synthetic: {summary(ratios)}")
    print(f"  scar / remote myocardium intensity, real:      {summary(real_ratios)}")


def _segmenter(args):
    """image Volume -> predicted label array, or None (said so) when no segmenter is installed."""
    from LGECore.errors import ScarSynthError

    try:
        from ScarSegmentLib.segmenter import load_segmenter

        load_segmenter(args.seg_weights)
    except (ImportError, ScarSynthError) as error:
        print(f"  segmenter not available ({error}): Dice figures skipped")
        return None
    return lambda image: segment_labels(image, args.seg_weights, args.device)


def run_training(args, cases):
    """Two segmenters, one on real data and one on real + synthetic, from the same start, with the
    same budget and seed, scored with the full pipeline on held-out real cases."""
    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSegmentLib.cascade_train import train_cascade

    train, test = _training_split(args, cases)
    with _work_dir(args.work_dir) as scratch:
        real_dir = _link_cases(train, scratch / "real")
        synthetic_dir = Path(args.synthetic_dir) if args.synthetic_dir else _synthesise(args, real_dir, scratch)
        synthetic_count = len(read_emidec_dataset(synthetic_dir))
        scores = {}
        stage = {"epochs": args.epochs, "iterations_per_epoch": args.iterations,
                 **({"learning_rate": args.learning_rate} if args.learning_rate else {})}
        # Synthetic cases are training-only extras: the test cases stay real.
        for name, extra in (("real", ()), ("real + synthetic", (str(synthetic_dir),))):
            config = make_cascade_config("cpu", stage, seed=args.seed, threads=args.threads,
                                         extra_train_dirs=tuple(args.extra) + extra)
            weights = scratch / f"model-{len(scores)}" / f"{config.name}.json"
            if weights.is_file():  # trained before in this --work-dir
                minutes = sum(json.loads(weights.read_text())["training"]["seconds"].values()) / 60
            else:
                start = time.perf_counter()
                weights = train_cascade(real_dir, weights.parent, config, progress=False)
                minutes = (time.perf_counter() - start) / 60
            scores[name] = _score_on(test, weights, args.device)
            print(f"  trained on {name}: {minutes:.1f} min; held-out "
                  + "; ".join(f"{k} Dice {summary(v)}" for k, v in scores[name].items()), flush=True)
    print(f"training (from scratch): {len(train)} real training cases, {synthetic_count} synthetic, "
          f"{len(test)} held-out real cases; {args.epochs} epochs x {args.iterations} iterations per network")
    print(json.dumps({arm: {k: [round(v, 4) for v in values] for k, values in per.items()}
                      for arm, per in scores.items()}))


def _training_split(args, cases):
    """(training cases, held-out test cases): random, by the seed."""
    order = np.random.default_rng(args.seed).permutation(len(cases))
    test = [cases[i] for i in order[:args.test_cases]]
    return [cases[i] for i in order[args.test_cases:args.test_cases + args.train_cases]], test


def _synthesise(args, real_dir, scratch):
    """Synthetic cases made from the training split's cases without scar."""
    from ScarSynthLib.cli import main as scarsynth

    synthetic_dir = scratch / "synthetic"
    code = scarsynth(["synth-dataset", str(real_dir), "-n", str(args.synthetic), "--seed",
                      str(args.seed), "--steps", str(args.steps), "-o", str(synthetic_dir)]
                     + (["--device", args.device] if args.device else [])
                     + (["--weights", args.weights] if args.weights else [])
                     + (["--resume"] if synthetic_dir.exists() else []))
    if code:
        raise SystemExit("synth-dataset failed")
    return synthetic_dir


def _score_on(cases, weights, device):
    """Per-case Dice of myocardium (incl. scar), scar (incl. MVO) and MVO, where the expert has it."""
    per = {"myocardium": [], "scar": [], "MVO": []}
    for case in cases:
        image, labels = case.load()
        truth = labels.array
        prediction = segment_labels(image, weights, device)
        per["myocardium"].append(dice(L.lv_myocardium(prediction), L.lv_myocardium(truth)))
        if L.scar(truth).any():
            per["scar"].append(dice(L.scar(prediction), L.scar(truth)))
        if (truth == L.MVO).any():
            per["MVO"].append(dice(prediction == L.MVO, truth == L.MVO))
    return per


@contextlib.contextmanager
def _work_dir(folder):
    """The given folder (kept, and reused by a later run), or a temporary one."""
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="synth-benchmark-") as scratch:
        yield Path(scratch)


def _link_cases(cases, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        link = folder / case.name
        if not link.exists():
            link.symlink_to(case.image_path.parents[1].resolve())
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("speed", "realism", "training"))
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--weights", help="diffusion weights (default: the shipped model)")
    parser.add_argument("--seg-weights", help="segmenter weights for realism (default: the shipped model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repaint-slices", type=int, default=2,
                        help="speed: slices to sample with RePaint as well (slow: 1,480 evaluations each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-cases", type=int, default=20)
    parser.add_argument("--test-cases", type=int, default=10)
    parser.add_argument("--synthetic", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, help="training: learning rate (default: the preset's)")
    parser.add_argument("--synthetic-dir", help="training: use these synthetic cases instead of making them")
    parser.add_argument("--work-dir", help="training: keep the trained models here; arms already trained "
                        "there are scored again, not retrained")
    parser.add_argument("--extra", action="append", default=[], metavar="DIR",
                        help="training: more training-only cases for both arms, e.g. phantoms (repeatable)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cases = read_emidec_dataset(args.data)
    normal = [c for c in cases if not c.has_infarct]
    pathological = [c for c in cases if c.has_infarct]
    if args.part == "speed":
        run_speed(args, normal)
    elif args.part == "realism":
        run_realism(args, normal, pathological)
    else:
        run_training(args, cases)


if __name__ == "__main__":
    main()
