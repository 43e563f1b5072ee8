"""Deep segmentation with the shipped model: any grid in, labels and probabilities on that grid out."""

import shutil

import numpy as np
import pytest

from LGECore.errors import InputError, WeightsError
from LGECore.volume import Volume

HELD_OUT = ("Case_P045", "Case_P055")  # held out of training (see the model's registry entry)
ASSUMED_EMIDEC_SPACING = 1.35


def myocardium_dice(predicted, truth):
    a, b = np.isin(predicted, (2, 3, 4)), np.isin(truth, (2, 3, 4))
    return 2 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One CPU thread: the test machine's cores are shared, and oversubscription is slow."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def held_out_case(emidec_dir):
    """A held-out real case with its spacing set to the value assumed in training."""
    from LGECore.io import read_emidec_dataset

    case = next(c for c in read_emidec_dataset(emidec_dir) if c.name == HELD_OUT[0])
    image, labels = case.load()
    spacing = (ASSUMED_EMIDEC_SPACING, ASSUMED_EMIDEC_SPACING, 10.0)
    return Volume(image.array, spacing), Volume(labels.array, spacing)


def resample(volume, reference, interpolator):
    """`volume` resampled onto the grid of `reference` (SimpleITK)."""
    import SimpleITK as sitk

    from LGECore.io import volume_from_sitk, volume_to_sitk

    moved = sitk.Resample(volume_to_sitk(volume), volume_to_sitk(reference), sitk.Transform(), interpolator, 0.0)
    return volume_from_sitk(moved)


def scanner_like_grid(case_image):
    """Another scanner's grid: 0.9 mm pixels, in-plane rotation of 30 degrees, slice order reversed,
    a 280 x 240 matrix with the heart well off its centre."""
    angle = np.deg2rad(30)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, -1.0]])
    spacing = (0.9, 0.9, 10.0)
    centre = case_image.index_to_lps([[0, 128, 128]])[0]
    last_slice_z = case_image.index_to_lps([[case_image.shape[0] - 1, 0, 0]])[0][2]
    offset = np.array([-70.0, -40.0, 0.0])  # the heart lands 70 / 40 mm from the grid's centre
    size = (280, 240)
    corner = centre + offset - direction[:, :2] @ (np.array(size) * np.array(spacing[:2]) / 2)
    corner[2] = last_slice_z
    return Volume(np.zeros((case_image.shape[0],) + size[::-1], np.float32), spacing, corner, direction)


def test_labels_and_probabilities_on_the_input_grid(held_out_case):
    from ScarSegmentLib.inference import segment_dl

    image, truth = held_out_case
    result = segment_dl(image, progress=False)
    assert result.labels.same_grid(image) and result.labels.array.dtype == np.uint8
    assert result.probabilities.shape == (5,) + image.shape and result.probabilities.dtype == np.float32
    assert np.allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-4)
    assert set(np.unique(result.labels.array)) <= {0, 1, 2, 3, 4}
    assert myocardium_dice(result.labels.array, truth.array) > 0.6


def test_other_scanner_geometry_and_intensity_range(held_out_case):
    """Other spacing, orientation, matrix, slice order and a 12-bit intensity range."""
    import SimpleITK as sitk

    from ScarSegmentLib.inference import segment_dl

    image, truth = held_out_case
    grid = scanner_like_grid(image)
    moved_image = resample(image, grid, sitk.sitkLinear)
    moved_image = moved_image.with_array(moved_image.array * 12.0 + 150.0)
    moved_truth = resample(truth, grid, sitk.sitkNearestNeighbor)
    assert np.isin(moved_truth.array, (2, 3, 4)).sum() > 1000  # the heart is inside the new grid
    result = segment_dl(moved_image, progress=False)
    assert result.labels.same_grid(moved_image)
    assert myocardium_dice(result.labels.array, moved_truth.array) > 0.6


def test_slice_axis_last_is_found_from_the_spacing(held_out_case):
    from ScarSegmentLib.inference import segment_dl

    image, truth = held_out_case
    # The same stack stored [x, y, z]: slices along the last array axis, which has the 10 mm spacing.
    permuted = Volume(np.ascontiguousarray(image.array.transpose(2, 1, 0)), (10.0, 1.35, 1.35))
    result = segment_dl(permuted, progress=False)
    assert result.labels.shape == permuted.shape
    assert myocardium_dice(result.labels.array, truth.array.transpose(2, 1, 0)) > 0.6


def test_slices_thinner_than_their_pixels():
    """A 3D acquisition's 1 mm short-axis slices of 1.6 mm pixels are still taken as slices, not
    as long-axis images (myocardium Dice 0.56 when the coarsest axis was taken)."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl

    phantom = make_phantom(seed=4, n_slices=40, pixel_spacing=1.6, slice_spacing=1.0, matrix_size=144,
                           scar_segments=(7, 13), look="scanner")
    result = segment_dl(phantom.image, progress=False)
    assert myocardium_dice(result.labels.array, phantom.labels.array) > 0.75


def test_tight_field_of_view_without_air(held_out_case):
    """A scan cropped to the heart and 20 mm around it has no air, so the whole image's percentiles
    would make it look brighter than training scans; the window around the LV does not care."""
    from ScarSegmentLib.inference import segment_dl

    image, truth = held_out_case
    rows, cols = np.nonzero(truth.array.any(axis=0))
    crop = (slice(None), slice(rows.min() - 15, rows.max() + 15), slice(cols.min() - 15, cols.max() + 15))
    tight = Volume(image.array[crop].copy(), image.spacing)
    assert np.percentile(tight.array, 1) > 50  # dark tissue, not air, is its 1st percentile
    result = segment_dl(tight, progress=False)
    assert myocardium_dice(result.labels.array, truth.array[crop]) > 0.82


def test_small_low_resolution_input(held_out_case):
    """A coarse 2.7 mm, 2-slice, 128 x 128 input still gives labels on its own grid."""
    import SimpleITK as sitk

    from ScarSegmentLib.inference import segment_dl

    image, truth = held_out_case
    grid = Volume(np.zeros((2, 128, 128), np.float32), (2.7, 2.7, 10.0),
                  image.index_to_lps([[image.shape[0] // 2, 0, 0]])[0])
    result = segment_dl(resample(image, grid, sitk.sitkLinear), progress=False)
    assert result.labels.same_grid(grid)
    truth_small = resample(truth, grid, sitk.sitkNearestNeighbor)
    assert myocardium_dice(result.labels.array, truth_small.array) > 0.4


@pytest.mark.parametrize("look", [pytest.param("emidec", marks=pytest.mark.slow), "scanner"])
def test_myocardium_found_on_a_phantom(look):
    """A phantom on an oblique grid, 1.6 mm pixels, base first: the LV myocardium is found."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl

    phantom = make_phantom(seed=1005, n_slices=8, pixel_spacing=1.6, matrix_size=144, apex_first=False,
                           territory="LCX", transmurality=0.6, look=look)
    result = segment_dl(phantom.image, progress=False)
    assert result.labels.same_grid(phantom.image)
    assert myocardium_dice(result.labels.array, phantom.labels.array) > 0.5


def test_psir_contrast_phantom():
    """Phase-sensitive LGE (myocardium darker than air, an offset of 2048, no phantom of this look
    in training): myocardium and scar are found."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.metrics import score_cases

    phantom = make_phantom(seed=1005, n_slices=8, pixel_spacing=1.6, matrix_size=144, apex_first=False,
                           territory="LCX", transmurality=0.6, look="psir")
    summary, _ = score_cases([segment_dl(phantom.image, progress=False).labels.array], [phantom.labels.array])
    assert summary["dice_myocardium"] > 0.8 and summary["dice_scar"] > 0.7


def test_thin_slices_are_seen_with_neighbours_as_far_apart_as_in_training():
    """On a 2.5 mm stack the network sees each slice between the slices 10 mm away, as in
    training: every fourth slice gets exactly the input it gets in the 10 mm stack of only those
    slices (the window's intensity anchors aside, which here are left out)."""
    from dataclasses import replace

    import torch

    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import network_window, slice_step
    from ScarSegmentLib.segmenter import load_segmenter

    thin = make_phantom(seed=1, n_slices=33, pixel_spacing=1.4, slice_spacing=2.5, look="scanner").image
    thick = Volume(thin.array[::4].copy(), (1.4, 1.4, 10.0), thin.origin, thin.direction)
    _, settings = load_segmenter()
    assert settings.context_slices > 0 and settings.neighbour_spacing_mm == 10.0
    assert slice_step(thin, settings) == 4 and slice_step(thick, settings) == 1
    assert slice_step(Volume(thin.array, (1.0, 1.0, 1.0)), settings) == 1  # spacing lost: adjacent

    as_is = replace(settings, window_normalisation=False)
    thin_slices, thick_slices = (torch.from_numpy(v.array)[:, None] for v in (thin, thick))
    centre = (thin.shape[1] / 2, thin.shape[2] / 2)
    seen_thin = network_window(thin_slices, centre, as_is, slice_step(thin, settings))[::4]
    assert torch.equal(seen_thin, network_window(thick_slices, centre, as_is, 1))
    assert not torch.equal(network_window(thin_slices, centre, as_is, 1)[::4], seen_thin)


def test_thin_slices_are_labelled_as_the_thick_stack_of_the_same_slices():
    """Every fourth slice of a 2.5 mm stack is labelled much as the 10 mm stack of only those
    slices is. Not exactly: the LV window is placed and normalised from all slices, and moving it
    by one pixel changes about 1.5% of the myocardium's pixels (measured on this phantom)."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl

    thin = make_phantom(seed=1, n_slices=33, pixel_spacing=1.4, slice_spacing=2.5, scar_segments=(7, 8, 13),
                        look="scanner").image
    thick = Volume(thin.array[::4].copy(), (1.4, 1.4, 10.0), thin.origin, thin.direction)
    every_fourth = segment_dl(thin, progress=False).labels.array[::4]
    alone = segment_dl(thick, progress=False).labels.array
    assert myocardium_dice(every_fourth, alone) > 0.97  # 0.987; 0.957 with the adjacent slices as neighbours
    scar_a, scar_b = every_fourth >= 3, alone >= 3
    assert 2 * (scar_a & scar_b).sum() / (scar_a.sum() + scar_b.sum()) > 0.93  # 0.964; 0.873 so


def test_lost_slice_spacing_keeps_the_adjacent_slices_as_neighbours():
    """A 1 x 1 x 1 mm header (spacing lost, as in EMIDEC's export) says nothing about the slice
    distance, so the adjacent slices stay the neighbours, as for a stack of 10 mm slices."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl

    array = make_phantom(seed=2, n_slices=9, pixel_spacing=1.4, look="scanner").image.array
    lost = segment_dl(Volume(array, (1.0, 1.0, 1.0)), progress=False).labels.array
    assert np.array_equal(lost, segment_dl(Volume(array, (1.0, 1.0, 10.0)), progress=False).labels.array)


def test_shipped_weights_are_checked(tmp_path):
    from ScarSegmentLib.segmenter import find_entry, load_scar_stage, load_segmenter

    entry = find_entry()
    assert entry["name"] == "scar_segmenter_2d"
    network, settings = load_segmenter()
    assert settings.num_classes == 5 and not network.training
    assert load_scar_stage() is None  # one network for all five classes, not a cascade

    # A corrupted copy with the same registry entry is refused.
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(entry["path"], copy / entry["file"])
    shutil.copy(entry["path"].replace(".safetensors", ".json"), copy / "scar_segmenter_2d.json")
    data = bytearray((copy / entry["file"]).read_bytes())
    data[-100] ^= 0xFF
    (copy / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_segmenter(copy / entry["file"])
    (copy / "scar_segmenter_2d.json").unlink()
    with pytest.raises(WeightsError, match="registry entry"):
        load_segmenter(copy / entry["file"])


def test_bad_inputs_give_clear_errors(held_out_case):
    from ScarSegmentLib.inference import segment_dl

    image, _ = held_out_case
    with pytest.raises(InputError, match="Volume"):
        segment_dl(image.array, progress=False)
    with pytest.raises(InputError, match="constant"):
        segment_dl(image.with_array(np.zeros(image.shape, np.float32)), progress=False)
    with pytest.raises(InputError, match="NaN"):
        segment_dl(image.with_array(np.full(image.shape, np.nan, np.float32)), progress=False)
    with pytest.raises(InputError, match="whole"):
        segment_dl(Volume(image.array[:, :20, :20], image.spacing), progress=False)
    with pytest.raises(InputError, match="device"):
        segment_dl(image, device="tpu", progress=False)
    with pytest.raises(WeightsError):
        segment_dl(image, weights="/no/such/model.safetensors", progress=False)


def test_test_time_views_are_undone_exactly():
    """With a pixel-wise network, averaging over rotated and flipped views changes nothing."""
    import torch

    from ScarSegmentLib.inference import _softmax_mirrored

    def pixelwise(x):
        return torch.cat([x * k for k in range(5)], dim=1)

    batch = torch.rand(3, 1, 16, 16)
    expected = torch.softmax(pixelwise(batch), dim=1)
    assert torch.allclose(_softmax_mirrored(pixelwise, batch, torch.device("cpu")), expected, atol=1e-6)


def test_lv_is_located_off_centre():
    """The coarse localisation returns the centre of the largest 3D LV component, wherever it is."""
    import torch

    from ScarSegmentLib.inference import locate_lv

    probabilities = torch.zeros(4, 5, 100, 120)
    probabilities[:, 0] = 1.0
    probabilities[:, 0, 70:90, 10:30] = 0.0
    probabilities[:, 2, 70:90, 10:30] = 1.0  # the LV, far from the centre, in every slice
    probabilities[1, 0, 5:8, 100:103] = 0.0
    probabilities[1, 2, 5:8, 100:103] = 1.0  # a small stray blob
    row, col = locate_lv(probabilities)
    assert abs(row - 79.5) < 0.01 and abs(col - 19.5) < 0.01
    probabilities[:, 2] = 0.0
    probabilities[:, 0] = 1.0
    assert locate_lv(probabilities) is None


def test_network_input_does_not_depend_on_field_of_view_or_intensity_range():
    """Normalised on its window around the LV, the network's input is the same for a tight field
    of view in another intensity range as for a wide one."""
    from dataclasses import replace

    import torch

    from ScarSegmentLib.inference import network_window
    from ScarSegmentLib.network import NetworkSettings

    settings = NetworkSettings(patch_size=32, context_slices=1, window_normalisation=True)
    wide = torch.from_numpy(np.random.default_rng(0).uniform(0, 1, (3, 1, 90, 100)).astype(np.float32))
    tight = 7.0 * wide[..., 20:70, 30:80] + 100.0
    seen_wide = network_window(wide, (45, 55), settings)
    assert seen_wide.shape == (3, 3, 32, 32)
    assert torch.allclose(seen_wide, network_window(tight, (25, 25), settings), atol=1e-4)
    assert torch.all(seen_wide[0, 0] == 0) and torch.all(seen_wide[-1, 2] == 0)  # beyond the stack
    assert seen_wide[:, 1].min() < 0.05 and seen_wide[:, 1].max() > 0.95  # anchors of this window
    whole_image = replace(settings, window_normalisation=False)
    assert not torch.allclose(network_window(wide, (45, 55), whole_image),
                              network_window(tight, (25, 25), whole_image), atol=1e-4)
