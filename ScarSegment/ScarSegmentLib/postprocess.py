"""Anatomical clean-up of predicted labels: one LV, no specks of scar, MVO only inside scar."""

import numpy as np
from scipy import ndimage

from LGECore import labels as L

FULL_3D = np.ones((3, 3, 3), dtype=bool)
IN_PLANE = np.array([np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3))], dtype=bool)


def biased_argmax(probabilities, scar_log_bias=0.0):
    """Labels from class probabilities (class first), with `scar_log_bias` added to the log
    probabilities of scar and MVO: a network trained on few scar pixels draws too little of it
    (the model's registry entry gives the bias, measured by benchmarks/scar_calibration.py)."""
    probabilities = np.asarray(probabilities)
    if not scar_log_bias:
        return probabilities.argmax(axis=0).astype(np.uint8)
    scores = np.log(np.clip(probabilities, 1e-12, None))
    scores[[L.SCAR, L.MVO]] += scar_log_bias
    return scores.argmax(axis=0).astype(np.uint8)


def keep_largest_lv(labels):
    """Zero everything outside the largest 3D connected LV (blood pool and myocardium)."""
    components, count = ndimage.label(labels > 0, structure=FULL_3D)
    if count <= 1:
        return labels
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return np.where(components == np.argmax(sizes), labels, L.BACKGROUND).astype(labels.dtype)


def remove_small_scar(labels, min_pixels):
    """Scar/MVO islands smaller than `min_pixels` in a slice become healthy myocardium."""
    scar = L.scar(labels)
    components, count = ndimage.label(scar, structure=IN_PLANE)
    if count == 0:
        return labels
    sizes = np.bincount(components.ravel())
    small = (sizes < min_pixels)[components] & scar
    return np.where(small, L.MYOCARDIUM, labels).astype(labels.dtype)


def mvo_inside_scar(labels):
    """MVO islands that touch no scar are relabelled scar: no-reflow only occurs inside an infarct."""
    mvo = labels == L.MVO
    components, count = ndimage.label(mvo, structure=IN_PLANE)
    if count == 0:
        return labels
    touching = np.unique(components[ndimage.binary_dilation(labels == L.SCAR, structure=IN_PLANE) & mvo])
    lonely = mvo & ~np.isin(components, touching[touching > 0])
    return np.where(lonely, L.SCAR, labels).astype(labels.dtype)


def drop_scant_scar(labels, min_burden_percent):
    """All scar and MVO become healthy myocardium when together they are less than
    `min_burden_percent` of the LV myocardium: a few scattered bright pixels in a normal heart are
    not an infarct (the model's registry entry gives the minimum, measured by benchmarks/scar_calibration.py)."""
    scar = L.scar(labels)
    myocardium = L.lv_myocardium(labels).sum()
    if not scar.any() or 100.0 * scar.sum() >= min_burden_percent * myocardium:
        return labels
    return np.where(scar, L.MYOCARDIUM, labels).astype(labels.dtype)


def clean_labels(labels, pixel_area_mm2, min_scar_mm2=10.0, min_burden_percent=0.0):
    """All clean-up steps, in order, on a [z, y, x] label array (a new array is returned)."""
    labels = keep_largest_lv(np.asarray(labels, dtype=np.uint8))
    labels = remove_small_scar(labels, max(1, int(round(min_scar_mm2 / pixel_area_mm2))))
    labels = drop_scant_scar(labels, min_burden_percent)
    return mvo_inside_scar(labels)
