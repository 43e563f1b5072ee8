"""Which end of a short-axis stack is the apex, and the in-plane anatomical directions.

Convention (shared with the phantom): u is the unit long axis from base to apex, a the in-plane
anterior direction (patient anterior projected onto the short-axis plane), s = u x a the in-plane
septal direction, so that a x s = u: viewed from the apex, anterior -> septum -> inferior ->
lateral runs anticlockwise. Slices are the volume's k index; the long axis is the slice normal.
"""

from dataclasses import dataclass

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError

# Base -> apex direction of a typical heart in LPS: towards the patient's left, anterior, inferior.
TYPICAL_LONG_AXIS_LPS = np.array([0.6, -0.5, -0.6]) / np.linalg.norm([0.6, -0.5, -0.6])
PATIENT_ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
APEX_CHOICES = ("auto", "first", "last")
# Numbering direction seen from the apex: anticlockwise is the AHA convention in a correctly
# labelled geometry; "clockwise" lets a user fix a stack whose geometry is mirrored.
DIRECTION_CHOICES = ("auto", "anticlockwise", "clockwise")


@dataclass(frozen=True)
class ShortAxisFrame:
    """Unit LPS vectors u (base -> apex), a (anterior) and s (septal), and a, s expressed in the
    slice's in-plane physical axes (column axis, row axis), for angles computed from indices."""

    u: np.ndarray
    a: np.ndarray
    s: np.ndarray
    a_inplane: np.ndarray
    s_inplane: np.ndarray


def slice_areas(labels):
    """Per-slice voxel counts of LV blood pool and LV myocardium (arrays of length n_slices)."""
    array = labels.array
    blood = np.count_nonzero(array == L.BLOOD_POOL, axis=(1, 2))
    myocardium = np.count_nonzero(L.lv_myocardium(array), axis=(1, 2))
    return blood, myocardium


# A short-axis slice normal lies within this angle of the typical long axis; long-axis views
# (two-, three-, four-chamber) lie near 90 degrees from it.
SHORT_AXIS_MAX_ANGLE = 60.0


def _long_axis_cosine(direction):
    """Cosine between the slice normal and the typical LV long axis, or None when the normal lies
    along a patient axis: an identity direction, as in many exported files, says nothing about
    where the heart points."""
    normal = np.asarray(direction, dtype=float)[:, 2]
    if np.max(np.abs(normal)) > 0.95:
        return None
    return float(normal @ TYPICAL_LONG_AXIS_LPS)


def _angle(cosine):
    """Degrees (0-90) between two axes, whichever way each points."""
    return float(np.degrees(np.arccos(min(1.0, abs(cosine)))))


def long_axis_angle(direction):
    """Degrees (0-90) between the slice normal and the typical LV long axis, or None when the
    geometry cannot tell (see _long_axis_cosine)."""
    cosine = _long_axis_cosine(direction)
    return None if cosine is None else _angle(cosine)


def geometry_apex_side(direction):
    """'first' or 'last' when the slice normal is a real (oblique) short-axis orientation, else None."""
    cosine = _long_axis_cosine(direction)
    if cosine is None or _angle(cosine) > SHORT_AXIS_MAX_ANGLE:
        return None
    return "last" if cosine > 0 else "first"


def orientation_warnings(direction):
    """A warning when the slices look like long-axis views rather than a short-axis stack."""
    angle = long_axis_angle(direction)
    if angle is None or angle <= SHORT_AXIS_MAX_ANGLE:
        return []
    return [f"The slices may not be short-axis: their normal lies {angle:.0f} degrees from the usual direction "
            "of the LV long axis, as in a long-axis (two-, three- or four-chamber) view. Segmentation and the "
            "AHA model expect a short-axis stack."]


def anatomy_apex_side(labels):
    """('first' | 'last', reason) from anatomy: the apical cap, else the LV shrinking towards the apex."""
    blood, myocardium = slice_areas(labels)
    with_myocardium = np.flatnonzero(myocardium > 0)
    rings = np.flatnonzero((myocardium > 0) & (blood > 0))
    if len(with_myocardium) < 2 or len(rings) == 0:
        raise InputError("Cannot tell the apex from the base: fewer than two slices hold LV myocardium.")
    caps = np.setdiff1d(with_myocardium, rings)
    cap_below = np.any(caps < rings[0])
    cap_above = np.any(caps > rings[-1])
    if cap_below != cap_above:
        return ("first" if cap_below else "last"), "apical cap (myocardium without blood pool) at that end"
    # The LV (cavity plus wall) narrows from base to apex: fit the area trend over the slices.
    k = with_myocardium.astype(float)
    area = (blood + myocardium)[with_myocardium].astype(float)
    slope = np.polyfit(k - k.mean(), area, 1)[0]
    return ("first" if slope > 0 else "last"), "LV cross-section shrinks towards that end"


def decide_apex_side(labels, apex="auto"):
    """(side, source, note): side 'first' | 'last' (apex at slice 0 or at the last slice),
    source 'user' | 'geometry' | 'anatomy', and a note saying why (or '' for the user's choice)."""
    if apex not in APEX_CHOICES:
        raise InputError(f"apex must be one of {', '.join(APEX_CHOICES)}; got {apex!r}.")
    if apex != "auto":
        return apex, "user", ""
    side = geometry_apex_side(labels.direction)
    if side is not None:
        return side, "geometry", "the slice normal points along the typical left-anterior-inferior long axis"
    side, reason = anatomy_apex_side(labels)
    return side, "anatomy", f"the image geometry cannot tell (slice normal along a patient axis); {reason}"


def short_axis_frame(volume, apex_side, direction="auto"):
    """The ShortAxisFrame of a stack whose apex is at its 'first' or 'last' slice.

    direction: "auto" or "anticlockwise" (s = u x a), or "clockwise" (the septal side mirrored).
    Returns (frame, warning) where warning is '' unless the anterior direction had to be guessed.
    """
    if direction not in DIRECTION_CHOICES:
        raise InputError(f"direction must be one of {', '.join(DIRECTION_CHOICES)}; got {direction!r}.")
    grid = volume.direction
    normal = grid[:, 2]
    u = normal if apex_side == "last" else -normal
    anterior = PATIENT_ANTERIOR_LPS - (PATIENT_ANTERIOR_LPS @ u) * u
    warning = ""
    if np.linalg.norm(anterior) < 0.2:
        # The long axis runs front to back: no in-plane anterior; take the head direction.
        superior = np.array([0.0, 0.0, 1.0])
        anterior = superior - (superior @ u) * u
        warning = ("The long axis runs anterior-posterior in patient coordinates, so the patient's "
                   "head direction stands in for anterior; segment positions may be rotated.")
    a = anterior / np.linalg.norm(anterior)
    s = np.cross(u, a) if direction != "clockwise" else -np.cross(u, a)
    frame = ShortAxisFrame(
        u=u, a=a, s=s,
        a_inplane=np.array([a @ grid[:, 0], a @ grid[:, 1]]),
        s_inplane=np.array([s @ grid[:, 0], s @ grid[:, 1]]),
    )
    return frame, warning
