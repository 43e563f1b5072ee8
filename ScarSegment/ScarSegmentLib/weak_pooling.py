"""The weak classifier's maps and pooling, shared by its training, its validation and the
pseudo-labels.

The classifier is the scar network (not scar, scar, MVO logits per pixel). Its scar map is the
per-pixel log-odds of scar or MVO against healthy myocardium; a slice's logit pools that map over
the myocardium only (a class-activation map that cannot look at the blood pool or the chest
wall), by log-mean-exp: between the mean and the max, so a small scar counts without one bright
pixel deciding alone. A stack's logit pools its slices' logits the same way (multiple-instance:
a stack holds scar when some slice does).
"""

import numpy as np

from .cascade_config import SCAR
from .cascade_validate import case_windows

MYOCARDIUM_LEVEL = 0.5  # anatomy input channel: a pixel is myocardium above this probability


def scar_map(logits):
    """(N, H, W) log-odds of scar or MVO against not scar, from the scar network's (N, 3, H, W)."""
    import torch

    return torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]


def myocardium_mask(inputs):
    """(N, H, W) myocardium of the scar network's inputs: its last channel is the myocardium."""
    return inputs[:, -1] > MYOCARDIUM_LEVEL


def log_mean_exp(values, mask, sharpness):
    """(N,) log-mean-exp of `sharpness` * values over each row's mask, divided by `sharpness`;
    a row with an empty mask pools all its values."""
    import torch

    values, mask = values.flatten(1), mask.flatten(1)
    mask = mask | ~mask.any(dim=1, keepdim=True)
    scaled = torch.where(mask, sharpness * values, torch.full_like(values, -torch.inf))
    return (torch.logsumexp(scaled, dim=1) - torch.log(mask.sum(dim=1).float())) / sharpness


def slice_logits(logits, inputs, sharpness):
    """(N,) scar logit of each slice: its scar map pooled over its myocardium."""
    return log_mean_exp(scar_map(logits.float()), myocardium_mask(inputs), sharpness)


def stack_logits(per_slice, groups, sharpness):
    """(len(groups),) scar logit of each stack, pooling the logits of its slices (positions in
    `per_slice`, one list per stack)."""
    import torch

    rows = [log_mean_exp(per_slice[group][None], torch.ones(1, len(group), dtype=torch.bool), sharpness)
            for group in groups]
    return torch.cat(rows)


def case_maps(network, case, stage, sharpness, device, batch=32):
    """(scar maps (Z, P, P), myocardium masks (Z, P, P), slice logits (Z,), the slices' own
    myocardium-normalised images (Z, P, P)) of one case, on windows centred on its LV, without
    augmentation."""
    import torch

    inputs = torch.from_numpy(case_windows(case, stage, SCAR)[0])
    network.eval()
    maps, logits = [], []
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            chunk = inputs[start:start + batch]
            with torch.autocast(device.type, dtype=torch.bfloat16):
                output = network(chunk.to(device)).float().cpu()
            maps.append(scar_map(output))
            logits.append(slice_logits(output, chunk, sharpness))
    network.train()
    images = inputs[:, stage.network.context_slices].numpy()  # neighbours either side, the slice in the middle
    return torch.cat(maps).numpy(), myocardium_mask(inputs).numpy(), torch.cat(logits).numpy(), images


def auroc(scores, answers):
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN without both kinds."""
    from scipy.stats import rankdata

    scores, answers = np.asarray(scores, dtype=float), np.asarray(answers, dtype=bool)
    positives, negatives = int(answers.sum()), int((~answers).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[answers].sum() - positives * (positives + 1) / 2) / (positives * negatives))
