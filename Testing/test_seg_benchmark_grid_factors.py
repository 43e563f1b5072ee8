"""benchmarks/other_grid.py and grid_factors.py: a random move onto another scanner's grid, and each of
its factors alone, so that the loss on other grids can be traced to one of them."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import grid_factors  # noqa: E402
import other_grid  # noqa: E402


def _phantom():
    from LGECore.phantom import make_phantom
    from LGECore.volume import Volume

    phantom = make_phantom(seed=4, n_slices=4, pixel_spacing=1.35, matrix_size=128, direction=np.eye(3),
                           territory="LAD", transmurality=0.5)
    return phantom.image, Volume(phantom.labels.array, phantom.image.spacing, phantom.image.origin)


def _myocardium_mm2(labels):
    return np.isin(labels.array, (2, 3, 4)).sum() * labels.spacing[0] * labels.spacing[1]


def test_each_factor_alone_changes_only_what_it_names():
    image, labels = _phantom()
    move = other_grid.draw_move(np.random.default_rng(3))
    stored = other_grid.moved_case(image, labels, other_grid.STORED)
    assert stored[0].same_grid(image) and np.allclose(stored[0].array, image.array, atol=1e-3)
    assert np.array_equal(stored[1].array, labels.array) and stored[2] is None

    pixel = other_grid.moved_case(image, labels, other_grid.only(move, "pixel size"))[1]
    assert np.isclose(pixel.spacing[0], move["pixel"]) and not np.isclose(move["pixel"], 1.35)
    assert abs(pixel.shape[2] * pixel.spacing[0] - 128 * 1.35) < 2 * move["pixel"]  # the field of view is kept
    assert abs(_myocardium_mm2(pixel) / _myocardium_mm2(labels) - 1) < 0.1

    turned = other_grid.moved_case(image, labels, other_grid.only(move, "rotation"))
    assert turned[0].shape == image.shape and not np.allclose(turned[0].direction, image.direction)
    assert abs(_myocardium_mm2(turned[1]) / _myocardium_mm2(labels) - 1) < 0.1

    brighter = other_grid.moved_case(image, labels, other_grid.only(move, "intensity"))[0]
    assert brighter.same_grid(image) and brighter.array.max() > 2 * image.array.max()
    order = np.argsort(image.array, axis=None)[::997]
    assert np.all(np.diff(brighter.array.ravel()[order]) >= -1e-3)  # a monotone map of the grey levels


def test_grid_factors_scores_every_condition_on_its_own_grid():
    image, labels = _phantom()
    found = grid_factors.variants(image, labels, other_grid.draw_move(np.random.default_rng(0)))
    assert tuple(found) == grid_factors.CONDITIONS
    for condition, (moved_image, moved_labels) in found.items():
        assert moved_image.same_grid(moved_labels), condition
        assert np.isin(moved_labels.array, (2, 3, 4)).sum() > 100, condition  # the heart stays in view
    blurred = found["blur 0.8 px"][0].array
    roughness = lambda a: np.abs(np.diff(a, axis=-1)).mean()  # noqa: E731
    assert roughness(blurred) < roughness(found["blur 0.5 px"][0].array) < roughness(image.array)
