"""What the cascade's two networks see, shared by training and inference.

The scar network's image is normalised to the myocardium's own intensity statistics (median and
robust spread, over the whole stack): a value of 2 is "two SDs brighter than the typical
myocardium", the n-SD notion of bright, whatever the scanner's contrast and range.
"""

import numpy as np

from LGECore import labels as L

Z_RANGE = (-5.0, 15.0)  # robust z-scores kept; beyond is air or artefact
Z_SCALE = 5.0  # z-scores divided by this, so that the network's input stays near [-1, 3]


def anatomy_targets(labels, infarct_class=False):
    """0 background, 1 blood pool, 2 myocardium (scar and MVO are myocardium); with
    `infarct_class`, scar and MVO are 3, infarcted myocardium, instead."""
    targets = np.zeros(labels.shape, dtype=np.uint8)
    targets[labels == L.BLOOD_POOL] = 1
    targets[np.isin(labels, L.LV_MYOCARDIUM_LABELS)] = 2
    if infarct_class:
        targets[np.isin(labels, L.SCAR_LABELS)] = 3
    return targets


def scar_targets(labels):
    """0 not scar, 1 scar, 2 MVO."""
    targets = np.zeros(labels.shape, dtype=np.uint8)
    targets[labels == L.SCAR] = 1
    targets[labels == L.MVO] = 2
    return targets


def robust_statistics(values):
    """(median, robust SD from the median absolute deviation) of myocardial intensities; the
    median is the healthy myocardium's level as long as scar is less than half of it."""
    values = np.asarray(values, dtype=np.float32)
    if values.size == 0:
        return 0.0, 1.0
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    return median, max(spread, 1e-3)


def myocardium_normalised(image, statistics):
    """`image` as clipped robust z-scores against the myocardium's (median, SD), scaled down."""
    median, spread = statistics
    return (np.clip((image - median) / spread, *Z_RANGE) / Z_SCALE).astype(np.float32)


def scar_combined(anatomy, scar, claims_border_px=0):
    """Five-class probabilities (background, blood pool, healthy myocardium, scar, MVO) from the
    anatomy network's (background, pool, myocardium) and the scar network's (not scar, scar, MVO):
    the scar network splits the myocardium; they still sum to one. With `claims_border_px`, its
    scar and MVO also take their share of the pool and background pixels that lie near the
    anatomy's myocardium (NetworkSettings.claims_border_px)."""
    myocardium = anatomy[:, 2:3]
    if not claims_border_px:
        return np.concatenate([anatomy[:, :2], myocardium * scar[:, 0:1], myocardium * scar[:, 1:2],
                               myocardium * scar[:, 2:3]], axis=1)
    near = near_myocardium(anatomy, claims_border_px)[:, None]
    allowed = np.where(near, 1.0, myocardium)
    claimed = near * (scar[:, 1:2] + scar[:, 2:3])
    return np.concatenate([anatomy[:, :2] * (1 - claimed), myocardium * scar[:, 0:1], allowed * scar[:, 1:2],
                           allowed * scar[:, 2:3]], axis=1).astype(np.float32)


def near_myocardium(anatomy, distance_px):
    """(N, H, W) mask of pixels within `distance_px` of the anatomy's most likely myocardium, slice by slice."""
    from scipy import ndimage

    myocardium = anatomy.argmax(axis=1) == 2
    disk = ndimage.distance_transform_edt(np.pad([[0]], distance_px, constant_values=1)) <= distance_px
    return np.stack([ndimage.binary_dilation(plane, disk) if plane.any() else plane for plane in myocardium])
