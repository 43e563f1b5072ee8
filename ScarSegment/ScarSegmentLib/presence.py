"""The probability that scar is present, per slice and per case, from a network's probabilities
(whichever model segmented: the shipped network, a train-seg or a train-weak cascade).

Rule: a slice's probability is the highest scar probability (scar and MVO classes together)
inside the LV myocardium of the labels (healthy, scar and MVO), after a light in-plane Gaussian
smoothing (sigma 1 voxel), so that one stray voxel does not decide alone; a slice without
myocardium has 0. The case's probability is the highest of its slices': scar anywhere is scar
in the case. The threshold methods give labels without probabilities, so none for them.
"""

import numpy as np

from LGECore import labels as L

SMOOTHING_VOXELS = 1.0


def scar_presence(probabilities, labels):
    """{"per_slice": [...], "case": p} from (5, slices, rows, columns) probabilities and the
    labels [slices, rows, columns] on the same grid."""
    from scipy import ndimage

    scar = np.asarray(probabilities[L.SCAR], dtype=np.float32) + np.asarray(probabilities[L.MVO], dtype=np.float32)
    smoothed = ndimage.gaussian_filter(scar, sigma=(0, SMOOTHING_VOXELS, SMOOTHING_VOXELS))
    myocardium = np.isin(labels, L.LV_MYOCARDIUM_LABELS)
    per_slice = [float(np.clip(smoothed[z][myocardium[z]].max(), 0, 1)) if myocardium[z].any() else 0.0
                 for z in range(len(labels))]
    return {"per_slice": [round(p, 4) for p in per_slice], "case": round(max(per_slice, default=0.0), 4)}


def presence_rows(metrics, per_slice=True):
    """[(name, value, unit)] of a table or report: the case's probability, then each slice's."""
    presence = metrics.get("scar_presence")
    if not presence:
        return []
    rows = [("Scar present (probability, case)", presence["case"], "")]
    if per_slice:
        rows += [(f"Scar present (probability, slice {z})", p, "") for z, p in enumerate(presence["per_slice"])]
    return rows
