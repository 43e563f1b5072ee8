"""Training batches of the cascade's networks: slices drawn by weight, windows cut around the LV,
then augmentation on the whole batch at once in torch (cheap enough to leave the 2 CPU cores to
the network).

Geometry: any in-plane angle, flips and a zoom (pixel and heart size); where the stage asks for
them, a Gaussian blur (pixels coarser than the grid's, or interpolated by another scanner) and an
image edge through or near the LV (a small or cropped field of view: nothing beyond it). Appearance:
gamma, contrast, brightness and noise for the anatomy network; for the scar network gamma and noise
act before the myocardium normalisation, which cancels any linear change of contrast by construction.
"""

import math

import numpy as np

from . import data as D
from .cascade_config import SCAR
from .cascade_inputs import anatomy_targets, myocardium_normalised, robust_statistics, scar_targets

MYOCARDIUM_SAMPLE = 4000  # myocardial intensities kept per case, to renormalise after a gamma
BLUR_SHARES = (0.5, 0.25, 0.25)  # patches left sharp, blurred by half the stage's blur, by all of it
MISS_DEPTH = 6.0  # pixels of scar an anatomy input may miss from each side: most of a wall (8-12 mm)


def blur_levels(stage):
    """The Gaussian blurs (pixels) a patch may get: none, half and all of `stage.blur`."""
    return (0.0, stage.blur / 2, stage.blur) if stage.blur > 0 else (0.0,)


def _blurred_in_plane(array, sigma):
    from scipy import ndimage

    if sigma <= 0:
        return array
    return ndimage.gaussian_filter(array, (0,) * (array.ndim - 2) + (sigma, sigma))


class StageCases:
    """The cases of one stage on the network's grid, with what each batch needs precomputed."""

    def __init__(self, cases, stage, role):
        self.cases, self.stage, self.role = cases, stage, role
        settings = stage.network
        infarct_class = bool(settings.class_groups)  # the anatomy network's infarcted myocardium is an output
        self.targets = [scar_targets(c.labels) if role == SCAR else anatomy_targets(c.labels, infarct_class)
                        for c in cases]
        # Window anchors as inference takes them: around the LV, over all slices.
        self.anchors = [D.window_anchors(c.image, c.centres.mean(axis=0), settings.patch_size, settings.percentiles)
                        for c in cases]
        self.myocardium_values = [self._myocardium_sample(case) for case in cases]
        self.pairs = [(i, z) for i, c in enumerate(cases) for z in range(c.image.shape[0])]
        self.weights = self._slice_weights()

    def _myocardium_sample(self, case):
        """(blur levels, sample) myocardial intensities of the case at each of the stage's blurs: the
        statistics the scar network normalises a patch with are those of the stack as blurred as it."""
        where = np.flatnonzero(np.isin(case.labels, (2, 3, 4)))
        if where.size > MYOCARDIUM_SAMPLE:
            where = np.random.default_rng(0).choice(where, MYOCARDIUM_SAMPLE, replace=False)
        return np.stack([_blurred_in_plane(case.image, sigma).ravel()[where]
                         for sigma in blur_levels(self.stage)]).astype(np.float32)

    def _slice_weights(self):
        weights = []
        for case_index, z in self.pairs:
            labels = self.cases[case_index].labels[z]
            weight = 1.0 + self.stage.positive_oversampling * bool((labels >= 3).any())
            weight += self.stage.mvo_oversampling * bool((labels == 4).any())
            weights.append(weight * self.cases[case_index].sampling_weight)
        weights = np.asarray(weights)
        return weights / weights.sum()


def _window_of(stage_cases, case_index, z, centre, size, window_normalised):
    """(image channels, anatomy one-hot (2, ...), targets) of one window."""
    case = stage_cases.cases[case_index]
    context = stage_cases.stage.network.context_slices
    image = case.image
    if window_normalised:
        image = D.renormalise(image, stage_cases.anchors[case_index])
    channels = D.crop_around(D.neighbour_slices(image, z, context), centre, size)
    targets = D.crop_around(stage_cases.targets[case_index][z], centre, size)
    anatomy = anatomy_targets(D.crop_around(case.labels[z], centre, size))
    return channels, np.stack([anatomy == 1, anatomy == 2]).astype(np.float32), targets


def _edge_cut(image, anatomy, target, rng, patch):
    """The window with the image ending at a straight edge of random direction, 0.1 to 0.5 patch
    from its centre (the LV): beyond it the image is 0, as inference pads beyond the image, and the
    labels are background."""
    size = image.shape[-1]
    angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.5) * patch
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    beyond = rows * math.sin(angle) + cols * math.cos(angle) > distance
    return np.where(beyond, 0, image), np.where(beyond, 0, anatomy), np.where(beyond, 0, target)


def draw_windows(stage_cases, rng, batch_size, chosen=None):
    """Un-augmented windows 1.5x the patch (room to rotate and zoom) of `batch_size` drawn slices,
    or of the slices `chosen` (indices into `stage_cases.pairs`) when given."""
    stage = stage_cases.stage
    patch = stage.network.patch_size
    size = int(math.ceil(patch * 1.5))
    if chosen is None:
        chosen = rng.choice(len(stage_cases.pairs), size=batch_size, p=stage_cases.weights)
    images, anatomy, targets, cases = [], [], [], []
    for index in chosen:
        case_index, z = stage_cases.pairs[index]
        case = stage_cases.cases[case_index]
        if rng.random() < stage.background_patches:
            centre, window_normalised = rng.uniform(0, case.image.shape[1:]), False
        else:
            centre = case.centres[z] + rng.uniform(-1, 1, 2) * stage.jitter * patch
            window_normalised = stage.network.window_normalisation
        image, one_hot, target = _window_of(stage_cases, case_index, z, centre, size, window_normalised)
        if stage.edge_cuts and rng.random() < stage.edge_cuts:
            image, one_hot, target = _edge_cut(image, one_hot, target, rng, patch)
        if rng.random() < 0.5:
            image = image[::-1].copy()  # stacks run apex to base on some scanners, base to apex on others
        images.append(image)
        anatomy.append(one_hot)
        targets.append(target)
        cases.append(case_index)
    return np.stack(images), np.stack(anatomy), np.stack(targets), np.asarray(cases)


def _affine(rng, count, patch, size, stage):
    """(count, 2, 3) affine matrices: rotation, flip and zoom, cropping the patch from the window."""
    import torch

    angles = rng.uniform(-math.pi, math.pi, count) if stage.rotation else rng.integers(0, 4, count) * math.pi / 2
    zoom = np.exp(rng.uniform(-1, 1, count) * math.log1p(stage.scale))
    flips = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    theta = np.zeros((count, 2, 3), dtype=np.float32)
    crop = patch / size
    theta[:, 0, 0] = crop / zoom * np.cos(angles) * flips
    theta[:, 0, 1] = -crop / zoom * np.sin(angles)
    theta[:, 1, 0] = crop / zoom * np.sin(angles) * flips
    theta[:, 1, 1] = crop / zoom * np.cos(angles)
    return torch.from_numpy(theta)


def _warp(tensor, grid, mode):
    import torch.nn.functional as F

    return F.grid_sample(tensor, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _gamma(images, rng, strength):
    """A random gamma per patch, on intensities clipped at zero (shape kept)."""
    import torch

    if strength <= 0:
        return images
    gamma = np.exp(rng.uniform(-1, 1, len(images)) * 0.4 * strength).astype(np.float32)
    return images.clamp_min(0) ** torch.from_numpy(gamma)[:, None, None, None]


def _noise(images, rng, strength):
    import torch

    if strength <= 0:
        return images
    sigma = torch.from_numpy(rng.uniform(0, 0.05 * strength, len(images)).astype(np.float32))[:, None, None, None]
    return images + sigma * torch.randn(images.shape, generator=torch.Generator().manual_seed(int(rng.integers(2**31))))


def _anatomy_appearance(images, rng, strength):
    import torch

    images = _gamma(images, rng, strength)
    if strength > 0:
        count = len(images)
        scale = 1 + rng.uniform(-0.2, 0.2, count) * strength
        shift = rng.uniform(-0.1, 0.1, count) * strength
        images = images * torch.from_numpy(scale.astype(np.float32))[:, None, None, None] \
            + torch.from_numpy(shift.astype(np.float32))[:, None, None, None]
    return _noise(images, rng, strength)


def _blur(images, rng, stage):
    """Windows (N, C, S, S) each blurred by one of the stage's levels, and the level of each."""
    levels = blur_levels(stage)
    if len(levels) == 1:
        return images, np.zeros(len(images), dtype=int)
    chosen = rng.choice(len(levels), len(images), p=BLUR_SHARES)
    return np.stack([_blurred_in_plane(image, levels[k]) for image, k in zip(images, chosen)]), chosen


def _scar_appearance(images, anatomy, cases, blurs, stage_cases, rng, strength):
    """Gamma and noise, then the myocardium normalisation with the case's statistics after the same
    blur and gamma."""
    import torch

    gamma = np.exp(rng.uniform(-1, 1, len(images)) * 0.4 * strength) if strength > 0 else np.ones(len(images))
    images = images.clamp_min(0) ** torch.from_numpy(gamma.astype(np.float32))[:, None, None, None]
    images = _noise(images, rng, strength).numpy()
    normalised = np.empty_like(images)
    for k, case_index in enumerate(cases):
        values = np.clip(stage_cases.myocardium_values[case_index][blurs[k]], 0, None) ** gamma[k]
        normalised[k] = myocardium_normalised(images[k], robust_statistics(values))
    return torch.from_numpy(np.concatenate([normalised, _softened(anatomy, rng)], axis=1))


def _missed_scar(anatomy, targets, rng, share):
    """The true anatomy (N, 2: pool, myocardium) with, in `share` of the windows, the scar nearest
    the blood pool called blood pool and the scar nearest the background called background, each to
    a random depth of 0 to MISS_DEPTH pixels: what the anatomy network does to bright scar beside
    bright blood, so that the scar network learns to find scar it is not told is myocardium."""
    from scipy import ndimage

    anatomy = anatomy.copy()
    for k in np.flatnonzero(rng.random(len(anatomy)) < share):
        scar = targets[k] > 0
        if not scar.any():
            continue
        pool, background = anatomy[k, 0] > 0.5, anatomy[k].sum(axis=0) < 0.5
        for outside, called_pool in ((pool, True), (background, False)):
            if not outside.any():
                continue
            missed = scar & (ndimage.distance_transform_edt(~outside) <= rng.uniform(0, MISS_DEPTH))
            anatomy[k, 1][missed] = 0.0
            if called_pool:
                anatomy[k, 0][missed] = 1.0
    return anatomy


def _softened(anatomy, rng):
    """The true anatomy blurred by a random amount: the anatomy network's probabilities are soft
    at every border, and a pixel or two off."""
    from scipy import ndimage

    soft = np.empty_like(anatomy)
    for k in range(len(anatomy)):
        sigma = rng.uniform(0.5, 2.0)
        shift = rng.uniform(-1.5, 1.5, 2)
        for c in range(anatomy.shape[1]):
            soft[k, c] = ndimage.shift(ndimage.gaussian_filter(anatomy[k, c], sigma), shift, order=1)
    return soft


def training_batch(stage_cases, rng, chosen=None):
    """(inputs (N, C, P, P), targets (N, 1, P, P)) of one augmented batch: drawn by the slices'
    weights, or of the slices `chosen` (indices into `stage_cases.pairs`; the weak classifier
    picks its own)."""
    import torch
    import torch.nn.functional as F

    stage = stage_cases.stage
    patch = stage.network.patch_size
    images, anatomy, targets, cases = draw_windows(stage_cases, rng, stage.batch_size, chosen)
    images, blurs = _blur(images, rng, stage)
    theta = _affine(rng, len(images), patch, images.shape[-1], stage)
    grid = F.affine_grid(theta, (len(images), 1, patch, patch), align_corners=False)
    images = _warp(torch.from_numpy(images), grid, "bilinear")
    targets = _warp(torch.from_numpy(targets[:, None].astype(np.float32)), grid, "nearest").long()
    if stage_cases.role == SCAR:
        anatomy = _warp(torch.from_numpy(anatomy), grid, "bilinear").numpy()
        if stage.anatomy_misses:
            anatomy = _missed_scar(anatomy, targets[:, 0].numpy(), rng, stage.anatomy_misses)
        return _scar_appearance(images, anatomy, cases, blurs, stage_cases, rng, stage.intensity), targets
    return _anatomy_appearance(images, rng, stage.intensity), targets
