"""Training the weak scar classifier: the scar network's architecture and inputs, its scar map
pooled over the myocardium (weak_pooling), binary cross-entropy against yes/no per slice, or per
stack with the stack's slices pooled. Checkpoint and log per epoch, as train-seg's networks.

The classifier never sees a scar pixel label: its cases' scar and MVO are myocardium to it.
"""

import json
import time
from dataclasses import replace

import numpy as np

from LGECore import labels as L
from LGECore.models import check_finite_loss

from .cascade_batches import StageCases, training_batch
from .cascade_config import SCAR
from .cascade_train import VALIDATE_EVERY, append_log, autocast, learning_rate, stage_model, steps_per_epoch
from .train_output import save_atomic
from .weak_config import CLASSIFIER
from .weak_pooling import auroc, case_maps, log_mean_exp, slice_logits, stack_logits

LOG_COLUMNS = ("epoch", "seconds", "lr", "loss", "val_auroc")


def anatomy_only(case):
    """`case` with its scar and MVO labelled myocardium: what weak supervision may know."""
    labels = np.where(np.isin(case.labels, L.SCAR_LABELS), L.MYOCARDIUM, case.labels).astype(np.uint8)
    return replace(case, labels=labels)


class WeakBatches:
    """The labelled units (a slice, or a stack's slices) of the classifier's cases, drawn so that
    units with and without scar come equally often (each at its case's sampling weight)."""

    def __init__(self, stage_cases, labels, level):
        self.stage_cases = stage_cases
        units, answers, weights = [], [], []
        by_case = {}
        for k, (i, z) in enumerate(stage_cases.pairs):
            case = stage_cases.cases[i]
            if case.name in labels and (case.labels[z] == L.MYOCARDIUM).any():  # no myocardium: nothing to pool
                by_case.setdefault(i, []).append(k)
        for i, keys in by_case.items():
            case = stage_cases.cases[i]
            groups = [[k] for k in keys] if level == "slice" else [keys]
            for group in groups:
                z = stage_cases.pairs[group[0]][1]
                units.append(group)
                answers.append(bool(labels[case.name][z] if level == "slice" else labels[case.name]))
                weights.append(case.sampling_weight)
        self.units, self.answers = units, np.asarray(answers)
        weights = np.asarray(weights, dtype=float)
        for kind in (True, False):
            if (self.answers == kind).any():
                weights[self.answers == kind] /= weights[self.answers == kind].sum()
        self.weights = weights / weights.sum()

    def draw(self, rng, batch_size):
        """(pair indices, slice positions of each unit, answers): `batch_size` slices, or whole
        stacks until they hold that many slices (at least one stack)."""
        chosen, groups, answers = [], [], []
        while len(chosen) < batch_size:
            unit = int(rng.choice(len(self.units), p=self.weights))
            groups.append(list(range(len(chosen), len(chosen) + len(self.units[unit]))))
            chosen += self.units[unit]
            answers.append(self.answers[unit])
        return np.asarray(chosen), groups, np.asarray(answers, dtype=np.float32)


def _classifier_step(run, batches, rng, step, total_steps):
    import torch
    import torch.nn.functional as F

    stage, parts, sharpness = run.config.classifier, run.model_parts, run.config.pooling_sharpness
    for group in parts.optimizer.param_groups:
        group["lr"] = learning_rate(stage, step, total_steps)
    chosen, groups, answers = batches.draw(rng, stage.batch_size)
    inputs, _ = training_batch(batches.stage_cases, rng, chosen)
    with autocast(run.dist.device):
        logits = parts.model(inputs.to(run.dist.device))
    pooled = slice_logits(logits, inputs.to(run.dist.device), sharpness)
    if run.config.level == "stack":
        pooled = stack_logits(pooled, groups, sharpness)
    loss = F.binary_cross_entropy_with_logits(pooled, torch.from_numpy(answers).to(pooled.device))
    check_finite_loss(float(loss.detach()), "classifier's", step)
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parts.network.parameters(), 12.0)
    parts.optimizer.step()
    return float(loss.detach())


def held_out_auroc(network, cases, labels, config, device):
    """AUROC of the classifier's logits per slice (slice level) or per stack on held-out cases."""
    import torch

    scores, answers = [], []
    for case in cases:
        if case.name not in labels:
            continue
        _, masks, logits, _ = case_maps(network, case, config.classifier, config.pooling_sharpness, device)
        if config.level == "slice":
            keep = masks.any(axis=(1, 2))
            scores += list(logits[keep])
            answers += list(labels[case.name][keep])
        else:
            ones = torch.ones(1, len(logits), dtype=torch.bool)
            scores.append(float(log_mean_exp(torch.from_numpy(logits)[None], ones, config.pooling_sharpness)))
            answers.append(bool(labels[case.name]))
    return auroc(scores, answers)


def _end_epoch(run, epoch, step, seconds, loss, validation):
    import torch

    stage, parts = run.config.classifier, run.model_parts
    due = (epoch + 1) % VALIDATE_EVERY == 0 or epoch + 1 == stage.epochs
    score = held_out_auroc(parts.network, *validation, run.config, run.dist.device) if validation[0] and due else None
    append_log(run.out_dir / f"training_log_{CLASSIFIER}.csv",
               {"epoch": epoch + 1, "seconds": round(seconds, 1), "lr": parts.optimizer.param_groups[0]["lr"],
                "loss": loss, "val_auroc": score}, LOG_COLUMNS)
    state = {"network": parts.network.state_dict(), "optimizer": parts.optimizer.state_dict(), "epoch": epoch + 1,
             "step": step, "seconds": seconds, "config": json.dumps(run.config.to_dict())}
    save_atomic(lambda p: torch.save(state, p), run.out_dir / f"checkpoint_{CLASSIFIER}.pt")
    run.bar.write(f"{CLASSIFIER} epoch {epoch + 1}/{stage.epochs}: loss {loss:.4f}"
                  + (f", held-out AUROC {score:.3f}" if score is not None else ""))
    return score


def train_classifier(run, cases, labels, held_out):
    """Train (or resume) the classifier; returns (network, {"auroc": held-out AUROC} or {}, seconds)."""
    import torch

    stage = run.config.classifier
    path = run.out_dir / f"checkpoint_{CLASSIFIER}.pt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
    # Started from --init-weights' scar network, if any: a shipped model adapted to a site.
    run.model_parts = stage_model(stage, run.dist, checkpoint, run.config.init_weights, SCAR)
    batches = WeakBatches(StageCases([anatomy_only(c) for c in cases], stage, SCAR), labels, run.config.level)
    total_steps = stage.epochs * steps_per_epoch(stage, 1)
    epoch, step, seconds = run.model_parts.start
    score = None
    for epoch in range(epoch, stage.epochs):
        started, losses = time.time(), []
        rng = np.random.default_rng(np.random.SeedSequence((run.config.seed, 2, epoch)))
        for _ in range(steps_per_epoch(stage, 1)):
            losses.append(_classifier_step(run, batches, rng, step, total_steps))
            step += 1
            run.bar.update(1)
            run.bar.set_postfix(stage=CLASSIFIER, epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
        seconds += time.time() - started
        score = _end_epoch(run, epoch, step, seconds, float(np.mean(losses)), (held_out, labels))
    if score is None and held_out:
        score = held_out_auroc(run.model_parts.network, held_out, labels, run.config, run.dist.device)
    scores = {} if score is None or np.isnan(score) else {"auroc": score}
    return run.model_parts.network, scores, seconds
