"""The label convention (EMIDEC numbers), used in files, tensors and segment IDs alike."""

import numpy as np

from .errors import InputError

BACKGROUND = 0
BLOOD_POOL = 1
MYOCARDIUM = 2  # healthy myocardium
SCAR = 3
MVO = 4  # microvascular obstruction; lies inside the infarct and counts as scar
RV_BLOOD_POOL = 5

ALL_LABELS = (BACKGROUND, BLOOD_POOL, MYOCARDIUM, SCAR, MVO, RV_BLOOD_POOL)
LV_MYOCARDIUM_LABELS = (MYOCARDIUM, SCAR, MVO)
SCAR_LABELS = (SCAR, MVO)

SCAR_DENSITY_G_PER_ML = 1.05

# Segment metadata for Slicer segmentations and .seg.nrrd files: name, RGB colour (0..1),
# and DICOM terminology (category, type) as (coding scheme, code value, meaning) triples.
# The SCT codes are those of Slicer's DICOM master terminology list (Terminologies module), so
# Slicer shows the segments with their standard names; no SNOMED concept exists for MVO, so it
# carries a code of this project's own scheme (allowed by DICOM for private codes).
ANATOMICAL_STRUCTURE = ("SCT", "123037004", "Anatomical Structure")
TISSUE = ("SCT", "85756007", "Tissue")
MORPHOLOGICALLY_ALTERED = ("SCT", "49755003", "Morphologically Altered Structure")

SEGMENTS = {
    BLOOD_POOL: dict(
        id="lv_blood_pool", name="LV blood pool", color=(0.85, 0.33, 0.31),
        category=ANATOMICAL_STRUCTURE, type=("SCT", "87878005", "Left ventricle")),
    MYOCARDIUM: dict(
        id="myocardium", name="Healthy myocardium", color=(0.89, 0.72, 0.47),
        category=ANATOMICAL_STRUCTURE, type=("SCT", "74281007", "Myocardium")),
    SCAR: dict(
        id="scar", name="Scar", color=(0.98, 0.93, 0.36),
        category=TISSUE, type=("SCT", "12402003", "Scar tissue")),
    MVO: dict(
        id="mvo", name="MVO", color=(0.33, 0.55, 0.85),
        category=MORPHOLOGICALLY_ALTERED, type=("ScarSynth", "mvo", "Microvascular obstruction")),
    RV_BLOOD_POOL: dict(
        id="rv_blood_pool", name="RV blood pool", color=(0.50, 0.68, 0.53),
        category=ANATOMICAL_STRUCTURE, type=("SCT", "53085002", "Right ventricle")),
}

# The infarct core and grey zone (ScarSegmentLib.grey_zone) by each definition ("sd": the 2-3 SD
# band above remote myocardium, "max": up to half the infarct's maximum): segments of their own
# beside the labels' segments, which they overlap, and outside the 0..5 label numbers.
ZONE_SEGMENTS = {
    ("infarct_core", "sd"): dict(id="infarct_core_sd", name="Infarct core (> 3 SD)", color=(0.60, 0.05, 0.10)),
    ("grey_zone", "sd"): dict(id="grey_zone_sd", name="Grey zone (2-3 SD)", color=(0.70, 0.70, 0.70)),
    ("infarct_core", "max"): dict(id="infarct_core_max", name="Infarct core (>= half max)",
                                  color=(0.50, 0.05, 0.35)),
    ("grey_zone", "max"): dict(id="grey_zone_max", name="Grey zone (remote peak to half max)",
                               color=(0.55, 0.55, 0.75)),
}
ZONE_SEGMENT_IDS = tuple(info["id"] for info in ZONE_SEGMENTS.values())


# Words that identify a segment made elsewhere (other tools, hand edits), checked in this order.
_SEGMENT_KEYWORDS = (
    (MVO, ("mvo", "no-reflow", "no reflow", "microvascular")),
    (SCAR, ("scar", "infarct", "fibrosis", "enhancement")),
    (RV_BLOOD_POOL, ("rv", "right ventric")),
    (BLOOD_POOL, ("blood", "cavity", "lv pool", "lumen")),
    (MYOCARDIUM, ("myocard", "myo")),
)


def label_for_segment(name, segment_id=""):
    """Project label of a segment from its name or ID (exact names first, then keywords); None if unknown."""
    for label, info in SEGMENTS.items():
        if name.strip().lower() == info["name"].lower() or segment_id == info["id"]:
            return label
    text = f"{name} {segment_id}".lower()
    for label, words in _SEGMENT_KEYWORDS:
        if any(word in text for word in words):
            return label
    return None


def lv_myocardium(labels):
    """Boolean mask of the whole LV myocardium (healthy, scar and MVO)."""
    return np.isin(labels, LV_MYOCARDIUM_LABELS)


def scar(labels):
    """Boolean mask of scar including MVO."""
    return np.isin(labels, SCAR_LABELS)


def check_label_array(labels, name="label map"):
    """Raise InputError unless `labels` holds only whole numbers from the project's convention."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise InputError(f"The {name} contains NaN or infinite values.")
        if not np.all(labels == np.round(labels)):
            raise InputError(f"The {name} holds fractional values; a label map needs whole numbers.")
    elif labels.dtype.kind not in "iub":
        raise InputError(f"The {name} has data type {labels.dtype}; a label map needs integers.")
    unknown = sorted(set(np.unique(labels).astype(int).tolist()) - set(ALL_LABELS))
    if unknown:
        raise InputError(
            f"The {name} holds unknown label values {unknown}; expected 0 background, "
            "1 LV blood pool, 2 myocardium, 3 scar, 4 MVO, 5 RV blood pool.")
    return labels.astype(np.uint8)
