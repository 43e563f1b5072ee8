"""Per-epoch validation of one network of the cascade on held-out cases: windows centred on the
true LV of every slice, without augmentation; the scar network is given the true anatomy,
blurred by a pixel, so that its score is its own. The whole pipeline is scored in benchmarks/cv.py."""

import numpy as np

from . import data as D
from .cascade_config import SCAR
from .cascade_inputs import anatomy_targets, myocardium_normalised, robust_statistics
from .metrics import dice
from .network import grouped_outputs


def case_windows(case, stage, role):
    """(inputs (slices, C, P, P), true labels (slices, P, P)) of one case, on windows centred on
    its true LV (the weak trainer's pseudo-labels are drawn on the same windows)."""
    from scipy import ndimage

    settings = stage.network
    patch = settings.patch_size
    image = case.image
    if settings.window_normalisation:
        image = D.renormalise(image, D.window_anchors(image, case.centres.mean(axis=0), patch, settings.percentiles))
    if role == SCAR:
        myocardium = np.isin(case.labels, (2, 3, 4))
        image = myocardium_normalised(image, robust_statistics(case.image[myocardium]))
    inputs, labels = [], []
    for z in range(case.image.shape[0]):
        centre = case.centres[z]
        channels = D.crop_around(D.neighbour_slices(image, z, settings.context_slices), centre, patch)
        truth = D.crop_around(case.labels[z], centre, patch)
        if role == SCAR:
            anatomy = anatomy_targets(truth)
            soft = [ndimage.gaussian_filter((anatomy == k).astype(np.float32), 1.0) for k in (1, 2)]
            channels = np.concatenate([channels, np.stack(soft)])
        inputs.append(channels)
        labels.append(truth)
    return np.stack(inputs).astype(np.float32), np.stack(labels)


def _predict(network, inputs, device):
    import torch

    network.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        logits = torch.cat([network(torch.from_numpy(inputs[k:k + 32]).to(device)).float().cpu()
                            for k in range(0, len(inputs), 32)])
    network.train()
    return logits.argmax(dim=1).numpy()


def _mean(values):
    return float(np.mean(values)) if values else float("nan")


def validate_stage(network, cases, stage, role, device):
    """Mean Dice per structure over the held-out cases that hold it (3D per case)."""
    scores = {"dice_blood_pool": [], "dice_myocardium": [], "dice_scar": [], "dice_mvo": []}
    network = grouped_outputs(network, stage.network)  # the classes the pipeline reads
    for case in cases:
        inputs, truth = case_windows(case, stage, role)
        predicted = _predict(network, inputs, device)
        if role == SCAR:
            pairs = {"dice_scar": (predicted >= 1, truth >= 3), "dice_mvo": (predicted == 2, truth == 4)}
        else:
            pairs = {"dice_blood_pool": (predicted == 1, truth == 1), "dice_myocardium": (predicted == 2, truth >= 2)}
        for name, (mask, true_mask) in pairs.items():
            if true_mask.any():
                scores[name].append(dice(mask, true_mask))
    return {name: _mean(values) for name, values in scores.items() if values}
