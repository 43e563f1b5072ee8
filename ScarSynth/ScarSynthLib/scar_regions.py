"""Where the generator paints.

Two kinds of paint region, named in a generator's registry entry ("paint_region"):

    heart   the LV dilated by a margin (blood pool, myocardium and surroundings are rendered
            again); the kind of the first generators, and of entries that name none
    scar    the scar and MVO to draw (or, given the labels the image shows now, the pixels whose
            label changes) dilated by PAINT_MARGIN_PIXELS; everything else is the patient's own

A "scar" generator is trained on real scars and on random sectors of real myocardium, so that it
learns to inpaint any part of the wall from its labels and the real pixels around it.
"""

import numpy as np
from scipy import ndimage

from LGECore import labels as L

REGION_KINDS = ("heart", "scar")
DEFAULT_REGION_KIND = "heart"  # entries written before the paint region was recorded
PAINT_MARGIN_PIXELS = 3  # input pixels of blend margin around the painted scar
CROP_MARGIN_PIXELS = 2  # the same margin on a 64-pixel crop (about 1.5 input pixels per crop pixel)
TRAINING_SECTORS_PER_SLICE = 2


def disk(radius):
    """A disk of `radius` pixels, the structuring element of every dilation here."""
    return np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius


def paint_region(labels2d, reference2d=None, margin=PAINT_MARGIN_PIXELS):
    """The pixels a "scar" generator paints on one slice: scar and MVO of `labels2d` or, with
    `reference2d` (the labels of the image as it is), the pixels whose label changes; dilated by
    `margin` pixels. Empty when there is nothing to paint."""
    labels2d = np.asarray(labels2d)
    if reference2d is None:
        changed = np.isin(labels2d, L.SCAR_LABELS)
    else:
        changed = labels2d != np.asarray(reference2d)
    if not changed.any():
        return changed
    return ndimage.binary_dilation(changed, structure=disk(margin))


def random_scar_labels(labels, rng):
    """A copy of a slice's labels with its scar replaced by a new random one.

    The new scar is an angular sector of the myocardium (40-160 degrees wide) reaching from the
    endocardium to a random transmurality (25-100 %); MVO is added in its core half the time.
    """
    labels = np.array(labels, copy=True)
    myocardium = L.lv_myocardium(labels)
    labels[myocardium] = L.MYOCARDIUM
    if not myocardium.any():
        return labels
    pool = labels == L.BLOOD_POOL
    centre = np.argwhere(pool if pool.any() else myocardium).mean(0)
    rows, cols = np.indices(labels.shape)
    angle = np.degrees(np.arctan2(rows - centre[0], cols - centre[1]))
    start, width = rng.uniform(-180, 180), rng.uniform(40, 160)
    in_sector = ((angle - start) % 360) < width
    depth_from_pool = ndimage.distance_transform_edt(~pool) if pool.any() else np.zeros(labels.shape)
    depth_to_outside = ndimage.distance_transform_edt(myocardium)
    # 0 on the endocardial layer, towards 1 at the epicardium: the scar always starts endocardially.
    inner = np.maximum(depth_from_pool - 1.0, 0.0)
    wall_fraction = inner / np.maximum(inner + depth_to_outside, 1e-6)
    transmurality = rng.uniform(0.25, 1.0)
    scar = myocardium & in_sector & (wall_fraction <= transmurality)
    labels[scar] = L.SCAR
    if rng.random() < 0.5:
        core = scar & (wall_fraction <= transmurality / 3) & (((angle - start) % 360) > width / 3) & (
            ((angle - start) % 360) < 2 * width / 3)
        labels[core] = L.MVO
    return labels


def training_regions(labels2d, rng, sectors=TRAINING_SECTORS_PER_SLICE):
    """Paint regions to train a "scar" generator on one real slice: its scar region (if it has
    scar), then `sectors` random sectors of its myocardium, each dilated like paint_region. The
    labels stay the real ones, so the generator learns scar and healthy wall alike."""
    regions = []
    real = paint_region(labels2d)
    if real.any():
        regions.append(real)
    if not L.lv_myocardium(labels2d).any():
        return regions
    for _ in range(sectors):
        sector = np.isin(random_scar_labels(labels2d, rng), L.SCAR_LABELS)
        if sector.any():
            regions.append(ndimage.binary_dilation(sector, structure=disk(PAINT_MARGIN_PIXELS)))
    return regions
