"""Which depths of the wall under a scar footprint become scar, for each scar pattern.

Depth runs from 0 at the endocardium to 1 at the epicardium (AHABullseyeLib.wall.wall_depth).
Every pattern gives each footprint cell a depth interval [low, high]; a myocardium voxel of the
cell becomes scar when its depth lies in it.

- ischaemic: from the endocardium outwards to the local transmurality (the wavefront of an
  infarct), a little thinner at the lateral borders of the scar than in its core;
- midwall: a band centred in the middle of the wall (e.g. the septal stripe of dilated
  cardiomyopathy), `transmurality` wide;
- epicardial: from the epicardium inwards (myocarditis);
- patchy: separate patches, each a band at its own depth (sarcoidosis, hypertrophic
  cardiomyopathy).
"""

import numpy as np

from .scar_surface import components, edge_distance, smooth_noise

PATTERNS = ("ischaemic", "midwall", "epicardial", "patchy")
TRANSMURAL = 0.75  # lower bound of the clinical class 76-100 %
MIN_TRANSMURALITY = 0.05
BORDER_WIDTH = 0.04  # circumferences (about 15 degrees) over which an infarct thins at its sides


def local_transmurality(footprint, transmurality, rng, pattern, noise=0.1):
    """Per-cell transmurality under the footprint, averaging `transmurality` over the footprint."""
    variation = 1.0 + noise * smooth_noise(footprint.shape, rng)
    if pattern == "ischaemic":
        border = edge_distance(footprint)
        variation *= 0.7 + 0.3 * np.clip(np.nan_to_num(border, nan=0.0, posinf=BORDER_WIDTH) / BORDER_WIDTH, 0.0, 1.0)
    variation = np.where(footprint, variation, np.nan)
    local = transmurality * variation / np.nanmean(variation)
    # Rescale so the mean stays on target after clipping to (0, 1].
    for _ in range(5):
        clipped = np.clip(local, MIN_TRANSMURALITY, 1.0)
        shortfall = transmurality - np.nanmean(clipped)
        if abs(shortfall) < 1e-3:
            break
        room = (clipped < 1.0) & (clipped > MIN_TRANSMURALITY)
        if not np.any(room):
            break
        local = clipped + np.where(room, shortfall * footprint.sum() / room.sum(), 0.0)
    return np.clip(local, MIN_TRANSMURALITY, 1.0)


def depth_band(footprint, local, pattern, rng):
    """(low, high) depth per cell for the pattern; NaN outside the footprint."""
    if pattern == "ischaemic":
        return np.where(footprint, -np.inf, np.nan), local
    if pattern == "epicardial":
        return 1.0 - local, np.where(footprint, np.inf, np.nan)
    centre = np.where(footprint, 0.5, np.nan)
    if pattern == "patchy":
        for patch in components(footprint):
            centre[patch] = rng.uniform(0.3, 0.7)
    half = local / 2.0
    low = np.where(centre - half <= 0.0, -np.inf, centre - half)
    high = np.where(centre + half >= 1.0, np.inf, centre + half)
    return low, high


def mvo_cells(footprint, local, spread, rng):
    """Cells of the MVO core: transmural cells near the centre of the infarct."""
    transmural = footprint & (local >= TRANSMURAL)
    if not transmural.any():
        return transmural
    fraction = rng.uniform(0.25, 0.6)
    limit = np.quantile(spread[transmural], fraction)
    core = transmural & (spread <= limit)
    groups = components(core)
    return groups[0] if groups else core
