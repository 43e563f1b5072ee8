"""A case moved onto another scanner's grid: other pixel size and matrix, any in-plane rotation,
flips, the heart off-centre, another intensity range (SimpleITK resampling). The parameters of a move
are drawn at random (`draw_move`, as benchmarks/segment.py's "other scanners' grids" draws them) and
can be kept one at a time (`only`) to see which of them costs a model its accuracy
(benchmarks/grid_factors.py)."""

import numpy as np

# The EMIDEC grid a case is stored on: nothing moved.
# (pixel None: the image's own; size None: the matrix that keeps the image's field of view)
STORED = {"angle": 0.0, "flip": 1.0, "slice_flip": 1.0, "pixel": None, "size": None,
          "offset": (0.0, 0.0), "intensity": None}
# Each factor with the parameters that make it up (the pixel size alone keeps the field of view).
FACTORS = {"pixel size": ("pixel",), "rotation": ("angle",), "flips": ("flip", "slice_flip"),
           "off-centre": ("offset",), "intensity": ("intensity",)}


def draw_move(rng):
    """Random move parameters: 0.7-1.9 mm pixels on a 160-320 matrix, any angle, flips, the heart up
    to a quarter of the field off-centre, gain 2-16, gamma 0.7-1.4 and an offset of 0-200."""
    angle = rng.uniform(0, 2 * np.pi)
    flip = rng.choice([-1.0, 1.0])
    slice_flip = rng.choice([-1.0, 1.0])
    pixel = rng.uniform(0.7, 1.9)
    size = (int(rng.integers(160, 320)), int(rng.integers(160, 320)))
    offset = tuple(rng.uniform(-0.25, 0.25, 2))
    intensity = (rng.uniform(2, 16), rng.uniform(0.7, 1.4), rng.uniform(0, 200))
    return {"angle": angle, "flip": flip, "slice_flip": slice_flip, "pixel": pixel, "size": size,
            "offset": offset, "intensity": intensity}


def only(move, factor):
    """`move` with every parameter but those of `factor` as the case is stored."""
    return {**STORED, **{name: move[name] for name in FACTORS[factor]}}


def moved_case(image, labels, move, prediction=None):
    """(image, labels, prediction or None) resampled onto the grid `move` describes, the image linearly,
    labels by nearest neighbour; the image's intensities then mapped by the move's gain, gamma and offset.
    The case is stored on an axis-aligned grid (as EMIDEC's are); the move turns about its centre."""
    import SimpleITK as sitk

    from LGECore.io import volume_from_sitk, volume_to_sitk
    from LGECore.volume import Volume

    angle, flip = move["angle"], move["flip"]
    direction = np.array([[np.cos(angle), -np.sin(angle) * flip, 0], [np.sin(angle), np.cos(angle) * flip, 0],
                          [0, 0, move["slice_flip"]]])
    pixel = move["pixel"] or image.spacing[0]
    size = move["size"] or tuple(int(round(n * image.spacing[0] / pixel)) for n in image.shape[:0:-1])
    spacing = (pixel, pixel, image.spacing[2])
    middle = image.index_to_lps([[(image.shape[0] - 1) / 2, image.shape[1] // 2, image.shape[2] // 2]])[0]
    offset = np.r_[np.asarray(move["offset"]) * np.array(size) * pixel, 0.0]
    half = direction @ (np.array([size[0], size[1], image.shape[0] - 1]) * np.array(spacing) / 2)
    grid = Volume(np.zeros((image.shape[0], size[1], size[0]), np.float32), spacing, middle + offset - half, direction)
    reference = volume_to_sitk(grid)
    move_volume = lambda volume, how: volume_from_sitk(  # noqa: E731
        sitk.Resample(volume_to_sitk(volume), reference, sitk.Transform(), how, 0.0))
    moved_image = move_volume(image, sitk.sitkLinear)
    intensity = moved_image.array
    if move["intensity"] is not None:
        gain, gamma, shift = move["intensity"]
        intensity = gain * 255.0 * (np.clip(intensity, 0, None) / 255.0) ** gamma + shift
    return (moved_image.with_array(intensity.astype(np.float32)), move_volume(labels, sitk.sitkNearestNeighbor),
            None if prediction is None else move_volume(prediction, sitk.sitkNearestNeighbor))
