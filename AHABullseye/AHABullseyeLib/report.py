"""Writing an AHA analysis: the CSV table, the JSON record and the bullseye figure."""

import csv
import json

import numpy as np

from LGECore.volume import lps_to_ras

from .quantify import COLUMNS, table_rows


def spacing_warning(volume):
    """A warning when the spacing looks like a placeholder (1 x 1 x 1 mm), else ''."""
    if volume.spacing_is_placeholder:
        return ("The voxel spacing is 1 x 1 x 1 mm, often a placeholder (e.g. in exported PNG "
                "stacks); volumes in mL and masses in g are only right if that spacing is real.")
    return ""


def write_csv(table, path):
    """aha.csv: one row per segment 1..17 and a row 'total' (empty cells for undefined values)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in table_rows(table):
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})


def record(table, result, extra_warnings=()):
    """JSON-ready dict: the table, territory rows, insertion points (LPS and RAS), apex side used
    and every warning."""
    summary = result.summary()
    return {
        "segments": table["segments"],
        "total": table["total"],
        "territories": table["territories"],
        "apex_side": summary["apex_side"],
        "apex_source": summary["apex_source"],
        "direction": summary["direction"],
        "insertion_source": summary["insertion_source"],
        "insertion_points_lps": summary["insertion_points_lps"],
        "insertion_points_ras": np.round(lps_to_ras(result.insertion_points_lps), 3).tolist(),
        "long_axis_lps": summary["long_axis_lps"],
        "slice_levels": summary["slice_levels"],
        "warnings": summary["warnings"] + [w for w in extra_warnings if w],
    }


def write_json(record_dict, path):
    with open(path, "w") as handle:
        json.dump(record_dict, handle, indent=2)
        handle.write("\n")


def bullseye_title(result, title="Scar extent per AHA segment"):
    """The figure title, saying so when the orientation around the ring was assumed."""
    if result.insertion_source == "assumed":
        return f"{title}\n(orientation ASSUMED: no RV insertion points)"
    return title


def draw_scar_bullseye(table, path, title="Scar extent per AHA segment"):
    """The default bullseye: scar as % of each segment, 0..100."""
    from .bullseye import draw_bullseye

    values = {row["segment"]: row["scar_percent"] for row in table["segments"]}
    return draw_bullseye(values, path, title=title, label="scar (% of segment)", vmin=0.0, vmax=100.0)
