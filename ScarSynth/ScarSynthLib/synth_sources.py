"""The hearts `scarsynth synth-dataset` draws its random scars on, and where on them.

Hearts without scar (Case_N*, as EMIDEC names them) take any random plausible scar. Infarct hearts
(Case_P*) keep their own scar and take a new one in AHA segments that hold no scar yet: a random
request whose segments are all scarred is drawn again, and a request that reaches scarred segments
keeps only its segments without scar. (Whole requests clear of the old scar are rare: every
ischaemic request holds the apical ring, where most infarcts reach, and on EMIDEC infarct hearts
none of 200 random requests missed the old scar in 8 of 12 hearts.)
"""

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError

SOURCE_KINDS = {"normal": "case without scar (Case_N*)", "infarct": "case with scar (Case_P*)",
                "both": "case"}
REDRAWS = 50  # random requests tried on one heart before the next heart is taken


def source_cases(cases, kind):
    """The cases of a dataset whose hearts take the scars, in the order they are used: 'normal',
    'infarct', or 'both' alternating (so that a small set still holds both kinds)."""
    normal = [case for case in cases if not case.has_infarct]
    infarct = [case for case in cases if case.has_infarct]
    if kind == "normal":
        return normal
    if kind == "infarct":
        return infarct
    if kind != "both":
        raise InputError(f"--from must be one of {', '.join(SOURCE_KINDS)}; got {kind!r}.")
    paired = [case for pair in zip(normal, infarct) for case in pair]
    shorter = min(len(normal), len(infarct))
    return paired + normal[shorter:] + infarct[shorter:]


def fits_kind(case_name, kind):
    """Whether a case named `case_name` is a heart of the `kind` asked for (EMIDEC naming)."""
    infarct = case_name.upper().startswith("CASE_P")
    return kind == "both" or infarct == (kind == "infarct")


def source_scar(labels):
    """(AHA segment map, how the split was oriented, AHA segments holding any scar) of a heart."""
    from .scar_masks import aha_segment_map

    segment_map, orientation = aha_segment_map(labels)
    scarred = sorted(set(np.unique(segment_map[L.scar(labels.array)]).tolist()) - {0})
    return segment_map, orientation, scarred


def new_scar(labels, seed, non_ischaemic, source):
    """(labels with a new random scar, params) on segments without scar of the heart, or None when
    REDRAWS requests found none there. `source` is what source_scar gave for these labels; the first
    request is random_scar_config(seed) itself, so a heart without scar gets exactly that scar."""
    from .scar_masks import make_scar_labels
    from .scar_random import random_scar_config

    segment_map, orientation, scarred = source
    for attempt in range(REDRAWS):
        request = random_scar_config(seed=seed if attempt == 0 else [seed, attempt], non_ischaemic=non_ischaemic)
        free = [segment for segment in request["segments"] if segment not in scarred]
        if not free:
            continue
        try:
            new_labels, params = make_scar_labels(labels, aha_segments=segment_map, **{**request, "segments": free})
        except InputError:  # none of the free segments holds myocardium in this heart
            continue
        if params["scar_voxels_added"]:
            params.update(aha_orientation=orientation, requested_segments=request["segments"],
                          existing_scar_segments=scarred)
            return new_labels, params
    return None
