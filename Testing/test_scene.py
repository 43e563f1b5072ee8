"""MRML glue on a real Slicer scene (slicer-core): volumes, segmentations, tables, markups."""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("slicer-core is not installed", allow_module_level=True)

from LGECore import io  # noqa: E402
from LGECore import labels as L  # noqa: E402
from LGECore import scene as S  # noqa: E402
from LGECore import scene_tables as T  # noqa: E402
from LGECore.errors import InputError  # noqa: E402
from LGECore.volume import Volume, lps_to_ras  # noqa: E402


def _oblique_direction():
    """A proper rotation about a tilted axis (no axis aligned with x, y or z)."""
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    angle = np.deg2rad(37.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


@pytest.fixture
def mrml_scene():
    return slicer.vtkMRMLScene()


@pytest.fixture
def image():
    rng = np.random.default_rng(7)
    array = rng.normal(100.0, 30.0, size=(6, 11, 13)).astype(np.float32)
    return Volume(array, spacing=(1.4, 0.9, 8.0), origin=(-12.5, 30.25, 41.0),
                  direction=_oblique_direction())


@pytest.fixture
def label_volume(image):
    """Rings of blood pool / myocardium / scar / MVO plus an RV blob, on the image's grid."""
    z, y, x = np.indices(image.shape)
    radius = np.hypot(y - 5, x - 6)
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[(radius < 2.5) & (z >= 1)] = L.BLOOD_POOL
    labels[(radius >= 2.5) & (radius < 4.5) & (z >= 1)] = L.MYOCARDIUM
    labels[(radius >= 2.5) & (radius < 4.5) & (z >= 2) & (x > 7)] = L.SCAR
    labels[(radius >= 3.0) & (radius < 4.0) & (z == 3) & (x > 8)] = L.MVO
    labels[1:5, 1:4, 0:3] = L.RV_BLOOD_POOL
    return image.with_array(labels)


def test_volume_node_round_trip_keeps_array_and_geometry(mrml_scene, image):
    node = S.volume_to_node(image, mrml_scene, "LGE")
    back = S.volume_from_node(node)

    assert node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode")
    assert back.array.dtype == image.array.dtype
    np.testing.assert_array_equal(back.array, image.array)
    np.testing.assert_allclose(back.spacing, image.spacing, rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.origin, image.origin, rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.direction, image.direction, rtol=0, atol=1e-12)


def test_volume_node_voxels_sit_where_the_volume_says(mrml_scene, image):
    import vtk

    node = S.volume_to_node(image, mrml_scene, "LGE")
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    zyx = np.array([[0, 0, 0], [5, 10, 12], [2, 7, 3]])
    for index in zyx:
        ras = ijk_to_ras.MultiplyPoint([*index[::-1].astype(float), 1.0])[:3]
        np.testing.assert_allclose(ras, lps_to_ras(image.index_to_lps(index)), atol=1e-9)


def test_volume_read_by_slicer_matches_the_file_written_by_simpleitk(mrml_scene, image, tmp_path):
    path = tmp_path / "lge.nrrd"
    io.write_volume(image, path)
    node = S.read_volume_node(path, mrml_scene, "from file")
    loaded = S.volume_from_node(node)

    np.testing.assert_array_equal(loaded.array, image.array)
    np.testing.assert_allclose(loaded.origin, image.origin, atol=1e-6)
    np.testing.assert_allclose(loaded.direction, image.direction, atol=1e-6)
    np.testing.assert_allclose(loaded.spacing, image.spacing, atol=1e-6)


def test_volume_to_node_updates_a_given_node_and_leaves_input_alone(mrml_scene, image):
    node = S.volume_to_node(image, mrml_scene, "first")
    before = image.array.copy()
    changed = image.with_array(image.array * 2)
    same = S.volume_to_node(changed, mrml_scene, "ignored", node=node)

    assert same is node
    np.testing.assert_array_equal(S.volume_from_node(node).array, before * 2)
    np.testing.assert_array_equal(image.array, before)


def test_labels_to_segmentation_node_names_colours_and_terminology(mrml_scene, image, label_volume):
    reference = S.volume_to_node(image, mrml_scene, "LGE")
    node = S.labels_to_segmentation_node(label_volume, mrml_scene, reference, name="Scar labels")
    segmentation = node.GetSegmentation()

    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    assert ids == [L.SEGMENTS[label]["id"] for label in (1, 2, 3, 4, 5)]
    for label in (1, 2, 3, 4, 5):
        segment = segmentation.GetSegment(L.SEGMENTS[label]["id"])
        assert segment.GetName() == L.SEGMENTS[label]["name"]
        np.testing.assert_allclose(segment.GetColor(), L.SEGMENTS[label]["color"], atol=1e-6)
        coding, value, meaning = L.SEGMENTS[label]["type"]
        assert f"{coding}^{value}^{meaning}" in segment.GetTerminology()
        coding, value, meaning = L.SEGMENTS[label]["category"]
        assert f"{coding}^{value}^{meaning}" in segment.GetTerminology()
    assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is reference


def test_segmentation_node_back_to_the_same_labels(mrml_scene, image, label_volume):
    reference = S.volume_to_node(image, mrml_scene, "LGE")
    node = S.labels_to_segmentation_node(label_volume, mrml_scene, reference)
    back = S.segmentation_node_to_labels(node, image)

    assert back.same_grid(image)
    np.testing.assert_array_equal(back.array, label_volume.array)


def test_segmentation_back_on_its_own_reference_grid(mrml_scene, image, label_volume):
    reference = S.volume_to_node(image, mrml_scene, "LGE")
    node = S.labels_to_segmentation_node(label_volume, mrml_scene, reference)
    grid = S.segmentation_reference_grid(node)
    back = S.segmentation_node_to_labels(node)

    assert grid.same_grid(image, tolerance=1e-9)
    np.testing.assert_array_equal(back.array, label_volume.array)

    without_reference = S.labels_to_segmentation_node(label_volume, mrml_scene)
    back = S.segmentation_node_to_labels(without_reference)
    assert back.same_grid(image, tolerance=1e-9)
    np.testing.assert_array_equal(back.array, label_volume.array)


def test_segmentation_on_a_coarser_grid_is_resampled_to_the_reference(mrml_scene, image):
    """A segmentation drawn on a grid 3x coarser in-plane lands on the right reference voxels."""
    coarse_spacing = (image.spacing[0] * 3, image.spacing[1] * 3, image.spacing[2])
    coarse = Volume(np.zeros((6, 4, 5), np.uint8), coarse_spacing, image.origin, image.direction)
    coarse_labels = coarse.array.copy()
    coarse_labels[2:4, 1:3, 2:4] = L.SCAR
    node = S.labels_to_segmentation_node(coarse.with_array(coarse_labels), mrml_scene)
    back = S.segmentation_node_to_labels(node, image)

    # Fine voxel i lies in coarse voxel c when |i - 3c| < 1.5: c in {1, 2} -> i in 2..7,
    # c in {2, 3} -> i in 5..10.
    expected = np.zeros(image.shape, np.uint8)
    expected[2:4, 2:8, 5:11] = L.SCAR
    assert back.same_grid(image)
    np.testing.assert_array_equal(back.array, expected)


def test_segments_are_matched_by_name_and_unknown_ones_are_reported(mrml_scene, image, label_volume):
    without_rv = label_volume.with_array(np.where(label_volume.array == 5, 0, label_volume.array))
    node = S.labels_to_segmentation_node(without_rv, mrml_scene)
    # A segment drawn by hand: a name and an ID that mean nothing, and no terminology.
    rv_only = S.labels_to_segmentation_node(
        label_volume.with_array(np.where(label_volume.array == 5, 5, 0)), mrml_scene)
    drawn = slicer.vtkOrientedImageData()
    rv_only.GetBinaryLabelmapRepresentation("rv_blood_pool", drawn)
    node.AddSegmentFromBinaryLabelmapRepresentation(drawn, "Segment_7", (0.2, 0.4, 0.6), "Segment_7")
    with pytest.raises(InputError, match="Segment_7"):
        S.segmentation_node_to_labels(node, image)
    # A hand-made segment whose name says what it is maps by keyword.
    named = slicer.vtkOrientedImageData()
    node.GetBinaryLabelmapRepresentation("scar", named)
    node.GetSegmentation().RemoveSegment("scar")
    node.AddSegmentFromBinaryLabelmapRepresentation(named, "Infarct core", (1.0, 1.0, 0.0), "Segment_9")

    ignored = S.segmentation_node_to_labels(node, image, ignore_unknown=True)
    np.testing.assert_array_equal(ignored.array, without_rv.array)
    mapped = S.segmentation_node_to_labels(node, image, segment_labels={"Segment_7": L.RV_BLOOD_POOL})
    np.testing.assert_array_equal(mapped.array, label_volume.array)


def test_all_segments_make_one_mask_whatever_their_names(mrml_scene, image, label_volume):
    """A region drawn by hand (e.g. remote myocardium) in segments with any names is one mask;
    the segments are resampled onto the reference like labels are."""
    node = S.labels_to_segmentation_node(label_volume, mrml_scene)
    drawn = slicer.vtkOrientedImageData()
    node.GetBinaryLabelmapRepresentation("scar", drawn)
    node.GetSegmentation().RemoveSegment("scar")
    node.AddSegmentFromBinaryLabelmapRepresentation(drawn, "Segment_7", (0.2, 0.4, 0.6), "Segment_7")
    with pytest.raises(InputError, match="Segment_7"):
        S.segmentation_node_to_labels(node, image)  # labels need known names; a mask does not

    mask = S.segmentation_node_to_mask(node, image)
    assert mask.same_grid(image) and mask.array.dtype == np.uint8
    np.testing.assert_array_equal(mask.array, (label_volume.array > 0).astype(np.uint8))
    np.testing.assert_array_equal(S.segmentation_node_to_mask(node).array, mask.array)
    empty = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert not S.segmentation_node_to_mask(empty, image).array.any()
    with pytest.raises(InputError, match="segmentation node"):
        S.segmentation_node_to_mask(S.volume_to_node(image, mrml_scene, "LGE"), image)


def test_labelmap_node_to_labels_checks_values_and_grid(mrml_scene, image, label_volume):
    node = S.volume_to_node(label_volume, mrml_scene, "labels", labelmap=True)
    assert node.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_array_equal(S.labelmap_node_to_labels(node, image).array, label_volume.array)

    shifted = Volume(image.array, image.spacing, np.add(image.origin, 5.0), image.direction)
    with pytest.raises(InputError, match="origin"):
        S.labelmap_node_to_labels(node, shifted)
    bad = S.volume_to_node(label_volume.with_array(label_volume.array * 3), mrml_scene, "bad",
                           labelmap=True)
    with pytest.raises(InputError, match="unknown label values"):
        S.labelmap_node_to_labels(bad)


def test_transformed_nodes_are_refused(mrml_scene, image, label_volume):
    node = S.volume_to_node(image, mrml_scene, "LGE")
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(InputError, match="transform"):
        S.volume_from_node(node)
    # Every reader of segmentations refuses them too (a transform would not be applied).
    labels = S.labels_to_segmentation_node(label_volume, mrml_scene)
    for segmentation, read in ((labels, S.segmentation_node_to_labels), (labels, S.segmentation_node_to_mask)):
        segmentation.SetAndObserveTransformNodeID(transform.GetID())
        with pytest.raises(InputError, match="transform"):
            read(segmentation)


def test_rows_to_table_node_keeps_columns_types_and_values(mrml_scene):
    rows = [
        {"segment": 1, "name": "basal anterior", "scar_percent": np.float64(12.5), "mvo": True},
        {"segment": 2, "name": "basal anteroseptal", "scar_percent": 0.0, "mvo": False},
        {"segment": 17, "name": "apex", "scar_percent": 61.25, "mvo": False},
    ]
    node = T.rows_to_table_node(rows, mrml_scene, "AHA segments")
    table = node.GetTable()

    assert [table.GetColumn(c).GetName() for c in range(table.GetNumberOfColumns())] == \
        ["segment", "name", "scar_percent", "mvo"]
    assert table.GetNumberOfRows() == 3
    assert T.table_node_to_rows(node) == [
        {"segment": 1, "name": "basal anterior", "scar_percent": 12.5, "mvo": 1},
        {"segment": 2, "name": "basal anteroseptal", "scar_percent": 0.0, "mvo": 0},
        {"segment": 17, "name": "apex", "scar_percent": 61.25, "mvo": 0},
    ]
    with pytest.raises(InputError, match="columns"):
        T.rows_to_table_node([{"a": 1}, {"b": 2}], mrml_scene, "ragged")


def test_fiducial_points_ras_in_world_coordinates(mrml_scene):
    node = mrml_scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "RV insertion")
    node.AddControlPoint([10.0, -4.5, 22.0], "anterior")
    node.AddControlPoint([-3.0, 8.0, 19.5], "inferior")
    np.testing.assert_allclose(T.fiducial_points_ras(node), [[10.0, -4.5, 22.0], [-3.0, 8.0, 19.5]])
    with pytest.raises(InputError):
        T.fiducial_points_ras(None)
