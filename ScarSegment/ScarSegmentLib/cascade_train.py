"""Training the cascade (`scarsynth train-seg`): the anatomy network, then the scar network.

`train_cascade(dataset_dir, out_dir, config)` trains on every case, or with `config.fold` on all
but one stratified fold, which it then scores. Each network logs losses and validation Dice per
epoch to out_dir/training_log_<stage>.csv and checkpoints every epoch (resume=True continues);
the finished model is two safetensors files, one registry entry and a model card.
"""

import json
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from LGECore.errors import InputError
from LGECore.outputs import check_output_dir
from LGECore.models import check_finite_loss

from . import data as D
from .cascade_batches import StageCases, training_batch
from .cascade_config import ANATOMY, SCAR, make_cascade_config
from .cascade_output import write_cascade
from .cascade_validate import validate_stage
from .folds import stratified_folds
from .train_distributed import Distributed
from .train_output import save_atomic

VALIDATE_EVERY = 5  # epochs; validation costs as much as a training epoch
LOG_COLUMNS = ("epoch", "seconds", "lr", "loss", "dice_ce", "kl", "val_dice_blood_pool", "val_dice_myocardium",
               "val_dice_scar", "val_dice_mvo")


def split_cases(cases, config):
    """(training cases, held-out cases) of a run: the held-out fold, or none."""
    if not config.fold:
        return list(cases), []
    index, count = config.fold
    by_kind = {}
    for case in cases:
        by_kind.setdefault(case.kind, []).append(case.name)
    held_out = set(stratified_folds(by_kind, count, config.seed)[index])
    return [c for c in cases if c.name not in held_out], [c for c in cases if c.name in held_out]


def steps_per_epoch(stage, world_size):
    """Optimiser steps each process takes per epoch: the epoch's iterations shared among the processes."""
    return max(1, stage.iterations_per_epoch // world_size)


def learning_rate(stage, step, total_steps):
    """Linear warm-up, then cosine decay to zero."""
    warmup = min(1.0, (step + 1) / max(stage.warmup_iterations, 1))
    return stage.learning_rate * warmup * 0.5 * (1.0 + math.cos(math.pi * min(step / total_steps, 1.0)))


def append_log(path, row, columns=LOG_COLUMNS):
    """One row more in a training log (CSV); the header is written with the first row."""
    import csv

    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{row[k]:.5g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in columns})


def autocast(device):
    """bfloat16 autocast: 1.1-1.3x faster steps on a CPU with AVX-512 bf16 (benchmarks/train_step.py)."""
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16)


def initial_state_of(init_weights, role, stage):
    """The state of the `role` network of the trained cascade `init_weights` (sha256 checked);
    its settings must be those this run trains with."""
    from .segmenter import find_entry, load_scar_stage, load_segmenter

    network, settings = load_segmenter(init_weights) if role == ANATOMY else load_scar_stage(init_weights)
    if settings.to_dict() != stage.network.to_dict():
        raise InputError(f"The {role} network of {find_entry(init_weights)['name']} was built with other settings "
                         f"than the --preset asks for; fine-tune with the preset it was trained with.")
    return getattr(network, "ungrouped", network).state_dict()


def stage_model(stage, dist, checkpoint, init_weights="", role=ANATOMY, initial_state=None):
    import torch

    from .losses import RobustSegmentationLoss
    from .network import build_network

    network = build_network(stage.network).to(dist.device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=stage.learning_rate, weight_decay=stage.weight_decay)
    loss = RobustSegmentationLoss(stage.network.num_classes, stage.class_weights, stage.kl_weight, stage.kl_sigma,
                                  dist.device)
    start = (0, 0, 0.0)
    if checkpoint is not None:
        network.load_state_dict(checkpoint["network"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start = (int(checkpoint["epoch"]), int(checkpoint["step"]), float(checkpoint["seconds"]))
    elif initial_state is not None:  # the weak trainer's scar network starts from its classifier
        network.load_state_dict(initial_state)
    elif init_weights:
        network.load_state_dict(initial_state_of(init_weights, role, stage))
    model = network
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(network, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    return SimpleNamespace(network=network, model=model, optimizer=optimizer, loss=loss, start=start)


def _train_epoch(run, stage, stage_cases, rng, epoch, step, total_steps):
    import torch

    per_process = steps_per_epoch(stage, run.dist.world_size)
    totals = {"loss": 0.0, "dice_ce": 0.0, "kl": 0.0}
    for _ in range(per_process):
        for group in run.model_parts.optimizer.param_groups:
            group["lr"] = learning_rate(stage, step, total_steps)
        inputs, targets = training_batch(stage_cases, rng)
        with autocast(run.dist.device):
            logits = run.model_parts.model(inputs.to(run.dist.device))
        loss, parts = run.model_parts.loss(logits.float(), targets.to(run.dist.device))
        check_finite_loss(float(loss.detach()), f"{stage_cases.role} network's", step)
        run.model_parts.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.model_parts.network.parameters(), 12.0)
        run.model_parts.optimizer.step()
        step += 1
        totals["loss"] += float(loss.detach())
        for key, value in parts.items():
            totals[key] += value
        run.bar.update(1)
        run.bar.set_postfix(stage=stage_cases.role, epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}")
    return {k: v / per_process for k, v in totals.items()}, step


def _end_epoch(run, role, stage, held_out, epoch, step, seconds, row):
    import torch

    due = (epoch + 1) % VALIDATE_EVERY == 0 or epoch + 1 == stage.epochs
    scores = validate_stage(run.model_parts.network, held_out, stage, role, run.dist.device) if held_out and due else {}
    row.update(epoch=epoch + 1, seconds=round(seconds, 1), lr=run.model_parts.optimizer.param_groups[0]["lr"])
    row.update({f"val_{k}": v for k, v in scores.items()})
    append_log(run.out_dir / f"training_log_{role}.csv", row)
    state = {"network": run.model_parts.network.state_dict(), "optimizer": run.model_parts.optimizer.state_dict(),
             "epoch": epoch + 1, "step": step, "seconds": seconds, "config": json.dumps(run.config.to_dict())}
    save_atomic(lambda p: torch.save(state, p), run.out_dir / f"checkpoint_{role}.pt")
    run.bar.write(f"{role} epoch {epoch + 1}/{stage.epochs}: loss {row['loss']:.4f}"
                  + "".join(f", {k[5:]} {v:.3f}" for k, v in scores.items() if k.startswith("dice_")))
    return scores


def train_stage(run, role, cases, held_out, initial_state=None):
    """Train one network from its checkpoint (if any) to its last epoch, else from `initial_state`
    (a state dict) or the run's init_weights; returns (network, scores, seconds)."""
    import torch

    stage = getattr(run.config, role)
    checkpoint_path = run.out_dir / f"checkpoint_{role}.pt"
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True) if checkpoint_path.exists() else None
    run.model_parts = stage_model(stage, run.dist, checkpoint, run.config.init_weights, role,
                                  initial_state)
    stage_cases = StageCases(cases, stage, role)
    total_steps = stage.epochs * steps_per_epoch(stage, run.dist.world_size)
    epoch, step, seconds = run.model_parts.start
    scores = {}
    for epoch in range(epoch, stage.epochs):
        started = time.time()
        seed = np.random.SeedSequence((run.config.seed, role == SCAR, epoch, run.dist.rank))
        row, step = _train_epoch(run, stage, stage_cases, np.random.default_rng(seed), epoch, step, total_steps)
        seconds += time.time() - started
        if run.dist.main:
            scores = _end_epoch(run, role, stage, held_out, epoch, step, seconds, row) or scores
        run.dist.barrier()
    if not scores and held_out and run.dist.main:
        scores = validate_stage(run.model_parts.network, held_out, stage, role, run.dist.device)
    return run.model_parts.network, scores, seconds


def check_run_folder(out_dir, resume):
    check_output_dir(out_dir)
    started = any(out_dir.glob("checkpoint_*.pt"))
    if resume and not started:
        raise InputError(f"Nothing to resume: {out_dir} holds no checkpoint_anatomy.pt or checkpoint_scar.pt.")
    if not resume and started:
        raise InputError(f"{out_dir} already holds a training run; pass --resume or use a new folder.")


def check_resumed_config(out_dir, config):
    """A resumed run must go on with the settings it started with."""
    import torch

    for path in sorted(out_dir.glob("checkpoint_*.pt")):
        saved = json.loads(torch.load(path, map_location="cpu", weights_only=True)["config"])
        if saved != json.loads(json.dumps(config.to_dict())):
            raise InputError(f"{path.name} was written with other settings than this run's; resume with the "
                             "same options, or start in a new folder.")


def parent_lineage(init_weights):
    """{name, sha256, scar_sha256} of the cascade a fine-tuning run starts from, after loading both its
    networks (checksums, finite weights): called before any data is read."""
    from .segmenter import find_entry, load_scar_stage, load_segmenter

    if not init_weights:
        return None
    entry = find_entry(init_weights)
    if "scar_stage" not in entry:
        raise InputError(f"{entry['name']} is not a cascade (no scar network); --init-weights needs one that "
                         "`scarsynth train-seg` wrote.")
    load_segmenter(init_weights)
    load_scar_stage(init_weights)
    return {"name": entry["name"], "sha256": entry["sha256"], "scar_sha256": entry["scar_stage"]["sha256"]}


def load_training_cases(dataset_dir, config, show_progress):
    """(training cases, held-out cases) of a run: the dataset split by the run's fold, then its
    extra datasets and phantoms, for training only (the held-out fold stays real)."""
    cases = D.load_dataset(dataset_dir, config.anatomy.network, config.lost_spacing_mm, show_progress)
    train, held_out = split_cases(cases, config)
    for folder in config.extra_train_dirs:
        extra = D.load_dataset(folder, config.anatomy.network, config.lost_spacing_mm, show_progress)
        for case in extra:  # so that the entry and card tell them from the dataset's own cases
            case.extra_set = Path(folder).name
        train += extra
    if config.phantoms:
        train += D.load_phantoms(config.phantoms, config.anatomy.network, config.phantom_weight, config.seed,
                                 show_progress)
    return train, held_out


def stage_training_cases(cases, config, role):
    """The cases one network trains on: the --extra-train sets' only if config.extra_train_networks names it."""
    if role in config.extra_train_networks:
        return cases
    return [case for case in cases if not getattr(case, "extra_set", "")]


def train_cascade(dataset_dir, out_dir, config=None, resume=False, progress=True):
    """Train both networks; returns the registry entry's path (main process), None elsewhere."""
    import torch
    from tqdm import tqdm

    out_dir = Path(out_dir)
    config = config or make_cascade_config("cpu")
    check_run_folder(out_dir, resume)
    if resume:
        check_resumed_config(out_dir, config)
    parent = parent_lineage(config.init_weights)
    dist = Distributed(config.device)
    try:
        if dist.device.type == "cpu":
            torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // dist.world_size))
        torch.manual_seed(config.seed + dist.rank)
        train, held_out = load_training_cases(dataset_dir, config, progress and dist.main)
        if dist.main:
            out_dir.mkdir(parents=True, exist_ok=True)
        total = sum(getattr(config, r).epochs * steps_per_epoch(getattr(config, r), dist.world_size)
                    for r in (ANATOMY, SCAR))
        bar = tqdm(total=total, desc="training", unit="it", disable=not (progress and dist.main))
        run = SimpleNamespace(config=config, dist=dist, out_dir=out_dir, bar=bar, model_parts=None)
        results = {role: train_stage(run, role, stage_training_cases(train, config, role), held_out)
                   for role in (ANATOMY, SCAR)}
        bar.close()
        if not dist.main:
            return None
        return write_cascade(results, config, out_dir, train, held_out, dist.world_size, dist.device.type, parent)
    finally:
        dist.close()
