"""The cascade's second step at inference: the scar network splits the anatomy network's
myocardium into healthy myocardium, scar and MVO, on windows centred on the LV of each slice."""

import numpy as np

from .cascade_inputs import myocardium_normalised, robust_statistics, scar_combined
from .data import crop_around, neighbour_slices, window_bounds


def _slice_centres(anatomy, fallback):
    """In-plane centre of the predicted LV (pool and myocardium) in each slice; `fallback` where
    a slice has none."""
    labels = anatomy.argmax(axis=1)
    centres = np.tile(np.asarray(fallback, dtype=float), (len(labels), 1))
    for z, slice_labels in enumerate(labels):
        rows, cols = np.nonzero(slice_labels > 0)
        if rows.size:
            centres[z] = rows.mean(), cols.mean()
    return centres


def scar_inputs(stack, anatomy, centres, settings, step):
    """(slices, C, P, P) inputs of the scar network: the myocardium-normalised slice and its
    neighbours, then the anatomy's blood-pool and myocardium probabilities."""
    statistics = robust_statistics(stack[anatomy.argmax(axis=1) == 2])
    patch = settings.patch_size
    inputs = []
    for z, centre in enumerate(centres):
        # Cropped (zeros beyond the image and the stack) before normalising, as in training.
        image = crop_around(neighbour_slices(stack, z, settings.context_slices, step), centre, patch)
        probabilities = crop_around(anatomy[z, 1:3], centre, patch)
        inputs.append(np.concatenate([myocardium_normalised(image, statistics), probabilities]))
    return np.stack(inputs).astype(np.float32)


def with_scar_stage(network, settings, slices, anatomy, centre, step, predict, device):
    """Five-class probabilities (N, 5, H, W) of whole slices from the anatomy's (N, 3, H, W).

    slices: (N, 1, H, W) tensor of the normalised image on the model grid; `predict(network,
    batch, device)` gives class probabilities of a batch (with test-time augmentation).
    """
    import torch

    stack = slices[:, 0].numpy()
    anatomy = np.asarray(anatomy, dtype=np.float32)
    centres = _slice_centres(anatomy, centre)
    inputs = torch.from_numpy(scar_inputs(stack, anatomy, centres, settings, step))
    windows = predict(network, inputs, device).numpy()
    scar = np.zeros((len(stack), 3) + stack.shape[1:], dtype=np.float32)
    scar[:, 0] = 1.0
    patch = settings.patch_size
    for z, centre_z in enumerate(centres):
        top, left, rows, cols = window_bounds(stack.shape, centre_z, patch)
        scar[z, :, rows, cols] = windows[z, :, rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    return torch.from_numpy(scar_combined(anatomy, scar, settings.claims_border_px))
