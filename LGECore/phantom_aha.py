"""The true AHA 17-segment rule of DESIGN.md, applied to the phantom's known anatomy.

Slices holding LV myocardium are ordered apex -> base; slices with a blood pool are split into
equal thirds (a remainder goes to basal first, then mid); slices with myocardium but no blood pool
are the apex (17). Angles theta go from the anterior direction a towards the septum s (degrees).
"""

import numpy as np

CAP, APICAL, MID, BASAL = "apex", "apical", "mid", "basal"


def slice_roles(has_myocardium, has_blood_pool, apex_first):
    """Role of each slice (None where it holds no LV myocardium)."""
    n = len(has_myocardium)
    order = range(n) if apex_first else range(n - 1, -1, -1)  # apex -> base
    roles = [None] * n
    rings = []
    for index in order:
        if has_myocardium[index]:
            if has_blood_pool[index]:
                rings.append(index)
            else:
                roles[index] = CAP
    third, remainder = divmod(len(rings), 3)
    n_apical = third
    n_mid = third + (1 if remainder == 2 else 0)
    for position, index in enumerate(rings):
        roles[index] = APICAL if position < n_apical else MID if position < n_apical + n_mid else BASAL
    return roles


def segments_for_angles(role, theta, anterior, inferior):
    """AHA segment numbers (uint8) for angles theta (degrees) in a slice of the given role.

    `anterior` and `inferior` are the angles of the RV insertion points seen from the LV centre.
    """
    theta = np.asarray(theta, dtype=float)
    if role == CAP:
        return np.full(theta.shape, 17, dtype=np.uint8)
    septal_arc = (inferior - anterior) % 360.0
    if role == APICAL:
        mid_septum = anterior + septal_arc / 2.0
        sector = (((theta - mid_septum + 45.0) % 360.0) // 90.0).astype(int) % 4
        return np.array([14, 15, 16, 13], dtype=np.uint8)[sector]
    base = 0 if role == BASAL else 6
    rel = (theta - anterior) % 360.0
    free_wall = 360.0 - septal_arc
    free_sector = np.clip(((rel - septal_arc) // (free_wall / 4.0)).astype(int), 0, 3)
    segment = np.where(rel < septal_arc / 2.0, 2,
                       np.where(rel < septal_arc, 3, np.array([4, 5, 6, 1])[free_sector]))
    return (segment + base).astype(np.uint8)
