"""Scar pseudo-labels from the weak classifier's scar maps, for the scar network to learn from.

The classifier finds where scar is; the image says how far it reaches. Rule, per case:

1. the scar map inside the myocardium of the slices that may hold scar (the slices labelled yes
   at slice level; every slice of a stack labelled yes at stack level) is split into three
   classes by a three-class Otsu, on that case's values alone (so the map's scale and offset do
   not matter: that is its normalisation);
2. remote myocardium: at slice level, the myocardium whose map lies below the lower threshold, on
   every slice (mean and SD); at stack level, the darker half of the case's myocardium (median,
   and the median absolute deviation scaled to an SD), since a map learnt from whole stacks is
   warm over much of a scarred heart and its cold part holds scar too;
3. scar: each connected region of myocardium brighter than the remote centre + 2 SD (3 SD of the
   darker half's narrower spread at stack level: the clinical n-SD rule) on a slice that may hold
   scar, where it touches the map's upper class.

Slices and stacks labelled no get no scar. Yes/no labels say nothing of MVO, so the pseudo-labels
hold scar only; a weakly supervised model calls MVO scar. The map alone (its two upper classes
joined by hysteresis) drew scar twice as large as the contours on the training cases of three
folds (median burden ratio 2.1-2.3, Dice 0.57-0.58); delineated by the 2-SD rule, 0.9-1.1 and
0.65-0.69 (1.5 SD: 1.3, 2.5 SD: 0.6-0.9). At stack level, remote statistics from the map gave
pseudo-labels of Dice 0.38 and 0.53 on the training cases of two folds (0.40 even on the slices
that truly hold scar), the darker half 0.62 and 0.62 (2.5 SD: 0.62, 0.62; 3.5 SD: 0.60, 0.60).

A dense CRF is left out: no CRF package is among the dependencies, and the n-SD rule already
follows the image's edges; add one only where it measurably raises the pseudo-labels' Dice.
"""

import numpy as np

from LGECore import labels as L

from .data import window_bounds
from .metrics import dice
from .weak_classifier import anatomy_only
from .weak_pooling import case_maps

OTSU_BINS = 128
REMOTE_SD = 2.0  # scar is brighter than the remote myocardium's mean by this many SD
DARKER_HALF_SD = 3.0  # ... by this many of the darker half's SD (a half-distribution is narrower)
MIN_REMOTE_PIXELS = 50  # fewer cold pixels than this: the whole myocardium outside the scar is remote


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
    return touching(mask & (values > low), values > high)


def touching(candidate, seed):
    """The connected regions of `candidate` that hold some pixel of `seed` (one slice)."""
    from scipy import ndimage

    regions, count = ndimage.label(candidate)
    if not count:
        return candidate
    seeded = np.unique(regions[candidate & seed])
    return np.isin(regions, seeded[seeded > 0])


def remote_statistics(images, masks, maps, low, hot):
    """(mean, SD) of the remote myocardium: where the map is cold, else all but the `hot` pixels."""
    remote = masks & ~hot & (maps < low)
    if remote.sum() < MIN_REMOTE_PIXELS:
        remote = masks & ~hot
    values = images[remote] if remote.any() else images[masks]
    return float(values.mean()), float(values.std())


def darker_half_statistics(images, masks):
    """(median, MAD scaled to an SD) of the darker half of the myocardium: remote myocardium in
    any heart whose scar covers less than half of it, whatever a map says."""
    values = images[masks]
    darker = values[values <= np.median(values)]
    centre = float(np.median(darker))
    return centre, 1.4826 * float(np.median(np.abs(darker - centre)))


def brightness_threshold(images, masks, maps, low, hot, remote):
    """The n-SD rule's threshold: remote "map" (cold map) or "darker_half" statistics."""
    if remote == "darker_half":
        centre, sd = darker_half_statistics(images, masks)
        return centre + DARKER_HALF_SD * sd
    mean, sd = remote_statistics(images, masks, maps, low, hot)
    return mean + REMOTE_SD * sd


def pseudo_scar(maps, masks, may_hold, images, remote="map"):
    """(Z, P, P) scar pseudo-labels of one case's windows: `maps` and `masks` as case_maps gives
    them, `may_hold` the slices that may hold scar, `images` the windows' own slice (Z, P, P),
    `remote` where the remote myocardium's statistics come from ("map" or "darker_half")."""
    scar = np.zeros(masks.shape, dtype=bool)
    thresholds = three_class_otsu(maps[may_hold[:, None, None] & masks])
    if thresholds is None:
        return scar
    low, high = thresholds
    hot = np.zeros(masks.shape, dtype=bool)
    for z in np.flatnonzero(may_hold):
        hot[z] = hysteresis(maps[z], masks[z], low, high)
    bright = masks & (images > brightness_threshold(images, masks, maps, low, hot, remote))
    for z in np.flatnonzero(may_hold):
        scar[z] = touching(bright[z], masks[z] & (maps[z] > high))
    return scar


def on_case_grid(windows, case):
    """(Z, P, P) windows centred on the case's LV in each slice -> (Z, H, W) on its grid."""
    full = np.zeros(case.labels.shape, dtype=bool)
    patch = windows.shape[-1]
    for z, centre in enumerate(case.centres):
        top, left, rows, cols = window_bounds(case.labels.shape, centre, patch)
        full[z, rows, cols] = windows[z, rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    return full


REMOTE_BY_LEVEL = {"slice": "map", "stack": "darker_half"}  # where remote statistics come from
RULE_TEXT_BY_LEVEL = {  # the rule as the registry entry and model card state it
    "slice": "three-class Otsu of each case's scar map in the myocardium of its yes slices; scar: the myocardium "
             "brighter than the remote (map below the lower threshold) mean + 2 SD, in regions touching the upper "
             "class; none on no slices",
    "stack": "three-class Otsu of each case's scar map in the myocardium of its yes stacks; scar: the myocardium "
             "brighter than the darker half of the case's myocardium (median + 3 SD from its median absolute "
             "deviation), in regions touching the upper class; none in no stacks",
}


def _may_hold(case, answer):
    return np.asarray(answer, dtype=bool) if np.ndim(answer) else np.full(case.image.shape[0], bool(answer))


def pseudo_labelled_cases(network, cases, labels, config, device):
    """(the labelled cases with their scar replaced by pseudo-labels, {pseudo_label_dice, cases}):
    the Dice against the contours' own scar, where they hold any, is a check only; no contour
    scar reaches the pseudo-labels."""
    labelled, scores = [], []
    remote = REMOTE_BY_LEVEL[config.level]
    for case in cases:
        if case.name not in labels:
            continue
        maps, masks, _, images = case_maps(network, case, config.classifier, config.pooling_sharpness, device)
        scar = on_case_grid(pseudo_scar(maps, masks, _may_hold(case, labels[case.name]), images, remote), case)
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
