"""Scar pseudo-labels from the weak classifier's scar maps, for the scar network to learn from.

Rule, per case: the scar map inside the myocardium of the slices that may hold scar (the slices
labelled yes at slice level; every slice of a stack labelled yes at stack level) is split into
three classes by a three-class Otsu, on that case's values alone (so the map's scale and offset do
not matter: that is its normalisation). Scar is each connected region of a slice above the lower
threshold that reaches above the upper one (hysteresis: a clearly bright core and the rim joined
to it). Slices and stacks labelled no get no scar. Yes/no labels say nothing of MVO, so the
pseudo-labels hold scar only; a weakly supervised model calls MVO scar.

A dense CRF is left out: no CRF package is among the dependencies, and the hysteresis already
follows the map's edges; add one only where it measurably raises the pseudo-labels' Dice.
"""

import numpy as np

from LGECore import labels as L

from .data import window_bounds
from .metrics import dice
from .weak_classifier import anatomy_only
from .weak_pooling import case_maps

OTSU_BINS = 128


def three_class_otsu(values, bins=OTSU_BINS):
    """(low, high) thresholds that split `values` into three classes of greatest between-class
    variance (multi-Otsu, exhaustive over a histogram); None for fewer than 3 distinct values."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 3 or values.max() <= values.min():
        return None
    counts, edges = np.histogram(values, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.concatenate([[0.0], np.cumsum(counts)])
    moment = np.concatenate([[0.0], np.cumsum(counts * centres)])

    def spread(start, stop):  # a class's share of the between-class variance, up to constants
        w = weight[stop] - weight[start]
        return np.where(w > 0, (moment[stop] - moment[start]) ** 2 / np.maximum(w, 1e-12), 0.0)

    low, high = np.triu_indices(bins, k=1)
    keep = low >= 1
    low, high = low[keep], high[keep]
    best = int(np.argmax(spread(0, low) + spread(low, high) + spread(high, bins)))
    return float(edges[low[best]]), float(edges[high[best]])


def hysteresis(values, mask, low, high):
    """Regions of `mask` above `low` that hold some value above `high` (one slice)."""
    from scipy import ndimage

    candidate = mask & (values > low)
    regions, count = ndimage.label(candidate)
    if not count:
        return candidate
    seeded = np.unique(regions[candidate & (values > high)])
    return np.isin(regions, seeded[seeded > 0])


def pseudo_scar(maps, masks, may_hold):
    """(Z, P, P) scar pseudo-labels of one case's windows: `maps` and `masks` as case_maps gives
    them, `may_hold` the slices that may hold scar."""
    scar = np.zeros(masks.shape, dtype=bool)
    thresholds = three_class_otsu(maps[may_hold[:, None, None] & masks])
    if thresholds is None:
        return scar
    for z in np.flatnonzero(may_hold):
        scar[z] = hysteresis(maps[z], masks[z], *thresholds)
    return scar


def on_case_grid(windows, case):
    """(Z, P, P) windows centred on the case's LV in each slice -> (Z, H, W) on its grid."""
    full = np.zeros(case.labels.shape, dtype=bool)
    patch = windows.shape[-1]
    for z, centre in enumerate(case.centres):
        top, left, rows, cols = window_bounds(case.labels.shape, centre, patch)
        full[z, rows, cols] = windows[z, rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    return full


def _may_hold(case, answer):
    return np.asarray(answer, dtype=bool) if np.ndim(answer) else np.full(case.image.shape[0], bool(answer))


def pseudo_labelled_cases(network, cases, labels, config, device):
    """(the labelled cases with their scar replaced by pseudo-labels, {pseudo_label_dice, cases}):
    the Dice against the contours' own scar, where they hold any, is a check only; no contour
    scar reaches the pseudo-labels."""
    labelled, scores = [], []
    for case in cases:
        if case.name not in labels:
            continue
        maps, masks, _ = case_maps(network, case, config.classifier, config.pooling_sharpness, device)
        scar = on_case_grid(pseudo_scar(maps, masks, _may_hold(case, labels[case.name])), case)
        pseudo = anatomy_only(case)
        pseudo.labels[scar & (pseudo.labels == L.MYOCARDIUM)] = L.SCAR
        labelled.append(pseudo)
        true_scar = np.isin(case.labels, L.SCAR_LABELS)
        if true_scar.any() and not case.name.startswith("Phantom_"):
            scores.append(dice(pseudo.labels == L.SCAR, true_scar))
    summary = {"cases": len(labelled), "scar_slices": int(sum((c.labels == L.SCAR).any(axis=(1, 2)).sum()
                                                                for c in labelled))}
    if scores:
        summary["pseudo_label_dice"] = round(float(np.mean(scores)), 4)
    return labelled, summary
