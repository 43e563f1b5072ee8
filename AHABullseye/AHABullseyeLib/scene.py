"""MRML glue for the AHA 17-segment model: AHA segment maps as segmentation nodes, and the whole
analysis on scene nodes. The generic conversions (volumes, labels, tables, points) are in
LGECore.scene and LGECore.scene_tables; like them, everything here takes the scene as an argument (no Slicer application).
"""

import numpy as np

from LGECore.errors import InputError
from LGECore.scene import (
    empty_segmentation_node,
    labelmap_node_to_labels,
    oriented_image,
    segment_masks,
    segmentation_and_grid,
    segmentation_node_to_labels,
    volume_from_node,
    zone_maps_of_node,
)
from LGECore.scene_tables import fiducial_points_ras, rows_to_table_node


class AHANodesResult:
    """What aha_analysis_on_nodes put into the scene, with the analysis behind it."""

    def __init__(self, result, table, segmentation_node, table_node, bullseye_path):
        self.result = result  # aha.AHAResult
        self.table = table  # quantify.quantify_aha rows
        self.segmentation_node = segmentation_node
        self.table_node = table_node
        self.bullseye_path = bullseye_path

    @property
    def summary(self):
        """One short paragraph for the panel: totals, how the orientation was found, warnings."""
        total = self.table["total"]
        percent = total["scar_percent"] or 0.0
        lines = [f"LV myocardium {total['myocardium_ml']:.1f} mL, scar {total['scar_ml']:.1f} mL "
                 f"({percent:.1f} %), MVO {total['mvo_ml']:.2f} mL.",
                 f"Apex at the {self.result.apex_side} slice ({self.result.apex_source}); "
                 f"insertion points: {self.result.insertion_source}."]
        return "\n".join(lines + self.result.warnings)


def aha_segments_to_segmentation_node(segments_volume, scene, reference_volume_node=None,
                                      name="AHA segments", node=None):
    """A segmentation node with one segment per AHA segment present (IDs 'aha_01'..'aha_17',
    AHA names, colours by territory). Existing segments of `node` are removed."""
    from .aha_model import SEGMENT_NAMES, segment_colour

    values = np.asarray(segments_volume.array)
    if values.min() < 0 or values.max() > 17:
        raise InputError("AHA segment maps hold 0 (outside) and 1..17.")
    node, ijk_to_ras = empty_segmentation_node(
        segments_volume, scene, reference_volume_node, name, node, "AHA segment map")
    segmentation = node.GetSegmentation()
    for segment in sorted(set(np.unique(values).tolist()) - {0}):
        node.AddSegmentFromBinaryLabelmapRepresentation(
            oriented_image((values == segment).astype(np.uint8), ijk_to_ras),
            f"{segment} {SEGMENT_NAMES[segment]}", segment_colour(segment), f"aha_{segment:02d}")
    segmentation.CollapseBinaryLabelmaps()
    return node


def segmentation_node_to_aha_segments(node, reference_volume=None):
    """A uint8 Volume of AHA segments 1..17 from a segmentation made by
    aha_segments_to_segmentation_node (segment IDs 'aha_NN'), e.g. after editing it by hand."""
    segmentation, reference_volume = segmentation_and_grid(node, reference_volume)
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    numbered = {}
    for segment_id in ids:
        try:
            number = int(segment_id.split("_")[-1]) if segment_id.startswith("aha_") else 0
        except ValueError:
            number = 0
        if not 1 <= number <= 17:
            raise InputError(f"Segment '{segment_id}' is not an AHA segment (IDs aha_01..aha_17).")
        numbered[segment_id] = number
    segments = np.zeros(reference_volume.shape, dtype=np.uint8)
    for number, mask in zip(numbered.values(), segment_masks(node, list(numbered), reference_volume)):
        segments[mask] = number
    return reference_volume.with_array(segments)


def aha_analysis_on_nodes(scene, segmentation_node=None, labelmap_node=None, lge_node=None,
                          points_node=None, apex="auto", direction="auto", output_segmentation=None,
                          output_table=None, bullseye_path=None, progress=None):
    """AHA 17-segment analysis of scene nodes; needs MRML only (no Slicer application, no Qt).

    Input: a segmentation node or a label-map node in project labels, optionally the LGE volume
    node (the labels are read on its grid) and a markups point list with the RV insertion points
    (RAS; one or two, or one or two per slice). Output: the AHA segments in `output_segmentation`
    (or a new segmentation node), the per-segment, total and territory rows in `output_table` (or
    a new table node) and the scar bullseye PNG at `bullseye_path` (default: a temporary file).
    `progress(fraction, message)` is called between steps when given.
    """
    import tempfile
    from pathlib import Path

    from LGECore.volume import ras_to_lps

    from .aha import segment_aha
    from .quantify import quantify_aha
    from .report import bullseye_title, draw_scar_bullseye

    def report(fraction, message):
        if progress is not None:
            progress(fraction, message)

    report(0.0, "Reading the inputs")
    reference = volume_from_node(lge_node) if lge_node is not None else None
    if segmentation_node is not None:
        labels = segmentation_node_to_labels(segmentation_node, reference)
    elif labelmap_node is not None:
        labels = labelmap_node_to_labels(labelmap_node, reference)
    else:
        raise InputError("Select a segmentation or a label map.")
    points_lps = None
    if points_node is not None and points_node.GetNumberOfControlPoints() > 0:
        points_lps = ras_to_lps(fiducial_points_ras(points_node))

    report(0.2, "Assigning the AHA segments")
    result = segment_aha(labels, rv_insertion_lps=points_lps, apex=apex, direction=direction)
    report(0.5, "Quantifying scar per segment")
    zones = zone_maps_of_node(segmentation_node, labels) if segmentation_node is not None else None
    table = quantify_aha(labels, result, zones)  # with ScarSegment's core and grey zone when the node has them

    report(0.7, "Filling the scene")
    segmentation_out = aha_segments_to_segmentation_node(
        result.segments, scene, reference_volume_node=lge_node, node=output_segmentation)
    rows = table["segments"] + [table["total"]] + table["territories"]
    table_out = rows_to_table_node(rows, scene, name="AHA segments table", node=output_table)
    if bullseye_path is None:
        bullseye_path = Path(tempfile.mkdtemp(prefix="aha-")) / "bullseye.png"
    report(0.85, "Drawing the bullseye")
    draw_scar_bullseye(table, bullseye_path, title=bullseye_title(result))
    report(1.0, "Done")
    return AHANodesResult(result, table, segmentation_out, table_out, Path(bullseye_path))
