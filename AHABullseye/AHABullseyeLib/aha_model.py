"""The AHA 17-segment model (Cerqueira et al., Circulation 2002): names, rings, coronary territories
and the clinical transmurality classes."""

from LGECore.territories import TERRITORIES, territory_of  # noqa: F401 (part of the AHA model's API)

SEGMENT_NAMES = {
    1: "basal anterior", 2: "basal anteroseptal", 3: "basal inferoseptal",
    4: "basal inferior", 5: "basal inferolateral", 6: "basal anterolateral",
    7: "mid anterior", 8: "mid anteroseptal", 9: "mid inferoseptal",
    10: "mid inferior", 11: "mid inferolateral", 12: "mid anterolateral",
    13: "apical anterior", 14: "apical septal", 15: "apical inferior", 16: "apical lateral",
    17: "apex",
}
SEGMENTS = tuple(range(1, 18))

# Slice levels from base to apex and the segments each holds, in numbering order.
RINGS = {
    "basal": (1, 2, 3, 4, 5, 6),
    "mid": (7, 8, 9, 10, 11, 12),
    "apical": (13, 14, 15, 16),
    "apex": (17,),
}

# Upper bounds (percent, inclusive) of the clinical transmurality classes.
TRANSMURALITY_CLASSES = (("0", 0.0), ("1-25", 25.0), ("26-50", 50.0), ("51-75", 75.0), ("76-100", 100.0))


def transmurality_class(percent):
    """Clinical class of a transmurality in percent: '0', '1-25', '26-50', '51-75' or '76-100'.

    Any scar at all (percent > 0) is at least '1-25'; class bounds are applied to the value
    rounded to a whole percent, as clinicians read them.
    """
    if percent is None or percent != percent:  # None or NaN: nothing to classify
        return ""
    if percent <= 0:
        return "0"
    rounded = max(1.0, round(float(percent)))
    for name, upper in TRANSMURALITY_CLASSES[1:]:
        if rounded <= upper:
            return name
    return TRANSMURALITY_CLASSES[-1][0]


def segment_colour(segment):
    """RGB (0..1) of a segment for display: hue by coronary territory, shade by ring."""
    import colorsys

    hue = {"LAD": 0.60, "RCA": 0.33, "LCX": 0.08}[territory_of(segment)]
    level = 0 if segment <= 6 else 1 if segment <= 12 else 2 if segment <= 16 else 3
    members = TERRITORIES[territory_of(segment)]
    step = members.index(segment) % 2  # neighbours in a territory alternate in saturation
    return colorsys.hsv_to_rgb(hue, 0.85 - 0.35 * step, 0.95 - 0.17 * level)
