"""Training the 2D scar segmenter: one process, or several through torchrun (PyTorch DDP).

`train_segmenter(dataset_dir, out_dir)` holds out a stratified set of cases, trains with heavy
augmentation and the robust loss, logs losses and validation Dice per epoch to
out_dir/training_log.csv, checkpoints every epoch (resume with resume=True), and finally writes
the weights (safetensors), their registry entry (JSON) and a model card into out_dir.
"""

import csv
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from LGECore.errors import InputError
from LGECore.models import sha256_of

from . import data as D
from .network import NetworkSettings
from .train_config import make_config  # noqa: F401 (make_config is part of this API)

CHECKPOINT = "checkpoint.pt"
LOG_FILE = "training_log.csv"
LOG_COLUMNS = ("epoch", "seconds", "lr", "loss", "dice_ce", "kl",
               "val_dice_myocardium", "val_dice_scar", "val_dice_mvo", "val_dice_blood_pool")


class _Distributed:
    """Rank, world size and device of this process; starts torch.distributed under torchrun."""

    def __init__(self, device_name):
        import torch
        import torch.distributed as dist

        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_name == "cuda" or (not device_name and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise InputError("device 'cuda' was asked for but no GPU is available.")
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.started_here = False
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            self.started_here = True

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        import torch.distributed as dist

        if self.world_size > 1:
            dist.barrier()

    def close(self):
        import torch.distributed as dist

        if self.started_here:
            dist.destroy_process_group()


class PatchDataset:
    """Training patches: a slice drawn by weight, a window around its LV, then augmentation."""

    def __init__(self, cases, config, epoch_indices, seed):
        from .augment import training_transforms

        self.cases = cases
        self.config = config
        self.indices = epoch_indices
        self.seed = seed
        self.transforms = training_transforms(config.network.patch_size)
        self.transforms.set_random_state(seed=seed)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, item):
        case_index, z = self.indices[item]
        case = self.cases[case_index]
        rng = np.random.default_rng((self.seed, item))
        patch = self.config.network.patch_size
        if rng.random() < self.config.background_patches:
            centre = rng.uniform(0, case.image.shape[1:])
        else:
            centre = case.centres[z] + rng.uniform(-1, 1, 2) * self.config.jitter * patch
        window = int(math.ceil(patch * 1.5))  # room for rotation and zooming out
        context = self.config.network.context_slices
        first = max(z - context, 0)
        nearby = case.image[first:z + context + 1]
        if self.config.network.window_normalisation and rng.random() < self.config.window_patches:
            nearby = self._normalised_on_window(case, nearby, centre, rng)
        elif case.fov_anchors is not None and rng.random() < self.config.fov_normalisation:
            nearby = D.renormalise(nearby, case.fov_anchors[rng.integers(len(case.fov_anchors))])
        # Renormalised before the zeros beyond the stack are added, so they stay zero as in inference.
        image = D.crop_around(D.neighbour_slices(nearby, z - first, context), centre, window)
        if context and rng.random() < 0.5:
            image = image[::-1].copy()  # stacks run apex to base on some scanners, base to apex on others
        labels = D.crop_around(case.labels[z], centre, window)
        sample = self.transforms({"image": image, "label": labels[None].astype(np.float32)})
        return sample["image"], sample["label"]

    def _normalised_on_window(self, case, nearby, centre, rng):
        """Nearby slices normalised on the patch's window, as inference does; sometimes seen
        through a smaller field of view, blank beyond it."""
        percentiles, patch = self.config.network.percentiles, self.config.network.patch_size
        if rng.random() >= self.config.tight_fov:
            return D.renormalise(nearby, D.window_anchors(case.image, centre, patch, percentiles))
        rows, cols = D.heart_field_of_view(case.labels, rng)
        inside = (centre[0] - rows.start, centre[1] - cols.start)
        anchors = D.window_anchors(case.image[:, rows, cols], inside, patch, percentiles)
        seen = np.zeros_like(nearby)
        seen[:, rows, cols] = D.renormalise(nearby[:, rows, cols], anchors)
        return seen


def slice_index(cases):
    """(case, slice) pairs of every slice of the cases."""
    return [(case_index, z) for case_index, case in enumerate(cases) for z in range(case.image.shape[0])]


def sampling_weights(cases, pairs, config, extra_from=None):
    """Probability of drawing each slice: slices with scar, and more so with MVO, come up more often;
    slices of the extra (training-only) cases, from index `extra_from` on, less often."""
    weights = []
    for case_index, z in pairs:
        labels = cases[case_index].labels[z]
        weight = 1.0
        if (labels == 3).any():
            weight += config.scar_oversampling
        if (labels == 4).any():
            weight += config.mvo_oversampling
        if extra_from is not None and case_index >= extra_from:
            weight *= config.extra_weight
        weights.append(weight)
    weights = np.asarray(weights)
    return weights / weights.sum()


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


def generation(lineage):
    """How many runs came before a run with this lineage: 0 for one from scratch, 1 for a run that
    fine-tunes a model trained from scratch, and so on."""
    count = 0
    while lineage:
        count, lineage = count + 1, lineage.get("fine_tuned_from")
    return count


def patch_seed(seed, generation_number, epoch, rank):
    """Seed of the patches one process draws in one epoch. It depends on the run's generation, so a
    fine-tuning run sees other slices and augmentations than its parent saw with the same seed."""
    return int(np.random.SeedSequence((seed, generation_number, epoch, rank)).generate_state(1)[0])


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


def _save_atomic(write, path):
    temporary = Path(f"{path}.partial")
    write(temporary)
    os.replace(temporary, path)


def _starting_point(config):
    """(config with the parent's network settings, parent weights, lineage) for fine-tuning, or
    (config, None, None) when training from scratch."""
    if not config.init_weights:
        return config, None, None
    from LGECore.models import load_state_dict

    from .segmenter import find_entry

    entry = find_entry(None if config.init_weights == "shipped" else config.init_weights)
    state = load_state_dict(entry["path"], entry.get("sha256"))
    # The architecture is the parent's; the preset's patch size and normalisation are kept for
    # training, and more neighbouring slices or features may be asked for (the parent's weights
    # are grown to fit, see grow_parent).
    parent_settings = NetworkSettings.from_dict(entry["settings"])
    channels = parent_settings.channels
    if len(config.network.channels) == len(channels):
        channels = tuple(max(p, c) for p, c in zip(channels, config.network.channels))
    settings = replace(parent_settings, patch_size=config.network.patch_size,
                       window_normalisation=config.network.window_normalisation, channels=channels,
                       context_slices=max(parent_settings.context_slices, config.network.context_slices))
    parent = entry.get("training", {})
    lineage = {"name": entry.get("name", ""), "sha256": entry.get("sha256", ""),
               "seconds": parent.get("seconds"), "epochs": parent.get("config", {}).get("epochs"),
               "channels": list(parent_settings.channels), "fine_tuned_from": parent.get("fine_tuned_from")}
    return replace(config, network=settings), grow_parent(state, parent_settings, settings, config.seed), lineage


def check_channels_hold_parent(init_weights, channels):
    """Refuse features per level asked for with a parent that they cannot hold: another number of
    levels, or fewer features than the parent's at some level (its weights would not fit)."""
    from .segmenter import find_entry

    parent = tuple(find_entry(None if init_weights == "shipped" else init_weights)["settings"]["channels"])
    if len(channels) != len(parent) or any(c < p for c, p in zip(channels, parent)):
        raise InputError(
            f"--channels {' '.join(map(str, channels))} cannot hold the weights of {init_weights}, which has "
            f"{len(parent)} levels of {' '.join(map(str, parent))} features: give {len(parent)} numbers, "
            f"each at least the parent's.")


def grow_parent(state, parent_settings, settings, seed):
    """The parent's weights fitted to a network built from `settings`, which may take more
    neighbouring slices (widen_input) and have more features per level (widen_features); the new
    weights are drawn with `seed`, so every training process starts from the same network."""
    import torch

    from .network import build_network, widen_features, widen_input

    torch.manual_seed(seed)
    state = widen_input(state, build_network(replace(parent_settings, context_slices=settings.context_slices)))
    if tuple(settings.channels) != tuple(parent_settings.channels):
        state = widen_features(state, parent_settings.channels, build_network(settings), settings.channels)
    return state


def _write_model(network, config, out_dir, scores, seconds, train_cases, valid_cases, processes, extra_cases=0,
                 lineage=None, device_type=""):
    """NAME.safetensors + NAME.json (registry entry) + NAME.md (model card) in out_dir."""
    from safetensors.torch import save_file

    from .model_card import model_card_text

    weights_path = out_dir / f"{config.name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    _save_atomic(lambda p: save_file(state, str(p)), weights_path)
    entry = {
        "name": config.name,
        "file": weights_path.name,
        "sha256": sha256_of(weights_path),
        "architecture": "monai.networks.nets.UNet (2D)",
        "settings": config.network.to_dict(),
        "training": {
            "config": config.to_dict(),
            "seconds": round(seconds, 1),
            "processes": processes,
            "device": device_type,
            "train_cases": len(train_cases),
            "extra_train_cases": extra_cases,
            "fine_tuned_from": lineage,
            "validation_cases": [case.name for case in valid_cases],
        },
        "validation": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()},
    }
    _save_atomic(lambda p: p.write_text(json.dumps(entry, indent=2) + "\n"), out_dir / f"{config.name}.json")
    _save_atomic(lambda p: p.write_text(model_card_text(entry)), out_dir / f"{config.name}.md")
    (out_dir / "split.json").write_text(json.dumps(
        {"validation": entry["training"]["validation_cases"],
         "train": [case.name for case in train_cases]}, indent=2) + "\n")
    return weights_path


def _append_log(path, row):
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{row[k]:.5g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in LOG_COLUMNS})


def train_segmenter(dataset_dir, out_dir, config=None, resume=False, progress=True):
    """Train on an EMIDEC-layout dataset; return the path of the written weights (main process).

    Under torchrun each process trains on its own patches and DDP averages the gradients; the
    main process validates, logs and writes files.
    """
    import torch
    from tqdm import tqdm

    from .losses import RobustSegmentationLoss
    from .network import build_network

    config = config or make_config("cpu")
    out_dir = Path(out_dir)
    checkpoint_path = out_dir / CHECKPOINT
    if resume and not checkpoint_path.exists():
        raise InputError(f"Nothing to resume: {checkpoint_path} does not exist.")
    if not resume and checkpoint_path.exists():
        raise InputError(f"{out_dir} already holds a training run; pass resume=True (--resume) or use a new folder.")

    resumed = torch.load(checkpoint_path, map_location="cpu", weights_only=True) if resume else None
    if resumed is not None and "network_settings" in resumed:
        # The run keeps the network and lineage it started with; the parent weights are not needed.
        config = replace(config, network=NetworkSettings.from_dict(json.loads(resumed["network_settings"])))
        initial_state, lineage = None, json.loads(resumed["lineage"])
    else:
        config, initial_state, lineage = _starting_point(config)
    dist = _Distributed(config.device)
    try:
        if dist.device.type == "cpu":
            torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // dist.world_size))
        torch.manual_seed(config.seed + dist.rank)
        cases = D.load_dataset(dataset_dir, config.network, config.lost_spacing_mm, progress and dist.main)
        train_cases, valid_cases = _choose_split(cases, config)
        extra_cases = [case for folder in config.extra_train_dirs
                       for case in D.load_dataset(folder, config.network, config.lost_spacing_mm, progress and dist.main)]
        pairs = slice_index(train_cases + extra_cases)
        weights = sampling_weights(train_cases + extra_cases, pairs, config, extra_from=len(train_cases))

        network = build_network(config.network)
        if initial_state is not None:
            network.load_state_dict(initial_state)
        network = network.to(dist.device)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        loss_function = RobustSegmentationLoss(
            config.network.num_classes, config.class_weights, config.kl_weight, config.kl_sigma, dist.device)
        start_epoch, step, seconds = 0, 0, 0.0
        if resumed is not None:
            network.load_state_dict(resumed["network"])
            optimizer.load_state_dict(resumed["optimizer"])
            start_epoch, step, seconds = int(resumed["epoch"]), int(resumed["step"]), float(resumed["seconds"])
        model = network
        if dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(network, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)

        per_process = max(1, config.iterations_per_epoch // dist.world_size)
        total_steps = config.epochs * per_process
        if dist.main:
            out_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=total_steps, initial=step, desc="training", unit="it", disable=not (progress and dist.main))
        scores = {}
        generation_number = generation(lineage)
        for epoch in range(start_epoch, config.epochs):
            started = time.time()
            epoch_seed = patch_seed(config.seed, generation_number, epoch, dist.rank)
            chosen = np.random.default_rng(epoch_seed).choice(len(pairs), size=per_process * config.batch_size, p=weights)
            dataset = PatchDataset(train_cases + extra_cases, config, [pairs[i] for i in chosen], epoch_seed)
            from monai.data import DataLoader

            loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=config.workers)
            totals = {"loss": 0.0, "dice_ce": 0.0, "kl": 0.0}
            for images, labels in loader:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(config, step, total_steps)
                loss, parts = loss_function(model(images.to(dist.device)), labels.to(dist.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                totals["loss"] += float(loss.detach())
                for key, value in parts.items():
                    totals[key] += value
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}")
            seconds += time.time() - started
            if dist.main:
                scores = validate(network, valid_cases, config, dist.device) if valid_cases else {}
                row = {k: v / per_process for k, v in totals.items()}
                row.update(epoch=epoch + 1, seconds=round(seconds, 1), lr=optimizer.param_groups[0]["lr"])
                row.update({f"val_{k}": v for k, v in scores.items() if k.startswith("dice_")})
                _append_log(out_dir / LOG_FILE, row)
                state = {"network": network.state_dict(), "optimizer": optimizer.state_dict(),
                         "epoch": epoch + 1, "step": step, "seconds": seconds,
                         "network_settings": json.dumps(config.network.to_dict()), "lineage": json.dumps(lineage)}
                _save_atomic(lambda p: torch.save(state, p), checkpoint_path)
                bar.write(f"epoch {epoch + 1}/{config.epochs}: loss {row['loss']:.4f}, validation Dice "
                          + ", ".join(f"{k[5:]} {v:.3f}" for k, v in scores.items() if k.startswith("dice_")))
            dist.barrier()
        bar.close()
        if not dist.main:
            return None
        if not scores and valid_cases:
            scores = validate(network, valid_cases, config, dist.device)
        return _write_model(network, config, out_dir, scores, seconds, train_cases, valid_cases, dist.world_size,
                            len(extra_cases), lineage, dist.device.type)
    finally:
        dist.close()
