"""The conditional diffusion generator: sampling, inpainting guarantees, weights loading."""

import numpy as np
import pytest

from LGECore.errors import InputError, WeightsError

TINY_CONFIG = dict(block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8)



pytestmark = pytest.mark.usefixtures("one_torch_thread")

def _tiny_generator(folder, region_kind):
    """A small randomly initialised generator saved like a trained one (safetensors + JSON)."""
    import torch

    from ScarSynthLib import diffusion_model as dm
    from ScarSynthLib.diffusion_train import export_weights, generator_settings

    torch.manual_seed(0)
    model = dm.build_unet(TINY_CONFIG)
    export_weights(model, folder, "tiny", dict(generator_settings(dm.DEFAULT_CONFIG | TINY_CONFIG, region_kind),
                                               label_means=[0.0, 0.1, -0.3, 0.5, -0.4]))
    return str(folder / "tiny.safetensors")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny generator that paints the scar and its margin (the current kind)."""
    return _tiny_generator(tmp_path_factory.mktemp("tiny_generator"), "scar")


@pytest.fixture(scope="module")
def tiny_heart_weights(tmp_path_factory):
    """A tiny generator of the first kind, which renders the whole heart region."""
    return _tiny_generator(tmp_path_factory.mktemp("tiny_heart_generator"), "heart")


@pytest.fixture(scope="module")
def image_and_labels():
    """A small LGE phantom with an anterior scar (image, labels)."""
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=0, n_slices=4, matrix_size=96, scar_segments=(7, 8), transmurality=0.6)
    return phantom.image, phantom.labels


def _heart_regions(labels):
    from ScarSynthLib import diffusion_data as data

    extent = data.lv_extent(labels.array)
    return np.stack([data.heart_region(s, extent) if data.lv_mask(s).any() else np.zeros(s.shape, bool)
                     for s in labels.array])


def test_sampling_is_deterministic_per_seed(image_and_labels, tiny_weights):
    from ScarSynthLib.diffusion import synthesize_volume

    image, labels = image_and_labels
    first = synthesize_volume(image, labels, seed=3, num_inference_steps=4, weights=tiny_weights, progress=False)
    again = synthesize_volume(image, labels, seed=3, num_inference_steps=4, weights=tiny_weights, progress=False)
    other = synthesize_volume(image, labels, seed=4, num_inference_steps=4, weights=tiny_weights, progress=False)
    assert np.array_equal(first.array, again.array)
    assert not np.array_equal(first.array, other.array)


def test_heart_generators_keep_every_pixel_outside_the_heart(image_and_labels, tiny_heart_weights):
    from ScarSynthLib.diffusion import synthesize_volume

    image, labels = image_and_labels
    before = image.array.copy()
    new_labels = labels.array.copy()
    new_labels[new_labels == 2] = 3  # a different anatomy: all myocardium scarred
    labels_with_scar = labels.with_array(new_labels)
    result = synthesize_volume(image, labels_with_scar, seed=0, num_inference_steps=3, weights=tiny_heart_weights,
                               progress=False)
    assert result.array.dtype == np.float32
    assert result.same_grid(image)
    assert np.all(np.isfinite(result.array))
    region = _heart_regions(labels_with_scar)
    assert region.any()
    assert np.array_equal(result.array[~region], image.array[~region].astype(np.float32))
    assert np.abs(result.array[region] - image.array[region]).max() > 0  # the heart was re-rendered
    assert np.array_equal(image.array, before)  # the input is untouched


def test_synthesize_slice_reports_network_evaluations(image_and_labels, tiny_weights):
    from ScarSynthLib.diffusion import synthesize_slice

    image, labels = image_and_labels
    new_slice, evaluations = synthesize_slice(image.array[2], labels.array[2], seed=1, num_inference_steps=5,
                                              weights=tiny_weights, strength=1.0)
    assert evaluations == 5
    assert new_slice.shape == image.array[2].shape
    with pytest.raises(InputError, match="num_inference_steps"):
        synthesize_slice(image.array[2], labels.array[2], num_inference_steps=51, weights=tiny_weights)
    partial, evaluations = synthesize_slice(image.array[2], labels.array[2], seed=1, num_inference_steps=10,
                                            weights=tiny_weights, strength=0.5)
    assert evaluations == 5 and np.all(np.isfinite(partial))
    with pytest.raises(InputError, match="strength"):
        synthesize_slice(image.array[2], labels.array[2], weights=tiny_weights, strength=1.5)
    empty, evaluations = synthesize_slice(image.array[2], np.zeros_like(labels.array[2]), weights=tiny_weights)
    assert evaluations == 0 and np.array_equal(empty, image.array[2])


def test_bad_inputs_are_named(image_and_labels, tiny_weights):
    from ScarSynthLib.diffusion import synthesize_volume

    image, labels = image_and_labels
    with pytest.raises(InputError, match="no LV"):
        synthesize_volume(image, labels.with_array(np.zeros_like(labels.array)), weights=tiny_weights,
                          progress=False)
    shifted = type(labels)(labels.array, labels.spacing, (5.0, 0.0, 0.0), labels.direction)
    with pytest.raises(InputError, match="origin"):
        synthesize_volume(image, shifted, weights=tiny_weights, progress=False)


def test_weights_with_a_wrong_checksum_are_refused(tiny_weights, tmp_path):
    import json
    import shutil

    from ScarSynthLib.diffusion import load_generator

    copy = tmp_path / "tiny.safetensors"
    shutil.copy(tiny_weights, copy)
    entry = json.loads(open(tiny_weights.replace(".safetensors", ".json")).read())
    entry["sha256"] = "0" * 64
    (tmp_path / "tiny.json").write_text(json.dumps(entry))
    with pytest.raises(WeightsError, match="sha256"):
        load_generator(str(copy))
    # Without a checksum in the entry, or without the entry, nothing is loaded unchecked.
    del entry["sha256"]
    (tmp_path / "tiny.json").write_text(json.dumps(entry))
    with pytest.raises(WeightsError, match="needs 'file' and 'sha256'"):
        load_generator(str(copy))
    (tmp_path / "tiny.json").unlink()
    with pytest.raises(WeightsError, match="No registry entry tiny.json found"):
        load_generator(str(copy))


def test_shipped_weights_load_with_their_checksum_verified():
    from LGECore.models import find_model, sha256_of
    from ScarSynthLib.diffusion import load_generator
    from ScarSynthLib.diffusion_model import DEFAULT_MODEL_NAME, WEIGHTS_DIR

    entry = find_model(DEFAULT_MODEL_NAME, [WEIGHTS_DIR])
    assert sha256_of(entry["path"]) == entry["sha256"]
    model = load_generator()
    assert sum(p.numel() for p in model.parameters()) > 1_000_000


def test_shipped_weights_synthesise_with_their_recommended_settings(image_and_labels):
    from ScarSynthLib.diffusion import sampling_settings, synthesize_slice

    strength, label_means = sampling_settings()
    assert 0 < strength <= 1 and len(label_means) == 5
    image, labels = image_and_labels
    new_slice, evaluations = synthesize_slice(image.array[2], labels.array[2], seed=0, num_inference_steps=10)
    assert evaluations == round(10 * strength)
    assert np.all(np.isfinite(new_slice))


def _within(mask, region, pixels):
    """Every pixel of `region` lies within `pixels` of `mask`."""
    from scipy import ndimage

    return bool(np.all(ndimage.distance_transform_edt(~mask)[region] <= pixels))


def test_scar_generators_paint_the_scar_and_its_margin_only(image_and_labels, tiny_weights):
    from LGECore import labels as L
    from ScarSynthLib.diffusion import synthesize_volume
    from ScarSynthLib.scar_regions import PAINT_MARGIN_PIXELS

    image, labels = image_and_labels
    result = synthesize_volume(image, labels, seed=0, num_inference_steps=3, weights=tiny_weights, progress=False)
    changed = result.array != image.array.astype(np.float32)
    scar = L.scar(labels.array)
    assert changed[2].any()  # the slice with scar was painted
    assert not changed[[0, 1, 3]].any()  # slices without scar stay the input's
    assert _within(scar, changed, PAINT_MARGIN_PIXELS)
    healthy_far = (labels.array == L.MYOCARDIUM) & ~_dilated(scar, PAINT_MARGIN_PIXELS)
    assert healthy_far.any() and not changed[healthy_far].any()  # healthy wall away from the scar keeps its texture


def _dilated(mask, pixels):
    from scipy import ndimage

    return ndimage.distance_transform_edt(~mask) <= pixels


def test_with_the_labels_as_they_are_only_what_changes_is_painted(image_and_labels, tiny_weights):
    from LGECore import labels as L
    from ScarSynthLib.diffusion import synthesize_volume
    from ScarSynthLib.scar_regions import PAINT_MARGIN_PIXELS

    image, labels = image_and_labels
    new = labels.array.copy()
    wall = np.argwhere(new[1] == L.MYOCARDIUM)
    patch = wall[np.hypot(*(wall - wall[0]).T) <= 4]  # a small new scar on a slice that had none
    new[1][tuple(patch.T)] = L.SCAR
    result = synthesize_volume(image, labels.with_array(new), seed=0, num_inference_steps=3, weights=tiny_weights,
                               progress=False, reference_labels=labels)
    changed = result.array != image.array.astype(np.float32)
    assert changed[1].any() and not changed[2].any()  # the old scar on slice 2 is kept as it was
    assert _within(new != labels.array, changed, PAINT_MARGIN_PIXELS)
    shifted = type(labels)(labels.array, labels.spacing, (5.0, 0.0, 0.0), labels.direction)
    with pytest.raises(InputError, match="origin"):
        synthesize_volume(image, labels.with_array(new), weights=tiny_weights, progress=False,
                          reference_labels=shifted)


def test_known_pixels_are_kept_at_every_step(image_and_labels, tiny_weights):
    """The sample outside the region ends as the real crop itself, so nothing but the region moves."""
    from ScarSynthLib.diffusion import load_generator, slice_crop, sample_crops
    from ScarSynthLib.diffusion_data import lv_extent

    image, labels = image_and_labels
    crop = slice_crop(image.array[2].astype(np.float32), labels.array[2], lv_extent(labels.array), "scar")
    assert 0 < crop.region.sum() < 0.5 * crop.region.size
    samples, _ = sample_crops(load_generator(tiny_weights), [crop], [0], 4, keep_known=True)
    outside = crop.region < 0.5
    assert np.allclose(samples[0][outside], crop.image[outside], atol=1e-5)
    free, _ = sample_crops(load_generator(tiny_weights), [crop], [0], 4, keep_known=False)
    assert not np.allclose(free[0][outside], crop.image[outside], atol=1e-2)
