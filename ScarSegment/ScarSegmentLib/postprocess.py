"""Anatomical clean-up of predicted labels: one LV, no specks of scar, MVO only inside scar."""

import numpy as np
from scipy import ndimage

from LGECore import labels as L

FULL_3D = np.ones((3, 3, 3), dtype=bool)
IN_PLANE = np.array([np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3))], dtype=bool)


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


def clean_labels(labels, pixel_area_mm2, min_scar_mm2=10.0):
    """All clean-up steps, in order, on a [z, y, x] label array (a new array is returned)."""
    labels = keep_largest_lv(np.asarray(labels, dtype=np.uint8))
    labels = remove_small_scar(labels, max(1, int(round(min_scar_mm2 / pixel_area_mm2))))
    return mvo_inside_scar(labels)
