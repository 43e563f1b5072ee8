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
SEGMENTS = {
    BLOOD_POOL: dict(
        id="lv_blood_pool", name="LV blood pool", color=(0.85, 0.33, 0.31),
        category=("SCT", "123037004", "Anatomical Structure"),
        type=("SCT", "110125003", "Left ventricle cavity")),
    MYOCARDIUM: dict(
        id="myocardium", name="Healthy myocardium", color=(0.89, 0.72, 0.47),
        category=("SCT", "123037004", "Anatomical Structure"),
        type=("SCT", "87878005", "Left ventricle myocardium")),
    SCAR: dict(
        id="scar", name="Scar", color=(0.98, 0.93, 0.36),
        category=("SCT", "49755003", "Morphologically Altered Structure"),
        type=("SCT", "22298006", "Myocardial infarction")),
    MVO: dict(
        id="mvo", name="MVO", color=(0.33, 0.55, 0.85),
        category=("SCT", "49755003", "Morphologically Altered Structure"),
        type=("SCT", "443949007", "Microvascular obstruction")),
    RV_BLOOD_POOL: dict(
        id="rv_blood_pool", name="RV blood pool", color=(0.50, 0.68, 0.53),
        category=("SCT", "123037004", "Anatomical Structure"),
        type=("SCT", "91408009", "Right ventricle cavity")),
}


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
