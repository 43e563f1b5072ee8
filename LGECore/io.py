"""Reading and writing LGE volumes and label maps: NIfTI, NRRD, MHA, DICOM series, .seg.nrrd.

Everything comes in and goes out as a `Volume`, keeping spacing, origin and direction. Writes are
atomic: a file is written beside its target and renamed, so a failure never leaves half a file.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import labels as L
from .errors import InputError, itk_reason
from .outputs import written_whole
from .volume import Volume, check_voxel_count

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
SEG_NRRD_SUFFIX = ".seg.nrrd"


def _suffix(path):
    name = Path(path).name.lower()
    for suffix in (SEG_NRRD_SUFFIX,) + IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(path).suffix.lower()


def image_stem(name):
    """A file name without its image suffix (`lge.v2.nii.gz` gives `lge.v2`), or None when it has none."""
    suffix = _suffix(name)
    return name[: -len(suffix)] if suffix in (SEG_NRRD_SUFFIX,) + IMAGE_SUFFIXES else None


def volume_from_sitk(image):
    """Convert a 3D SimpleITK image to a Volume (a single-frame 4D image is squeezed to 3D)."""
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"The image has {image.GetNumberOfComponentsPerPixel()} components per voxel "
            "(colour or vector data); an LGE volume has one.")
    size = image.GetSize()
    if image.GetDimension() == 4 and size[3] == 1:
        image = sitk.Extract(image, size[:3] + (0,), (0, 0, 0, 0))
    if image.GetDimension() == 2:
        raise InputError(f"The image is 2D (size {size}); a short-axis stack of slices is needed.")
    if image.GetDimension() != 3:
        raise InputError(
            f"The image is {image.GetDimension()}D (size {size}); a 3D short-axis stack is needed "
            "(for a cine or multi-frame series pick one frame first).")
    return Volume(
        sitk.GetArrayFromImage(image),
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=np.reshape(image.GetDirection(), (3, 3)),
    )


def volume_to_sitk(volume):
    """Convert a Volume to a SimpleITK image with the same geometry."""
    import SimpleITK as sitk

    array = volume.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(volume.direction.ravel()))
    return image


def _read_sitk(path):
    """(SimpleITK image, dicom.FolderChoice for a DICOM folder or None for a file)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"No such file or folder: {path}")
    try:
        if path.is_dir():
            from .dicom import read_dicom_folder

            return read_dicom_folder(path)
        return _read_checked_file(path), None
    except RuntimeError as error:
        raise InputError(f"Could not read {path}: not a readable image ({itk_reason(error)}).") from None


def _read_checked_file(path):
    """The image in `path`, read only once its header promises a finite, bounded grid."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    geometry = (*reader.GetSpacing(), *reader.GetOrigin(), *reader.GetDirection())
    if not np.all(np.isfinite(geometry)):
        raise InputError(f"The header of {path.name} gives a voxel spacing, origin or direction that is not a "
                         f"finite number (spacing {reader.GetSpacing()}); fix the header or export the image again.")
    axes = np.reshape(reader.GetDirection(), (reader.GetDimension(),) * 2)
    if not np.allclose(axes.T @ axes, np.eye(len(axes)), atol=1e-3):  # ITK reads a NaN direction this way
        raise InputError(f"The header of {path.name} gives axis directions that are not orthonormal, or a spacing "
                         "or direction that is not a finite number; fix the header or export the image again.")
    check_voxel_count(reader.GetSize(), reader.GetNumberOfComponents(), path.name)
    return reader.Execute()


# Plausible geometry of a cardiac scan. Checked before any resampling, so that a header that
# lost its spacing (or a mistyped --spacing) cannot make a command allocate without bound.
MAX_SPACING_MM = 100.0
MAX_FIELD_OF_VIEW_MM = 1000.0  # in plane; a chest is well under 600 mm across


def check_geometry(volume, name="image"):
    """InputError for voxel sizes or an in-plane field of view no cardiac scan has."""
    if max(volume.spacing) > MAX_SPACING_MM:
        raise InputError(f"The {name}'s voxel spacing {tuple(round(s, 3) for s in volume.spacing)} mm is "
                         f"implausible (over {MAX_SPACING_MM:g} mm); give the true spacing with --spacing X Y Z.")
    axis = volume.slice_axis()
    spacing_by_axis = np.asarray(volume.spacing)[::-1]
    field = max(volume.shape[a] * spacing_by_axis[a] for a in range(3) if a != axis)
    if field > MAX_FIELD_OF_VIEW_MM:
        raise InputError(f"The {name}'s slices would be {field:.0f} mm across (shape {volume.shape}, spacing "
                         f"{tuple(round(s, 3) for s in volume.spacing)} mm), more than any cardiac scan "
                         f"({MAX_FIELD_OF_VIEW_MM:g} mm); check the header's spacing or give it with --spacing.")


def check_image(volume, name="image"):
    """Raise InputError for a volume that cannot be an LGE image: NaN, empty, constant. A single
    slice is allowed (it is segmented; AHA quantification then says it needs more). The geometry
    is check_geometry's, once the spacing is final (a --spacing may correct the header's)."""
    array = volume.array
    if array.dtype.kind not in "iufb":
        raise InputError(f"The {name} has unsupported data type {array.dtype}.")
    if array.size == 0:
        raise InputError(f"The {name} is empty (shape {array.shape}).")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputError(f"The {name} contains NaN or infinite values.")
    if np.min(array) == np.max(array):
        raise InputError(f"The {name} is constant (every voxel is {np.min(array)}); nothing to segment.")
    return volume


def _check_nifti_data(path, what):
    """ITK's NIfTI reader fills a truncated file with zeros and turns NaN into 0, so read the
    stored values with nibabel: a file cut short or holding non-finite values is refused."""
    import nibabel

    try:
        data = np.asanyarray(nibabel.load(str(path)).dataobj)
    except (EOFError, OSError, ValueError, nibabel.filebasedimages.ImageFileError) as error:
        reason = " ".join(str(error).split())
        raise InputError(f"The {what} {Path(path).name} is truncated or damaged ({reason}).") from None
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise InputError(f"The {what} {Path(path).name} contains NaN or infinite values.")


def _read_volume(path, what):
    """(Volume as stored, dicom.FolderChoice or None); a NIfTI file's data is also read by nibabel,
    which finds what ITK hides (see _check_nifti_data)."""
    image, choice = _read_sitk(path)
    volume = volume_from_sitk(image)
    if _suffix(path) in (".nii", ".nii.gz"):
        _check_nifti_data(path, what)
    return volume, choice


def read_image(path):
    """Read an LGE volume (NIfTI, NRRD, MHA, or a DICOM series folder) as a float32 Volume."""
    return read_image_and_choice(path)[0]


def read_image_and_choice(path):
    """(float32 Volume, dicom.FolderChoice naming the stack read from a DICOM folder, or None for
    an image file)."""
    volume, choice = _read_volume(path, "image")
    check_image(volume, name=f"image {Path(path).name}")
    return volume.with_array(volume.array.astype(np.float32, copy=False)), choice


def read_mask(path, name="mask"):
    """Read a region mask (non-zero voxels inside) as a bool Volume. Unlike an image, a mask may be
    all zeros or all ones: whether the region is usable is for its user to judge."""
    volume = _read_volume(path, name)[0]
    if volume.array.dtype.kind == "f" and not np.all(np.isfinite(volume.array)):
        raise InputError(f"The {name} {Path(path).name} contains NaN or infinite values.")
    return volume.with_array(volume.array != 0)


def read_labels(path, like=None):
    """Read a label map (image formats, or Slicer's .seg.nrrd) in the project's label numbers.

    With `like` (a Volume), the label map must lie on that grid; otherwise InputError says how it
    differs.
    """
    if _suffix(path) == SEG_NRRD_SUFFIX:
        volume = _read_seg_nrrd(path)
    else:
        volume = _read_volume(path, "label map")[0]
    volume = volume.with_array(L.check_label_array(volume.array, name=f"label map {Path(path).name}"))
    if like is not None:
        like.check_same_grid(volume, what=f"label map {Path(path).name}")
    return volume


def _label_for_segment(segment):
    """Project label number of a .seg.nrrd segment, by its name or ID, else its own label value."""
    label = L.label_for_segment(segment.get("name", ""), segment.get("id", ""))
    return int(segment["labelValue"]) if label is None else label


def _read_seg_nrrd(path):
    import slicerio

    try:
        segmentation = slicerio.read_segmentation(str(path))
    except Exception as error:  # slicerio raises several types for corrupt files
        raise InputError(f"Could not read the segmentation {path}: {error}") from None
    voxels = np.asarray(segmentation["voxels"])
    if voxels.ndim == 4:
        raise InputError(
            f"{Path(path).name} has overlapping segments (several layers); export a label map "
            "with non-overlapping segments.")
    labels = np.zeros(voxels.shape, dtype=np.int32)
    for segment in segmentation["segments"]:
        labels[voxels == segment["labelValue"]] = _label_for_segment(segment)
    ijk_to_lps = np.asarray(segmentation["ijkToLPS"], dtype=float)
    axes = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    return Volume(
        np.transpose(labels, (2, 1, 0)),  # slicerio gives [i, j, k]; Volume is [z, y, x]
        spacing=spacing,
        origin=ijk_to_lps[:3, 3],
        direction=axes / spacing,
    )


def _write_seg_nrrd(volume, path):
    import slicerio

    present = set(np.unique(volume.array).tolist()) - {L.BACKGROUND}
    segments = []
    for value in sorted(present):
        info = L.SEGMENTS[int(value)]
        segments.append({
            "id": info["id"], "name": info["name"], "labelValue": int(value), "layer": 0,
            "color": list(info["color"]),
            "terminology": {
                "contextName": "Segmentation category and type - DICOM master list",
                "category": list(info["category"]),
                "type": list(info["type"]),
            },
        })
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = volume.direction * np.asarray(volume.spacing)
    ijk_to_lps[:3, 3] = volume.origin
    slicerio.write_segmentation(str(path), {
        "voxels": np.transpose(volume.array.astype(np.uint8), (2, 1, 0)),
        "ijkToLPS": ijk_to_lps,
        "encoding": "gzip",
        "segments": segments,
    })


def write_volume(volume, path, protect=()):
    """Write a Volume atomically (format from the suffix; .seg.nrrd writes a Slicer segmentation).

    `protect` lists input paths that must never be overwritten.
    """
    path = Path(path)
    for kept in protect:
        if Path(kept).exists() and path.exists() and path.resolve() == Path(kept).resolve():
            raise InputError(f"Refusing to overwrite the input {kept} with an output.")
    suffix = _suffix(path)
    if suffix not in IMAGE_SUFFIXES + (SEG_NRRD_SUFFIX,):
        raise InputError(f"Cannot write {path.name}: use one of {', '.join(IMAGE_SUFFIXES)} or .seg.nrrd.")
    with written_whole(path, suffix) as temporary:
        if suffix == SEG_NRRD_SUFFIX:
            _write_seg_nrrd(volume, temporary)
        else:
            import SimpleITK as sitk

            sitk.WriteImage(volume_to_sitk(volume), temporary, useCompression=True)
    return path


@dataclass(frozen=True)
class Case:
    """One case of a dataset in the EMIDEC layout: Case_X/Images/Case_X.nii.gz, Case_X/Contours/."""

    name: str
    image_path: Path
    labels_path: Path

    @property
    def has_infarct(self):
        """EMIDEC names pathological cases Case_P..., normal ones Case_N..."""
        return self.name.upper().startswith("CASE_P")

    def load(self):
        """(image, labels) as Volumes on the same grid."""
        image = read_image(self.image_path)
        return image, read_labels(self.labels_path, like=image)


def read_emidec_dataset(root):
    """List the cases of a dataset in the EMIDEC layout, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"Dataset folder not found: {root}")
    cases = []
    for case_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted((case_dir / "Images").glob("*.nii*"))
        contours = sorted((case_dir / "Contours").glob("*.nii*"))
        if images and contours:
            cases.append(Case(case_dir.name, images[0], contours[0]))
    if not cases:
        raise InputError(
            f"No cases in {root}: expected Case_X/Images/Case_X.nii.gz and Case_X/Contours/Case_X.nii.gz.")
    return cases
