"""The AHABullseye logic on a real MRML scene (slicer-core): nodes in, segments, table and bullseye out."""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core is not installed", allow_module_level=True)

from AHABullseyeLib import scene as aha_scene  # noqa: E402
from AHABullseyeLib.aha import segment_aha  # noqa: E402
from AHABullseyeLib.quantify import COLUMNS  # noqa: E402
from LGECore import labels as L  # noqa: E402
from LGECore import scene as S  # noqa: E402
from LGECore import scene_tables as T  # noqa: E402
from LGECore.errors import InputError  # noqa: E402
from LGECore.phantom import make_phantom  # noqa: E402
from LGECore.volume import lps_to_ras  # noqa: E402


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=31, territory="RCA", transmurality=0.7, mvo=True,
                        matrix_size=128, pixel_spacing=1.6)


@pytest.fixture
def mrml_scene():
    return slicer.vtkMRMLScene()


def agreement(segments, phantom):
    myocardium = phantom.aha_segments.array > 0
    return float(np.mean(segments.array[myocardium] == phantom.aha_segments.array[myocardium]))


def test_segmentation_in_segments_table_and_bullseye_out(mrml_scene, phantom, tmp_path):
    lge = S.volume_to_node(phantom.image, mrml_scene, "LGE")
    labels_node = S.labels_to_segmentation_node(phantom.labels, mrml_scene, lge, name="labels")
    progress = []
    analysis = aha_scene.aha_analysis_on_nodes(
        mrml_scene, segmentation_node=labels_node, lge_node=lge,
        bullseye_path=tmp_path / "bullseye.png", progress=lambda f, m: progress.append(f))

    assert analysis.result.insertion_source == "rv_label"
    segmentation = analysis.segmentation_node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 17
    assert segmentation.GetSegment("aha_01").GetName() == "1 basal anterior"
    segments = aha_scene.segmentation_node_to_aha_segments(analysis.segmentation_node, phantom.labels)
    assert np.array_equal(segments.array, segment_aha(phantom.labels).segments.array)
    assert agreement(segments, phantom) >= 0.95

    rows = T.table_node_to_rows(analysis.table_node)
    assert [r["segment"] for r in rows] == [str(s) for s in range(1, 18)] + ["total", "LAD", "RCA", "LCX"]
    assert list(rows[0]) == list(COLUMNS)
    total_scar = L.scar(phantom.labels.array).sum() * phantom.labels.voxel_volume_ml
    assert rows[17]["scar_ml"] == pytest.approx(total_scar, abs=1e-3)
    assert (tmp_path / "bullseye.png").read_bytes()[:4] == b"\x89PNG"
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert "insertion points: rv_label" in analysis.summary


def test_label_map_with_markups_points_and_chosen_outputs(mrml_scene, phantom, tmp_path):
    no_rv = phantom.labels.with_array(np.where(phantom.labels.array == L.RV_BLOOD_POOL, 0,
                                               phantom.labels.array))
    labelmap = S.volume_to_node(no_rv, mrml_scene, "labels", labelmap=True)
    pair = phantom.truth["representative_insertion_points_lps"]
    points = mrml_scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "RV insertion")
    for name in ("anterior", "inferior"):
        points.AddControlPoint(lps_to_ras(np.array(pair[name])).tolist(), name)
    out_segmentation = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mine")
    out_table = mrml_scene.AddNewNodeByClass("vtkMRMLTableNode", "my table")
    analysis = aha_scene.aha_analysis_on_nodes(
        mrml_scene, labelmap_node=labelmap, points_node=points, apex="first",
        output_segmentation=out_segmentation, output_table=out_table,
        bullseye_path=tmp_path / "b.png")
    assert analysis.segmentation_node is out_segmentation and analysis.table_node is out_table
    assert analysis.result.insertion_source == "user" and analysis.result.apex_source == "user"
    assert agreement(aha_scene.segmentation_node_to_aha_segments(out_segmentation, no_rv), phantom) >= 0.95
    # Running again replaces the outputs instead of adding to them.
    aha_scene.aha_analysis_on_nodes(mrml_scene, labelmap_node=labelmap, points_node=points,
                            output_segmentation=out_segmentation, output_table=out_table,
                            bullseye_path=tmp_path / "b.png")
    assert out_segmentation.GetSegmentation().GetNumberOfSegments() == 17
    assert out_table.GetTable().GetNumberOfRows() == 21


def test_missing_input_is_a_clear_error(mrml_scene):
    with pytest.raises(InputError, match="segmentation or a label map"):
        aha_scene.aha_analysis_on_nodes(mrml_scene)


def test_label_map_node_stored_with_slices_along_its_last_axis(mrml_scene, phantom, tmp_path):
    """A label-map node whose voxels are stored [x, y, z] (as after a reorientation) gets the
    same AHA segments, in place, and the same table."""
    stored_xyz = phantom.labels.transposed((2, 1, 0))
    labelmap = S.volume_to_node(stored_xyz, mrml_scene, "labels xyz", labelmap=True)
    analysis = aha_scene.aha_analysis_on_nodes(mrml_scene, labelmap_node=labelmap, bullseye_path=tmp_path / "b.png")
    segments = aha_scene.segmentation_node_to_aha_segments(analysis.segmentation_node, stored_xyz)
    assert np.array_equal(segments.array, segment_aha(phantom.labels).segments.array.transpose(2, 1, 0))
    assert agreement(segments.transposed((2, 1, 0)), phantom) >= 0.95


def test_transformed_aha_segmentation_is_refused(mrml_scene, phantom):
    """A transform would not be applied to the segments read back, so it is refused."""
    node = aha_scene.aha_segments_to_segmentation_node(phantom.aha_segments, mrml_scene)
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(InputError, match="transform"):
        aha_scene.segmentation_node_to_aha_segments(node)


def test_core_and_grey_zone_segments_of_the_node_are_counted_per_segment(mrml_scene, phantom):
    """A segmentation that carries core and grey-zone segments (as ScarSegment's does) gets their
    volumes per AHA segment; the labels read from it are unchanged by them."""
    lge = S.volume_to_node(phantom.image, mrml_scene, "LGE")
    node = S.labels_to_segmentation_node(phantom.labels, mrml_scene, lge, name="labels")
    scar = L.scar(phantom.labels.array)
    core = scar & (np.arange(scar.shape[2]) < scar.shape[2] // 2)  # one half of the scar, by columns
    info = L.ZONE_SEGMENTS[("infarct_core", "sd")], L.ZONE_SEGMENTS[("grey_zone", "sd")]
    S.add_overlay_segments(node, phantom.labels, [(info[0]["id"], info[0]["name"], info[0]["color"], core),
                                                  (info[1]["id"], info[1]["name"], info[1]["color"], scar & ~core)])
    analysis = aha_scene.aha_analysis_on_nodes(mrml_scene, segmentation_node=node, lge_node=lge)
    total = analysis.table["total"]
    voxel_ml = phantom.labels.voxel_volume_ml
    assert total["infarct_core_sd_ml"] == pytest.approx(core.sum() * voxel_ml, abs=1e-3)
    assert total["grey_zone_sd_ml"] == pytest.approx((scar & ~core).sum() * voxel_ml, abs=1e-3)
    assert sum(row["grey_zone_sd_ml"] for row in analysis.table["segments"]) == pytest.approx(total["grey_zone_sd_ml"])
    assert "infarct_core_max_ml" not in total  # only the definitions the node carries
    rows = T.table_node_to_rows(analysis.table_node)
    assert "grey_zone_sd_percent" in rows[0]
