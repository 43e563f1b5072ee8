"""Per-segment scar quantification: volumes, mass, extent, MVO and transmurality.

    table = quantify_aha(labels, segment_aha(labels))
    table["segments"]  # 17 rows (dicts with COLUMNS), segment 1..17
    table["total"]     # the whole LV
    table["territories"]  # LAD, RCA, LCX
"""

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.volume import slices_first

from .aha_model import SEGMENT_NAMES, SEGMENTS, TERRITORIES, territory_of, transmurality_class
from .polar import crop, heart_box, myocardium_polar
from .transmurality import ray_transmurality

COLUMNS = ("segment", "name", "territory", "myocardium_ml", "scar_ml", "scar_g", "scar_percent",
           "mvo_ml", "transmurality_mean_percent", "transmurality_class")


def _zone_columns(definitions, myocardium, counts, voxel_ml):
    """infarct_core_D_ml, grey_zone_D_ml and grey_zone_D_percent for each definition D, from the
    (core, grey zone) voxel counts that follow each other in `counts`."""
    columns = {}
    for definition, core, grey in zip(definitions, counts[0::2], counts[1::2]):
        columns[f"infarct_core_{definition}_ml"] = round(float(core) * voxel_ml, 4)
        columns[f"grey_zone_{definition}_ml"] = round(float(grey) * voxel_ml, 4)
        columns[f"grey_zone_{definition}_percent"] = round(100.0 * grey / myocardium, 3) if myocardium > 0 else None
    return columns


def _row(segment, name, territory, sums, voxel_ml, definitions=()):
    """One table row from the summed counts of a group of segments (and of the zones of each of
    `definitions`, after the first five counts)."""
    myocardium, scar, mvo, scarred_weight, scarred_weighted_t = (float(v) for v in sums[:5])
    if scarred_weight > 0:
        transmurality = 100.0 * scarred_weighted_t / scarred_weight
    else:
        transmurality = 0.0 if myocardium > 0 else None
    scar_ml = scar * voxel_ml
    return {  # plain floats, so the row goes to JSON as is
        "segment": segment, "name": name, "territory": territory,
        "myocardium_ml": round(myocardium * voxel_ml, 4),
        "scar_ml": round(scar_ml, 4),
        "scar_g": round(scar_ml * L.SCAR_DENSITY_G_PER_ML, 4),
        "scar_percent": round(100.0 * scar / myocardium, 3) if myocardium > 0 else None,
        "mvo_ml": round(mvo * voxel_ml, 4),
        "transmurality_mean_percent": None if transmurality is None else round(transmurality, 2),
        "transmurality_class": transmurality_class(transmurality),
        **_zone_columns(definitions, myocardium, sums[5:], voxel_ml),
    }


def quantify_aha(labels, result, zones=None):
    """Quantify scar per AHA segment, in total and per coronary territory.

    labels: the label Volume that `result` (from segment_aha) was computed from.
    zones: optional {definition: array on the labels' grid, 1 infarct core, 2 grey zone} (from
    ScarSegmentLib.grey_zone), which adds infarct_core_D_ml, grey_zone_D_ml, grey_zone_D_percent.
    Transmurality is the mean, over the segment's rays that cross scar, of the scar fraction of
    the wall along the ray (0 when the segment has no scar; None when the segment is empty).
    """
    if not labels.same_grid(result.segments):
        raise InputError("The label map and the AHA segments are not on the same grid.")
    zones = dict(zones or {})
    definitions = tuple(zones)
    zone_maps = [labels.with_array(np.asarray(zones[d])) for d in definitions]  # refuses another shape
    (labels, segments, *zone_maps), _ = slices_first(labels, result.segments, *zone_maps)  # as segment_aha measured
    box = heart_box(labels.array)
    labels = crop(labels, box)
    segments_array = segments.array[:, box[0], box[1]]
    polar = myocardium_polar(labels, result.frame)
    values = labels.array[polar.k, polar.row, polar.column]
    segment = segments_array[polar.k, polar.row, polar.column].astype(int)
    if np.any(segment == 0):
        raise InputError("Some LV myocardium voxels have no AHA segment: the segments do not "
                         "belong to this label map.")
    from_insertion = polar.theta_deg - result.anterior_deg[polar.k]
    transmurality, weight = ray_transmurality(labels, polar, from_insertion, groups=segment)
    scarred = transmurality > 0
    counted = [np.ones(len(values)), np.isin(values, L.SCAR_LABELS), values == L.MVO, weight * scarred,
               weight * scarred * transmurality]
    for zone_map in zone_maps:
        zone = zone_map.array[:, box[0], box[1]][polar.k, polar.row, polar.column]
        counted += [zone == 1, zone == 2]
    per_segment = np.stack([np.bincount(segment, weights=c, minlength=18) for c in counted], axis=1).astype(float)
    voxel_ml = labels.voxel_volume_ml
    rows = [_row(s, SEGMENT_NAMES[s], territory_of(s), per_segment[s], voxel_ml, definitions) for s in SEGMENTS]
    total = _row("total", "left ventricle", "", per_segment[1:].sum(axis=0), voxel_ml, definitions)
    territories = [
        _row(name, f"{name} territory", name, per_segment[list(members)].sum(axis=0), voxel_ml, definitions)
        for name, members in TERRITORIES.items()]
    return {"segments": rows, "total": total, "territories": territories}


def table_rows(table):
    """The CSV rows: segments 1..17 then the total."""
    return table["segments"] + [table["total"]]
