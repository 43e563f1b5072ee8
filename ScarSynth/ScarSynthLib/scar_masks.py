"""Scar masks guided by the AHA 17-segment model, drawn on a subject's own myocardium.

The user names AHA segments or a coronary territory, how much of it the scar covers (extent), how
deep it reaches (transmurality) and whether an MVO core sits inside; `make_scar_labels` returns
the label map with that scar added. The AHA split and the wall depth come from AHABullseyeLib,
computed on the subject itself: no atlas, no registration.

Existing scar and MVO in the input labels are kept; new scar is only drawn on healthy myocardium
(label 2) and new MVO only inside the new scar. Everything random comes from `seed`.
"""

import numpy as np
from scipy import ndimage

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.volume import Volume

from . import scar_patterns as P
from . import scar_surface as S
from .scar_random import random_scar_config  # noqa: F401  (part of this module's API)

__all__ = ["aha_segment_map", "make_scar_labels", "random_scar_config", "resolve_segments"]


def resolve_segments(segments=None, territory=None):
    """The sorted AHA segments (1..17) meant by a segment list or a coronary territory name."""
    from LGECore.territories import TERRITORIES, territory_segments

    if (segments is None) == (territory is None):
        raise InputError("Give either AHA segments (e.g. 1,2,7) or a coronary territory "
                         f"({', '.join(TERRITORIES)}), not both and not neither.")
    if territory is not None:
        return territory_segments(territory)
    try:
        chosen = sorted({int(s) for s in segments})
    except (TypeError, ValueError):
        raise InputError(f"AHA segments must be whole numbers 1..17; got {segments!r}.") from None
    if not chosen:
        raise InputError("No AHA segments given; pick at least one of 1..17.")
    wrong = [s for s in chosen if not 1 <= s <= 17]
    if wrong:
        raise InputError(f"AHA segments are numbered 1..17; got {wrong}.")
    return chosen


def _check_parameters(pattern, transmurality, extent, mvo):
    if pattern not in P.PATTERNS:
        raise InputError(f"Unknown scar pattern '{pattern}'; use one of {', '.join(P.PATTERNS)}.")
    for name, value in (("transmurality", transmurality), ("extent", extent)):
        if not isinstance(value, (int, float, np.floating)) or not 0.0 < float(value) <= 1.0:
            raise InputError(f"The {name} must be a fraction in (0, 1]; got {value!r}.")
    if mvo and pattern != "ischaemic":
        raise InputError(f"MVO belongs to ischaemic (infarct) scar, not to the {pattern} pattern.")
    if mvo and transmurality < P.TRANSMURAL:
        raise InputError(
            f"MVO lies only inside transmural scar: ask for a transmurality of at least "
            f"{P.TRANSMURAL} with MVO (got {transmurality}).")


def _segment_map(labels, aha_segments, rv_insertion_lps):
    """AHA segment number (0 outside the myocardium) per voxel, and how the split was oriented."""
    if aha_segments is not None:
        array = aha_segments.array if isinstance(aha_segments, Volume) else np.asarray(aha_segments)
        if isinstance(aha_segments, Volume):
            labels.check_same_grid(aha_segments, what="AHA segment map")
        if array.shape != labels.shape:
            raise InputError(f"The AHA segment map has shape {array.shape}; the labels {labels.shape}.")
        return np.asarray(array, dtype=np.int32), "given"
    from AHABullseyeLib.aha import segment_aha

    result = segment_aha(labels, rv_insertion_lps=rv_insertion_lps)
    return np.asarray(result.segments.array, dtype=np.int32), _orientation_note(result)


def aha_segment_map(labels, rv_insertion_lps=None):
    """(AHA segment number per voxel, how the split was oriented) of a heart, as make_scar_labels
    splits it; give the map back to it as `aha_segments` to draw on the same split."""
    return _segment_map(labels, None, rv_insertion_lps)


def _orientation_note(result):
    """How the AHA split found the RV insertion and the apex, with its warnings."""
    parts = [f"{name}: {getattr(result, name)}" for name in ("insertion_source", "apex_source")
             if getattr(result, name, None)]
    parts += [str(w) for w in getattr(result, "warnings", None) or ()]
    return "; ".join(parts) or "computed"


def _wall_depth(labels):
    from AHABullseyeLib.wall import wall_depth

    return np.asarray(wall_depth(labels), dtype=float)


def _checked_labels(labels):
    """(label array, LV myocardium, LV blood pool), after refusing labels with no wall to scar."""
    if not isinstance(labels, Volume):
        raise InputError("The labels must be a Volume (LGECore.volume.Volume).")
    array = L.check_label_array(labels.array, name="label map")
    myocardium = L.lv_myocardium(array)
    blood_pool = array == L.BLOOD_POOL
    if not myocardium.any():
        raise InputError("The label map has no LV myocardium (labels 2, 3, 4) to put a scar in.")
    if not blood_pool.any():
        raise InputError("The label map has no LV blood pool (label 1); the wall's inside is unknown.")
    return array, myocardium, blood_pool


def make_scar_labels(labels, segments=None, territory=None, transmurality=0.5, extent=1.0,
                     mvo=False, pattern="ischaemic", seed=0, rv_insertion_lps=None,
                     aha_segments=None):
    """Add a scar to a label map; return (new labels Volume, params dict).

    labels: Volume with LV blood pool (1) and myocardium (2, maybe 3/4); RV (5) is optional and
        orients the AHA split. segments / territory: where the scar goes (exactly one of them).
    transmurality: mean fraction of the wall the scar spans (ischaemic: from the endocardium;
        midwall: band width; epicardial: from the epicardium). extent: fraction of the chosen
        segments' wall surface covered. mvo: add a microvascular obstruction core (ischaemic,
        transmurality >= 0.75). seed: makes the result reproducible.
    rv_insertion_lps: optional anterior RV insertion point(s) in LPS passed to the AHA split.
    aha_segments: optional precomputed AHA segment map (Volume or array) on the same grid.
    The params dict echoes the request and reports what was drawn.
    """
    chosen = resolve_segments(segments, territory)
    _check_parameters(pattern, transmurality, extent, mvo)
    array, myocardium, blood_pool = _checked_labels(labels)
    labels = labels.with_array(array)
    segment_map, orientation = _segment_map(labels, aha_segments, rv_insertion_lps)
    depth = _wall_depth(labels)

    rng = np.random.default_rng(seed)
    in_segments = myocardium & np.isin(segment_map, chosen)
    present = sorted(set(np.unique(segment_map[in_segments]).tolist()))
    if not present:
        raise InputError(f"None of the AHA segments {chosen} holds myocardium in this heart.")
    grid = S.wall_grid(myocardium, blood_pool)
    rim, rim_depth = _boundary_rim(myocardium, blood_pool, pattern)
    weights = grid.cell_counts(in_segments)
    voxel_depth = _fill_missing_depth(depth[in_segments], pattern)
    voxel_depth = np.where(rim[in_segments], rim_depth, voxel_depth)
    apicalness = _apicalness(grid, segment_map, myocardium)
    scar, mvo_mask, dropped_voxels, footprint_cells = _draw_scar(
        grid, in_segments, voxel_depth, weights > 0, weights, apicalness, pattern, transmurality,
        extent, mvo, rng)

    new = array.copy()
    new[scar & (array == L.MYOCARDIUM)] = L.SCAR
    new[mvo_mask & (array == L.MYOCARDIUM)] = L.MVO
    params = dict(
        pattern=pattern, segments=chosen, territory=_territory_name(territory),
        transmurality=float(transmurality), extent=float(extent), mvo=bool(mvo), seed=int(seed),
        aha_orientation=orientation,
        existing_scar_voxels=int(L.scar(array).sum()),
        existing_scar="kept unchanged; the new scar is drawn on healthy myocardium around it",
        scar_voxels_added=int(L.scar(new).sum() - L.scar(array).sum()),
        mvo_voxels_added=int((new == L.MVO).sum() - (array == L.MVO).sum()),
        segments_with_scar=sorted(set(np.unique(segment_map[scar & myocardium]).tolist()) - {0}),
        segments_without_myocardium=[s for s in chosen if s not in present],
        dropped_fragment_voxels=int(dropped_voxels),
        achieved_transmurality=_achieved_transmurality(grid, scar, in_segments),
        footprint_extent=float(weights[footprint_cells].sum() / max(weights.sum(), 1)),
    )
    return labels.with_array(new), params


def _draw_scar(grid, in_segments, voxel_depth, selected, weights, apicalness, pattern,
               transmurality, extent, mvo, rng):
    """(scar mask, MVO mask, voxels dropped as fragments, footprint cells) over the selected cells.

    Each connected group of selected cells (one per set of neighbouring segments) gets its own
    footprint, local transmurality and depth band; its scar is kept in one piece, except for the
    patchy pattern.
    """
    shape = in_segments.shape

    def draw(low, high):
        drawn = np.zeros(shape, dtype=bool)
        drawn[in_segments] = (voxel_depth >= grid.to_voxels(low, in_segments)) & (
            voxel_depth <= grid.to_voxels(high, in_segments))
        return drawn

    scar, mvo_mask, dropped_voxels = np.zeros(shape, bool), np.zeros(shape, bool), 0
    footprints = np.zeros(selected.shape, dtype=bool)
    for group in S.components(selected):
        if pattern == "patchy":
            footprint, spread = S.patchy_footprint(group, weights, extent, rng)
        else:
            footprint, spread = S.grow_footprint(group, weights, extent, rng, apicalness)
        footprints |= footprint
        local = P.local_transmurality(footprint, transmurality, rng, pattern)
        group_scar = draw(*P.depth_band(footprint, local, pattern, rng))
        if pattern != "patchy":
            local, group_scar = _bridge_slices(
                grid, footprint, local, group_scar, in_segments,
                lambda deeper: draw(*P.depth_band(footprint, deeper, pattern, rng)))
            group_scar, dropped = _largest_piece(group_scar)
            dropped_voxels += dropped
        scar |= group_scar
        if mvo:  # the core: transmural cells near the infarct's centre, inner part of the wall
            core = P.mvo_cells(footprint, local, spread, rng)
            core_depth = grid.to_voxels(np.where(core, 0.6 * local, np.nan), in_segments)
            in_core = np.zeros(shape, dtype=bool)
            in_core[in_segments] = voxel_depth <= np.nan_to_num(core_depth, nan=-1.0)
            mvo_mask |= in_core & group_scar
    return scar, mvo_mask, dropped_voxels, footprints


def _apicalness(grid, segment_map, myocardium):
    """Per level, 0 at the base .. 1 at the apex, the apex end read from the AHA map itself."""
    ramp = np.linspace(0.0, 1.0, grid.n_levels) if grid.n_levels > 1 else np.ones(1)
    level = grid.level[myocardium]
    segment = segment_map[myocardium]
    apical, basal = level[segment >= 13], level[(segment >= 1) & (segment <= 6)]
    if apical.size and basal.size and apical.mean() < basal.mean():
        ramp = ramp[::-1]
    return ramp


def _bridge_slices(grid, footprint, local, scar, in_segments, redraw, step=0.15):
    """Deepen the scar where neighbouring slices' scars do not touch, so it stays one piece.

    Slices lie far apart compared to pixels; towards the apex (and in a narrowing basal slice) the
    ring changes size, and a thin subendocardial scar on one slice may lie entirely inside the
    next slice's blood pool. A real infarct runs on obliquely through the wall there, so the scar
    of the slice whose wall overlaps the other's scar is made more transmural until they touch.
    Pairs whose walls do not overlap at all are left as they are.
    """
    touching = np.ones((1, 3, 3), dtype=bool)
    wall = np.zeros(scar.shape, dtype=bool)
    wall[in_segments] = grid.to_voxels(footprint, in_segments)
    wall_grown = ndimage.binary_dilation(wall, structure=touching)
    for _ in range(2 * int(1 / step) + 4):
        grown = ndimage.binary_dilation(scar, structure=touching)
        changed = False
        for level in range(grid.n_levels - 1):
            z0, z1 = grid.slices[level], grid.slices[level + 1]
            if not (scar[z0].any() and scar[z1].any()) or (grown[z0] & scar[z1]).any():
                continue
            # A level can reach the other's scar by deepening when its full wall touches it.
            reach0 = (wall_grown[z0] & scar[z1]).any()
            reach1 = (wall_grown[z1] & scar[z0]).any()
            if reach0 and reach1:
                deeper = [level] if in_segments[z0].sum() <= in_segments[z1].sum() else [level + 1]
            elif reach0 or reach1:
                deeper = [level] if reach0 else [level + 1]
            elif (wall_grown[z0] & wall[z1]).any():
                deeper = [level, level + 1]
            else:
                continue
            for row_index in deeper:
                row = footprint[row_index] & (local[row_index] < 1.0)
                if row.any():
                    local[row_index] = np.where(row, np.minimum(local[row_index] + step, 1.0),
                                                local[row_index])
                    changed = True
        if not changed:
            break
        scar = redraw(local)
    return local, scar


def _largest_piece(mask):
    """The largest 3D-connected piece of `mask` (26-neighbourhood) and the voxel count left out.

    Left-overs are rare slivers on a slice whose wall does not overlap its neighbour's at all.
    """
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return mask, 0
    sizes = np.bincount(pieces.ravel())[1:]
    keep = pieces == (np.argmax(sizes) + 1)
    return keep, int(mask.sum() - keep.sum())


def _territory_name(territory):
    return None if territory is None else str(territory).strip().upper()


def _fill_missing_depth(depth, pattern):
    """Depth where wall_depth gives none (e.g. a cap without blood pool): the scar's own side."""
    fill = 1.0 if pattern == "epicardial" else (0.5 if pattern in ("midwall", "patchy") else 0.0)
    return np.where(np.isfinite(depth), depth, fill)


def _boundary_rim(myocardium, blood_pool, pattern):
    """The voxel layer on the scar's starting surface, and the depth that always includes it.

    Depth is measured at voxel centres, so a thin wall's innermost voxel can sit deeper than a
    small transmurality; an infarct must still cover the endocardial layer (and an epicardial scar
    the epicardial one), else it breaks into pieces around the ring.
    """
    if pattern == "ischaemic":
        touching = _touches(blood_pool)
        return myocardium & touching, 0.0
    if pattern == "epicardial":
        outside = ~(myocardium | blood_pool)
        return myocardium & _touches(outside), 1.0
    return np.zeros(myocardium.shape, dtype=bool), 0.0


def _touches(mask):
    """Voxels whose in-plane 4-neighbourhood meets `mask`."""
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0, 1, :] = structure[0, :, 1] = True
    return ndimage.binary_dilation(mask, structure=structure)


def _achieved_transmurality(grid, scar, in_segments):
    """Mean over scarred cells of the fraction of the cell's wall (in the segments) that is scar."""
    scar_counts = grid.cell_counts(scar & in_segments)
    wall_counts = grid.cell_counts(in_segments)
    scarred = scar_counts > 0
    if not scarred.any():
        return 0.0
    return float(np.mean(scar_counts[scarred] / wall_counts[scarred]))
