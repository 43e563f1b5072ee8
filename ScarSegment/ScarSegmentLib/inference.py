"""Deep-learning segmentation of any LGE short-axis volume, on the input's own grid.

Steps: pick the slice axis (from the spacing), normalise intensities by percentiles, resample each
slice in-plane to the network's pixel size (with its neighbours, as far away as in training, as
extra channels for a 2.5D model), find LV candidates with a coarse sliding-window pass over the
whole slices (no assumption that the heart is centred), predict again on windows centred on them,
keep the one that looks most like a ring of myocardium around a blood pool (rotation and flip
test-time augmentation), map the probabilities back onto the input grid, and clean the labels up
anatomically.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from LGECore.device import choose_device
from LGECore.errors import InputError
from LGECore.io import check_geometry, check_image
from LGECore.resources import check_memory
from LGECore.volume import Volume

from .cascade_inference import with_scar_stage
from .data import (
    crop_around,
    neighbour_slices,
    neighbour_step,
    normalise_intensity,
    renormalise,
    window_anchors,
    window_bounds,
)
from .network import NUM_CLASSES
from .postprocess import FULL_3D, biased_argmax, clean_labels

MIN_IN_PLANE_MM = 40.0  # smaller fields of view cannot hold a left ventricle
# Peak memory of segment_dl, in bytes per pixel of the network's grid and per input voxel: about 85
# and 77 measured on 20-slice stacks (the coarse pass, the refinements, the probabilities on both grids).
BYTES_PER_MODEL_PIXEL = BYTES_PER_INPUT_VOXEL = 96


@dataclass
class SegmentationResult:
    """Labels (uint8 0..4) and class probabilities (5, z, y, x), both on the input grid.

    `probabilities` are the network's (summing to 1 per voxel; background outside the window
    around the LV); `labels` are their argmax after the anatomical clean-up, so a few voxels may
    differ from the plain argmax. `lv_found` is False when no LV was found; `notes` says why.
    """

    labels: Volume
    probabilities: np.ndarray
    lv_found: bool = True
    notes: list = field(default_factory=list)


def _check_input(image, checked):
    """(slice axis, in-plane axes, spacing per array axis); the image's values are checked unless
    the caller has (`checked`)."""
    if not isinstance(image, Volume):
        raise InputError(f"segment_dl needs an LGECore Volume; got {type(image).__name__}.")
    if not checked:
        check_image(image)
        check_geometry(image)  # before resampling: an implausible spacing cannot exhaust memory
    axis = image.slice_axis()
    in_plane = [a for a in range(3) if a != axis]
    spacing_by_axis = np.asarray(image.spacing)[::-1]
    extent = [image.shape[a] * spacing_by_axis[a] for a in in_plane]
    if min(extent) < MIN_IN_PLANE_MM:
        raise InputError(
            f"The slices cover only {min(extent):.0f} mm (shape {image.shape}, spacing "
            f"{tuple(round(s, 3) for s in image.spacing)}); a short-axis slice must show the whole "
            f"heart (at least {MIN_IN_PLANE_MM:.0f} mm).")
    return axis, in_plane, spacing_by_axis


def with_neighbours(slices, context, step=1):
    """(N, 1, H, W) slices -> (N, 1 + 2 * context, H, W): each with its neighbours, `step` slices
    apart, as channels."""
    import torch

    if context == 0:
        return slices
    stack = slices[:, 0].numpy()
    return torch.from_numpy(np.stack([neighbour_slices(stack, z, context, step) for z in range(len(stack))]))


def slice_step(image, settings):
    """How many slices of `image` lie between a slice and the neighbours the network sees with it:
    as far apart as in training. A header of 1 x 1 x 1 mm (lost spacing) says nothing about the
    slice distance, so its adjacent slices are the neighbours, as for a stack of 10 mm slices."""
    if image.spacing_is_placeholder:
        return 1
    slice_spacing_mm = float(np.asarray(image.spacing)[::-1][image.slice_axis()])
    return neighbour_step(slice_spacing_mm, settings.neighbour_spacing_mm)


def _softmax_sliding(network, slices, patch, device):
    """Class probabilities of whole slices (N, 1, H, W) by a sliding window of patch x patch."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        logits = sliding_window_inference(
            slices.to(device), (patch, patch), sw_batch_size=16, predictor=network, overlap=0.25,
            mode="gaussian", padding_mode="constant", cval=0.0)
    return torch.softmax(logits, dim=1).cpu()


def _softmax_mirrored(network, batch, device):
    """Class probabilities averaged over the 8 in-plane rotations and flips of a square window.

    The network was trained with any rotation and flip, so each of these views is one it knows.
    """
    import torch

    total = 0
    with torch.no_grad():
        for flip in (False, True):
            for turns in range(4):
                view = torch.rot90(torch.flip(batch, (3,)) if flip else batch, turns, (2, 3))
                probabilities = torch.rot90(torch.softmax(network(view.to(device)), dim=1).cpu(), -turns, (2, 3))
                total = total + (torch.flip(probabilities, (3,)) if flip else probabilities)
    return total / 8


def lv_candidates(probabilities, count=3, min_fraction=0.2):
    """In-plane centres (row, col) of the largest 3D LV-like components of a prediction.

    At most `count`, largest first, each at least `min_fraction` of the largest one's size.
    """
    from scipy import ndimage

    foreground = (probabilities.argmax(dim=1) > 0).numpy()
    components, found = ndimage.label(foreground, structure=FULL_3D)
    if found == 0:
        return []
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    centres = []
    for label in np.argsort(sizes)[::-1][:count]:
        if sizes[label] == 0 or sizes[label] < min_fraction * sizes.max():
            break
        _, rows, cols = np.nonzero(components == label)
        centres.append((rows.mean(), cols.mean()))
    return centres


def locate_lv(probabilities):
    """In-plane centre (row, col) of the largest 3D LV component of a prediction, or None."""
    candidates = lv_candidates(probabilities, count=1)
    return candidates[0] if candidates else None


def ring_score(probabilities):
    """How much of a prediction looks like a short-axis LV: blood pool enclosed by a myocardial ring.

    Counts blood-pool pixels inside closed rings of myocardium (healthy, scar or MVO), over slices.
    """
    from scipy import ndimage

    labels = probabilities.argmax(dim=1).numpy()
    score = 0
    for slice_labels in labels:
        myocardium = slice_labels >= 2
        enclosed = ndimage.binary_fill_holes(myocardium) & ~myocardium
        score += int((enclosed & (slice_labels == 1)).sum())
    return score


def network_window(slices, centre, settings, step=1):
    """The network's input on the patch x patch window centred on `centre` (row, col) of the
    slices (N, 1, H, W): normalised on the window itself if the model was trained so, zero beyond
    the image and the stack (as in training), with the neighbouring slices (`step` apart) as
    channels."""
    import torch

    stack = slices[:, 0].numpy()
    if settings.window_normalisation:
        # Crop first, padding with the low anchor, which the renormalisation maps to exactly 0:
        # only the window is renormalised, not the whole stack.
        low, high = window_anchors(stack, centre, settings.patch_size, settings.percentiles)
        window = renormalise(crop_around(stack, centre, settings.patch_size, fill=low), (low, high))
    else:
        window = crop_around(stack, centre, settings.patch_size)
    return with_neighbours(torch.from_numpy(window)[:, None], settings.context_slices, step)


def _predict_around(network, slices, centre, settings, step, device):
    """Rotated and mirrored probabilities in a patch x patch window centred on `centre`, and the
    window's place in the slices: (top, left, rows, cols) as `data.window_bounds` gives it."""
    probabilities = _softmax_mirrored(network, network_window(slices, centre, settings, step), device)
    return probabilities, window_bounds(slices.shape, centre, settings.patch_size)


def _refine_around_lv(network, slices, centre, settings, step, device, rounds=3):
    """Predict in a window on the LV, re-centre on what that finds, and repeat until it settles.

    Returns full-slice probabilities (background outside the final window: the LV lies inside
    it by construction), the ring score of the window's prediction and the window's centre.
    """
    import torch

    for _ in range(rounds):
        window, (top, left, rows, cols) = _predict_around(network, slices, centre, settings, step, device)
        found = locate_lv(window)
        if found is None:
            break
        new_centre = (found[0] + top, found[1] + left)
        moved = np.hypot(new_centre[0] - centre[0], new_centre[1] - centre[1])
        centre = new_centre
        if moved < settings.patch_size / 16:
            break
    probabilities = torch.zeros((slices.shape[0], window.shape[1]) + tuple(slices.shape[-2:]))
    probabilities[:, 0] = 1.0
    probabilities[..., rows, cols] = window[..., rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]
    return probabilities, ring_score(window), centre


def check_memory_needed(image, axis, in_plane, spacing_by_axis, settings):
    """InputError before any resampling when the whole segmentation would pass the memory limit."""
    model_pixels = image.shape[axis] * math.prod(
        max(1, round(image.shape[a] * spacing_by_axis[a] / settings.pixel_spacing_mm)) for a in in_plane)
    needed = BYTES_PER_MODEL_PIXEL * model_pixels + BYTES_PER_INPUT_VOXEL * image.array.size
    check_memory(needed, f"Segmenting this image (shape {image.shape}, spacing "
                         f"{tuple(round(s, 3) for s in image.spacing)} mm)")


def _model_grid_slices(image, axis, in_plane, spacing_by_axis, settings):
    """(normalised slices [slice, 1, rows, cols] on the network's pixel size, the input's in-plane
    size): slices first, then the two in-plane axes resampled to the network's pixel size."""
    import torch
    import torch.nn.functional as F

    array = np.moveaxis(np.asarray(image.array), axis, 0)
    original_size = array.shape[1:]
    normalised = torch.from_numpy(normalise_intensity(array, settings.percentiles))[:, None]
    model_size = tuple(max(1, int(round(n * spacing_by_axis[a] / settings.pixel_spacing_mm)))
                       for n, a in zip(original_size, in_plane))
    downsampling = any(m < n for m, n in zip(model_size, original_size))
    slices = F.interpolate(normalised, size=model_size, mode="bilinear", align_corners=False, antialias=downsampling)
    return slices, original_size


def _on_input_grid(probabilities, size, axis):
    """(N, C, h, w) model-grid probabilities -> (C, ...) on the input grid, slices along `axis`;
    bilinear weights sum to one, so the probabilities still do."""
    import torch.nn.functional as F

    probabilities = F.interpolate(probabilities, size=size, mode="bilinear", align_corners=False)
    probabilities = probabilities.numpy().transpose(1, 0, 2, 3)  # (class, slice, rows, cols)
    probabilities = np.moveaxis(probabilities, 1, axis + 1).astype(np.float32)
    return probabilities / probabilities.sum(axis=0, keepdims=True)


def labels_from_probabilities(probabilities, axis, pixel_area_mm2, calibration):
    """Labels on the input grid from its (class, ...) probabilities: the model's bias towards scar,
    then the anatomical clean-up (with its minimum scar burden), slices along `axis`."""
    labels = biased_argmax(probabilities, calibration["scar_log_bias"])
    cleaned = clean_labels(np.moveaxis(labels, axis, 0), pixel_area_mm2,
                           min_burden_percent=calibration["min_scar_burden_percent"])
    return np.moveaxis(cleaned, 0, axis)


def segment_dl(image, weights=None, device=None, progress=True, checked=False):
    """Segment an LGE volume with the deep model; labels and probabilities on the input grid.

    image: a Volume (any spacing, orientation, size and intensity range).
    weights: None for the shipped model, or a .safetensors path with its NAME.json, or a model folder.
    device: "cpu", "cuda" or None (a GPU when there is one).
    checked: the caller has already run LGECore.io.check_image on `image`.
    """
    import torch
    from tqdm import tqdm

    from .segmenter import load_scar_stage, load_segmenter, scar_calibration

    axis, in_plane, spacing_by_axis = _check_input(image, checked)
    device = choose_device(device)
    network, settings = load_segmenter(weights)
    check_memory_needed(image, axis, in_plane, spacing_by_axis, settings)
    network = network.to(device)
    scar_stage = load_scar_stage(weights)
    patch = settings.patch_size
    notes = []
    steps = tqdm(total=4, desc="segmenting", disable=not progress, leave=False)

    slices, original_size = _model_grid_slices(image, axis, in_plane, spacing_by_axis, settings)
    steps.update(1)

    step = slice_step(image, settings)
    coarse = _softmax_sliding(network, with_neighbours(slices, settings.context_slices, step), patch, device)
    candidates = lv_candidates(coarse)
    steps.update(1)
    if not candidates:
        notes.append("No left ventricle was found; every voxel is background.")
        probabilities = torch.zeros((coarse.shape[0], NUM_CLASSES) + tuple(coarse.shape[2:]))
        probabilities[:, 0] = 1.0
    else:
        # Several LV-like blobs (the aorta or stomach can look alike at first sight): keep the
        # one whose close-up prediction is most clearly a ring of myocardium around a blood pool.
        refined = [_refine_around_lv(network, slices, centre, settings, step, device) for centre in candidates]
        probabilities, _, centre = max(refined, key=lambda found: found[1])
        if scar_stage is not None:
            scar_network, scar_settings = scar_stage
            probabilities = with_scar_stage(scar_network.to(device), scar_settings, slices, probabilities.numpy(),
                                            centre, step, _softmax_mirrored, device)
    steps.update(1)

    probabilities = _on_input_grid(probabilities, original_size, axis)
    pixel_area = float(spacing_by_axis[in_plane[0]] * spacing_by_axis[in_plane[1]])
    labels = labels_from_probabilities(probabilities, axis, pixel_area, scar_calibration(weights))
    steps.update(1)
    steps.close()
    if candidates and not labels.any():
        notes.append("No left ventricle remained after post-processing.")
    return SegmentationResult(
        labels=image.with_array(labels.astype(np.uint8)),
        probabilities=probabilities,
        lv_found=bool(labels.any()),
        notes=notes,
    )
