"""Training slices from datasets in the EMIDEC layout (real cases, or phantoms written that way).

Each case is resampled in-plane to the network's pixel spacing, its intensities are normalised by
percentiles (the same function inference uses), and it is cut into 2D slices that remember where
the LV is, so training patches can be taken around it with a random offset.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.io import read_emidec_dataset

NORMAL, INFARCT, MVO = "normal", "infarct", "mvo"


def normalise_intensity(array, percentiles=(1.0, 99.5)):
    """Map the low/high percentiles of `array` to 0 and 1 (robust to any scanner's range)."""
    array = np.asarray(array, dtype=np.float32)
    low, high = np.percentile(array, percentiles)
    if high <= low:
        high = low + 1.0
    return ((array - low) / (high - low)).astype(np.float32)


def in_plane_spacing(volume, lost_spacing_mm):
    """In-plane pixel size (mm); a header of exactly 1x1x1 means the spacing was lost (EMIDEC)."""
    if lost_spacing_mm and volume.spacing_is_placeholder:
        return float(lost_spacing_mm)
    return float(np.mean(volume.spacing[:2]))


def with_assumed_spacing(volume, lost_spacing_mm, slice_mm=10.0):
    """`volume` on the pixel size assumed in training when its header lost it (exactly 1x1x1 mm),
    so that inference sees the heart at the size training saw it; other volumes are returned as
    they are."""
    if not volume.spacing_is_placeholder:
        return volume
    from LGECore.volume import Volume

    spacing = (float(lost_spacing_mm), float(lost_spacing_mm), float(slice_mm))
    return Volume(volume.array, spacing, volume.origin, volume.direction)


def resample_slices(array, factor, order):
    """Zoom every slice of a [z, y, x] array in-plane by `factor` (order 0 for labels)."""
    from scipy import ndimage

    if abs(factor - 1.0) < 1e-3:
        return array
    return ndimage.zoom(array, (1.0, factor, factor), order=order, grid_mode=True, mode="grid-constant")


def case_kind(labels):
    """normal / infarct / mvo, from what the labels hold."""
    if np.any(labels == L.MVO):
        return MVO
    if np.any(labels == L.SCAR):
        return INFARCT
    return NORMAL


@dataclass
class CaseSlices:
    """One case on the network's grid: normalised image and labels [z, y, x], LV centre per slice."""

    name: str
    kind: str
    image: np.ndarray
    labels: np.ndarray
    centres: np.ndarray  # (z, 2) row, column of the LV in each slice
    # (k, 2) percentile anchors (low, high) of smaller fields of view, in the units of `image`
    fov_anchors: np.ndarray = None
    sampling_weight: float = 1.0  # how often its slices are drawn, against a real case's
    extra_set: str = ""  # name of the --extra-train folder it came from; "" for the dataset's own


def lv_centres(labels):
    """Centre of the labelled LV in each slice; slices without labels use the case's centre."""
    foreground = labels > 0
    if not foreground.any():
        raise InputError("A training case has no labelled LV.")
    rows, cols = np.nonzero(foreground.any(axis=0))
    overall = np.array([rows.mean(), cols.mean()])
    centres = np.tile(overall, (labels.shape[0], 1))
    for z in range(labels.shape[0]):
        rows, cols = np.nonzero(foreground[z])
        if rows.size:
            centres[z] = (rows.mean(), cols.mean())
    return centres


def heart_field_of_view(labels, rng, smallest=0.4, margin=8):
    """A random smaller field of view (rows, cols slices) of a labelled stack that still holds the
    whole heart with `margin` pixels to spare - a scan always shows the heart - spanning `smallest`
    to all of each in-plane side."""
    rows, cols = np.nonzero(labels.any(axis=0))
    bounds = []
    for side, first, last in zip(labels.shape[1:], (rows.min(), cols.min()), (rows.max(), cols.max())):
        first, last = max(first - margin, 0), min(last + margin, side - 1)
        size = max(int(round(side * rng.uniform(smallest, 1.0))), last - first + 1)
        start = int(rng.integers(max(last - size + 1, 0), min(first, side - size) + 1))
        bounds.append(slice(start, start + size))
    return tuple(bounds)


def field_of_view_anchors(image, labels, percentiles, rng, count=8, smallest=0.4):
    """Percentile anchors (low, high) of `count` random smaller fields of view of the stack, each
    holding the whole labelled heart (`heart_field_of_view`). Returns (count, 2).

    Whole-image percentiles depend on how much air the scanner's field of view holds: a tight one
    has none, and its low percentile is dark tissue instead of air.
    """
    anchors = []
    for _ in range(count):
        rows, cols = heart_field_of_view(labels, rng, smallest)
        low, high = np.percentile(image[:, rows, cols], percentiles)
        anchors.append((low, max(high, low + 1e-3)))
    return np.asarray(anchors, dtype=np.float32)


def renormalise(slices, anchors):
    """`slices` normalised again so that the anchors (low, high) map to 0 and 1."""
    low, high = anchors
    return ((slices - low) / (high - low)).astype(np.float32)


def load_case_slices(case, settings, lost_spacing_mm):
    """Read one case and bring it onto the network's grid."""
    image, labels = case.load()
    factor = in_plane_spacing(image, lost_spacing_mm) / settings.pixel_spacing_mm
    image_array = normalise_intensity(image.array, settings.percentiles)
    image_array = resample_slices(image_array, factor, order=1).astype(np.float32)
    label_array = resample_slices(labels.array, factor, order=0).astype(np.uint8)
    label_array[label_array == L.RV_BLOOD_POOL] = L.BACKGROUND  # the network has no RV class
    centres = lv_centres(label_array)
    rng = np.random.default_rng(list(case.name.encode()))  # the same anchors in every process and run
    anchors = field_of_view_anchors(image_array, label_array, settings.percentiles, rng)
    return CaseSlices(case.name, case_kind(label_array), image_array, label_array, centres, anchors)


def stratified_split(cases_by_kind, n_validation, seed=0):
    """Hold out `n_validation` cases, shared among the kinds (normal, infarct, MVO) in proportion."""
    rng = np.random.default_rng(seed)
    kinds = sorted(cases_by_kind)
    total = sum(len(cases_by_kind[kind]) for kind in kinds)
    n_validation = min(n_validation, total)
    shares = {kind: n_validation * len(cases_by_kind[kind]) / total for kind in kinds}
    counts = {kind: int(shares[kind]) for kind in kinds}
    # Largest remainders get the cases left over by rounding down.
    for kind in sorted(kinds, key=lambda k: shares[k] - counts[k], reverse=True)[:n_validation - sum(counts.values())]:
        counts[kind] += 1
    validation = []
    for kind in kinds:
        validation += list(rng.choice(sorted(cases_by_kind[kind]), size=counts[kind], replace=False))
    return sorted(str(name) for name in validation)


def load_dataset(dataset_dir, settings, lost_spacing_mm, progress=True):
    """All cases of an EMIDEC-layout folder as CaseSlices, in name order."""
    from tqdm import tqdm

    cases = read_emidec_dataset(dataset_dir)
    return [load_case_slices(case, settings, lost_spacing_mm)
            for case in tqdm(cases, desc="loading cases", disable=not progress, leave=False)]


def load_phantoms(count, settings, weight, seed=0, progress=True):
    """`count` training phantoms (LGECore.phantom_training) as CaseSlices drawn `weight` times as
    often as a real case's slices; their spacing is true, so none is assumed."""
    from types import SimpleNamespace

    from tqdm import tqdm

    from LGECore.phantom_training import training_phantoms

    cases = []
    for name, phantom in tqdm(training_phantoms(count, seed), total=count, desc="making phantoms",
                              disable=not progress, leave=False):
        case = SimpleNamespace(name=f"Phantom_{name[5:]}", load=lambda p=phantom: (p.image, p.labels))
        loaded = load_case_slices(case, settings, lost_spacing_mm=None)
        loaded.sampling_weight = weight
        cases.append(loaded)
    return cases


def read_split(path):
    """The validation case names of a split JSON file ({"validation": [...]})."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Split file not found: {path}")
    return sorted(json.loads(path.read_text())["validation"])


def neighbour_slices(array, z, context, step=1):
    """Slices z - context * step .. z + context * step (every `step`-th) of a [z, y, x] array as a
    (2 * context + 1, y, x) stack of channels, the slice itself in the middle; zeros beyond either
    end of the stack."""
    stack = np.zeros((2 * context + 1,) + array.shape[1:], dtype=array.dtype)
    for channel, k in enumerate(range(z - context * step, z + context * step + 1, step)):
        if 0 <= k < array.shape[0]:
            stack[channel] = array[k]
    return stack


def neighbour_step(slice_spacing_mm, neighbour_spacing_mm):
    """How many slices apart the neighbours given to a 2.5D network are: as near as can be to the
    distance it was trained with, so that a thin-slice stack shows it the same anatomy around each
    slice as a stack of the usual 8-10 mm does; never less than one slice."""
    return max(1, int(round(neighbour_spacing_mm / slice_spacing_mm)))


def window_bounds(shape, centre, size):
    """(top, left) of a size x size window centred on `centre` (row, col), and the rows and columns
    of an image of `shape` (..., rows, cols) that it covers."""
    top = int(round(centre[0])) - size // 2
    left = int(round(centre[1])) - size // 2
    rows = slice(max(top, 0), max(min(top + size, shape[-2]), 0))
    cols = slice(max(left, 0), max(min(left + size, shape[-1]), 0))
    return top, left, rows, cols


def window_anchors(image, centre, size, percentiles):
    """Percentile anchors (low, high) of the size x size window around the heart, over all slices.

    A window of fixed size in millimetres holds much the same tissue on any scanner, whereas the
    whole image holds as much air and body as its field of view does; so these anchors do not
    depend on the field of view. Only the part of the window inside the image counts.
    """
    _, _, rows, cols = window_bounds(image.shape, centre, size)
    region = image[..., rows, cols]
    if region.size == 0:
        region = image
    low, high = np.percentile(region, percentiles)
    return np.float32(low), np.float32(max(high, low + 1e-3))


def crop_around(array, centre, size, fill=0):
    """A size x size window of the last two axes of `array` centred on `centre` (row, col), padded
    with `fill`; leading axes (channels) are kept."""
    window = np.full(array.shape[:-2] + (size, size), fill, dtype=array.dtype)
    top, left, src_rows, src_cols = window_bounds(array.shape, centre, size)
    if src_rows.start < src_rows.stop and src_cols.start < src_cols.stop:
        window[..., src_rows.start - top:src_rows.stop - top, src_cols.start - left:src_cols.stop - left] = \
            array[..., src_rows, src_cols]
    return window
