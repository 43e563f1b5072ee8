"""Relative depth inside the LV wall, slice by slice: 0 at the endocardium, 1 at the epicardium."""

import numpy as np
from scipy import ndimage

from LGECore import labels as L

from .polar import heart_box


def wall_depth(labels):
    """Float32 array on the grid of `labels` (a Volume): depth of each LV myocardium voxel through
    the wall, 0 next to the blood pool .. 1 next to the outside; NaN off the myocardium.

    Per slice, with in-plane physical distances: depth = d_endo / (d_endo + d_epi), where d_endo is
    the distance to the nearest blood-pool voxel and d_epi to the nearest voxel outside the LV. A
    slice with myocardium but no blood pool (the apical cap) has no endocardium there; depth then
    runs from 0 at the cap's deepest point to 1 at its rim.
    """
    box = heart_box(labels.array)
    array = labels.array[:, box[0], box[1]]
    dy, dx = labels.spacing[1], labels.spacing[0]
    myocardium = L.lv_myocardium(array)
    blood = array == L.BLOOD_POOL
    depth = np.full(labels.shape, np.nan, dtype=np.float32)
    inside = depth[:, box[0], box[1]]  # a view: filling it fills depth
    for k in np.flatnonzero(myocardium.any(axis=(1, 2))):
        rows, columns = np.nonzero(myocardium[k] | blood[k])
        r0, r1 = max(rows.min() - 2, 0), rows.max() + 3
        c0, c1 = max(columns.min() - 2, 0), columns.max() + 3
        wall = myocardium[k, r0:r1, c0:c1]
        pool = blood[k, r0:r1, c0:c1]
        to_outside = ndimage.distance_transform_edt(wall | pool, sampling=(dy, dx))
        if pool.any():
            to_pool = ndimage.distance_transform_edt(~pool, sampling=(dy, dx))
            value = to_pool / (to_pool + to_outside)
        else:
            value = 1.0 - to_outside / to_outside[wall].max()
        inside[k, r0:r1, c0:c1][wall] = value[wall]
    return depth
