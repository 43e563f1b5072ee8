"""Where a scar generator paints, and what it is trained on."""

import numpy as np
import pytest
from scipy import ndimage

from LGECore import labels as L


@pytest.fixture(scope="module")
def phantom():
    from LGECore.phantom import make_phantom

    return make_phantom(seed=0, n_slices=4, matrix_size=96, scar_segments=(7, 8), transmurality=0.6, mvo=True)


def _distance_to(mask):
    return ndimage.distance_transform_edt(~mask)


def test_the_paint_region_is_the_scar_with_a_three_pixel_margin(phantom):
    from ScarSynthLib.scar_regions import PAINT_MARGIN_PIXELS, paint_region

    labels = phantom.labels.array[2]
    scar = np.isin(labels, L.SCAR_LABELS)
    region = paint_region(labels)
    assert scar.any() and region[scar].all()
    assert _distance_to(scar)[region].max() <= PAINT_MARGIN_PIXELS
    assert region.sum() > scar.sum()  # the margin is there to blend
    assert not paint_region(phantom.labels.array[1]).any()  # no scar, nothing to paint
    # Against the labels as they are, only the pixels whose label changes (and their margin).
    assert not paint_region(labels, labels).any()
    new = labels.copy()
    new[np.argwhere(labels == L.MYOCARDIUM)[0][0], np.argwhere(labels == L.MYOCARDIUM)[0][1]] = L.SCAR
    assert 1 < paint_region(new, labels).sum() <= np.pi * (PAINT_MARGIN_PIXELS + 1) ** 2


def test_training_regions_are_the_real_scar_and_random_sectors_of_the_wall(phantom):
    from ScarSynthLib.scar_regions import PAINT_MARGIN_PIXELS, TRAINING_SECTORS_PER_SLICE, training_regions

    labels = phantom.labels.array[2]
    regions = training_regions(labels, np.random.default_rng(0))
    assert len(regions) == 1 + TRAINING_SECTORS_PER_SLICE
    assert np.array_equal(regions[0], ndimage.binary_dilation(np.isin(labels, L.SCAR_LABELS),
                                                              structure=_disk(PAINT_MARGIN_PIXELS)))
    wall = L.lv_myocardium(labels)
    for sector in regions[1:]:
        assert _distance_to(wall)[sector].max() <= PAINT_MARGIN_PIXELS
        assert 0 < sector.sum() < (_distance_to(wall) <= PAINT_MARGIN_PIXELS).sum()
    assert len(training_regions(phantom.labels.array[1], np.random.default_rng(0))) == TRAINING_SECTORS_PER_SLICE
    assert training_regions(np.zeros_like(labels), np.random.default_rng(0)) == []


def _disk(radius):
    return np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius


def test_scar_training_crops_are_many_small_regions_of_each_slice(phantom):
    from ScarSynthLib.diffusion_data import case_crops

    image, labels = phantom.image.array, phantom.labels.array
    heart = case_crops(image, labels)
    scar = case_crops(image, labels, "scar", np.random.default_rng(0))
    assert len(heart) == 4 and len(scar) > len(heart)
    assert all(c.region.any() for c in scar)
    assert np.mean([c.region.mean() for c in scar]) < 0.5 * np.mean([c.region.mean() for c in heart])
    # The crop sits around the heart whatever the region, as the heart-region crops do.
    assert scar[0].geometry == heart[0].geometry
