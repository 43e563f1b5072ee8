"""Scar quantification in physical units from a label map (project label numbers).

Voxel volume = in-plane spacing x in-plane spacing x slice spacing (the distance between slice
centres, not the slice thickness), so gaps between slices are counted as the clinical
disc-summation method does. Masses use 1.05 g/mL for myocardium and scar alike.
"""

import numpy as np

from LGECore import labels as L

MYOCARDIUM_DENSITY_G_PER_ML = 1.05


def _percent(part, whole):
    return 100.0 * part / whole if whole > 0 else 0.0


def quantify_scar(labels):
    """Volumes (mL), masses (g) and percentages of one label Volume, as a flat dict.

    Keys: voxel_volume_ml, lv_blood_pool_volume_ml, myocardium_volume_ml, myocardium_mass_g,
    scar_volume_ml, scar_mass_g, scar_burden_percent (scar incl. MVO / LV myocardium),
    mvo_volume_ml, mvo_percent_of_myocardium, mvo_percent_of_scar, scar_slices.
    """
    array = L.check_label_array(labels.array)
    voxel_ml = labels.voxel_volume_ml
    myocardium = L.lv_myocardium(array)
    scar = L.scar(array)
    mvo = array == L.MVO
    myocardium_ml = float(myocardium.sum()) * voxel_ml
    scar_ml = float(scar.sum()) * voxel_ml
    mvo_ml = float(mvo.sum()) * voxel_ml
    return {
        "voxel_volume_ml": voxel_ml,
        "spacing_mm": list(labels.spacing),
        "lv_blood_pool_volume_ml": float((array == L.BLOOD_POOL).sum()) * voxel_ml,
        "myocardium_volume_ml": myocardium_ml,
        "myocardium_mass_g": myocardium_ml * MYOCARDIUM_DENSITY_G_PER_ML,
        "scar_volume_ml": scar_ml,
        "scar_mass_g": scar_ml * L.SCAR_DENSITY_G_PER_ML,
        "scar_burden_percent": _percent(scar_ml, myocardium_ml),
        "mvo_volume_ml": mvo_ml,
        "mvo_percent_of_myocardium": _percent(mvo_ml, myocardium_ml),
        "mvo_percent_of_scar": _percent(mvo_ml, scar_ml),
        "scar_slices": int(np.count_nonzero(scar.any(axis=(1, 2)))),
    }


MEASUREMENT_ROWS = (
    # (key, display name, unit) in the order tables and reports show them
    ("myocardium_volume_ml", "LV myocardium volume", "mL"),
    ("myocardium_mass_g", "LV myocardium mass", "g"),
    ("scar_volume_ml", "Scar volume (incl. MVO)", "mL"),
    ("scar_mass_g", "Scar mass", "g"),
    ("scar_burden_percent", "Scar burden (% of LV myocardium)", "%"),
    ("mvo_volume_ml", "MVO volume", "mL"),
    ("mvo_percent_of_myocardium", "MVO (% of LV myocardium)", "%"),
    ("mvo_percent_of_scar", "MVO (% of scar)", "%"),
    ("lv_blood_pool_volume_ml", "LV blood pool volume", "mL"),
)
MEASUREMENT_ROWS += tuple(
    row for (zone, definition), segment in L.ZONE_SEGMENTS.items() for name in [segment["name"]] for row in (
        (f"{zone}_{definition}_volume_ml", f"{name} volume", "mL"),
        (f"{zone}_{definition}_mass_g", f"{name} mass", "g"),
        (f"{zone}_{definition}_percent", f"{name}, % of LV myocardium", "%")))


def measurement_rows(metrics):
    """[(name, value rounded, unit)] for tables and reports, in a fixed order."""
    return [(name, round(float(metrics[key]), 2), unit)
            for key, name, unit in MEASUREMENT_ROWS if key in metrics]
