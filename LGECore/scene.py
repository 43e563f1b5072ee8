"""MRML glue: with scene_tables.py, the files of the core that talk to a Slicer scene (they import
slicer and vtk, never qt).

Converts between the project's `Volume` (ITK LPS, array [z, y, x]) and MRML nodes (RAS, IJK to
RAS matrix), and label maps and segmentation nodes; tables and markups points are in
scene_tables.py. Everything takes the scene as an argument, so it runs inside Slicer and on the
`slicer-core` wheel alike (no slicer.app, no slicer.mrmlScene needed).
"""

from pathlib import Path

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from . import labels as L
from .errors import InputError
from .io import image_stem, read_image_and_choice
from .volume import Volume

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

# Terminology context names used by Slicer's Terminologies module for the DICOM master lists.
TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


# ---------------------------------------------------------------------------------------------
# Volumes


def _check_not_transformed(node):
    if node.GetParentTransformNode() is not None:
        raise InputError(
            f"'{node.GetName()}' is under a transform; harden the transform first "
            "(Data module: right-click > Harden transform).")


def _ijk_to_ras_matrix(volume):
    """4x4 IJK-to-RAS matrix of a Volume's grid (IJK = (x, y, z) index = (column, row, slice))."""
    matrix = np.eye(4)
    matrix[:3, :3] = _LPS_TO_RAS @ volume.direction @ np.diag(volume.spacing)
    matrix[:3, 3] = _LPS_TO_RAS @ np.asarray(volume.origin)
    return matrix


def _vtk_matrix(array):
    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


def _numpy_matrix(vtk_matrix):
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _image_data(array):
    """A vtkImageData holding a deep copy of `array` [z, y, x] (geometry stays in the node)."""
    array = np.ascontiguousarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    return image


def _array_from_image_data(image):
    scalars = image.GetPointData().GetScalars() if image is not None else None
    if scalars is None:
        raise InputError("The volume holds no image data.")
    if scalars.GetNumberOfComponents() != 1:
        raise InputError(
            f"The volume has {scalars.GetNumberOfComponents()} components per voxel "
            "(colour or vector data); one is needed.")
    nx, ny, nz = image.GetDimensions()
    return numpy_support.vtk_to_numpy(scalars).reshape(nz, ny, nx).copy()


def volume_from_node(node):
    """A Volume (LPS geometry, array [z, y, x], copied) of a scalar or label-map volume node."""
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
        raise InputError("A scalar volume node is needed.")
    _check_not_transformed(node)
    array = _array_from_image_data(node.GetImageData())
    directions = vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(directions)
    ras_directions = _numpy_matrix(directions)[:3, :3]
    return Volume(
        array,
        spacing=node.GetSpacing(),
        origin=_LPS_TO_RAS @ np.asarray(node.GetOrigin()),
        direction=_LPS_TO_RAS @ ras_directions,
    )


def volume_to_node(volume, scene, name, node=None, labelmap=False):
    """Put a Volume into a (new or given) volume node; returns the node. `volume` is not changed.

    A new node is a label-map volume node when `labelmap` is true, else a scalar volume node.
    """
    if node is None:
        class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        node = scene.AddNewNodeByClass(class_name, name)
    elif not node.IsA("vtkMRMLScalarVolumeNode"):
        raise InputError(f"'{node.GetName()}' is not a volume node.")
    _check_not_transformed(node)
    direction = _LPS_TO_RAS @ volume.direction
    node.SetSpacing(*volume.spacing)
    node.SetOrigin(*(_LPS_TO_RAS @ np.asarray(volume.origin)))
    node.SetIJKToRASDirectionMatrix(_vtk_matrix(np.block([
        [direction, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])))
    node.SetAndObserveImageData(_image_data(volume.array))
    node.CreateDefaultDisplayNodes()
    return node


def read_volume_node(path, scene, name=None, labelmap=False):
    """Load an image file into a new volume node through a storage node (no Slicer app needed)."""
    class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(class_name, name or "Volume")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise InputError(f"Could not read the image {path}.")
    node.SetAndObserveStorageNodeID(storage.GetID())
    node.CreateDefaultDisplayNodes()
    return node


def load_stack_node(path, scene, name=None):
    """Read an LGE stack into a new scalar volume node: an image file, or the short-axis stack of a
    DICOM folder however the scanner split it into series (Slicer's DICOM module would load each
    single-slice series as a volume of its own). Returns (node, dicom.FolderChoice or None)."""
    image, choice = read_image_and_choice(path)
    if name is None:
        name = f"{Path(path).name} {choice.read}" if choice else (image_stem(Path(path).name) or Path(path).stem)
    return volume_to_node(image, scene, name), choice


def write_node(node, path):
    """Write a node (volume, segmentation, table, markups) to `path` with its default storage node."""
    storage = node.GetStorageNode()
    if storage is None:
        node.AddDefaultStorageNode()
        storage = node.GetStorageNode()
    if storage is None:
        raise InputError(f"'{node.GetName()}' cannot be written to a file.")
    storage.SetFileName(str(path))
    if not storage.WriteData(node):
        raise InputError(f"Could not write '{node.GetName()}' to {path}.")


# ---------------------------------------------------------------------------------------------
# Label maps and segmentations


def terminology_entry(label):
    """Slicer's serialised terminology string of a project label (category, type, DICOM codes)."""
    info = L.SEGMENTS[label]
    category, kind = info["category"], info["type"]
    return slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(
        TERMINOLOGY_CONTEXT,
        category[1], category[0], category[2],
        kind[1], kind[0], kind[2],
        "", "", "",
        ANATOMIC_CONTEXT, "", "", "", "", "", "")


def oriented_image(array, ijk_to_ras):
    image = slicer.vtkOrientedImageData()
    image.ShallowCopy(_image_data(array))
    image.SetImageToWorldMatrix(_vtk_matrix(ijk_to_ras))
    return image


def empty_segmentation_node(volume, scene, reference_volume_node, name, node, what):
    """`node` (or a new one) emptied, with the reference geometry of `volume`'s grid.

    The reference is `reference_volume_node` when given (it must share the grid), else the grid
    itself. Returns the node and the grid's IJK-to-RAS matrix for adding segments.
    """
    if reference_volume_node is not None:
        volume_from_node(reference_volume_node).check_same_grid(volume, what)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    _check_not_transformed(node)
    node.CreateDefaultDisplayNodes()
    segmentation = node.GetSegmentation()
    segmentation.RemoveAllSegments()
    ijk_to_ras = _ijk_to_ras_matrix(volume)
    if reference_volume_node is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    else:
        segmentation.SetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
            slicer.vtkSegmentationConverter.SerializeImageGeometry(
                oriented_image(np.zeros(volume.shape, np.uint8), ijk_to_ras)))
    return node, ijk_to_ras


def labels_to_segmentation_node(labels_volume, scene, reference_volume_node=None,
                                name="Segmentation", node=None):
    """A segmentation node with one named, coloured segment (with terminology) per label present.

    `labels_volume` is a Volume of project labels; segment IDs are `labels.SEGMENTS[...]["id"]`.
    The segmentation's reference geometry is `reference_volume_node` when given (it must share
    the label map's grid), else the label map's own grid. Existing segments of `node` are removed.
    """
    values = L.check_label_array(labels_volume.array)
    node, ijk_to_ras = empty_segmentation_node(
        labels_volume, scene, reference_volume_node, name, node, "label map")
    segmentation = node.GetSegmentation()
    for label in sorted(set(np.unique(values).tolist()) - {L.BACKGROUND}):
        info = L.SEGMENTS[label]
        segment_id = node.AddSegmentFromBinaryLabelmapRepresentation(
            oriented_image((values == label).astype(np.uint8), ijk_to_ras),
            info["name"], info["color"], info["id"])
        segmentation.GetSegment(segment_id).SetTerminology(terminology_entry(label))
    segmentation.CollapseBinaryLabelmaps()  # labels never overlap: one shared layer
    return node


def add_overlay_segments(node, volume, segments, hidden=()):
    """Add segments [(id, name, colour, boolean mask on `volume`'s grid)] to a segmentation node
    on layers of their own, as they may overlap its segments; those whose id is in `hidden` are
    not shown."""
    ijk_to_ras = _ijk_to_ras_matrix(volume)
    node.CreateDefaultDisplayNodes()
    for segment_id, name, color, mask in segments:
        node.AddSegmentFromBinaryLabelmapRepresentation(
            oriented_image(np.asarray(mask, dtype=np.uint8), ijk_to_ras), name, color, segment_id)
        node.GetDisplayNode().SetSegmentVisibility(segment_id, segment_id not in hidden)
    return node


def zone_maps_of_node(node, reference_volume):
    """{definition: uint8 array, 1 infarct core and 2 grey zone} from the core and grey-zone
    segments of a segmentation node (labels.ZONE_SEGMENTS, as ScarSegment adds them), on
    `reference_volume`'s grid; {} for a node without them."""
    segmentation = node.GetSegmentation()
    present = {segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())}
    zones = {}
    for (zone, definition), info in L.ZONE_SEGMENTS.items():
        if info["id"] in present:
            mask = segment_masks(node, [info["id"]], reference_volume)[0]
            zones.setdefault(definition, np.zeros(reference_volume.shape, np.uint8))[mask] = (
                1 if zone == "infarct_core" else 2)
    return zones


def _segment_label(segment_id, segment):
    label = L.label_for_segment(segment.GetName(), segment_id)
    if label is None:
        for value, info in L.SEGMENTS.items():
            if f"^{info['type'][1]}^" in segment.GetTerminology():
                return value
    return label


def _mask_on_reference(image, shape):
    """Boolean [z, y, x] mask of `image` (an extent inside the reference grid) on the full grid."""
    mask = np.zeros(shape, dtype=bool)
    x0, x1, y0, y1, z0, z1 = image.GetExtent()
    if x1 < x0 or y1 < y0 or z1 < z0:
        return mask  # empty segment
    values = _array_from_image_data(image) > 0
    mask[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = values
    return mask


def segmentation_reference_grid(node):
    """An all-zero uint8 Volume on a segmentation node's reference image geometry (its own grid).

    The reference geometry is the grid segments are drawn on: the volume the segmentation was
    created for. A non-zero extent start (a cropped grid) moves the origin accordingly.
    """
    geometry = node.GetSegmentation().GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName())
    matrix = vtk.vtkMatrix4x4()
    extent = [0, -1, 0, -1, 0, -1]
    if not geometry or not slicer.vtkSegmentationConverter.DeserializeImageGeometry(
            geometry, matrix, extent) or extent[1] < extent[0]:
        raise InputError(
            f"The segmentation '{node.GetName()}' has no reference geometry; choose the volume "
            "it was drawn on.")
    ijk_to_ras = _numpy_matrix(matrix)
    axes = _LPS_TO_RAS @ ijk_to_ras[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    start = np.array(extent[0::2], dtype=float)
    origin = _LPS_TO_RAS @ (ijk_to_ras[:3, :3] @ start + ijk_to_ras[:3, 3])
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    return Volume(np.zeros(shape, np.uint8), spacing, origin, axes / spacing)


def segment_masks(node, segment_ids, reference_volume):
    """Boolean [z, y, x] masks of the given segments, resampled (nearest neighbour) onto
    `reference_volume`'s grid, in the order of `segment_ids`."""
    if not segment_ids:
        return []
    node.CreateBinaryLabelmapRepresentation()
    reference = oriented_image(np.zeros(reference_volume.shape, np.uint8),
                                _ijk_to_ras_matrix(reference_volume))
    masks = []
    for segment_id in segment_ids:
        segment_image = slicer.vtkOrientedImageData()
        node.GetBinaryLabelmapRepresentation(segment_id, segment_image)
        resampled = slicer.vtkOrientedImageData()
        slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            segment_image, reference, resampled, False, False)  # nearest neighbour
        masks.append(_mask_on_reference(resampled, reference_volume.shape))
    return masks


def segmentation_and_grid(node, reference_volume):
    """(vtkSegmentation, grid to read it onto: `reference_volume`, else the node's own) of a
    segmentation node that is not under a transform (which the readers would not apply)."""
    if node is None or not node.IsA("vtkMRMLSegmentationNode"):
        raise InputError("A segmentation node is needed.")
    _check_not_transformed(node)
    if reference_volume is None:
        reference_volume = segmentation_reference_grid(node)
    return node.GetSegmentation(), reference_volume


def segmentation_node_to_labels(node, reference_volume=None, segment_labels=None,
                                ignore_unknown=False):
    """A label Volume on `reference_volume`'s grid (default: the node's own) from a segmentation.

    Segments map to project labels by name or ID (e.g. "Scar", "myocardium", "LV blood pool"),
    then by terminology code; `segment_labels` ({segment name or ID: label}) overrides that.
    Unknown segments raise InputError unless `ignore_unknown`. Where segments overlap, the higher
    label wins (MVO over scar over myocardium), so MVO drawn inside scar stays MVO.
    """
    segmentation, reference_volume = segmentation_and_grid(node, reference_volume)
    segment_labels = segment_labels or {}
    mapping, unknown = [], []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        if segment_id in L.ZONE_SEGMENT_IDS:  # core and grey zone overlap the scar: not labels
            continue
        segment = segmentation.GetSegment(segment_id)
        label = segment_labels.get(segment.GetName(), segment_labels.get(segment_id))
        if label is None:
            label = _segment_label(segment_id, segment)
        if label is None:
            unknown.append(segment.GetName())
        else:
            mapping.append((int(label), segment_id))
    if unknown and not ignore_unknown:
        raise InputError(
            f"Segments {unknown} match no label; name them like 'LV blood pool', 'Myocardium', "
            "'Scar', 'MVO' or 'RV blood pool'.")
    L.check_label_array(np.array([label for label, _ in mapping], dtype=int), "segment labels")
    labels = np.zeros(reference_volume.shape, dtype=np.uint8)
    masks = segment_masks(node, [segment_id for _, segment_id in sorted(mapping)], reference_volume)
    for (label, _), mask in zip(sorted(mapping), masks):
        labels[mask] = label
    return reference_volume.with_array(labels)


def segmentation_node_to_mask(node, reference_volume=None):
    """A uint8 Volume on `reference_volume`'s grid (default: the node's own) holding 1 wherever
    any segment of the node is, whatever the segments are called (e.g. a region drawn by hand)."""
    segmentation, reference_volume = segmentation_and_grid(node, reference_volume)
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    mask = np.zeros(reference_volume.shape, dtype=bool)
    for segment_mask in segment_masks(node, ids, reference_volume):
        mask |= segment_mask
    return reference_volume.with_array(mask.astype(np.uint8))


def labelmap_node_to_labels(node, reference_volume=None):
    """A label Volume of a label-map (or scalar) volume node holding project label numbers.

    With `reference_volume`, the label map must lie on its grid (InputError names the difference).
    """
    volume = volume_from_node(node)
    values = L.check_label_array(volume.array, f"label map '{node.GetName()}'")
    if reference_volume is not None:
        reference_volume.check_same_grid(volume, f"label map '{node.GetName()}'")
    return volume.with_array(values)
