"""Deep scar segmentation on held-out real cases: accuracy, and time and peak memory per case on
CPU, side by side in one process with an nnU-Net-sized 2D network on the same input.

    python benchmarks/segment.py [--data data/emidec] [--weights MODEL] [--held-out-of MODEL] [--cases 16]
                                 [--threads 1]

Accuracy: per-structure Dice (LV myocardium, scar incl. MVO, MVO, blood pool; mean over the cases
whose truth holds the structure, and over all cases counting 1 where both are empty, as EMIDEC and
`scarsynth evaluate` average) and the absolute scar-burden error, on the model's held-out
cases (listed in its registry entry: give a cross-validation fold's model, benchmarks/cv.py), as stored (EMIDEC grid; the lost pixel spacing is set to
the value assumed in training) and again after moving each case onto another scanner's grid
(other pixel size, in-plane rotation, flips, off-centre heart, slice order, intensity range).

Baseline (speed and memory only; it is untrained): nnU-Net v2's PlainConvUNet as nnU-Net plans
it for 256 x 256 slices (7 stages, 32..512 features, instance norm, leaky ReLU) with its default
test-time mirroring (4 flips in 2D), run per slice on the same normalised input. It needs the
extra package, which is not a dependency of the project:

    pip install -c constraints.txt dynamic-network-architectures
    pip uninstall -y torchvision

(it keeps the pinned torch; the torchvision it pulls in does not match the CPU build of torch and
then breaks `import diffusers` in the same environment, and PlainConvUNet does not need it).
Without the package the baseline columns are skipped.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

from LGECore.io import read_emidec_dataset  # noqa: E402
from LGECore.volume import Volume  # noqa: E402
from other_grid import draw_move, moved_case  # noqa: E402


def peak_memory_mb(function):
    """Peak resident memory (MB) that `function()` adds, measured in a forked child process.

    The child starts with everything the parent has loaded (models, data); its high-water mark
    minus its resident size at the start is what the call itself needed, unaffected by memory
    the parent's allocator already holds from earlier calls. (Linux: reads /proc.) The child
    computes on one thread: a forked child cannot use the parent's OpenMP thread pool and would
    hang waiting for it.
    """
    import torch

    def status(field):
        with open("/proc/self/status") as handle:
            line = next(line for line in handle if line.startswith(field))
        return int(line.split()[1]) / 1024.0

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        try:
            torch.set_num_threads(1)
            start = status("VmRSS")
            function()
            os.write(write_end, f"{status('VmHWM') - start}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as handle:
        text = handle.read()
    os.waitpid(child, 0)
    return float(text) if text else float("nan")


def nnunet_sized_network():
    """nnU-Net v2's 2D plan for 256 x 256 inputs (PlainConvUNet), or None if not installed."""
    try:
        import torch.nn as nn
        from dynamic_network_architectures.architectures.unet import PlainConvUNet
    except ImportError:
        return None
    stages = 7
    return PlainConvUNet(
        input_channels=1, n_stages=stages, features_per_stage=[32, 64, 128, 256, 512, 512, 512],
        conv_op=nn.Conv2d, kernel_sizes=[[3, 3]] * stages, strides=[[1, 1]] + [[2, 2]] * (stages - 1),
        n_conv_per_stage=[2] * stages, num_classes=5, n_conv_per_stage_decoder=[2] * (stages - 1),
        conv_bias=True, norm_op=nn.InstanceNorm2d, norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=nn.LeakyReLU, nonlin_kwargs={"inplace": True}, deep_supervision=False).eval()


def run_nnunet_sized(network, image):
    """Per-slice prediction on a 256 x 256 grid with nnU-Net's 4-flip mirroring; labels on the input grid."""
    import torch
    import torch.nn.functional as F

    from ScarSegmentLib.data import normalise_intensity

    slices = torch.from_numpy(normalise_intensity(image.array))[:, None]
    size = slices.shape[-2:]
    resized = F.interpolate(slices, size=(256, 256), mode="bilinear", align_corners=False)
    total = 0
    with torch.no_grad():
        for dims in ((), (2,), (3,), (2, 3)):
            x = torch.flip(resized, dims) if dims else resized
            p = torch.softmax(network(x), dim=1)
            total = total + (torch.flip(p, dims) if dims else p)
    return F.interpolate(total / 4, size=size, mode="bilinear", align_corners=False).argmax(1).numpy()


def other_scanner(image, labels, rng, prediction=None):
    """The case moved onto another scanner's grid drawn at random (other_grid.py); also the labels
    predicted on the EMIDEC grid, when given, moved like the expert's."""
    return moved_case(image, labels, draw_move(rng), prediction)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--weights", default=None, help="model (default: the shipped one)")
    parser.add_argument("--cases", type=int, default=0, help="first N held-out cases (0 = all)")
    parser.add_argument("--held-out-of", metavar="MODEL", default=None,
                        help="score on the cases this other model held out (e.g. 'scar_segmenter_2d', to compare "
                             "a cascade trained on its training cases with it); refused where --weights trained "
                             "on any of them")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-cases", type=int, default=4,
                        help="time the (slow) nnU-Net-sized baseline and measure memory on the first N "
                             "cases only (0 = all)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-other-scanner", action="store_true")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args()


def measure_case(name, image, labels, args, baseline, measure):
    """Our time (and memory, and the baseline's, when `measure`), labels and Dice on one case."""
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.metrics import score_cases

    started = time.perf_counter()
    result = segment_dl(image, weights=args.weights, device="cpu", progress=False)
    row = {"case": name, "slices": image.shape[0], "ours_seconds": time.perf_counter() - started}
    if measure:
        row["ours_peak_mb"] = peak_memory_mb(lambda: segment_dl(image, weights=args.weights, device="cpu", progress=False))
    if baseline is not None and measure:
        started = time.perf_counter()
        run_nnunet_sized(baseline, image)
        row["nnunet_seconds"] = time.perf_counter() - started
        row["nnunet_peak_mb"] = peak_memory_mb(lambda: run_nnunet_sized(baseline, image))
    scores = score_cases([result.labels.array], [labels.array])[1][0]
    row.update(scores)
    show = lambda v: "   -  " if v is None else f"{v:6.3f}"  # noqa: E731
    print(f"{name:10s} {row['slices']:6d} {row['ours_seconds']:7.2f} {row.get('ours_peak_mb', float('nan')):8.0f} "
          f"{row.get('nnunet_seconds', float('nan')):7.2f} {row.get('nnunet_peak_mb', float('nan')):7.0f} "
          f"{show(scores['myocardium'])} {show(scores['scar'])} {show(scores['mvo'])}")
    return row, result


def print_header(entry, network, baseline, names, args, assumed):
    params = lambda net: sum(p.numel() for p in net.parameters()) / 1e6  # noqa: E731
    if baseline is None and not args.no_baseline:
        print("nnU-Net-sized baseline skipped: pip install -c constraints.txt dynamic-network-architectures "
              "(then pip uninstall -y torchvision; see this file's docstring)")
    print(f"model {entry['name']} ({params(network):.2f} M parameters); {len(names)} held-out cases; "
          f"{args.threads} CPU thread(s) (peak memory on one); EMIDEC pixel spacing assumed {assumed} mm")
    if baseline is not None:
        print(f"baseline: nnU-Net-sized PlainConvUNet ({params(baseline):.2f} M parameters), 4-flip mirroring")
    print(f"\n{'case':10s} {'slices':>6s} {'ours s':>7s} {'ours MB':>8s} {'nnU s':>7s} {'nnU MB':>7s} "
          f"{'myo':>6s} {'scar':>6s} {'mvo':>6s}")


def report_figures(report, rows, predictions, truths, moved):
    """Print the summaries (EMIDEC grid, other grids, their reference) and mean timing into `report`."""
    from ScarSegmentLib.metrics import score_cases

    report["summary"], _ = score_cases(predictions, truths)
    print("\nheld-out cases, EMIDEC grid:")
    print_summary(report["summary"])
    if moved["predictions"]:
        report["other_scanner_summary"], _ = score_cases(moved["predictions"], moved["truths"])
        print("same cases on other scanners' grids (0.7-1.9 mm pixels, any rotation, flips, off-centre, "
              "12-bit-like intensities):")
        print_summary(report["other_scanner_summary"])
        # What a model that did as well on every grid as on EMIDEC's would score there: its
        # EMIDEC-grid labels moved onto the same grids as the expert's.
        report["other_scanner_reference"], _ = score_cases(moved["natives"], moved["truths"])
        print("reference: the labels predicted on the EMIDEC grid, moved onto the same grids:")
        print_summary(report["other_scanner_reference"])
    timing = {key: float(np.mean([r[key] for r in rows if key in r]))
              for key in rows[0] if key.endswith(("seconds", "_mb"))}
    report["mean_per_case"] = timing
    print("mean per case (memory and baseline over the cases they were measured on): "
          + ", ".join(f"{k} {v:.2f}" for k, v in timing.items()))


def held_out_cases(entry):
    """The cases a model did not train on, as its registry entry lists them (a cascade, or the
    single network of earlier versions)."""
    training = entry.get("training", {})
    return training.get("held_out_cases", training.get("validation_cases", []))


def scored_cases(entry, held_out_of=None):
    """The model's own held-out cases, or those of the model `held_out_of`, none of which it may have
    trained on (SystemExit otherwise)."""
    from ScarSegmentLib.segmenter import find_entry

    if held_out_of is None:
        return held_out_cases(entry)
    names = held_out_cases(find_entry(held_out_of))
    seen = sorted(set(names) & set(entry.get("training", {}).get("train_cases", [])))
    if seen:
        raise SystemExit(f"{entry['name']} trained on {len(seen)} of the cases {held_out_of} held out "
                         f"({', '.join(seen[:3])}, ...); a comparison on them would show fit.")
    return names


def main():
    args = parse_args()
    import torch

    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.segmenter import find_entry, load_segmenter

    torch.set_num_threads(args.threads)
    entry = find_entry(args.weights)
    assumed = entry["training"]["config"]["lost_spacing_mm"]
    network, _ = load_segmenter(args.weights)
    cases = {case.name: case for case in read_emidec_dataset(args.data)}
    names = [name for name in scored_cases(entry, args.held_out_of) if name in cases][: args.cases or None]
    if not names:
        names = sorted(cases)[: args.cases or None]
        print("The model holds out no cases (it was trained on all of them): the accuracy figures below show fit, "
              "not generalisation, which benchmarks/cv.py measures; give a fold's model with --weights.")
    baseline = None if args.no_baseline else nnunet_sized_network()
    print_header(entry, network, baseline, names, args, assumed)
    rng = np.random.default_rng(0)
    rows, predictions, truths = [], [], []
    moved = {"predictions": [], "truths": [], "natives": []}
    for name in names:
        image, labels = cases[name].load()
        image = Volume(image.array, (assumed, assumed, 10.0))
        labels = Volume(labels.array, image.spacing)
        row, result = measure_case(name, image, labels, args, baseline,
                                   measure=not args.baseline_cases or len(rows) < args.baseline_cases)
        rows.append(row)
        predictions.append(result.labels.array)
        truths.append(labels.array)
        if not args.no_other_scanner:
            moved_image, moved_labels, moved_native = other_scanner(image, labels, rng, result.labels)
            moved["predictions"].append(
                segment_dl(moved_image, weights=args.weights, device="cpu", progress=False).labels.array)
            moved["truths"].append(moved_labels.array)
            moved["natives"].append(moved_native.array)
    report = {"model": entry["name"], "cases": names, "threads": args.threads, "per_case": rows}
    report_figures(report, rows, predictions, truths, moved)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float) + "\n")


def print_summary(summary):
    print(f"  Dice myocardium {summary['dice_myocardium']:.3f} ({summary['cases_with_myocardium']} cases), "
          f"scar {summary['dice_scar']:.3f} ({summary['cases_with_scar']}), "
          f"MVO {summary['dice_mvo']:.3f} ({summary['cases_with_mvo']}), "
          f"blood pool {summary['dice_blood_pool']:.3f}; "
          f"scar burden abs. error {summary['scar_burden_abs_error']:.2f} points")
    print(f"  over all cases, 1 where both are empty (EMIDEC's averaging): myocardium "
          f"{summary['dice_myocardium_all_cases']:.3f}, scar {summary['dice_scar_all_cases']:.3f}, "
          f"MVO {summary['dice_mvo_all_cases']:.3f}")


if __name__ == "__main__":
    main()
