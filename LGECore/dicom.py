"""A short-axis stack out of a folder of DICOM files, however the scanner split it into series.

Scanners store an LGE short-axis stack in many ways: one series of all slices; one series per
breath-hold slice (common for single-shot and segmented 2D LGE); magnitude and phase-sensitive
(PSIR) images in one series or in two; a slice repeated in a later series; localisers, cine or
TI-scout series in the same folder. ITK's series reader takes one series as given, so here the
headers are read first (GDCM, through SimpleITK) and the images sorted into stacks: parallel
slices of one size, pixel spacing, image type and series description, one image per position,
equally spaced. The stack with the most slices is read; a choice among several is logged. A
folder of multi-frame files only (enhanced MR) gets its largest file, read by GDCM.
"""

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, itk_reason
from .volume import check_voxel_count

log = logging.getLogger(__name__)

# Header tags (group|element, as GDCM names them)
SERIES_UID, SERIES_NUMBER, DESCRIPTION = "0020|000e", "0020|0011", "0008|103e"
STUDY_UID = "0020|000d"
IMAGE_TYPE, POSITION, ORIENTATION = "0008|0008", "0020|0032", "0020|0037"
ROWS, COLUMNS, PIXEL_SPACING = "0028|0010", "0028|0011", "0028|0030"

# Image-type values of phase-sensitive, real or phase images: magnitude is preferred when a
# stack exists in both forms (the training images have dark air, as magnitude images do)
PHASE_LIKE = {"P", "PHASE", "R", "REAL", "PSIR", "R_IR", "P_IR"}

ORIENTATION_TOLERANCE = 1e-3  # direction cosines of one stack agree to this
POSITION_TOLERANCE_MM = 0.1  # two images closer than this along the normal share a slice position
GAP_TOLERANCE = 0.2  # slice gaps may differ from their median by this fraction


@dataclass(frozen=True)
class DicomImage:
    """The header of one single-frame DICOM image: enough to place it in a stack."""

    path: str
    series_uid: str
    series_number: int
    description: str
    image_type: str
    position: tuple  # ImagePositionPatient, LPS mm
    orientation: tuple  # ImageOrientationPatient: row and column direction cosines
    size: tuple  # rows, columns
    pixel_spacing: tuple
    study_uid: str = ""

    @property
    def normal(self):
        row, column = np.asarray(self.orientation[:3]), np.asarray(self.orientation[3:])
        return np.cross(row, column)

    @property
    def phase_like(self):
        tokens = {t.strip().upper() for t in self.image_type.split("\\")}
        return bool(tokens & PHASE_LIKE) or "PSIR" in self.description.upper()


@dataclass(frozen=True)
class MultiFrameImage:
    """A DICOM file holding several frames (an enhanced MR object, a 3D export)."""

    path: str
    frames: int
    study_uid: str = ""


@dataclass
class Stack:
    """Images of one geometry, image type and series description, sorted along the slice normal."""

    images: list
    series_numbers: tuple

    @property
    def label(self):
        numbers = self.series_numbers
        consecutive = len(numbers) > 2 and numbers[-1] - numbers[0] == len(numbers) - 1
        numbers = f"{numbers[0]}-{numbers[-1]}" if consecutive else ", ".join(map(str, numbers))
        return f"series {numbers} '{self.images[0].description}' ({len(self.images)} slices)"


def _numbers(text, count):
    values = tuple(float(v) for v in text.replace(" ", "").split("\\") if v)
    if len(values) != count or not all(np.isfinite(values)):
        raise ValueError(text)
    return values


def read_header(path):
    """The DicomImage of `path`, a MultiFrameImage, or None for a file that is not an image with
    its position in the patient (a DICOMDIR, a report, not DICOM at all)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        tags = set(reader.GetMetaDataKeys())
        get = lambda tag: reader.GetMetaData(tag).strip() if tag in tags else ""  # noqa: E731
        if reader.GetDimension() == 3 and reader.GetSize()[2] > 1:
            return MultiFrameImage(str(path), reader.GetSize()[2], get(STUDY_UID).rstrip("\0"))
        if not {POSITION, ORIENTATION, PIXEL_SPACING} <= tags:
            return None
        return DicomImage(
            path=str(path),
            series_uid=get(SERIES_UID),
            series_number=int(float(get(SERIES_NUMBER) or 0)),
            description=get(DESCRIPTION),
            image_type=get(IMAGE_TYPE),
            position=_numbers(get(POSITION), 3),
            orientation=_numbers(get(ORIENTATION), 6),
            size=(int(get(ROWS) or 0), int(get(COLUMNS) or 0)),
            pixel_spacing=_numbers(get(PIXEL_SPACING), 2),
            study_uid=get(STUDY_UID).rstrip("\0"),
        )
    except (RuntimeError, ValueError) as error:
        if _is_dicom_file(path):  # GDCM reads the whole file: one cut short fails here
            raise InputError(f"{Path(path).name} in {Path(path).parent} is a damaged DICOM file "
                             f"({itk_reason(error)}); replace it or remove it from the folder.") from None
        return None


def _is_dicom_file(path):
    """A DICOM Part 10 file: 128 bytes of preamble, then 'DICM'."""
    with open(path, "rb") as stream:
        return stream.read(132)[128:] == b"DICM"


def scan_folder(folder):
    """Headers of every image in `folder` and its subfolders, in file-name order: single-frame
    images (DicomImage) and multi-frame files (MultiFrameImage)."""
    paths = sorted(Path(root) / name for root, _, names in os.walk(folder) for name in names)
    headers = [header for header in map(read_header, paths) if header is not None]
    return ([h for h in headers if isinstance(h, DicomImage)],
            [h for h in headers if isinstance(h, MultiFrameImage)])


def first_image(folder, recursive=True, skip_suffixes=()):
    """The header of the first DICOM image (DicomImage or MultiFrameImage) in `folder`, and with
    `recursive` in its subfolders, in file-name order; None when there is none. Files whose names
    end in `skip_suffixes` (other image formats) are not opened. A damaged DICOM file raises
    InputError, as it does when the folder is read."""
    if recursive:
        paths = sorted(Path(root) / name for root, _, names in os.walk(folder) for name in names)
    else:
        paths = sorted(path for path in Path(folder).iterdir() if path.is_file())
    for path in paths:
        if not path.name.lower().endswith(tuple(skip_suffixes)):
            header = read_header(path)
            if header is not None:
                return header
    return None


def _same_stack(a, b):
    """Whether two images can belong to one stack: parallel, of one size, pixel spacing, image
    type and series description (which keeps apart other sequences planned on the same slices)."""
    return (a.size == b.size and a.image_type == b.image_type and a.phase_like == b.phase_like
            and a.description == b.description
            and np.allclose(a.orientation, b.orientation, atol=ORIENTATION_TOLERANCE)
            and np.allclose(a.pixel_spacing, b.pixel_spacing, rtol=1e-3))


def _slice_positions(images, normal):
    return np.array([float(np.dot(image.position, normal)) for image in images])


def _series_with_one_image_per_position(images, normal):
    """Whether no two images of this series share a slice position (a cine or TI-scout series has
    several, and is not a stack)."""
    positions = np.sort(_slice_positions(images, normal))
    return bool(np.all(np.diff(positions) > POSITION_TOLERANCE_MM))


def group_stacks(images):
    """Sort images into stacks: series of one geometry, image type and description are merged
    (per-slice series), one image per position, the later series winning where a slice was repeated.
    Series with several images at one position are left out."""
    groups = []  # (first image, {series UID: images}) per possible stack
    for image in images:
        for first, series in groups:
            if _same_stack(first, image):
                series[image.series_uid].append(image)
                break
        else:
            groups.append((image, defaultdict(list, {image.series_uid: [image]})))
    stacks = []
    for first, series in groups:
        normal = first.normal
        chosen = []  # (position along the normal, image); a later series replaces a repeated slice
        for members in sorted(series.values(), key=lambda members: members[0].series_number):
            if not _series_with_one_image_per_position(members, normal):
                continue
            for image, position in zip(members, _slice_positions(members, normal)):
                chosen = [(p, i) for p, i in chosen if abs(p - position) > POSITION_TOLERANCE_MM]
                chosen.append((position, image))
        if chosen:
            ordered = [image for _, image in sorted(chosen, key=lambda pair: pair[0])]
            numbers = tuple(sorted({image.series_number for image in ordered}))
            stacks.append(Stack(ordered, numbers))
    return stacks


def choose_stack(stacks):
    """The stack with the most slices; among equals magnitude before phase-sensitive images, then
    the later series."""
    return max(stacks, key=lambda s: (len(s.images), not s.images[0].phase_like, max(s.series_numbers)))


def check_gaps(stack):
    """Raise InputError if the slices of `stack` are not equally spaced (a missing slice)."""
    positions = _slice_positions(stack.images, stack.images[0].normal)
    gaps = np.diff(positions)
    if len(gaps) < 2:
        return
    typical = float(np.median(gaps))
    uneven = np.flatnonzero(np.abs(gaps - typical) > GAP_TOLERANCE * typical)
    if len(uneven):
        k = int(uneven[0])
        raise InputError(
            f"The slices of {stack.label} are not equally spaced: slices {k + 1} and {k + 2} are "
            f"{gaps[k]:.1f} mm apart where the others are {typical:.1f} mm (a missing or extra "
            "slice?). Export the stack without gaps, or as NIfTI/NRRD.")


@dataclass(frozen=True)
class FolderChoice:
    """What was read from a DICOM folder, and what else was there, for the outputs to name."""

    read: str  # e.g. "series 7 'LGE PSIR' (10 slices)"
    others: tuple = ()
    files: tuple = ()  # the files read, in the order of the volume's slices (one multi-frame file)

    def note(self):
        """A sentence for a report when the folder held more than one stack, else None."""
        if not self.others:
            return None
        return f"The DICOM folder holds more than one stack: {self.read} was read; also there: {'; '.join(self.others)}."

    def metadata(self):
        """Entries for metrics.json."""
        return {"dicom_series": self.read, "dicom_other_series": list(self.others)}


def read_dicom_folder(folder):
    """The short-axis stack in `folder` as a 3D SimpleITK image (slices sorted along the normal),
    and a FolderChoice naming it and the other stacks there."""
    import SimpleITK as sitk

    images, multi_frame = scan_folder(folder)
    if not images and multi_frame:
        largest = max(multi_frame, key=lambda image: image.frames)
        others = tuple(f"multi-frame file {Path(image.path).name} ({image.frames} frames)"
                       for image in multi_frame if image is not largest)
        # GDCM places the frames of one object itself
        return sitk.ReadImage(largest.path), FolderChoice(
            f"multi-frame file {Path(largest.path).name} ({largest.frames} frames)", others, (largest.path,))
    if not images:
        raise InputError(f"The folder {folder} holds no DICOM images with a position in the patient.")
    stacks = group_stacks(images)
    if not stacks:
        raise InputError(
            f"The DICOM series in {folder} hold several images at each slice position (cine or "
            "TI-scout series?); an LGE stack has one image per position.")
    stack = choose_stack(stacks)
    if len(stack.images) < 2:
        raise InputError(
            f"The folder {folder} holds single images only, no stack of parallel slices "
            f"(largest: {stack.label}).")
    choice = FolderChoice(stack.label, tuple(s.label for s in stacks if s is not stack),
                          tuple(image.path for image in stack.images))
    if choice.others:
        log.warning("Read %s from %s; also there: %s.", stack.label, folder, "; ".join(choice.others))
    check_gaps(stack)
    check_voxel_count((*stack.images[0].size, len(stack.images)), 1, f"The DICOM stack in {folder}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([image.path for image in stack.images])
    return reader.Execute(), choice
