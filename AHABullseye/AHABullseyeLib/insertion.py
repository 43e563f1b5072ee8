"""RV insertion points as per-slice angles: from the user's points, the RV blood pool, or assumed.

Per slice we keep the angle of the anterior insertion point and the width of the septal arc
that runs from it (anticlockwise viewed from the apex, i.e. towards increasing angle) to the
inferior insertion point. With one point only, the septal arc is 120 degrees: six equal sectors.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from LGECore import labels as L
from LGECore.errors import InputError

from .polar import in_plane_angle

SINGLE_POINT_SEPTAL_WIDTH_DEG = 120.0
# Without any RV information: a typical heart seen in the AHA layout, septum centred at 90 degrees.
ASSUMED_ANTERIOR_DEG = 30.0
ASSUMED_SEPTAL_WIDTH_DEG = 120.0
# RV blood pool closer than this to the LV myocardium lies against the septum.
RV_CONTACT_MM = 3.0
PLAUSIBLE_SEPTAL_WIDTH_DEG = (30.0, 240.0)
RV_TIP_EXTENSION_VOXELS = 1.0
# Two user points closer than this (3D) are one point given twice.
SAME_POINT_MM = 0.1
# Two user points of one slice (or of the whole stack) less than this apart around the LV leave no
# septal arc between them: the septal segments would be empty (and the sector widths divide by 0).
MIN_USER_SEPTAL_WIDTH_DEG = 1.0


class InsertionPointError(InputError):
    """The RV insertion points the user gave are unusable. Unlike an AHA split that cannot be made
    automatically (a warning where AHA is optional), this is always an error: the user asked for
    these points, and results without them, or with a degenerate septum, would be silently wrong."""


def check_user_points(points_lps):
    """The user's RV insertion points as an (N, 3) float array (LPS mm); InsertionPointError for a
    wrong shape, NaN or infinite coordinates, or the same point given twice."""
    points = np.asarray(points_lps, dtype=float)
    if points.ndim == 1 and points.size == 3:
        points = points[None, :]
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InsertionPointError(
            f"RV insertion points must be an (N, 3) array of LPS points; got shape {points.shape}.")
    bad = np.flatnonzero(~np.all(np.isfinite(points), axis=1))
    if len(bad):
        raise InsertionPointError(
            f"RV insertion points contain NaN or infinite coordinates (point {int(bad[0]) + 1}).")
    distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    first, second = np.nonzero(np.triu(distance < SAME_POINT_MM, k=1))
    if len(first):
        i, j = int(first[0]), int(second[0])
        raise InsertionPointError(
            f"RV insertion points {i + 1} and {j + 1} are the same point ({distance[i, j]:.3f} mm "
            "apart), so no septal arc lies between them; give two different points (anterior, "
            "then inferior), or the anterior one only.")
    return points


@dataclass
class InsertionAngles:
    anterior_deg: np.ndarray  # per slice; NaN on slices that hold no LV ring
    septal_width_deg: np.ndarray
    source: str  # "user" | "rv_label" | "assumed"
    warnings: list = field(default_factory=list)


def _order_pair(theta_1, theta_2):
    """(anterior angle, septal width) of two insertion points: the septum is the shorter arc,
    and it runs anticlockwise (increasing angle) from the anterior point."""
    width = (theta_2 - theta_1) % 360.0
    return (theta_1, width) if width <= 180.0 else (theta_2, 360.0 - width)


def _fill(n_slices, fill_slices, known):
    """Per-slice arrays from {slice: (anterior, width)}; slices without a value take the nearest known."""
    anterior = np.full(n_slices, np.nan)
    width = np.full(n_slices, np.nan)
    known_slices = np.array(sorted(known))
    for k in fill_slices:
        nearest = known_slices[np.argmin(np.abs(known_slices - k))]
        anterior[k], width[k] = known[int(nearest)]
    return anterior, width


def assumed(n_slices, fill_slices):
    known = {int(fill_slices[0]): (ASSUMED_ANTERIOR_DEG, ASSUMED_SEPTAL_WIDTH_DEG)}
    anterior, width = _fill(n_slices, fill_slices, known)
    warning = (
        "WARNING: no RV insertion points were given and the label map has no RV blood pool, so "
        f"a typical orientation was ASSUMED (anterior insertion at {ASSUMED_ANTERIOR_DEG:.0f} degrees "
        "from patient anterior towards the septum, septum centred on the image-geometry septal "
        "direction). Segment positions around the ring may be wrong; place the RV insertion "
        "points to be sure.")
    return InsertionAngles(anterior, width, "assumed", [warning])


def from_user_points(points_lps, labels, frame, centres, ring_slices, fill_slices):
    """Insertion angles from user points (N, 3) in LPS.

    One or two points describe the whole stack (one: the anterior insertion point; two: both,
    in any order). More than two are per slice: each point belongs to the ring slice nearest to
    it, one or two points per slice; slices without points take the nearest slice's points.
    """
    points = check_user_points(points_lps)
    warnings = []
    zyx = labels.lps_to_index(points)
    n_slices = labels.shape[0]
    if np.any(zyx[:, 0] < -1.0) or np.any(zyx[:, 0] > n_slices):
        warnings.append("Some RV insertion points lie outside the stack of slices; they were "
                        "projected along the long axis onto the nearest slice with an LV ring.")
    nearest = ring_slices[np.argmin(np.abs(ring_slices[None, :] - zyx[:, :1]), axis=1)]
    dx_mm = zyx[:, 2] * labels.spacing[0] - centres[nearest, 0]
    dy_mm = zyx[:, 1] * labels.spacing[1] - centres[nearest, 1]
    if np.any(np.hypot(dx_mm, dy_mm) < 1e-3):
        raise InsertionPointError("An RV insertion point lies exactly at the LV centre; it gives no direction.")
    theta = in_plane_angle(dx_mm, dy_mm, frame)
    if len(points) <= 2:
        groups = {int(ring_slices[0]): list(range(len(points)))}
    else:
        groups = {}
        for index, k in enumerate(nearest.tolist()):
            groups.setdefault(int(k), []).append(index)
        crowded = [k for k, members in groups.items() if len(members) > 2]
        if crowded:
            raise InsertionPointError(
                f"Slice(s) {crowded} got more than two RV insertion points; give one or two points "
                "per slice (anterior, inferior), or one or two for the whole stack.")
    known = {}
    for k, members in groups.items():
        if len(members) == 1:
            known[k] = (float(theta[members[0]]), SINGLE_POINT_SEPTAL_WIDTH_DEG)
            continue
        i, j = members
        known[k] = _order_pair(float(theta[i]), float(theta[j]))
        if known[k][1] < MIN_USER_SEPTAL_WIDTH_DEG:
            apart_mm = float(np.hypot(dx_mm[i] - dx_mm[j], dy_mm[i] - dy_mm[j]))
            where = "" if len(points) <= 2 else f" of slice {k}"
            raise InsertionPointError(
                f"RV insertion points {i + 1} and {j + 1}{where} lie in the same direction from the "
                f"LV centre in the short-axis plane ({apart_mm:.1f} mm apart in plane, "
                f"{known[k][1]:.2f} degrees apart around the LV), so no septal arc lies between "
                "them; give the anterior and the inferior insertion point, or the anterior one only.")
    anterior, width = _fill(n_slices, fill_slices, known)
    return InsertionAngles(anterior, width, "user", warnings)


def _contact_arc(angles):
    """(start, width) of the smallest circular arc holding all angles (degrees)."""
    ordered = np.sort(np.asarray(angles) % 360.0)
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 360.0]))
    largest = int(np.argmax(gaps))
    start = ordered[(largest + 1) % len(ordered)]
    end = ordered[largest]
    return float(start), float((end - start) % 360.0)


def from_rv_label(labels, frame, centres, ring_slices, fill_slices):
    """Insertion angles from the RV blood pool (label 5), or None when there is none.

    On each ring slice, the RV blood pool within RV_CONTACT_MM of the LV myocardium is where the
    RV meets the septum; the ends of its angular extent, seen from the LV centre, are the
    insertion points (the RV cavity ends in an acute angle there, so it does not reach past
    them). Slices where the RV does not touch the LV take the nearest slice's insertion points.
    """
    array = labels.array
    rv = array == L.RV_BLOOD_POOL
    if not rv.any():
        return None
    myocardium = L.lv_myocardium(array)
    dx, dy = labels.spacing[0], labels.spacing[1]
    reach = max(RV_CONTACT_MM, 1.5 * max(dx, dy))
    margin = int(np.ceil(reach / min(dx, dy))) + 1
    known, implausible = {}, []
    for k in ring_slices:
        if not rv[k].any():
            continue
        rows, columns = np.nonzero(myocardium[k])
        r0, r1 = max(rows.min() - margin, 0), rows.max() + margin + 1
        c0, c1 = max(columns.min() - margin, 0), columns.max() + margin + 1
        distance = ndimage.distance_transform_edt(~myocardium[k, r0:r1, c0:c1], sampling=(dy, dx))
        contact_rows, contact_columns = np.nonzero(rv[k, r0:r1, c0:c1] & (distance <= reach))
        if len(contact_rows) < 3:
            continue
        offset_x = (contact_columns + c0) * dx - centres[k, 0]
        offset_y = (contact_rows + r0) * dy - centres[k, 1]
        start, width = _contact_arc(in_plane_angle(offset_x, offset_y, frame))
        # Voxel centres lie inside the RV's edge, and the cavity thins out before the RV wall
        # meets the LV: extend each end by RV_TIP_EXTENSION_VOXELS of arc at the contact radius.
        extension = np.degrees(RV_TIP_EXTENSION_VOXELS * 0.5 * (dx + dy)
                               / np.median(np.hypot(offset_x, offset_y)))
        start, width = start - extension, width + 2 * extension
        if PLAUSIBLE_SEPTAL_WIDTH_DEG[0] <= width <= PLAUSIBLE_SEPTAL_WIDTH_DEG[1]:
            known[int(k)] = (start, width)
        else:
            implausible.append(int(k))
    warnings = []
    if not known:
        return None
    if implausible:
        warnings.append(f"The RV contact on slice(s) {implausible} spans an implausible arc; those "
                        "slices use the insertion points of the nearest slice.")
    missing = [int(k) for k in ring_slices if int(k) not in known and int(k) not in implausible]
    if missing:
        warnings.append(f"Slice(s) {missing} have no RV next to the LV; they use the insertion "
                        "points of the nearest slice that has.")
    anterior, width = _fill(labels.shape[0], fill_slices, known)
    return InsertionAngles(anterior, width, "rv_label", warnings)

