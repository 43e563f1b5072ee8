"""Cost of one training step of the segmenter: fp32 against bfloat16 autocast, side by side.

    python benchmarks/train_step.py [--threads 2] [--steps 8] [--layouts]

For each network width, batch size and patch size it times forward, loss and backward with the
project's loss (Dice + weighted cross-entropy + KL to soft labels) and AdamW on random patches,
first in fp32, then under torch.autocast("cpu", dtype=torch.bfloat16), in the same process, and
prints steps per second and the speed-up. Random data: this measures speed only, not accuracy.

--layouts times the presets' network (32-512 features, batch 16, 128 px, bfloat16) three ways in
turn, round after round, so that other load on the machine falls on all three alike: as trained,
in channels-last memory format, and compiled by torch.compile (its first steps, which compile,
are left out).
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for module in ("", "AHABullseye", "ScarSegment", "ScarSynth"):  # "": LGECore at the root
    sys.path.insert(0, str(REPO / module))

CONFIGS = (  # (features per level, batch, patch)
    ((16, 32, 64, 128, 256), 16, 128),
    ((32, 64, 128, 256, 512), 16, 128),
    ((32, 64, 128, 256, 512), 32, 96),
)


def training_step(channels, batch, patch, bfloat16, layout="plain"):
    """One optimiser step (forward, the project's loss, backward, AdamW) on random patches, as a function;
    `layout`: plain, channels_last (memory format) or compiled (torch.compile)."""
    import torch

    from ScarSegmentLib.losses import RobustSegmentationLoss
    from ScarSegmentLib.network import NetworkSettings, build_network

    torch.manual_seed(0)
    settings = NetworkSettings(channels=channels, patch_size=patch)
    network = build_network(settings).train()
    images = torch.rand(batch, settings.in_channels, patch, patch)
    labels = torch.randint(0, settings.num_classes, (batch, 1, patch, patch))
    if layout == "channels_last":
        network, images = network.to(memory_format=torch.channels_last), images.to(memory_format=torch.channels_last)
    model = torch.compile(network) if layout == "compiled" else network
    loss_function = RobustSegmentationLoss(settings.num_classes, (1.0, 1.0, 1.0, 2.0, 3.0))
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-4)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            loss, _ = loss_function(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()
    return step


def _seconds_per_step(step, steps):
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def measure(channels, batch, patch, steps):
    """(fp32 seconds per step, bfloat16 seconds per step) for one configuration, after two warm-up steps."""
    seconds = []
    for bfloat16 in (False, True):
        step = training_step(channels, batch, patch, bfloat16)
        step(), step()
        seconds.append(_seconds_per_step(step, steps))
    return tuple(seconds)


def compare_layouts(steps, rounds=4):
    """{layout: median seconds per step} over `rounds` rounds of `steps` steps each, layouts in turn."""
    functions = {how: training_step((32, 64, 128, 256, 512), 16, 128, True, how)
                 for how in ("plain", "channels_last", "compiled")}
    for step in functions.values():  # warm-up; torch.compile compiles here
        step(), step()
    seconds = {how: [] for how in functions}
    for _ in range(rounds):
        for how, step in functions.items():
            seconds[how].append(_seconds_per_step(step, steps))
    return {how: sorted(values)[len(values) // 2] for how, values in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    parser.add_argument("--layouts", action="store_true", help="plain, channels-last and torch.compile side by side")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.layouts:
        seconds = compare_layouts(max(1, args.steps // 4))
        print(f"{args.threads} CPU thread(s); 32-512 features, batch 16, 128 px, bfloat16 autocast")
        for how, value in seconds.items():
            print(f"{how:14s} {1 / value:6.2f} steps/s  {seconds['plain'] / value:5.2f}x")
        return
    print(f"{args.threads} CPU thread(s), {args.steps} timed steps each")
    print(f"{'features':22s} {'batch':>5s} {'patch':>5s} {'fp32 it/s':>10s} {'bf16 it/s':>10s} {'speed-up':>8s}")
    for channels, batch, patch in CONFIGS:
        fp32, bf16 = measure(channels, batch, patch, args.steps)
        print(f"{'-'.join(map(str, (channels[0], channels[-1]))):22s} {batch:5d} {patch:5d} "
              f"{1 / fp32:10.2f} {1 / bf16:10.2f} {fp32 / bf16:7.2f}x")


if __name__ == "__main__":
    main()
