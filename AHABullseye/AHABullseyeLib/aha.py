"""Assign every LV myocardium voxel to one AHA segment 1..17 (DESIGN.md, AHA convention).

    result = segment_aha(labels, rv_insertion_lps=None, apex="auto")
    result.segments  # Volume uint8: 1..17 on LV myocardium, 0 elsewhere
"""

from dataclasses import dataclass, field

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.volume import Volume, slices_first, turned

from . import insertion
from .orientation import anatomy_apex_side, decide_apex_side, short_axis_frame
from .polar import crop, heart_box, myocardium_polar

LEVEL_NAMES = ("basal", "mid", "apical", "apex")
_BASAL, _MID, _APICAL, _APEX = range(4)
# Ring positions counted from the anterior insertion point towards the septum: the two septal
# halves, then the four free-wall quarters (inferior, inferolateral, anterolateral, anterior).
_SIX_SECTOR_OFFSETS = np.array([1, 2, 3, 4, 5, 0])
_APICAL_SEGMENTS = np.array([14, 15, 16, 13])  # quadrants starting at the septal one


@dataclass
class AHAResult:
    segments: Volume
    apex_side: str  # "first" | "last": apex at slice 0 or at the last slice
    apex_source: str  # "user" | "geometry" | "anatomy"
    direction: str  # numbering seen from the apex: "anticlockwise" | "clockwise"
    insertion_points_lps: np.ndarray  # (2, 3): anterior, inferior (a representative pair)
    insertion_source: str  # "user" | "rv_label" | "assumed"
    warnings: list = field(default_factory=list)
    slice_levels: dict = field(default_factory=dict)  # slice index -> "basal" | "mid" | "apical" | "apex"
    anterior_deg: np.ndarray = None  # per slice angle of the anterior insertion point
    septal_width_deg: np.ndarray = None  # per slice septal arc width
    frame: object = None  # orientation.ShortAxisFrame

    def summary(self):
        """JSON-ready description of how the segmentation was made."""
        return {
            "apex_side": self.apex_side,
            "apex_source": self.apex_source,
            "direction": self.direction,
            "insertion_source": self.insertion_source,
            "insertion_points_lps": np.round(self.insertion_points_lps, 3).tolist(),
            "long_axis_lps": np.round(self.frame.u, 4).tolist(),
            "slice_levels": {str(k): v for k, v in sorted(self.slice_levels.items())},
            "warnings": list(self.warnings),
        }


def _slice_levels(has_myocardium, has_blood, apex_side):
    """Per-slice level (index into LEVEL_NAMES, -1 without myocardium) and warnings.

    Slices with a blood-pool ring, ordered apex -> base, split in thirds (a remainder goes to
    basal first, then mid); myocardium without blood pool beyond the most apical ring is the cap.
    """
    rings = np.flatnonzero(has_myocardium & has_blood)
    if len(rings) < 3:
        raise InputError(
            f"Only {len(rings)} slice(s) hold LV myocardium around a blood pool; the AHA model needs "
            "at least 3 short-axis slices (basal, mid and apical).")
    apex_to_base = rings if apex_side == "first" else rings[::-1]
    thirds, remainder = divmod(len(rings), 3)
    n_apical, n_mid = thirds, thirds + (remainder == 2)
    levels = np.full(len(has_myocardium), -1)
    levels[apex_to_base[:n_apical]] = _APICAL
    levels[apex_to_base[n_apical:n_apical + n_mid]] = _MID
    levels[apex_to_base[n_apical + n_mid:]] = _BASAL
    warnings = []
    for k in np.flatnonzero(has_myocardium & ~has_blood):
        beyond_apex = k < rings[0] if apex_side == "first" else k > rings[-1]
        if beyond_apex:
            levels[k] = _APEX
        else:
            nearest = rings[np.argmin(np.abs(rings - k))]
            levels[k] = levels[nearest]
            warnings.append(f"Slice {k} holds myocardium but no blood pool and is not at the apex; "
                            f"it was given the {LEVEL_NAMES[levels[k]]} level of slice {nearest}.")
    return levels, warnings


def _assign(level, phi, septal_width):
    """Segment numbers from level, angle phi from the anterior insertion point, septal arc width."""
    segments = np.zeros(len(level), dtype=np.uint8)
    in_septum = phi < septal_width
    position = np.where(
        in_septum,
        np.floor(phi / (septal_width / 2.0)),
        2 + np.floor((phi - septal_width) / ((360.0 - septal_width) / 4.0)))
    position = np.clip(position, 0, 5).astype(int)
    six = _SIX_SECTOR_OFFSETS[position]
    segments[level == _BASAL] = (1 + six)[level == _BASAL]
    segments[level == _MID] = (7 + six)[level == _MID]
    quadrant = (((phi - septal_width / 2.0 + 45.0) % 360.0) // 90.0).astype(int) % 4
    segments[level == _APICAL] = _APICAL_SEGMENTS[quadrant][level == _APICAL]
    segments[level == _APEX] = 17
    return segments


def _insertion_points_lps(labels, frame, polar, levels, anterior, width):
    """A representative (anterior, inferior) pair of LPS points on the epicardium of a mid slice."""
    mid = np.flatnonzero(levels == _MID)
    k = int(mid[len(mid) // 2])
    on_slice = polar.k == k
    radius = float(np.percentile(polar.radius_mm[on_slice], 95))
    centre = labels.index_to_lps(np.array([[k, polar.centres[k, 1] / labels.spacing[1],
                                             polar.centres[k, 0] / labels.spacing[0]]]))[0]
    points = []
    for theta in (anterior[k], anterior[k] + width[k]):
        t = np.radians(theta)
        points.append(centre + radius * (np.cos(t) * frame.a + np.sin(t) * frame.s))
    return np.array(points)


def segment_aha(labels, rv_insertion_lps=None, apex="auto", direction="auto"):
    """Split the LV myocardium (labels 2, 3, 4) of a label Volume into the AHA 17 segments.

    rv_insertion_lps: optional (N, 3) LPS points; one or two for the whole stack, or one or two
    per slice (see insertion.from_user_points). Without them the RV blood pool (label 5) gives the
    insertion points; without that a typical orientation is assumed and result.warnings says so.
    apex: "auto" (image geometry, else anatomy), "first" or "last" (the user's choice wins).
    direction: numbering seen from the apex, "auto" (= "anticlockwise", the AHA convention) or
    "clockwise" to correct a mirrored geometry.
    The slices may run along any array axis (Volume.slice_axis): result.segments lies on the
    input's grid, and the per-slice results count slices along that axis.
    """
    if not isinstance(labels, Volume):
        raise InputError("segment_aha needs a Volume (array plus geometry) of labels.")
    (stack,), back = slices_first(labels)
    result = _segment_stack(stack, rv_insertion_lps, apex, direction)
    result.segments = turned(result.segments, back)
    return result


def _checked_stack(labels):
    """(labels cropped to the heart, crop box, myocardium voxels per slice), after refusing label
    maps the AHA model cannot split."""
    box = heart_box(labels.array)
    labels = crop(labels, box)  # the same anatomy and geometry, without the empty surroundings
    array = L.check_label_array(labels.array)
    labels = labels.with_array(array)
    myocardium_per_slice = np.count_nonzero(L.lv_myocardium(array), axis=(1, 2))
    if not myocardium_per_slice.any():
        raise InputError("The label map holds no LV myocardium (labels 2, 3, 4); nothing to segment.")
    if array.shape[0] < 2:
        raise InputError("The label map has a single slice; the AHA model needs a short-axis stack.")
    if not np.any(array == L.BLOOD_POOL):
        raise InputError("The label map holds no LV blood pool (label 1) on any slice; the AHA "
                         "segments are defined around it.")
    return labels, box, myocardium_per_slice


def _apex_side(labels, apex, warnings):
    """(apex side, how it was found); adds a warning where anatomy decided or disagrees."""
    apex_side, apex_source, apex_note = decide_apex_side(labels, apex)
    if apex_source == "anatomy":
        warnings.append(f"Apex side '{apex_side}' was decided from anatomy: {apex_note}.")
    elif apex_source == "geometry":
        anatomy_side, reason = anatomy_apex_side(labels)
        if anatomy_side != apex_side:
            warnings.append(f"The image geometry puts the apex at the {apex_side} slice but the "
                            f"anatomy suggests the {anatomy_side} ({reason}); the geometry was used. "
                            "Check the orientation, or set the apex side explicitly.")
    return apex_side, apex_source


def _insertion_angles(labels, rv_insertion_lps, frame, centres, ring_slices, myocardium_slices, warnings):
    """Insertion angles from the user's points, else the RV label, else an assumed orientation."""
    if rv_insertion_lps is not None and len(np.atleast_1d(rv_insertion_lps)) > 0:
        angles = insertion.from_user_points(rv_insertion_lps, labels, frame, centres, ring_slices, myocardium_slices)
    else:
        angles = insertion.from_rv_label(labels, frame, centres, ring_slices, myocardium_slices)
        if angles is None:
            if np.any(labels.array == L.RV_BLOOD_POOL):
                warnings.append("The RV blood pool (label 5) does not touch the LV myocardium "
                                "plausibly on any slice; it was ignored.")
            angles = insertion.assumed(labels.shape[0], myocardium_slices)
    warnings += angles.warnings
    return angles


def _segment_stack(labels, rv_insertion_lps, apex, direction):
    """segment_aha on a label Volume whose slices run along the first array axis."""
    full_grid = labels
    labels, box, myocardium_per_slice = _checked_stack(labels)
    warnings = []
    apex_side, apex_source = _apex_side(labels, apex, warnings)
    frame, frame_warning = short_axis_frame(labels, apex_side, direction)
    if frame_warning:
        warnings.append(frame_warning)
    polar = myocardium_polar(labels, frame)
    levels, level_warnings = _slice_levels(myocardium_per_slice > 0, polar.has_blood_pool, apex_side)
    warnings += level_warnings
    ring_slices = np.flatnonzero(polar.has_blood_pool & (levels >= 0))  # insertion points measured here
    myocardium_slices = np.flatnonzero(levels >= 0)  # ... and used on every slice with myocardium
    angles = _insertion_angles(labels, rv_insertion_lps, frame, polar.centres, ring_slices, myocardium_slices,
                               warnings)
    anterior, width = angles.anterior_deg, angles.septal_width_deg
    phi = (polar.theta_deg - anterior[polar.k]) % 360.0
    segments = np.zeros(full_grid.shape, dtype=np.uint8)
    segments[polar.k, polar.row + box[0].start, polar.column + box[1].start] = _assign(levels[polar.k], phi,
                                                                                      width[polar.k])
    if angles.source == "user":
        points = np.asarray(rv_insertion_lps, dtype=float).reshape(-1, 3)
    else:
        points = _insertion_points_lps(labels, frame, polar, levels, anterior, width)
    return AHAResult(
        segments=full_grid.with_array(segments),
        apex_side=apex_side, apex_source=apex_source,
        direction="clockwise" if direction == "clockwise" else "anticlockwise",
        insertion_points_lps=points, insertion_source=angles.source,
        warnings=warnings,
        slice_levels={int(k): LEVEL_NAMES[levels[k]] for k in myocardium_slices},
        anterior_deg=anterior, septal_width_deg=width, frame=frame,
    )
