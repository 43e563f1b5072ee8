"""The one in-memory form of an image or label map: a numpy array plus its patient geometry.

Geometry follows ITK/SimpleITK (and DICOM): physical points are in LPS patient coordinates (mm),
`spacing`, `origin` and the index order inside them are (x, y, z), and the array is indexed
[z, y, x] (slice, row, column). Slicer works in RAS; convert with `ras_to_lps`/`lps_to_ras`.
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

# The most voxels an input may hold (a 1 GiB float32 volume; a whole-chest 3D LGE at 0.6 mm holds a
# tenth of it). Checked on the header, before the pixels are read: a compressed file of a few MB
# can unpack to any size.
MAX_INPUT_VOXELS = 2**28


def check_voxel_count(size, components, name):
    """InputError, before reading, for an image of more than MAX_INPUT_VOXELS values."""
    voxels = int(np.prod(size, dtype=np.int64)) * int(components)
    if voxels > MAX_INPUT_VOXELS:
        raise InputError(f"{name} would hold {voxels:,} voxel values (size {tuple(size)}), more than "
                         f"{MAX_INPUT_VOXELS:,}, the most ScarSynth reads; crop or resample it first.")


def ras_to_lps(points):
    """Convert points (..., 3) between RAS and LPS (the flip is its own inverse)."""
    return np.asarray(points, dtype=float) @ _LPS_TO_RAS


lps_to_ras = ras_to_lps


def inverse_order(order):
    """The axis order that undoes a transposition by `order` (as numpy.transpose takes it)."""
    return tuple(int(a) for a in np.argsort(order))


def turned(item, order):
    """A Volume (by Volume.transposed), an array (numpy.transpose) or None, with its axes in `order`."""
    if item is None or tuple(order) == (0, 1, 2):
        return item
    if isinstance(item, Volume):
        return item.transposed(order)
    return np.transpose(np.asarray(item), order)


def slices_first(volume, *others):
    """([volume, *others] with `volume`'s slice axis first, the order that turns results back).

    The one place where a stack stored with its slices along any array axis is turned for the
    steps that go slice by slice along axis 0; `others` (Volumes, arrays on the same axes, or
    None) turn with it, and `turned(result, back)` puts a result on the input's axes again.
    """
    order = volume.slices_first_order()
    return [turned(item, order) for item in (volume, *others)], inverse_order(order)


@dataclass(frozen=True)
class Volume:
    """A 3D array indexed [z, y, x] with its spacing, origin and direction (ITK conventions)."""

    array: np.ndarray
    spacing: tuple = (1.0, 1.0, 1.0)
    origin: tuple = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self):
        array = np.asarray(self.array)
        if array.ndim != 3:
            raise InputError(f"Expected a 3D volume (slices, rows, columns); got shape {array.shape}.")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise InputError(f"Voxel spacing must be three positive numbers; got {self.spacing}.")
        origin = tuple(float(o) for o in self.origin)
        direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if abs(abs(np.linalg.det(direction)) - 1.0) > 1e-3:
            raise InputError("The direction matrix is not orthonormal.")
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    @property
    def spacing_is_placeholder(self):
        """True for exactly 1 x 1 x 1 mm voxels: what exports that lost the spacing write (EMIDEC)."""
        return bool(np.allclose(self.spacing, 1.0))

    @property
    def shape(self):
        return self.array.shape

    @property
    def voxel_volume_ml(self):
        """Volume of one voxel in mL: in-plane spacing squared times slice spacing."""
        return float(np.prod(self.spacing)) / 1000.0

    def with_array(self, array):
        """A new Volume on this grid holding `array` (which must have the same shape)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise InputError(f"Array shape {array.shape} does not match the grid {self.array.shape}.")
        return Volume(array, self.spacing, self.origin, self.direction)

    def index_to_lps(self, zyx):
        """Physical LPS points (N, 3) of array indices (N, 3) given in [z, y, x] order."""
        xyz = np.asarray(zyx, dtype=float)[..., ::-1]
        return np.asarray(self.origin) + (xyz * np.asarray(self.spacing)) @ self.direction.T

    def lps_to_index(self, points):
        """Continuous array indices [z, y, x] (N, 3) of physical LPS points (N, 3)."""
        offset = np.asarray(points, dtype=float) - np.asarray(self.origin)
        xyz = (offset @ self.direction) / np.asarray(self.spacing)
        return xyz[..., ::-1]

    def slice_normal(self):
        """Unit LPS vector pointing from slice 0 towards the last slice."""
        return self.direction[:, 2].copy()

    def slice_axis(self):
        """Array axis that runs across slices: the odd one out when the other two share one
        spacing (square pixels; the slices may be thicker or, from a 3D acquisition, thinner than
        the pixels), else the one with clearly the largest spacing, else axis 0 (isotropic)."""
        spacing_by_axis = np.asarray(self.spacing)[::-1]  # array axes are [z, y, x]
        for axis in range(3):
            first, second = np.delete(spacing_by_axis, axis)
            if np.isclose(first, second, rtol=1e-3) and not np.isclose(spacing_by_axis[axis], first, rtol=0.05):
                return axis
        coarsest = int(np.argmax(spacing_by_axis))
        if spacing_by_axis[coarsest] > 1.5 * spacing_by_axis[0]:
            return coarsest
        return 0

    def slices_first_order(self):
        """Array axis order (as for numpy.transpose) that puts the slice axis first."""
        axis = self.slice_axis()
        return (axis,) + tuple(a for a in range(3) if a != axis)

    def transposed(self, order):
        """The same voxels with the array axes reordered (as numpy.transpose does); spacing and
        direction follow, so every voxel keeps its physical position. The identity order gives
        this (immutable) volume itself, without a copy."""
        if tuple(order) == (0, 1, 2):
            return self
        # Array axis a is ITK axis 2 - a; new ITK axis i is old ITK axis 2 - order[2 - i].
        itk = [2 - order[2 - i] for i in range(3)]
        return Volume(np.ascontiguousarray(np.transpose(self.array, order)), tuple(self.spacing[k] for k in itk),
                      self.origin, self.direction[:, itk])

    def same_grid(self, other, tolerance=1e-3):
        """True when `other` has the same shape, spacing, origin and direction."""
        return (
            self.array.shape == other.array.shape
            and np.allclose(self.spacing, other.spacing, atol=tolerance)
            and np.allclose(self.origin, other.origin, atol=tolerance)
            and np.allclose(self.direction, other.direction, atol=tolerance)
        )

    def check_same_grid(self, other, what="label map"):
        """Raise InputError naming the difference when `other` is not on this grid."""
        if self.array.shape != other.array.shape:
            raise InputError(
                f"The {what} has shape {other.array.shape} but the image has {self.array.shape}.")
        for name in ("spacing", "origin", "direction"):
            mine, theirs = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            if not np.allclose(mine, theirs, atol=1e-3):
                raise InputError(
                    f"The {what}'s {name} {np.round(theirs, 4).tolist()} differs from the "
                    f"image's {np.round(mine, 4).tolist()}: they are not on the same grid.")
