"""Per-slice polar coordinates of the LV myocardium around the blood-pool centroid.

Everything is physical (mm) in the slice plane, so anisotropic spacing and oblique directions
give true angles: a voxel's in-plane position is (column * dx, row * dy) along the image's column
and row axes, which are orthonormal in patient space.
"""

from dataclasses import dataclass

import numpy as np

from LGECore import labels as L
from LGECore.volume import Volume


@dataclass(frozen=True)
class MyocardiumPolar:
    """LV myocardium voxels (as flat index arrays) with their slice, angle and radius.

    `centres` holds each slice's centre (X, Y in mm; NaN where a slice has no myocardium): the
    blood-pool centroid, or the myocardium centroid on slices without a blood pool.
    """

    k: np.ndarray
    row: np.ndarray
    column: np.ndarray
    theta_deg: np.ndarray  # 0 anterior, 90 septum, 180 inferior, 270 lateral (in the given frame)
    radius_mm: np.ndarray
    centres: np.ndarray
    has_blood_pool: np.ndarray  # per slice


def heart_box(array, margin=3):
    """(row slice, column slice) around every labelled voxel, with a margin of background.

    Working inside this box instead of the whole image makes every later step much cheaper.
    """
    rows = np.flatnonzero(np.any(array, axis=(0, 2)))
    columns = np.flatnonzero(np.any(array, axis=(0, 1)))
    if len(rows) == 0:
        return slice(0, array.shape[1]), slice(0, array.shape[2])
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1),
            slice(max(columns[0] - margin, 0), columns[-1] + margin + 1))


def crop(volume, box):
    """The part of a Volume inside a (row slice, column slice) box, with its geometry."""
    rows, columns = box
    origin = volume.index_to_lps([[0, rows.start, columns.start]])[0]
    return Volume(volume.array[:, rows, columns], volume.spacing, origin, volume.direction)


def slice_centres(labels):
    """(centres (n_slices, 2) in mm, has_blood_pool (n_slices,) bool)."""
    array = labels.array
    dx, dy = labels.spacing[0], labels.spacing[1]
    n_slices = array.shape[0]
    centres = np.full((n_slices, 2), np.nan)
    has_blood = np.zeros(n_slices, dtype=bool)
    for values, fallback in ((np.isin(array, (L.BLOOD_POOL,)), False), (L.lv_myocardium(array), True)):
        k, row, column = np.nonzero(values)
        counts = np.bincount(k, minlength=n_slices)
        present = counts > 0
        if fallback:
            present &= ~has_blood
        else:
            has_blood = counts > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.bincount(k, weights=column * dx, minlength=n_slices) / counts
            cy = np.bincount(k, weights=row * dy, minlength=n_slices) / counts
        centres[present] = np.stack([cx, cy], axis=1)[present]
    return centres, has_blood


def in_plane_angle(dx_mm, dy_mm, frame):
    """Angle in degrees [0, 360) of in-plane offsets, from anterior towards the septum."""
    along_a = dx_mm * frame.a_inplane[0] + dy_mm * frame.a_inplane[1]
    along_s = dx_mm * frame.s_inplane[0] + dy_mm * frame.s_inplane[1]
    return np.degrees(np.arctan2(along_s, along_a)) % 360.0


def myocardium_polar(labels, frame):
    """MyocardiumPolar of the LV myocardium of `labels` (a Volume) in the ShortAxisFrame `frame`."""
    centres, has_blood = slice_centres(labels)
    k, row, column = np.nonzero(L.lv_myocardium(labels.array))
    dx_mm = column * labels.spacing[0] - centres[k, 0]
    dy_mm = row * labels.spacing[1] - centres[k, 1]
    return MyocardiumPolar(
        k=k, row=row, column=column,
        theta_deg=in_plane_angle(dx_mm, dy_mm, frame),
        radius_mm=np.hypot(dx_mm, dy_mm),
        centres=centres, has_blood_pool=has_blood,
    )

