"""Random but clinically plausible scar requests, for building synthetic training sets.

An ischaemic scar follows one coronary artery: pick the culprit territory (LAD, RCA, LCX with
the frequencies of culprit arteries in myocardial infarction) and the level of the occlusion;
the myocardium downstream of it, from the apex up to that level, is at risk. Coronary anatomy
varies (dominance, a LAD wrapping round the apex), so bordering segments of other territories
join with some probability. Transmural infarcts often carry MVO. A share of non-ischaemic
patterns can be mixed in. benchmarks/scar_spread.py compares the per-segment spread this gives
with real infarcts.
"""

import numpy as np

# Culprit artery in myocardial infarction: LAD most often, then RCA, then LCX.
TERRITORY_WEIGHTS = {"LAD": 0.45, "RCA": 0.35, "LCX": 0.20}

# Occlusion level -> the rings downstream of it, and how often each level is the culprit.
OCCLUSION_LEVELS = {
    "proximal": (("basal", "mid", "apical", "apex"), 0.45),
    "mid": (("mid", "apical", "apex"), 0.35),
    "distal": (("apical", "apex"), 0.20),
}
SPILL_PROBABILITY = 0.7  # a bordering segment of another territory joins the infarct

# AHA segments that surely share a border: circumferential neighbours in a ring, the segment
# straight above or below, and the apex. (Pairs that touch only in some hearts, such as 8 and 13,
# are left out so that a random run of segments is contiguous in every heart.)
SEGMENT_NEIGHBOURS = {
    1: (2, 6, 7), 2: (1, 3, 8), 3: (2, 4, 9), 4: (3, 5, 10), 5: (4, 6, 11), 6: (5, 1, 12),
    7: (1, 8, 12, 13), 8: (2, 7, 9, 14), 9: (3, 8, 10, 14), 10: (4, 9, 11, 15),
    11: (5, 10, 12, 16), 12: (6, 11, 7, 16),
    13: (7, 14, 16, 17), 14: (8, 9, 13, 15, 17), 15: (10, 14, 16, 17), 16: (11, 12, 13, 15, 17),
    17: (13, 14, 15, 16),
}

# Non-ischaemic patterns and the segments they typically involve.
NON_ISCHAEMIC = {
    "midwall": (2, 3, 8, 9),  # septal mid-wall stripe (dilated cardiomyopathy)
    "epicardial": (4, 5, 10, 11),  # inferolateral epicardial (myocarditis)
    "patchy": (2, 3, 8, 9, 14),  # patchy septal (hypertrophic cardiomyopathy, sarcoidosis)
}


def random_scar_config(seed, non_ischaemic=0.0):
    """Keyword arguments for make_scar_labels describing one plausible random scar.

    non_ischaemic: probability (0..1) of a mid-wall, epicardial or patchy pattern instead of an
    infarct. The result holds segments, transmurality, extent, mvo, pattern and seed.
    """
    rng = np.random.default_rng(seed)
    if rng.random() < non_ischaemic:
        pattern = str(rng.choice(list(NON_ISCHAEMIC)))
        segments = _contiguous_run(rng, NON_ISCHAEMIC[pattern], size=rng.integers(1, 5))
        return dict(segments=segments, transmurality=round(float(rng.uniform(0.2, 0.5)), 3),
                    extent=round(float(rng.uniform(0.3, 0.8)), 3), mvo=False, pattern=pattern,
                    seed=int(rng.integers(2**31)))
    segments = _ischaemic_segments(rng)
    transmural = rng.random() < 0.6
    transmurality = rng.uniform(0.75, 1.0) if transmural else rng.uniform(0.25, 0.75)
    return dict(
        segments=segments,
        transmurality=round(float(transmurality), 3),
        extent=round(float(rng.uniform(0.6, 1.0)), 3),
        mvo=bool(transmural and rng.random() < 0.9),
        pattern="ischaemic",
        seed=int(rng.integers(2**31)),
    )


def _ischaemic_segments(rng):
    """Segments at risk: the culprit territory downstream of the occlusion, plus some spill."""
    from AHABullseyeLib.aha_model import RINGS
    from LGECore.territories import TERRITORIES

    names = list(TERRITORY_WEIGHTS)
    territory = names[rng.choice(len(names), p=list(TERRITORY_WEIGHTS.values()))]
    levels = list(OCCLUSION_LEVELS)
    level = levels[rng.choice(len(levels), p=[OCCLUSION_LEVELS[n][1] for n in levels])]
    downstream = {s for ring in OCCLUSION_LEVELS[level][0] for s in RINGS[ring]}
    chosen = set(TERRITORIES[territory]) & downstream
    bordering = sorted({n for s in chosen for n in SEGMENT_NEIGHBOURS[s]} - chosen)
    chosen |= {s for s in bordering if rng.random() < SPILL_PROBABILITY}
    return sorted(chosen)


def _contiguous_run(rng, pool, size):
    """`size` segments of `pool` grown from a random start through bordering segments."""
    pool = set(pool)
    chosen = [int(rng.choice(sorted(pool)))]
    while len(chosen) < size:
        frontier = sorted({n for s in chosen for n in SEGMENT_NEIGHBOURS[s] if n in pool} - set(chosen))
        if not frontier:
            break
        chosen.append(int(rng.choice(frontier)))
    return sorted(chosen)
