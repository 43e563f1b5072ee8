"""Heart crops for the diffusion generator: geometry, intensity normalisation, training arrays.

A crop is a square around the LV of one short-axis slice, resampled to CROP_SIZE x CROP_SIZE.
Its side is a fixed multiple of the LV's largest in-plane extent in the volume, so the heart fills
the crop alike whatever the pixel spacing (EMIDEC's headers lose the true spacing). The heart
region (the pixels the generator renders) is the LV (blood pool, myocardium, scar, MVO) dilated
by a margin; everything outside it is context that stays identical.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from LGECore import labels as L
from LGECore.errors import InputError

from .diffusion_model import CROP_SIZE
from .scar_regions import disk, training_regions

CROP_SIDE_PER_EXTENT = 1.7  # crop side / LV extent: room for the dilated region plus context
REGION_MARGIN_PER_EXTENT = 0.1  # dilation of the LV into the heart region, per LV extent
NORMALISE_PERCENTILES = (1.0, 99.0)
LV_LABELS = (L.BLOOD_POOL,) + L.LV_MYOCARDIUM_LABELS


def lv_mask(labels):
    return np.isin(labels, LV_LABELS)


def lv_extent(labels):
    """Largest in-plane bounding-box side (pixels) of the LV over all slices of (Z, Y, X) labels."""
    extent = 0
    for mask in lv_mask(labels):
        if mask.any():
            rows, cols = np.nonzero(mask)
            extent = max(extent, np.ptp(rows) + 1, np.ptp(cols) + 1)
    if extent == 0:
        raise InputError("The label map holds no LV (labels 1-4): there is no heart to synthesise.")
    return float(extent)


def heart_region(labels2d, extent):
    """The pixels the generator renders: the LV of one slice dilated by a margin."""
    radius = max(2, int(round(REGION_MARGIN_PER_EXTENT * extent)))
    return ndimage.binary_dilation(lv_mask(labels2d), structure=disk(radius))


@dataclass(frozen=True)
class CropGeometry:
    """A square crop of one slice: centre (row, col) and side, both in input pixels."""

    center: tuple
    side: float

    @classmethod
    def around(cls, region, extent):
        rows, cols = np.nonzero(region)
        center = ((rows.min() + rows.max()) / 2.0, (cols.min() + cols.max()) / 2.0)
        return cls(center, CROP_SIDE_PER_EXTENT * extent)

    @property
    def step(self):
        return self.side / CROP_SIZE

    def _input_coords(self):
        """Input (row, col) of every crop pixel centre, shape (2, CROP_SIZE, CROP_SIZE)."""
        k = (np.arange(CROP_SIZE) + 0.5) * self.step - self.side / 2.0 - 0.5
        rows, cols = np.meshgrid(self.center[0] + 0.5 + k, self.center[1] + 0.5 + k, indexing="ij")
        return np.stack([rows, cols])

    def crop(self, array2d, order=1):
        """Resample `array2d` onto the crop (order 0 for labels, 1 for images)."""
        return ndimage.map_coordinates(np.asarray(array2d, dtype=np.float32), self._input_coords(),
                                       order=order, mode="nearest")

    def uncrop(self, crop, shape, pixels):
        """Values of `crop` at the input pixels `pixels` ((rows, cols) arrays) of a slice."""
        rows, cols = pixels
        k_rows = (rows - self.center[0] + self.side / 2.0) / self.step - 0.5
        k_cols = (cols - self.center[1] + self.side / 2.0) / self.step - 0.5
        return ndimage.map_coordinates(np.asarray(crop, dtype=np.float32), np.stack([k_rows, k_cols]),
                                       order=1, mode="nearest")


@dataclass(frozen=True)
class Normalisation:
    """Robust per-slice intensity scaling to about [-1, 1], from the context outside the heart."""

    low: float
    high: float

    @classmethod
    def of(cls, image_crop, region_crop):
        context = image_crop[region_crop < 0.5]
        values = context if context.size >= 16 else image_crop.ravel()
        low, high = np.percentile(values, NORMALISE_PERCENTILES)
        if not high > low:
            low, high = float(values.min()), float(values.max())
        if not high > low:
            high = low + 1.0
        return cls(float(low), float(high))

    def forward(self, image):
        return (2.0 * (np.asarray(image, dtype=np.float32) - self.low) / (self.high - self.low) - 1.0)

    def inverse(self, normalised):
        return (np.asarray(normalised, dtype=np.float32) + 1.0) / 2.0 * (self.high - self.low) + self.low


@dataclass
class SliceCrop:
    """Everything the generator needs for one slice, plus how to map its output back."""

    image: np.ndarray  # (S, S) float32, normalised
    labels: np.ndarray  # (S, S) uint8, 0..4
    region: np.ndarray  # (S, S) float32 in {0, 1}
    geometry: CropGeometry
    normalisation: Normalisation
    region_full: np.ndarray  # (H, W) bool, the heart region on the input slice


def crop_slice(image2d, labels2d, extent, region_full=None):
    """The SliceCrop of one slice, or None when the slice holds no LV.

    The crop always sits around the heart region; the generator renders `region_full` (input
    pixels; default the heart region itself)."""
    if not lv_mask(labels2d).any():
        return None
    heart = heart_region(labels2d, extent)
    region_full = heart if region_full is None else np.asarray(region_full, dtype=bool)
    geometry = CropGeometry.around(heart, extent)
    region = (geometry.crop(region_full.astype(np.float32), order=1) >= 0.5).astype(np.float32)
    image_crop = geometry.crop(image2d, order=1)
    labels_crop = geometry.crop(labels2d, order=0).astype(np.uint8)
    labels_crop[labels_crop > L.MVO] = L.BACKGROUND  # RV (5) is context, like EMIDEC's unlabelled RV
    normalisation = Normalisation.of(image_crop, region)
    return SliceCrop(normalisation.forward(image_crop), labels_crop, region, geometry, normalisation,
                     region_full)


def case_crops(image, labels, region_kind="heart", rng=None):
    """SliceCrops of every slice with LV of a case (image, labels: (Z, Y, X) arrays): one per slice
    for the heart region; for "scar", one per training region of the slice (scar_regions)."""
    extent = lv_extent(labels)
    crops = []
    for z in range(image.shape[0]):
        if not lv_mask(labels[z]).any():
            continue
        regions = [None] if region_kind == "heart" else training_regions(labels[z], rng)
        for region in regions:
            item = crop_slice(image[z], labels[z], extent, region)
            if item.region.any():  # a speck of scar can vanish on the crop grid: nothing to learn there
                crops.append(item)
    return crops


def held_out_cases(cases, every=10, start=5):
    """A fixed, reproducible held-out subset (every 10th case by name), never used for training."""
    return [case for index, case in enumerate(sorted(cases, key=lambda c: c.name))
            if index % every == start % every]


def load_training_arrays(cases, progress=True, region_kind="heart", seed=0):
    """Stacked crops of all slices of `cases`: dict of images, labels, regions (N, S, S); with the
    "scar" paint region, several crops per slice (its scar, random myocardial sectors; `seed`)."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    images, labels, regions = [], [], []
    for case in tqdm(cases, desc="loading slices", disable=not progress, leave=False):
        image, label_map = case.load()
        for item in case_crops(image.array, label_map.array, region_kind, rng):
            images.append(item.image)
            labels.append(item.labels)
            regions.append(item.region)
    if not images:
        raise InputError("The dataset holds no slice with LV labels to train on.")
    return dict(images=np.stack(images).astype(np.float32), labels=np.stack(labels),
                regions=np.stack(regions).astype(np.float32))


def label_intensity_means(arrays):
    """Mean normalised intensity of each label class (0..4) inside the heart regions."""
    from .diffusion_model import NUM_LABEL_CLASSES

    inside = arrays["regions"] > 0.5
    means = []
    for label in range(NUM_LABEL_CLASSES):
        pixels = arrays["images"][inside & (arrays["labels"] == label)]
        means.append(round(float(pixels.mean()), 4) if pixels.size else 0.0)
    return means


def random_batch(arrays, batch_size, generator):
    """A batch of torch tensors (images, labels, regions) with random flips and 90-degree turns."""
    import torch

    index = generator.integers(0, len(arrays["images"]), batch_size)
    images, labels, regions = (torch.from_numpy(arrays[k][index]) for k in ("images", "labels", "regions"))
    stacked = torch.stack([images, labels.float(), regions], 1)
    turns = int(generator.integers(0, 4))
    stacked = torch.rot90(stacked, turns, dims=(2, 3))
    if generator.random() < 0.5:
        stacked = torch.flip(stacked, dims=(3,))
    return stacked[:, 0].contiguous(), stacked[:, 1].round().long(), stacked[:, 2].contiguous()
