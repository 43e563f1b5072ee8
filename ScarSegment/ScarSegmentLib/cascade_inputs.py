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


def scar_combined(anatomy, scar):
    """Five-class probabilities (background, blood pool, healthy myocardium, scar, MVO) from the
    anatomy network's (background, pool, myocardium) and the scar network's (not scar, scar, MVO):
    the scar network splits the myocardium; they still sum to one."""
    myocardium = anatomy[:, 2:3]
    return np.concatenate([anatomy[:, :2], myocardium * scar[:, 0:1], myocardium * scar[:, 1:2],
                           myocardium * scar[:, 2:3]], axis=1)
