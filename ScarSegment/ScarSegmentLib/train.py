"""Training the 2D scar segmenter: one process, or several through torchrun (PyTorch DDP).

`train_segmenter(dataset_dir, out_dir)` holds out a stratified set of cases, trains with heavy
augmentation and the robust loss, logs losses and validation Dice per epoch to
out_dir/training_log.csv, checkpoints every epoch (resume with resume=True), and finally writes
the weights (safetensors), their registry entry (JSON) and a model card into out_dir. The steps
live beside this file: train_distributed (processes), train_patches (what an epoch draws),
train_parent (fine-tuning) and train_output (what a run writes).
"""

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from LGECore.errors import InputError

from . import data as D
from .network import NetworkSettings
from .train_config import make_config
from .train_distributed import Distributed
from .train_output import CHECKPOINT, LOG_FILE, append_log, save_atomic, write_model
from .train_parent import check_channels_hold_parent, grow_parent, starting_point  # noqa: F401 (API)
from .train_patches import PatchDataset, generation, patch_seed, sampling_weights, slice_index

__all__ = ["make_config", "train_segmenter", "validate", "PatchDataset", "generation", "patch_seed",
           "check_channels_hold_parent", "grow_parent"]


def validation_patches(cases, patch, context=0, window_percentiles=None):
    """Deterministic patches (with `context` neighbouring slices each side as channels) centred on
    the true LV of every slice of the validation cases; with `window_percentiles`, normalised on
    the window around the case's LV, as inference does."""
    images, labels, owners = [], [], []
    for case_index, case in enumerate(cases):
        image = case.image
        if window_percentiles is not None:
            image = D.renormalise(image, D.window_anchors(image, case.centres.mean(axis=0), patch, window_percentiles))
        for z in range(case.image.shape[0]):
            images.append(D.crop_around(D.neighbour_slices(image, z, context), case.centres[z], patch))
            labels.append(D.crop_around(case.labels[z], case.centres[z], patch))
            owners.append(case_index)
    return np.stack(images), np.stack(labels), np.asarray(owners)


def validate(network, cases, config, device):
    """Mean Dice per structure on the validation cases (per case in 3D, then averaged)."""
    import torch

    from .metrics import score_cases

    settings = config.network
    images, labels, owners = validation_patches(
        cases, settings.patch_size, settings.context_slices,
        settings.percentiles if settings.window_normalisation else None)
    network.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(images), 32):
            batch = torch.from_numpy(images[start:start + 32]).to(device)
            predictions.append(network(batch).argmax(dim=1).cpu().numpy())
    network.train()
    predictions = np.concatenate(predictions)
    case_ids = range(len(cases))
    summary, _ = score_cases([predictions[owners == i] for i in case_ids], [labels[owners == i] for i in case_ids])
    return summary


def learning_rate(config, step, total_steps):
    """Linear warm-up, then cosine decay to zero."""
    warmup = min(1.0, (step + 1) / max(config.warmup_iterations, 1))
    return config.learning_rate * warmup * 0.5 * (1.0 + math.cos(math.pi * min(step / total_steps, 1.0)))


def _choose_split(cases, config):
    names = [case.name for case in cases]
    if config.split_file:
        validation = D.read_split(config.split_file)
        missing = sorted(set(validation) - set(names))
        if missing:
            raise InputError(f"Validation cases not in the dataset: {', '.join(missing)}.")
    else:
        by_kind = {}
        for case in cases:
            by_kind.setdefault(case.kind, []).append(case.name)
        validation = D.stratified_split(by_kind, config.validation_cases, config.seed)
    train = [case for case in cases if case.name not in validation]
    valid = [case for case in cases if case.name in validation]
    if not train:
        raise InputError("Every case was held out for validation; no case is left to train on.")
    return train, valid


def _starting_state(out_dir, config, resume):
    """(config, parent weights or None, lineage, checkpoint or None) of a new or resumed run."""
    import torch

    checkpoint_path = Path(out_dir) / CHECKPOINT
    if resume and not checkpoint_path.exists():
        raise InputError(f"Nothing to resume: {checkpoint_path} does not exist.")
    if not resume and checkpoint_path.exists():
        raise InputError(f"{out_dir} already holds a training run; pass resume=True (--resume) or use a new folder.")
    resumed = torch.load(checkpoint_path, map_location="cpu", weights_only=True) if resume else None
    if resumed is not None and "network_settings" in resumed:
        # The run keeps the network and lineage it started with; the parent weights are not needed.
        config = replace(config, network=NetworkSettings.from_dict(json.loads(resumed["network_settings"])))
        return config, None, json.loads(resumed["lineage"]), resumed
    return (*starting_point(config), resumed)


def _training_data(dataset_dir, config, dist, progress):
    """The cases split into training and validation, the extra training cases, and the slices an
    epoch draws from with their probabilities."""
    cases = D.load_dataset(dataset_dir, config.network, config.lost_spacing_mm, progress and dist.main)
    train_cases, valid_cases = _choose_split(cases, config)
    extra_cases = [case for folder in config.extra_train_dirs
                   for case in D.load_dataset(folder, config.network, config.lost_spacing_mm, progress and dist.main)]
    pairs = slice_index(train_cases + extra_cases)
    weights = sampling_weights(train_cases + extra_cases, pairs, config, extra_from=len(train_cases))
    return SimpleNamespace(train=train_cases, valid=valid_cases, extra=extra_cases, pairs=pairs, weights=weights)


def _model(config, dist, initial_state, resumed):
    """(network, the model to call (DDP-wrapped under torchrun), optimizer, loss, (epoch, step, seconds))."""
    import torch

    from .losses import RobustSegmentationLoss
    from .network import build_network

    network = build_network(config.network)
    if initial_state is not None:
        network.load_state_dict(initial_state)
    network = network.to(dist.device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_function = RobustSegmentationLoss(
        config.network.num_classes, config.class_weights, config.kl_weight, config.kl_sigma, dist.device)
    progress = (0, 0, 0.0)
    if resumed is not None:
        network.load_state_dict(resumed["network"])
        optimizer.load_state_dict(resumed["optimizer"])
        progress = (int(resumed["epoch"]), int(resumed["step"]), float(resumed["seconds"]))
    model = network
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(network, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    return network, model, optimizer, loss_function, progress


def _epoch_loader(data, config, per_process, epoch_seed):
    """The patches of one epoch of one process, drawn with `epoch_seed`."""
    from monai.data import DataLoader

    chosen = np.random.default_rng(epoch_seed).choice(len(data.pairs), size=per_process * config.batch_size,
                                                      p=data.weights)
    dataset = PatchDataset(data.train + data.extra, config, [data.pairs[i] for i in chosen], epoch_seed)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=config.workers)


def _train_epoch(run, loader, epoch, step):
    """One pass over `loader`; returns (summed losses, the step reached)."""
    totals = {"loss": 0.0, "dice_ce": 0.0, "kl": 0.0}
    for images, labels in loader:
        for group in run.optimizer.param_groups:
            group["lr"] = learning_rate(run.config, step, run.total_steps)
        loss, parts = run.loss_function(run.model(images.to(run.dist.device)), labels.to(run.dist.device))
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        step += 1
        totals["loss"] += float(loss.detach())
        for key, value in parts.items():
            totals[key] += value
        run.bar.update(1)
        run.bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}")
    return totals, step


def _end_epoch(run, epoch, step, seconds, totals, per_process):
    """Main process: validate, log and checkpoint the epoch; returns the validation scores."""
    import torch

    scores = validate(run.network, run.data.valid, run.config, run.dist.device) if run.data.valid else {}
    row = {k: v / per_process for k, v in totals.items()}
    row.update(epoch=epoch + 1, seconds=round(seconds, 1), lr=run.optimizer.param_groups[0]["lr"])
    row.update({f"val_{k}": v for k, v in scores.items() if k.startswith("dice_")})
    append_log(run.out_dir / LOG_FILE, row)
    state = {"network": run.network.state_dict(), "optimizer": run.optimizer.state_dict(),
             "epoch": epoch + 1, "step": step, "seconds": seconds,
             "network_settings": json.dumps(run.config.network.to_dict()), "lineage": json.dumps(run.lineage)}
    save_atomic(lambda p: torch.save(state, p), run.out_dir / CHECKPOINT)
    run.bar.write(f"epoch {epoch + 1}/{run.config.epochs}: loss {row['loss']:.4f}, validation Dice "
                  + ", ".join(f"{k[5:]} {v:.3f}" for k, v in scores.items() if k.startswith("dice_")))
    return scores


def _epochs(run, start):
    """Train from `start` = (epoch, step, seconds) to the last epoch; returns (scores, seconds)."""
    start_epoch, step, seconds = start
    per_process = max(1, run.config.iterations_per_epoch // run.dist.world_size)
    scores, generation_number = {}, generation(run.lineage)
    for epoch in range(start_epoch, run.config.epochs):
        started = time.time()
        epoch_seed = patch_seed(run.config.seed, generation_number, epoch, run.dist.rank)
        totals, step = _train_epoch(run, _epoch_loader(run.data, run.config, per_process, epoch_seed), epoch, step)
        seconds += time.time() - started
        if run.dist.main:
            scores = _end_epoch(run, epoch, step, seconds, totals, per_process)
        run.dist.barrier()
    return scores, seconds


def train_segmenter(dataset_dir, out_dir, config=None, resume=False, progress=True):
    """Train on an EMIDEC-layout dataset; return the path of the written weights (main process).

    Under torchrun each process trains on its own patches and DDP averages the gradients; the
    main process validates, logs and writes files.
    """
    import torch
    from tqdm import tqdm

    out_dir = Path(out_dir)
    config, initial_state, lineage, resumed = _starting_state(out_dir, config or make_config("cpu"), resume)
    dist = Distributed(config.device)
    try:
        if dist.device.type == "cpu":
            torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // dist.world_size))
        torch.manual_seed(config.seed + dist.rank)
        data = _training_data(dataset_dir, config, dist, progress)
        network, model, optimizer, loss_function, start = _model(config, dist, initial_state, resumed)
        total_steps = config.epochs * max(1, config.iterations_per_epoch // dist.world_size)
        if dist.main:
            out_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=total_steps, initial=start[1], desc="training", unit="it",
                   disable=not (progress and dist.main))
        run = SimpleNamespace(config=config, dist=dist, data=data, network=network, model=model, optimizer=optimizer,
                              loss_function=loss_function, total_steps=total_steps, bar=bar, out_dir=out_dir,
                              lineage=lineage)
        scores, seconds = _epochs(run, start)
        bar.close()
        if not dist.main:
            return None
        if not scores and data.valid:
            scores = validate(network, data.valid, config, dist.device)
        return write_model(network, config, out_dir, scores, seconds, data.train, data.valid, dist.world_size,
                           len(data.extra), lineage, dist.device.type)
    finally:
        dist.close()
