"""Joint training: the generator learns from DDPM plus a segmentation-consistency loss while a
segmenter learns from real slices plus slices the current generator has just synthesised.

Each step:
  1. generator: DDPM loss on real crops + weight * consistency loss (see joint_losses) on crops
     whose scar was replaced by a random new one, through x0_hat at the sampled timestep;
  2. segmenter: Dice + CE on real crops and on the buffer of freshly synthesised crops;
  3. every `refresh_every` steps the buffer is re-synthesised (DDIM, few steps) by the
     current generator from new random scars.
"""

import csv
import time
from pathlib import Path

import numpy as np

from LGECore.device import choose_device
from LGECore.errors import InputError

from . import diffusion_data as data
from . import diffusion_model as dm
from . import diffusion_train as dt
from . import joint_losses as jl

JOINT_GENERATOR_NAME = "scarsynth_lge_diffusion_joint"
JOINT_SEGMENTER_NAME = "scarsynth_joint_segmenter"
BUFFER_SAMPLING_STEPS = 10
SEGMENTER_WARMUP_STEPS = 20  # default: the consistency loss starts once the segmenter learnt a little


def _new_scar_batch(arrays, size, rng):
    """Real crops (images, regions) with label maps carrying a new random scar, as tensors."""
    import torch

    index = rng.integers(0, len(arrays["images"]), size)
    labels = np.stack([jl.random_scar_labels(arrays["labels"][i], rng) for i in index])
    return (torch.from_numpy(arrays["images"][index]), torch.from_numpy(labels.astype(np.int64)),
            torch.from_numpy(arrays["regions"][index]))


def _synthesise_buffer(generator, arrays, size, rng, step):
    """Freshly synthesised crops (context pasted back outside the region) with their labels."""
    import torch

    from .diffusion import sample_normalised

    images, labels, regions = _new_scar_batch(arrays, size, rng)
    generator.eval()
    seeds = [step * size + i for i in range(size)]
    samples, _ = sample_normalised(generator, images, regions, labels, seeds, BUFFER_SAMPLING_STEPS)
    generator.train()
    samples = torch.from_numpy(samples)
    return regions * samples + (1.0 - regions) * images, labels


def train_joint(dataset_dir, out_dir, steps=200, batch_size=8, learning_rate=1e-4, resume=False,
                device=None, seed=0, checkpoint_every=50, max_cases=None, generator_weights=None,
                consistency_weight=0.1, refresh_every=25, segmenter_warmup=SEGMENTER_WARMUP_STEPS, config=None,
                progress=True, log=print):
    """Train generator and segmenter together; returns a summary dict (also in the registry JSON)."""
    import torch
    from tqdm import tqdm

    from LGECore.io import read_emidec_dataset

    if steps < 1 or batch_size < 2:
        raise InputError(f"steps must be positive and batch size at least 2 (got {steps}, {batch_size}).")
    out_dir = Path(out_dir)
    checkpoint_path = out_dir / "checkpoint.pt"
    if resume and not checkpoint_path.is_file():
        raise InputError(f"--resume: no checkpoint at {checkpoint_path}.")
    if not resume and checkpoint_path.exists():
        raise InputError(f"{out_dir} already holds a run; pass --resume to continue it or pick "
                         "another output folder.")
    device = choose_device(device)
    cases = read_emidec_dataset(dataset_dir)
    held_out = {c.name for c in data.held_out_cases(cases)}
    train_cases = [c for c in cases if c.name not in held_out][:max_cases]
    arrays = data.load_training_arrays(train_cases, progress=progress)
    log(f"joint training on {len(train_cases)} cases, {len(arrays['images'])} slices; device {device}")

    torch.manual_seed(seed)
    settings = dict(config or {})
    start_state = None
    if generator_weights and not resume:
        settings, start_state, _ = dt.generator_start(generator_weights)
    generator = dm.build_unet(settings)
    if start_state is not None:
        generator.load_state_dict(start_state)
    generator.to(device)
    segmenter = jl.build_segmenter().to(device)
    ema = dt.make_ema(generator)
    generator_optimizer = torch.optim.AdamW(generator.parameters(), lr=learning_rate, weight_decay=1e-4)
    segmenter_optimizer = torch.optim.AdamW(segmenter.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = dm.build_train_scheduler()
    seg_loss = jl.segmentation_loss(device)
    start_step, elapsed = 0, 0.0
    if resume:
        state = dt.load_checkpoint(checkpoint_path)
        settings = state["config"]
        generator = dm.build_unet(settings).to(device)
        generator.load_state_dict(state["generator"])
        ema = dt.make_ema(generator)
        ema.load_state_dict(state["ema"])
        segmenter.load_state_dict(state["segmenter"])
        generator_optimizer = torch.optim.AdamW(generator.parameters(), lr=learning_rate, weight_decay=1e-4)
        generator_optimizer.load_state_dict(state["generator_optimizer"])
        segmenter_optimizer.load_state_dict(state["segmenter_optimizer"])
        start_step, elapsed = int(state["step"]), float(state["elapsed_s"])
        log(f"resumed at step {start_step}")
    rng = np.random.default_rng([seed, start_step])
    torch_rng = torch.Generator(device=device).manual_seed(seed + start_step)
    out_dir.mkdir(parents=True, exist_ok=True)
    half = max(1, batch_size // 2)
    buffer = None

    loss_file = out_dir / "losses.csv"
    new_log = not loss_file.exists()
    with open(loss_file, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new_log:
            writer.writerow(["step", "ddpm_loss", "consistency_loss", "segmenter_loss_real",
                             "segmenter_loss_synthetic", "elapsed_s"])
        bar = tqdm(range(start_step, steps), desc="train-joint", disable=not progress,
                   initial=start_step, total=steps)
        for step in bar:
            began = time.time()
            if buffer is None or step % refresh_every == 0:
                buffer = tuple(t.to(device) for t in _synthesise_buffer(generator, arrays, half, rng, step))

            # 1. generator: DDPM on real crops + consistency on crops with a new scar.
            images, labels, regions = (t.to(device) for t in data.random_batch(arrays, batch_size, rng))
            ddpm, _ = dt.diffusion_loss(generator, scheduler, images, labels, regions, torch_rng)
            total = ddpm
            consistency = torch.zeros(())
            if step >= segmenter_warmup and consistency_weight > 0:
                new_images, new_labels, new_regions = (t.to(device) for t in _new_scar_batch(arrays, half, rng))
                consistency, _ = jl.consistency_loss(generator, segmenter, scheduler, new_images,
                                                     new_labels, new_regions, seg_loss, torch_rng)
                total = ddpm + consistency_weight * consistency
            generator_optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
            generator_optimizer.step()
            ema.update_parameters(generator)

            # 2. segmenter: real crops plus freshly synthesised ones.
            real_loss = seg_loss(segmenter(images[:, None]), labels[:, None])
            synthetic_loss = seg_loss(segmenter(buffer[0][:, None]), buffer[1][:, None])
            segmenter_optimizer.zero_grad(set_to_none=True)
            (real_loss + synthetic_loss).backward()
            segmenter_optimizer.step()

            elapsed += time.time() - began
            writer.writerow([step + 1] + [f"{v.item():.5f}" for v in (ddpm, consistency, real_loss, synthetic_loss)]
                            + [f"{elapsed:.1f}"])
            bar.set_postfix(ddpm=f"{ddpm.item():.3f}", cons=f"{consistency.item():.3f}",
                            seg=f"{real_loss.item():.3f}")
            if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                handle.flush()
                dt.save_checkpoint(checkpoint_path, dict(
                    generator=generator.state_dict(), ema=ema.state_dict(), segmenter=segmenter.state_dict(),
                    generator_optimizer=generator_optimizer.state_dict(),
                    segmenter_optimizer=segmenter_optimizer.state_dict(), step=step + 1,
                    elapsed_s=elapsed, config=settings))
    summary = dict(steps=steps, batch_size=batch_size, consistency_weight=consistency_weight,
                   generator_start=generator_weights or "scratch", training_slices=int(len(arrays["images"])),
                   train_time_s=round(elapsed, 1), device=str(device), **dt.last_losses(loss_file))
    dt.export_weights(ema.module, out_dir, JOINT_GENERATOR_NAME,
                      dict(dt.generator_settings(dm.DEFAULT_CONFIG | settings),
                           label_means=data.label_intensity_means(arrays), training=summary))
    dt.export_weights(segmenter, out_dir, JOINT_SEGMENTER_NAME,
                      dict(kind="joint-training-segmenter",
                           architecture="ScarSegmentLib.network.build_network (MONAI residual UNet), "
                                        "channels 16-128, 3 strides",
                           input="normalised heart crop (see the generator's settings)",
                           training=summary))
    log(f"done: {steps} joint steps in {elapsed:.0f} s; {summary}")
    return summary

