"""Joint training: the generator learns from DDPM plus a segmentation-consistency loss while a
segmenter learns from real slices plus slices the current generator has just synthesised.

Each step:
  1. generator: DDPM loss on real crops + weight * consistency loss (see joint_losses) on crops
     whose scar was replaced by a random new one, through x0_hat at the sampled timestep;
  2. segmenter: Dice + CE on real crops and on the buffer of freshly synthesised crops;
  3. every `refresh_every` steps the buffer is re-synthesised (DDIM, few steps) by the
     current generator from new random scars.
With an adversarial weight, the generator also learns to fool a patch critic on the crops it paints
for the consistency loss, and the critic learns on them and on real scar (joint_adversarial).

Under torchrun both networks average their gradients over the processes (train_processes), each
process synthesising its own buffer; rank 0 writes the loss log, checkpoints and weights.
"""

import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from LGECore.errors import InputError
from LGECore.models import check_finite_loss

from . import diffusion_data as data
from . import diffusion_model as dm
from . import diffusion_train as dt
from . import joint_adversarial as ja
from . import joint_losses as jl
from .request import LR_SCHEDULES
from .scar_regions import CROP_MARGIN_PIXELS, paint_region, random_scar_labels
from .train_processes import in_processes, mean_over_processes, rank_rng, rank_torch_seed, wrap

JOINT_GENERATOR_NAME = "scarsynth_lge_diffusion_joint"
JOINT_SEGMENTER_NAME = "scarsynth_joint_segmenter"
BUFFER_SAMPLING_STEPS = 10
SEGMENTER_WARMUP_STEPS = 20  # default: the consistency loss starts once the segmenter learnt a little


def generator_learning_rate(learning_rate, schedule, step, steps):
    """The generator's learning rate at `step` of `steps`: constant, or cosine decay to zero, which
    lets the weights (and their EMA) settle at the end of a long run instead of drifting."""
    if schedule == "cosine":
        return learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / steps))
    return learning_rate


def _new_scar_batch(arrays, size, rng, region_kind):
    """Real crops with label maps carrying a new random scar, as tensors (images, labels, regions):
    the regions are the crops' heart regions, or for a "scar" generator the changed pixels dilated."""
    import torch

    index = rng.integers(0, len(arrays["images"]), size)
    labels = np.stack([random_scar_labels(arrays["labels"][i], rng) for i in index])
    if region_kind == "heart":
        regions = arrays["regions"][index]
    else:
        regions = np.stack([paint_region(new, arrays["labels"][i], CROP_MARGIN_PIXELS)
                            for new, i in zip(labels, index)]).astype(np.float32)
    return (torch.from_numpy(arrays["images"][index]), torch.from_numpy(labels.astype(np.int64)),
            torch.from_numpy(regions))


def _synthesise_buffer(generator, arrays, size, rng, step, region_kind, dist):
    """Freshly synthesised crops (context pasted back outside the region) with their labels; the
    sampling seeds of each process are its own (those of a single process on rank 0)."""
    import torch

    from .diffusion import sample_normalised

    images, labels, regions = _new_scar_batch(arrays, size, rng, region_kind)
    generator.eval()
    seeds = [(step * dist.world_size + dist.rank) * size + i for i in range(size)]
    samples, _ = sample_normalised(generator, images, regions, labels, seeds, BUFFER_SAMPLING_STEPS,
                                   keep_known=region_kind == "scar")
    generator.train()
    samples = torch.from_numpy(samples)
    return regions * samples + (1.0 - regions) * images, labels


def _joint_networks(settings, start, state, learning_rate, device, adversarial=False):
    """Generator (with EMA), segmenter, the patch critic where `adversarial`, their optimisers and
    where a resumed run (checkpoint `state`) stopped; `start` is dt.generator_start's answer for
    trained generator weights, or None."""
    import torch

    start_state, lineage = None, None
    if start is not None:
        settings, start_state, lineage = start
    if state is not None:
        settings, lineage = state["config"], state.get("lineage")
    generator = dm.build_unet(settings)
    if start_state is not None:
        generator.load_state_dict(start_state)
    generator.to(device)
    segmenter = jl.build_segmenter().to(device)
    if state is not None:  # the resumed generator replaces the fresh one, as the segmenter's weights do
        generator = dm.build_unet(settings).to(device)
        generator.load_state_dict(state["generator"])
    ema = dt.make_ema(generator)
    generator_optimizer = torch.optim.AdamW(generator.parameters(), lr=learning_rate, weight_decay=1e-4)
    segmenter_optimizer = torch.optim.AdamW(segmenter.parameters(), lr=1e-3, weight_decay=1e-4)
    run = SimpleNamespace(settings=settings, generator=generator, segmenter=segmenter, ema=ema,
                          generator_optimizer=generator_optimizer, segmenter_optimizer=segmenter_optimizer,
                          start_step=0, elapsed=0.0, lineage=lineage, critic=None, critic_optimizer=None)
    if adversarial:
        run.critic = ja.build_critic().to(device)
        run.critic_optimizer = ja.critic_optimizer(run.critic)
        if state is not None and state.get("critic") is not None:
            run.critic.load_state_dict(state["critic"])
            run.critic_optimizer.load_state_dict(state["critic_optimizer"])
    if state is not None:
        ema.load_state_dict(state["ema"])
        segmenter.load_state_dict(state["segmenter"])
        generator_optimizer.load_state_dict(state["generator_optimizer"])
        segmenter_optimizer.load_state_dict(state["segmenter_optimizer"])
        run.start_step, run.elapsed = int(state["step"]), float(state["elapsed_s"])
    return run


def _generator_update(run, arrays, options, step, rng, torch_rng):
    """1. generator: DDPM on real crops + consistency (+ adversarial) on crops with a new scar; returns
    the real batch and the losses (means over the processes); the painted crops go to run.painted."""
    import torch

    device = options.device
    images, labels, regions = (t.to(device) for t in data.random_batch(arrays, options.batch_size, rng))
    ddpm, _ = dt.diffusion_loss(run.wrapped_generator, options.scheduler, images, labels, regions, torch_rng,
                                dt.CONTEXT_LOSS_WEIGHTS[options.region_kind])
    for group in run.generator_optimizer.param_groups:
        group["lr"] = generator_learning_rate(options.learning_rate, options.lr_schedule, step, options.steps)
    total, consistency, adversarial = ddpm, torch.zeros(()), torch.zeros(())
    if step >= options.segmenter_warmup and options.consistency_weight > 0:
        new_images, new_labels, new_regions = (t.to(device) for t in _new_scar_batch(arrays, options.half, rng,
                                                                                options.region_kind))
        # The segmenter is frozen for this term: its plain module, as its DDP wrapper would wait for gradients.
        consistency, composite, timesteps = jl.consistency_loss(
            run.wrapped_generator, run.segmenter, options.scheduler, new_images, new_labels, new_regions,
            options.seg_loss, torch_rng)
        total = ddpm + options.consistency_weight * consistency
        if run.critic is not None:
            adversarial = ja.generator_term(run.critic, composite, new_regions, timesteps)
            total = total + options.adversarial_weight * adversarial
            run.painted = (composite.detach(), new_regions, timesteps)
    shared_total, shared_ddpm, shared_consistency, shared_adversarial = mean_over_processes(
        run.dist, [total.detach(), ddpm.detach(), consistency.detach(), adversarial.detach()])
    check_finite_loss(shared_total, "generator's", step)
    run.generator_optimizer.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_(run.generator.parameters(), 1.0)
    run.generator_optimizer.step()
    run.ema.update_parameters(run.generator)
    return images, labels, shared_ddpm, shared_consistency, shared_adversarial


def _critic_update(run, arrays, options, rng, step):
    """The patch critic: real scar crops against the crops the generator just painted; its loss."""
    if run.critic is None or run.painted is None:
        return 0.0
    device = options.device
    real_images, real_regions = (t.to(device) for t in ja.real_scar_batch(arrays, options.real_scar, options.half,
                                                                           rng))
    loss = ja.critic_term(run.wrapped_critic, real_images, real_regions, *run.painted)
    shared, = mean_over_processes(run.dist, [loss.detach()])
    check_finite_loss(shared, "critic's", step)
    run.critic_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.critic_optimizer.step()
    return shared


def _segmenter_update(run, options, images, labels, buffer, step):
    """2. segmenter: real crops plus freshly synthesised ones; returns both losses (means over the processes)."""
    real_loss = options.seg_loss(run.wrapped_segmenter(images[:, None]), labels[:, None])
    synthetic_loss = options.seg_loss(run.wrapped_segmenter(buffer[0][:, None]), buffer[1][:, None])
    total = real_loss + synthetic_loss
    shared_total, shared_real, shared_synthetic = mean_over_processes(
        run.dist, [total.detach(), real_loss.detach(), synthetic_loss.detach()])
    check_finite_loss(shared_total, "segmenter's", step)
    run.segmenter_optimizer.zero_grad(set_to_none=True)
    total.backward()
    run.segmenter_optimizer.step()
    return shared_real, shared_synthetic


def _save_joint_run(run, checkpoint_path, step):
    dt.save_checkpoint(checkpoint_path, dict(
        generator=run.generator.state_dict(), ema=run.ema.state_dict(), segmenter=run.segmenter.state_dict(),
        generator_optimizer=run.generator_optimizer.state_dict(),
        segmenter_optimizer=run.segmenter_optimizer.state_dict(), step=step,
        critic=None if run.critic is None else run.critic.state_dict(),
        critic_optimizer=None if run.critic is None else run.critic_optimizer.state_dict(),
        elapsed_s=run.elapsed, config=run.settings, lineage=run.lineage, paint_region=run.region_kind))


def _joint_steps(run, arrays, out_dir, checkpoint_path, options):
    """Steps from the run's start to options.steps, logged and checkpointed."""
    import torch
    from tqdm import tqdm

    rng = rank_rng([options.seed, run.start_step], run.dist.rank)
    torch_seed = rank_torch_seed(options.seed + run.start_step, run.dist.rank)
    torch_rng = torch.Generator(device=options.device).manual_seed(torch_seed)
    buffer = None
    columns = ["step", "ddpm_loss", "consistency_loss", "adversarial_loss", "critic_loss", "segmenter_loss_real",
               "segmenter_loss_synthetic", "elapsed_s"]
    with dt.loss_log(out_dir / "losses.csv", columns, run.dist.main) as (writer, handle):
        bar = tqdm(range(run.start_step, options.steps), desc="train-joint", disable=not options.progress,
                   initial=run.start_step, total=options.steps)
        for step in bar:
            began = time.time()
            if buffer is None or step % options.refresh_every == 0:
                buffer = tuple(t.to(options.device)
                               for t in _synthesise_buffer(run.generator, arrays, options.half, rng, step,
                                                           options.region_kind, run.dist))
            images, labels, ddpm, consistency, adversarial = _generator_update(run, arrays, options, step, rng,
                                                                               torch_rng)
            critic = _critic_update(run, arrays, options, rng, step)
            real_loss, synthetic_loss = _segmenter_update(run, options, images, labels, buffer, step)
            run.elapsed += time.time() - began
            losses = (ddpm, consistency, adversarial, critic, real_loss, synthetic_loss)
            writer.writerow([step + 1] + [f"{float(v):.5f}" for v in losses]
                            + [f"{run.elapsed:.1f}"])
            bar.set_postfix(ddpm=f"{ddpm:.3f}", cons=f"{consistency:.3f}", seg=f"{real_loss:.3f}")
            if run.dist.main and ((step + 1) % options.checkpoint_every == 0 or step + 1 == options.steps):
                handle.flush()
                _save_joint_run(run, checkpoint_path, step + 1)


def _export_joint(run, data_split, summary, out_dir):
    """The generator as train-synth exports it (EMA or raw, whichever does better on held-out slices),
    and the segmenter; `data_split`: (all cases, held-out names, training crops)."""
    cases, held_out, arrays = data_split
    generator = SimpleNamespace(model=run.generator, ema=run.ema, config=run.settings, region_kind=run.region_kind)
    dt.export_generator(generator, cases, held_out, arrays, summary, out_dir, JOINT_GENERATOR_NAME)
    dt.export_weights(run.segmenter, out_dir, JOINT_SEGMENTER_NAME,
                      dict(kind="joint-training-segmenter",
                           architecture="ScarSegmentLib.network.build_network (MONAI residual UNet), "
                                        "channels 16-128, 3 strides",
                           input="normalised heart crop (see the generator's settings)",
                           training=summary))


def train_joint(dataset_dir, out_dir, steps=200, batch_size=8, learning_rate=1e-4, resume=False,
                device=None, seed=0, checkpoint_every=50, max_cases=None, generator_weights=None,
                consistency_weight=0.1, refresh_every=25, segmenter_warmup=SEGMENTER_WARMUP_STEPS, config=None,
                progress=True, log=print, paint_region="scar", threads=None, lr_schedule="constant",
                adversarial_weight=0.0):
    """Train generator and segmenter together; returns a summary dict (also in the registry JSON),
    None in the processes other than rank 0 of a torchrun run, where each process draws
    `batch_size` slices per step. `paint_region`: what the generator paints
    (scar_regions.REGION_KINDS); a resumed run keeps its own. `lr_schedule`: the generator's
    learning rate, constant or decayed to zero by a cosine over the `steps`. `adversarial_weight`:
    weight of the patch critic's term on the generator (0: no critic)."""
    if steps < 1 or batch_size < 2:
        raise InputError(f"steps must be positive and batch size at least 2 (got {steps}, {batch_size}).")
    if not (math.isfinite(consistency_weight) and consistency_weight >= 0):
        raise InputError(f"The consistency weight must be a finite number of at least 0; got {consistency_weight}.")
    if not (math.isfinite(adversarial_weight) and adversarial_weight >= 0):
        raise InputError(f"The adversarial weight must be a finite number of at least 0; got {adversarial_weight}.")
    if lr_schedule not in LR_SCHEDULES:
        raise InputError(f"The learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}; got {lr_schedule}.")
    if segmenter_warmup < 0:
        raise InputError(f"The segmenter warmup must be a whole number of steps of at least 0; got {segmenter_warmup}.")
    out_dir = Path(out_dir)
    checkpoint_path = dt.check_run_folder(out_dir, resume)
    start = dt.generator_start(generator_weights) if generator_weights and not resume else None
    state = dt.load_checkpoint(checkpoint_path) if resume else None  # every process resumes from it
    paint_region = dt.run_paint_region(paint_region, state)
    setup = SimpleNamespace(config=dict(config or {}), start=start, state=state, max_cases=max_cases,
                            learning_rate=learning_rate)

    def work(dist, device, log):
        options = SimpleNamespace(steps=steps, batch_size=batch_size, half=max(1, batch_size // 2), device=device,
                                  seed=seed, checkpoint_every=checkpoint_every, refresh_every=refresh_every,
                                  segmenter_warmup=segmenter_warmup, consistency_weight=consistency_weight,
                                  progress=progress and dist.main, region_kind=paint_region,
                                  learning_rate=learning_rate, lr_schedule=lr_schedule,
                                  adversarial_weight=adversarial_weight)
        return _train_joint_process(dataset_dir, out_dir, checkpoint_path, setup, options, dist, log)

    return in_processes(device, threads, log, work)


def _train_joint_process(dataset_dir, out_dir, checkpoint_path, setup, options, dist, log):
    """train_joint in one process: read the data, train, and in rank 0 export and return the summary."""
    import torch

    device = options.device
    cases, held_out, train_cases, arrays = dt.training_data(dataset_dir, setup.max_cases, options.progress,
                                                            options.region_kind)
    log(f"joint training on {len(train_cases)} cases, {len(arrays['images'])} slices; device {device}, "
        f"{dist.world_size} process(es)")
    torch.manual_seed(options.seed)  # the same initial weights in every process
    adversarial = options.adversarial_weight > 0 and options.consistency_weight > 0
    run = _joint_networks(setup.config, setup.start, setup.state, setup.learning_rate, device, adversarial)
    run.region_kind, run.dist, run.painted = options.region_kind, dist, None
    run.wrapped_generator, run.wrapped_segmenter = wrap(run.generator, dist), wrap(run.segmenter, dist)
    if adversarial:
        run.wrapped_critic, options.real_scar = wrap(run.critic, dist), ja.real_scar_crops(arrays)
        if not len(options.real_scar):
            raise InputError("The adversarial term needs training crops with real scar; these cases have none.")
    if setup.state is not None:
        log(f"resumed at step {run.start_step}")
    if dist.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    options.scheduler, options.seg_loss = dm.build_train_scheduler(), jl.segmentation_loss(device)
    _joint_steps(run, arrays, out_dir, checkpoint_path, options)
    if not dist.main:
        return None
    summary = dict(steps=options.steps, batch_size=options.batch_size, world_size=dist.world_size,
                   learning_rate=setup.learning_rate, lr_schedule=options.lr_schedule,
                   adversarial_weight=options.adversarial_weight, consistency_weight=options.consistency_weight,
                   segmenter_warmup=options.segmenter_warmup, refresh_every=options.refresh_every,
                   training_crops=int(len(arrays["images"])), training_cases=len(train_cases),
                   paint_region=options.region_kind, held_out_cases=sorted(held_out),
                   train_time_s=round(run.elapsed, 1), device=str(device), started_from=run.lineage,
                   **dt.last_losses(out_dir / "losses.csv"))
    _export_joint(run, (cases, held_out, arrays), summary, out_dir)
    log(f"done: {options.steps} joint steps in {run.elapsed:.0f} s; {summary}")
    return summary
