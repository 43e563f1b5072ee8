"""Scar transmurality along rays from the blood-pool centroid (the README's AHA convention).

Each slice is cut into thin angular wedges around its centre; within a wedge, voxels weighted by
1/radius sum to the wall's length along the ray, so the weighted scar fraction is the fraction of
the wall, endocardium to epicardium, that is scar.
"""

import numpy as np

from LGECore import labels as L

MIN_RAYS, MAX_RAYS = 36, 180  # per slice; about one in-plane voxel of arc per ray


def ray_transmurality(labels, polar, angles_deg=None, groups=None):
    """(per-voxel transmurality 0..1 of each voxel's ray, per-voxel ray weight), in polar's order.

    `polar` is polar.MyocardiumPolar of the same labels; `angles_deg` (per voxel, default
    polar.theta_deg) places the rays: measured from the anterior insertion point, the rays turn
    with the heart, so an in-plane rotation of the image gives the same rays. `groups` (small non-negative ints per
    voxel, e.g. AHA segments) cuts rays where they cross from one group into another, so a
    segment's rays never count scar of its neighbour. The weight (1/radius) makes sums over
    voxels into sums over rays times wall length.
    """
    pixel = min(labels.spacing[0], labels.spacing[1])
    n_slices = labels.shape[0]
    median_radius = np.ones(n_slices)
    counts = np.bincount(polar.k, minlength=n_slices)
    present = counts > 0
    sums = np.bincount(polar.k, weights=polar.radius_mm, minlength=n_slices)
    median_radius[present] = sums[present] / counts[present]
    rays_per_slice = np.clip(np.round(2 * np.pi * median_radius / pixel), MIN_RAYS, MAX_RAYS).astype(int)
    first_ray = np.concatenate([[0], np.cumsum(rays_per_slice)[:-1]])
    per_k = rays_per_slice[polar.k]
    angles_deg = polar.theta_deg if angles_deg is None else np.asarray(angles_deg) % 360.0
    ray = first_ray[polar.k] + np.minimum((angles_deg * per_k / 360.0).astype(int), per_k - 1)
    if groups is not None:
        n_groups = int(groups.max()) + 1
        ray = ray * n_groups + groups
        rays_per_slice = rays_per_slice * n_groups
    weight = 1.0 / np.maximum(polar.radius_mm, 0.5 * pixel)
    is_scar = L.scar(labels.array[polar.k, polar.row, polar.column])
    n_rays = int(rays_per_slice.sum())
    wall = np.bincount(ray, weights=weight, minlength=n_rays)
    scarred = np.bincount(ray, weights=weight * is_scar, minlength=n_rays)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(wall > 0, scarred / wall, 0.0)
    return fraction[ray], weight

