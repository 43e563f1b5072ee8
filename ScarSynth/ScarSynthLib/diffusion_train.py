"""DDPM training of the conditional generator on heart crops of an EMIDEC-layout dataset.

One output folder holds everything of a run: `checkpoint.pt` (model, EMA, optimiser and step, for
--resume; read back with torch.load(weights_only=True), which runs no code), `losses.csv`, and at
the end the shipped form: NAME.safetensors (EMA weights), NAME.json (registry entry), NAME.md.
Under torchrun the processes share the work (train_processes); rank 0 writes all of it.
"""

import contextlib
import csv
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from LGECore.errors import InputError
from LGECore.models import check_finite_loss

from . import diffusion_data as data
from . import diffusion_model as dm
from .scar_regions import REGION_KINDS
from .train_processes import in_processes, mean_over_processes, rank_rng, rank_torch_seed, wrap

# Weight of the noise outside the paint region: the heart-region generator renders the whole crop and
# pastes the region back; a scar generator keeps the known pixels at every sampling step (scar_regions),
# so only the region is learnt, as in inpainting.
CONTEXT_LOSS_WEIGHTS = {"heart": 0.1, "scar": 0.0}
EMA_DECAY = 0.998


def sample_timesteps(count, num_train_timesteps, generator=None, device=None):
    """Training timesteps: half uniform over the schedule, half in the mid-noise band.

    In the band (about 30-95 % noise with the cosine schedule) the image must be inferred from the
    labels; near the end of the schedule the epsilon target is almost the input itself, and near
    the start the noisy image gives the answer away. Oversampling the band teaches the label
    conditioning sooner on a small compute budget.
    """
    import torch

    uniform = torch.randint(0, num_train_timesteps, (count,), generator=generator, device=device)
    low, high = int(0.3 * num_train_timesteps), int(0.9 * num_train_timesteps)
    band = torch.randint(low, high, (count,), generator=generator, device=device)
    use_band = torch.arange(count, device=device) % 2 == 1
    return torch.where(use_band, band, uniform)


def diffusion_loss(model, scheduler, images, labels, regions, generator=None, context_weight=0.1):
    """Region-weighted epsilon MSE at random timesteps (`context_weight` outside the paint region);
    also returns (noisy, timesteps, eps_pred)."""
    import torch

    noise = torch.randn(images.shape, generator=generator, device=images.device)
    timesteps = sample_timesteps(images.shape[0], scheduler.config.num_train_timesteps, generator,
                                 images.device)
    noisy = scheduler.add_noise(images, noise, timesteps)
    condition = dm.make_condition(images, regions, labels)
    predicted = model(torch.cat([noisy[:, None], condition], 1), timesteps).sample[:, 0]
    weight = regions + context_weight * (1.0 - regions)
    loss = (weight * (predicted - noise) ** 2).sum() / weight.sum().clamp_min(1.0)
    return loss, (noisy, timesteps, predicted)


def make_ema(model):
    """Exponential moving average of the weights; its decay ramps up so short runs forget the
    random initialisation quickly (decay = min(EMA_DECAY, (1 + n) / (10 + n)) after n updates)."""
    import torch

    def average(averaged, current, num_averaged):
        decay = min(EMA_DECAY, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
        return decay * averaged + (1.0 - decay) * current

    return torch.optim.swa_utils.AveragedModel(model, avg_fn=average)


def validation_loss(model, arrays, batches=4, batch_size=16, seed=1234, context_weight=0.1):
    """Mean DDPM loss on fixed batches (same crops, noise and timesteps for every model)."""
    import torch

    scheduler = dm.build_train_scheduler()
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    losses = []
    model.eval()
    with torch.no_grad():
        for _ in range(batches):
            images, labels, regions = (t.to(device) for t in data.random_batch(arrays, batch_size, rng))
            losses.append(diffusion_loss(model, scheduler, images, labels, regions, generator,
                                         context_weight)[0].item())
    model.train()
    return float(np.mean(losses))


def save_checkpoint(path, state):
    """Write the resume checkpoint atomically (a crash never leaves half a file)."""
    import torch

    temporary = Path(str(path) + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def export_weights(model, out_dir, name, settings, card_text=None):
    """Save `model` as NAME.safetensors plus its registry entry NAME.json (and card NAME.md)."""
    from safetensors.torch import save_file

    from LGECore.models import check_trained_weights, sha256_of

    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.safetensors"
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    check_trained_weights(tensors, name)
    save_file(tensors, str(weights))
    entry = dict(name=name, file=weights.name, sha256=sha256_of(weights), **settings)
    (out_dir / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    if card_text:
        (out_dir / f"{name}.md").write_text(card_text)
    return entry


def generator_settings(config, region_kind="scar"):
    """The registry settings that rebuild the generator, its crops and its paint region exactly."""
    from .scar_regions import PAINT_MARGIN_PIXELS

    return dict(
        kind="conditional-diffusion-generator",
        architecture="diffusers.UNet2DModel",
        unet_config={k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        crop_size=dm.CROP_SIZE,
        crop_side_per_lv_extent=data.CROP_SIDE_PER_EXTENT,
        region_margin_per_lv_extent=data.REGION_MARGIN_PER_EXTENT,
        paint_region=region_kind,
        **({"paint_margin_pixels": PAINT_MARGIN_PIXELS, "known_pixels": "kept at every sampling step"}
           if region_kind == "scar" else {}),
        normalise_percentiles=list(data.NORMALISE_PERCENTILES),
        num_train_timesteps=dm.NUM_TRAIN_TIMESTEPS,
        beta_schedule=dm.BETA_SCHEDULE,
        prediction_type="epsilon",
        conditioning=["noisy image", "image outside the paint region", "paint region mask",
                      "one-hot labels: background, LV blood pool, myocardium, scar, MVO"],
        sampling=dict(scheduler="DDIM (eta 0, x0 clipped to +-3)", default_steps=25,
                      strength=dm.RECOMMENDED_STRENGTH),
    )


def last_losses(loss_file, window=20):
    """Mean of each logged loss column over the last `window` steps of a losses.csv."""
    with open(loss_file) as handle:
        rows = list(csv.DictReader(handle))[-window:]
    names = [n for n in (rows[0] if rows else {}) if n not in ("step", "elapsed_s")]
    return {f"final_{n}_mean_last_{len(rows)}": round(float(np.mean([float(r[n]) for r in rows])), 5)
            for n in names}


def generator_start(weights):
    """(config, state dict, lineage) of trained generator weights to start from ('shipped', name or path)."""
    from LGECore.models import load_state_dict

    from .diffusion import resolve_weights

    path, entry = resolve_weights(None if weights == "shipped" else weights)
    parent = entry.get("training", {})
    lineage = dict(name=entry.get("name", ""), sha256=entry.get("sha256", ""), steps=parent.get("steps"),
                   train_time_s=parent.get("train_time_s"), started_from=parent.get("started_from"))
    return entry.get("unet_config", {}), load_state_dict(path, entry.get("sha256")), lineage


def check_run_folder(out_dir, resume):
    """The run's checkpoint path, after refusing an output folder that cannot be one, a resume without
    a checkpoint and a new run over an old one."""
    from LGECore.outputs import check_output_dir

    check_output_dir(out_dir)
    checkpoint_path = Path(out_dir) / "checkpoint.pt"
    if resume and not checkpoint_path.is_file():
        raise InputError(f"--resume: no checkpoint at {checkpoint_path}.")
    if not resume and checkpoint_path.exists():
        raise InputError(f"{out_dir} already holds a run; pass --resume to continue it or pick "
                         "another output folder.")
    return checkpoint_path


def run_paint_region(requested, state):
    """What a run learns to paint: `requested` (checked) for a new run; a resumed run (checkpoint
    `state`) keeps its own, and checkpoints that name none rendered the heart region."""
    if requested not in REGION_KINDS:
        raise InputError(f"The paint region must be one of {', '.join(REGION_KINDS)}; got {requested!r}.")
    return requested if state is None else state.get("paint_region", "heart")


def training_data(dataset_dir, max_cases, progress, region_kind="heart"):
    """(all cases, held-out case names, training cases, their crops) of an EMIDEC-layout dataset."""
    from LGECore.io import read_emidec_dataset

    if max_cases is not None and max_cases < 1:
        raise InputError(f"--max-cases must be at least 1; got {max_cases}.")
    cases = read_emidec_dataset(dataset_dir)
    held_out = {c.name for c in data.held_out_cases(cases)}
    train_cases = [c for c in cases if c.name not in held_out][:max_cases]
    return cases, held_out, train_cases, data.load_training_arrays(train_cases, progress, region_kind)


@contextlib.contextmanager
def loss_log(path, columns, write=True):
    """A csv writer appending to the run's loss log (header written once), and its file; with
    write=False (the processes other than rank 0) a writer and file that do nothing."""
    if not write:
        yield SimpleNamespace(writerow=lambda row: None), SimpleNamespace(flush=lambda: None)
        return
    new_log = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new_log:
            writer.writerow(columns)
        yield writer, handle


def _generator_run(config, start, state, learning_rate, device, seed, rank=0):
    """(config, model, ema, optimiser, start step, elapsed s, lineage, numpy rng) of a new, continued
    (`start`: generator_start's answer) or resumed (checkpoint `state`) generator run, in process `rank`."""
    import torch

    start_state, lineage = None, None
    if state is not None:
        config = state["config"] or None  # the run keeps the architecture it started with
        lineage = state.get("lineage")
    elif start is not None:
        config, start_state, lineage = start
    model = dm.build_unet(config)
    if start_state is not None:
        model.load_state_dict(start_state)
    model = model.to(device)
    ema = make_ema(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    start_step, elapsed, rng = 0, 0.0, rank_rng(seed, rank)
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, elapsed = int(state["step"]), float(state["elapsed_s"])
        rng = rank_rng([seed, start_step], rank)
    return SimpleNamespace(config=config, model=model, ema=ema, optimizer=optimizer, start_step=start_step,
                           elapsed=elapsed, lineage=lineage, rng=rng)


def _generator_step(run, arrays, batch_size, learning_rate, step, scheduler, torch_generator, device):
    """One DDPM step of the generator on a random batch; returns the loss (the mean over the processes)."""
    import torch

    images, labels, regions = (t.to(device) for t in data.random_batch(arrays, batch_size, run.rng))
    # A short linear warm-up keeps the first Adam steps from overshooting.
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate * min(1.0, (step + 1) / 100)
    loss, _ = diffusion_loss(run.wrapped_model, scheduler, images, labels, regions, torch_generator,
                             CONTEXT_LOSS_WEIGHTS[run.region_kind])
    shared_loss, = mean_over_processes(run.dist, [loss.detach()])
    check_finite_loss(shared_loss, "generator's", step)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.optimizer.step()
    run.ema.update_parameters(run.model)
    return shared_loss


def _save_generator_run(run, checkpoint_path, step):
    save_checkpoint(checkpoint_path, dict(model=run.model.state_dict(), ema=run.ema.state_dict(),
                                          optimizer=run.optimizer.state_dict(), step=step,
                                          elapsed_s=run.elapsed, config=run.config or {}, lineage=run.lineage,
                                          paint_region=run.region_kind))


def _train_generator_steps(run, arrays, out_dir, checkpoint_path, options):
    """Steps from the run's start to options.steps, logged and checkpointed."""
    import torch
    from tqdm import tqdm

    torch_seed = rank_torch_seed(options.seed + run.start_step, run.dist.rank)
    torch_generator = torch.Generator(device=options.device).manual_seed(torch_seed)
    scheduler, recent = dm.build_train_scheduler(), []
    with loss_log(out_dir / "losses.csv", ["step", "loss", "elapsed_s"], run.dist.main) as (writer, handle):
        bar = tqdm(range(run.start_step, options.steps), desc="train-synth", disable=not options.progress,
                   initial=run.start_step, total=options.steps)
        for step in bar:
            began = time.time()
            loss = _generator_step(run, arrays, options.batch_size, options.learning_rate, step, scheduler,
                                   torch_generator, options.device)
            run.elapsed += time.time() - began
            recent = (recent + [loss])[-50:]
            writer.writerow([step + 1, f"{loss:.5f}", f"{run.elapsed:.1f}"])
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
            if run.dist.main and ((step + 1) % options.checkpoint_every == 0 or step + 1 == options.steps):
                handle.flush()
                _save_generator_run(run, checkpoint_path, step + 1)


def export_generator(run, cases, held_out, arrays, summary, out_dir, name):
    """Export `run`'s generator (run.model, run.ema, run.config, run.region_kind): the EMA unless the
    raw weights do better on held-out slices (e.g. in a very short run); small datasets have no
    held-out case, and then the EMA is shipped."""
    chosen, context_weight = "ema", CONTEXT_LOSS_WEIGHTS[run.region_kind]
    if held_out:
        held_out_arrays = data.load_training_arrays([c for c in cases if c.name in held_out], False, run.region_kind)
        scores = {"ema": validation_loss(run.ema.module, held_out_arrays, context_weight=context_weight),
                  "raw": validation_loss(run.model, held_out_arrays, context_weight=context_weight)}
        chosen = min(scores, key=scores.get)
        summary.update(held_out_loss_ema=round(scores["ema"], 5), held_out_loss_raw=round(scores["raw"], 5))
    summary.update(exported_weights=chosen)
    export_weights(run.ema.module if chosen == "ema" else run.model, out_dir, name,
                   dict(generator_settings(dm.DEFAULT_CONFIG | (run.config or {}), run.region_kind),
                        label_means=data.label_intensity_means(arrays), training=summary))


def train_synth(dataset_dir, out_dir, steps=3000, batch_size=16, learning_rate=2e-4, resume=False,
                device=None, seed=0, checkpoint_every=200, name=dm.DEFAULT_MODEL_NAME, config=None,
                max_cases=None, init_weights=None, progress=True, log=print, paint_region="scar", threads=None):
    """Train the generator with DDPM on every slice of the non-held-out cases; returns a summary
    (None in the processes other than rank 0 of a torchrun run).

    init_weights ('shipped', a name or a path) continues training trained weights with a fresh
    optimiser; `steps` then counts the new steps only. `paint_region` (scar_regions.REGION_KINDS):
    what the generator learns to paint; a resumed run keeps its own. Under torchrun each process
    draws `batch_size` slices per step, so a step sees batch_size times the number of processes."""
    if steps < 1 or batch_size < 1:
        raise InputError(f"steps and batch size must be positive (got {steps}, {batch_size}).")
    out_dir = Path(out_dir)
    checkpoint_path = check_run_folder(out_dir, resume)
    start = generator_start(init_weights) if init_weights and not resume else None  # checked before the data
    state = load_checkpoint(checkpoint_path) if resume else None  # every process resumes from it
    setup = SimpleNamespace(config=config, start=start, state=state, max_cases=max_cases, name=name,
                            paint_region=run_paint_region(paint_region, state))

    def work(dist, device, log):
        options = SimpleNamespace(steps=steps, batch_size=batch_size, learning_rate=learning_rate, device=device,
                                  seed=seed, checkpoint_every=checkpoint_every, progress=progress and dist.main)
        return _train_synth_process(dataset_dir, out_dir, checkpoint_path, setup, options, dist, log)

    return in_processes(device, threads, log, work)


def _train_synth_process(dataset_dir, out_dir, checkpoint_path, setup, options, dist, log):
    """train_synth in one process: read the data, train, and in rank 0 export and return the summary."""
    import torch

    paint_region, device = setup.paint_region, options.device
    cases, held_out, train_cases, arrays = training_data(dataset_dir, setup.max_cases, options.progress, paint_region)
    log(f"{len(train_cases)} training cases, {len(arrays['images'])} crops (paint region: {paint_region}); "
        f"held out: {', '.join(sorted(held_out))}; device {device}, {dist.world_size} process(es)")
    torch.manual_seed(options.seed)  # the same initial weights in every process
    run = _generator_run(setup.config, setup.start, setup.state, options.learning_rate, device, options.seed,
                         dist.rank)
    run.region_kind, run.dist, run.wrapped_model = paint_region, dist, wrap(run.model, dist)
    if setup.state is not None:
        log(f"resumed at step {run.start_step}")
    if dist.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    _train_generator_steps(run, arrays, out_dir, checkpoint_path, options)
    if not dist.main:
        return None
    summary = dict(steps=max(options.steps, run.start_step), batch_size=options.batch_size,
                   world_size=dist.world_size, learning_rate=options.learning_rate,
                   training_crops=int(len(arrays["images"])), training_cases=len(train_cases),
                   paint_region=paint_region, held_out_cases=sorted(held_out), train_time_s=round(run.elapsed, 1),
                   device=str(device), started_from=run.lineage, **last_losses(out_dir / "losses.csv", window=50))
    export_generator(run, cases, held_out, arrays, summary, out_dir, setup.name)
    log(f"done: {summary['steps']} steps in {run.elapsed:.0f} s, {summary}; "
        f"weights in {out_dir / (setup.name + '.safetensors')}")
    return summary
