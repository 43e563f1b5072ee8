"""The coronary territories of the AHA 17 segments (Cerqueira et al., Circulation 2002): the one
table that the AHA model, the phantom, scar synthesis and the panels read."""

from .errors import InputError

TERRITORIES = {"LAD": (1, 2, 7, 8, 13, 14, 17), "RCA": (3, 4, 9, 10, 15), "LCX": (5, 6, 11, 12, 16)}


def territory_of(segment):
    """Coronary territory ('LAD', 'RCA' or 'LCX') that supplies an AHA segment."""
    for name, segments in TERRITORIES.items():
        if segment in segments:
            return name
    raise ValueError(f"No AHA segment {segment}; segments are 1..17.")


def territory_segments(territory):
    """The sorted AHA segments of a territory named in any case ('lad', ' RCA'); InputError else."""
    name = str(territory).strip().upper()
    if name not in TERRITORIES:
        raise InputError(f"Unknown coronary territory '{territory}'; use one of {', '.join(TERRITORIES)}.")
    return sorted(TERRITORIES[name])
