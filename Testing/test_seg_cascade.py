"""The cascade's inputs: the myocardium normalisation, the training batches and the way the scar
network's output splits the anatomy network's myocardium."""

import numpy as np


def test_myocardium_normalisation_cancels_any_linear_change_of_contrast():
    from ScarSegmentLib.cascade_inputs import myocardium_normalised, robust_statistics

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (3, 20, 20)).astype(np.float32)
    myocardium = image[:, 5:15, 5:15].ravel()
    reference = myocardium_normalised(image, robust_statistics(myocardium))
    for scale, offset in ((3.0, 10.0), (0.1, -2.0)):
        changed = myocardium_normalised(image * scale + offset, robust_statistics(myocardium * scale + offset))
        assert np.allclose(changed, reference, atol=1e-4)
    # The median of the myocardium maps to 0, scar two robust SDs brighter to 2 / Z_SCALE.
    median, spread = robust_statistics(myocardium)
    from ScarSegmentLib.cascade_inputs import Z_SCALE

    assert np.isclose(myocardium_normalised(np.float32(median + 2 * spread), (median, spread)), 2 / Z_SCALE)


def test_scar_network_splits_only_the_myocardium():
    from ScarSegmentLib.cascade_inputs import scar_combined

    rng = np.random.default_rng(1)
    anatomy = rng.dirichlet((1, 1, 1), (2, 4, 4)).transpose(0, 3, 1, 2)
    scar = rng.dirichlet((1, 1, 1), (2, 4, 4)).transpose(0, 3, 1, 2)
    combined = scar_combined(anatomy, scar)
    assert combined.shape == (2, 5, 4, 4) and np.allclose(combined.sum(axis=1), 1)
    assert np.allclose(combined[:, :2], anatomy[:, :2]) and np.allclose(combined[:, 2:].sum(axis=1), anatomy[:, 2])


def test_a_scar_network_that_claims_the_border_takes_scar_from_pool_and_background_near_the_myocardium():
    from ScarSegmentLib.cascade_inputs import near_myocardium, scar_combined

    rng = np.random.default_rng(2)
    anatomy = rng.dirichlet((1, 1, 1), (2, 20, 20)).transpose(0, 3, 1, 2).astype(np.float32)
    anatomy[:, 2] = 0.0  # the myocardium most likely only in a square
    anatomy[:, 2, 8:12, 8:12] = 5.0
    anatomy /= anatomy.sum(axis=1, keepdims=True)
    scar = rng.dirichlet((1, 1, 1), (2, 20, 20)).transpose(0, 3, 1, 2).astype(np.float32)
    near = near_myocardium(anatomy, 2)
    assert near[:, 6:14, 8:12].all() and near[:, 8:12, 6:14].all() and not near[:, 6, 6].any()
    assert near.sum() == 2 * (16 + 4 * 8 + 4)  # the square grown by a disk of radius 2: one pixel at each corner
    combined = scar_combined(anatomy, scar, claims_border_px=2)
    assert np.allclose(combined.sum(axis=1), 1, atol=1e-5)
    plain = scar_combined(anatomy, scar)
    assert np.allclose(combined[:, :, ~near[0]][0], plain[:, :, ~near[0]][0])  # far from the myocardium: unchanged
    inside = near[:, None] & np.ones((1, 2, 1, 1), bool)
    assert np.allclose(combined[:, 3:][inside], scar[:, 1:][inside])  # near it: all of the scar network's scar
    assert np.allclose(combined[:, 2], plain[:, 2])  # healthy myocardium stays the anatomy's


def test_grouped_outputs_read_healthy_and_infarcted_myocardium_as_one_class():
    import torch

    from ScarSegmentLib.network import NetworkSettings, build_network, grouped_outputs

    settings = NetworkSettings(channels=(4, 8), strides=(2,), num_res_units=0, num_classes=4,
                               class_groups=((0,), (1,), (2, 3)))
    assert NetworkSettings.from_dict(settings.to_dict()) == settings
    network = build_network(settings).eval()
    grouped = grouped_outputs(network, settings)
    assert grouped_outputs(grouped, settings) is grouped and grouped.ungrouped is network
    inputs = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        outputs, probabilities = network(inputs).softmax(1), grouped(inputs).softmax(1)
    assert probabilities.shape == (2, 3, 16, 16)
    assert torch.allclose(probabilities[:, :2], outputs[:, :2], atol=1e-6)
    assert torch.allclose(probabilities[:, 2], outputs[:, 2] + outputs[:, 3], atol=1e-6)
    plain = NetworkSettings(channels=(4, 8), strides=(2,), num_res_units=0)
    assert grouped_outputs(network, plain) is network  # no groups: the network as it is


def _case():
    from ScarSegmentLib.data import CaseSlices, lv_centres

    labels = np.zeros((3, 80, 80), np.uint8)
    yy, xx = np.mgrid[:80, :80]
    radius = np.hypot(yy - 40, xx - 40)
    labels[:, radius < 10] = 1
    labels[:, (radius >= 10) & (radius < 15)] = 2
    labels[1, (radius >= 10) & (radius < 15) & (xx > 45)] = 3
    image = np.where(labels == 3, 0.9, np.where(labels == 1, 0.7, np.where(labels == 2, 0.2, 0.4)))
    return CaseSlices("Case_P001", "infarct", image.astype(np.float32), labels, lv_centres(labels))


def test_training_batches_of_both_networks():
    from ScarSegmentLib.cascade_batches import StageCases, training_batch
    from ScarSegmentLib.cascade_config import ANATOMY, SCAR, make_cascade_config

    config = make_cascade_config("tiny")
    rng = np.random.default_rng(0)
    anatomy_cases = StageCases([_case()], config.anatomy, ANATOMY)
    anatomy_inputs, anatomy_targets = training_batch(anatomy_cases, rng)
    assert anatomy_inputs.shape == (2, 3, 32, 32) and set(anatomy_targets.unique().tolist()) <= {0, 1, 2, 3}
    # The anatomy network learns scar as infarcted myocardium (3), and sees the scarred slice as often.
    assert set(np.unique(anatomy_cases.targets[0][1]).tolist()) == {0, 1, 2, 3}
    assert 3 not in anatomy_cases.targets[0][0] and np.allclose(anatomy_cases.weights, np.array([1, 3, 1]) / 5)
    scar_cases = StageCases([_case()], config.scar, SCAR)
    # Slices with scar are drawn three times as often as the others.
    assert np.allclose(scar_cases.weights, np.array([1, 3, 1]) / 5)
    inputs, targets = training_batch(scar_cases, rng)
    assert inputs.shape == (2, 5, 24, 24) and set(targets.unique().tolist()) <= {0, 1, 2}
    anatomy = inputs[:, 3:].numpy()
    assert anatomy.min() >= 0 and anatomy.max() <= 1 and anatomy[:, 1].max() > 0.5  # the myocardium is there


def test_scar_windows_whose_anatomy_input_misses_the_scar():
    """With anatomy_misses, some windows' anatomy input calls the scar beside the blood pool pool and
    the scar beside the background background, as the anatomy network does; the targets keep it."""
    from ScarSegmentLib.cascade_batches import _missed_scar

    labels = _case().labels[1]
    pool, myocardium = labels == 1, labels >= 2
    anatomy = np.stack([np.stack([pool, myocardium]).astype(np.float32)] * 40)
    targets = np.stack([(labels == 3).astype(np.int64)] * 40)
    missed = _missed_scar(anatomy, targets, np.random.default_rng(0), share=0.5)
    changed = (missed != anatomy).any(axis=(1, 2, 3))
    assert 10 < changed.sum() < 30 and np.array_equal(missed[~changed], anatomy[~changed])
    lost = (anatomy[:, 1] == 1) & (missed[:, 1] == 0)
    assert (targets[lost] == 1).all()  # only scar goes missing
    assert (missed[:, 0][lost] == 1).any() and (missed[:, 0][lost] == 0).any()  # called pool, and background
    not_scar = np.broadcast_to((targets == 0)[:, None], anatomy.shape)
    assert np.array_equal(missed[not_scar], anatomy[not_scar])  # the rest of the anatomy stays


def test_blurred_patches_and_the_statistics_they_are_normalised_with():
    """A blurring stage blurs some windows by half or all of its blur and keeps the myocardial
    intensities of the stack at each blur, so that the scar network normalises a blurred patch with
    the statistics of a stack blurred alike (as inference takes them on another scanner's image)."""
    from dataclasses import replace

    from scipy import ndimage

    from ScarSegmentLib.cascade_batches import StageCases, _blur, blur_levels, training_batch
    from ScarSegmentLib.cascade_config import SCAR, make_cascade_config

    stage = replace(make_cascade_config("tiny").scar, blur=2.0, batch_size=64)
    assert blur_levels(stage) == (0.0, 1.0, 2.0) and blur_levels(replace(stage, blur=0.0)) == (0.0,)
    case = _case()
    cases = StageCases([case], stage, SCAR)
    sample = cases.myocardium_values[0]
    myocardium = np.isin(case.labels, (2, 3, 4))
    assert sample.shape == (3, myocardium.sum())
    assert np.array_equal(np.sort(sample[0]), np.sort(case.image[myocardium]))
    assert np.allclose(np.sort(sample[2]), np.sort(ndimage.gaussian_filter(case.image, (0, 2, 2))[myocardium]))

    windows = np.random.default_rng(1).random((64, 3, 24, 24)).astype(np.float32)
    blurred, levels = _blur(windows, np.random.default_rng(0), stage)
    assert set(levels.tolist()) == {0, 1, 2} and 20 < (levels == 0).sum() < 44
    roughness = np.abs(np.diff(blurred, axis=-1)).mean(axis=(1, 2, 3))
    assert np.array_equal(blurred[levels == 0], windows[levels == 0])
    assert roughness[levels == 2].max() < roughness[levels == 1].min() < roughness[levels == 0].min()
    inputs, _ = training_batch(cases, np.random.default_rng(0))
    assert inputs.shape == (64, 5, 24, 24) and np.isfinite(inputs.numpy()).all()


def test_an_image_edge_near_the_lv_blanks_the_image_and_the_labels_beyond_it():
    """Some windows end at an image edge through or near the LV, as in a small or cropped field of
    view: nothing beyond it (0, as inference pads), background labels there, the rest untouched."""
    from dataclasses import replace

    from ScarSegmentLib.cascade_batches import StageCases, _edge_cut, draw_windows
    from ScarSegmentLib.cascade_config import ANATOMY, make_cascade_config

    image = np.random.default_rng(0).random((3, 48, 48)).astype(np.float32) + 1
    anatomy, target = np.ones((2, 48, 48), np.float32), np.full((48, 48), 2, np.uint8)
    cut_image, cut_anatomy, cut_target = _edge_cut(image, anatomy, target, np.random.default_rng(2), 32)
    beyond = cut_image[0] == 0
    assert 0.05 < beyond.mean() < 0.5 and (cut_image == 0).sum() == 3 * beyond.sum()
    assert np.array_equal(cut_image[:, ~beyond], image[:, ~beyond]) and cut_image.dtype == np.float32
    assert (cut_target[beyond] == 0).all() and (cut_target[~beyond] == 2).all() and cut_target.dtype == np.uint8
    assert (cut_anatomy[:, beyond] == 0).all() and (cut_anatomy[:, ~beyond] == 1).all()
    assert not beyond[16:32, 16:32].all()  # the edge lies at least 0.1 patch from the centre

    stage = make_cascade_config("tiny").anatomy
    raw = replace(stage.network, window_normalisation=False)  # the image stays above 0 inside the window
    stage = replace(stage, edge_cuts=0.5, batch_size=40, background_patches=0.0, network=raw)
    images, _, _, _ = draw_windows(StageCases([_case()], stage, ANATOMY), np.random.default_rng(0), 40)
    blanked = (images == 0).all(axis=1).any(axis=(1, 2))
    assert 8 < blanked.sum() < 32  # about half the windows


def test_scar_stage_fills_the_slices_and_keeps_the_anatomy():
    from dataclasses import replace

    import torch

    from ScarSegmentLib.cascade_inference import with_scar_stage
    from ScarSegmentLib.network import NetworkSettings, build_network

    case = _case()
    settings = NetworkSettings(channels=(4, 8), strides=(2,), num_res_units=0, num_classes=3, patch_size=32,
                               context_slices=1, anatomy_channels=2)
    network = build_network(settings).eval()
    anatomy = np.stack([(case.labels == 0), (case.labels == 1), (case.labels >= 2)], axis=1).astype(np.float32)

    def predict(network, batch, device):
        with torch.no_grad():
            return torch.softmax(network(batch), dim=1)

    slices = torch.from_numpy(case.image)[:, None]
    probabilities = with_scar_stage(network, settings, slices, anatomy, (40, 40), 1, predict, "cpu").numpy()
    assert probabilities.shape == (3, 5, 80, 80) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(probabilities[:, :2], anatomy[:, :2])
    assert np.allclose(probabilities[:, 2:].sum(axis=1), anatomy[:, 2], atol=1e-5)
    claiming = replace(settings, claims_border_px=3)
    claimed = with_scar_stage(network, claiming, slices, anatomy, (40, 40), 1, predict, "cpu").numpy()
    assert np.allclose(claimed.sum(axis=1), 1, atol=1e-5) and (claimed[:, 3:].sum(axis=1) > 0.01).sum() > (
        probabilities[:, 3:].sum(axis=1) > 0.01).sum()  # scar may now lie beside the myocardium too


def test_the_card_gives_the_scar_present_auroc_of_the_cross_validation():
    from ScarSegmentLib.cascade_card import CV_KEYS, _cv_text

    row = {key: 0.5 for key in CV_KEYS}
    table = {"folds": [{"fold": 1, **row}], "mean": row, "sd": {key: 0.0 for key in CV_KEYS}}
    assert "AUROC" not in _cv_text(table)
    table["scar_presence"] = {"auroc_per_stack": 0.875, "auroc_per_slice": 0.9125, "cases": 80}
    assert "80 held-out cases: AUROC per stack 0.875, per slice 0.912" in _cv_text(table)
    table["classifier_auroc"] = {"1": 0.9655, "2": 0.95}
    assert "fold by fold: 1 0.966, 2 0.950." in _cv_text(table)
