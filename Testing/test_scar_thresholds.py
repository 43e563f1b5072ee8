"""n-SD and FWHM thresholds recover the phantom's scar and MVO inside a given myocardium."""

import numpy as np
import pytest

from LGECore import labels as L
from LGECore.errors import InputError
from LGECore.volume import Volume
from ScarSegmentLib.evaluate import dice
from ScarSegmentLib.thresholds import find_mvo, find_remote_myocardium, fwhm_scar, nsd_scar, remove_small_islands

phantom_module = pytest.importorskip("LGECore.phantom")


@pytest.fixture(scope="module")
def scarred():
    return phantom_module.make_phantom(seed=1, territory="RCA", transmurality=0.8, mvo=True,
                                       look="scanner")


@pytest.fixture(scope="module")
def healthy():
    return phantom_module.make_phantom(seed=2, look="scanner")


@pytest.mark.parametrize("n_sd", [2, 3, 5, 6])
def test_nsd_recovers_the_phantom_scar(scarred, n_sd):
    image_before = scarred.image.array.copy()
    result = nsd_scar(scarred.image, scarred.labels, n_sd=n_sd)
    found, true = L.scar(result.labels.array), L.scar(scarred.labels.array)
    assert dice(found, true) > 0.85
    assert result.threshold == pytest.approx(result.remote_mean + n_sd * result.remote_sd)
    assert np.array_equal(scarred.image.array, image_before)  # input untouched
    assert result.labels.same_grid(scarred.image)


def test_fwhm_recovers_the_phantom_scar_and_mvo(scarred):
    result = fwhm_scar(scarred.image, scarred.labels)
    labels, truth = result.labels.array, scarred.labels.array
    assert dice(L.scar(labels), L.scar(truth)) > 0.9
    assert dice(labels == L.MVO, truth == L.MVO) > 0.8
    maximum = result.details["maximum"]
    assert result.threshold == pytest.approx(result.remote_mean + 0.5 * (maximum - result.remote_mean))
    classic = fwhm_scar(scarred.image, scarred.labels, baseline="zero")
    assert classic.threshold == pytest.approx(0.5 * maximum)
    assert dice(L.scar(classic.labels.array), L.scar(truth)) > 0.9


def test_psir_scar_and_mvo_are_recovered():
    """Phase-sensitive LGE, stored with an offset (myocardium below the air level): both methods,
    with their baseline at the remote myocardium, find the scar and the MVO."""
    psir = phantom_module.make_phantom(seed=1, territory="RCA", transmurality=0.8, mvo=True, look="psir")
    truth = psir.labels.array
    for result in (nsd_scar(psir.image, psir.labels, n_sd=5), fwhm_scar(psir.image, psir.labels)):
        assert dice(L.scar(result.labels.array), L.scar(truth)) > 0.85
        assert dice(result.labels.array == L.MVO, truth == L.MVO) > 0.7


def test_scar_stays_in_the_myocardium_and_other_labels_are_kept(scarred):
    labels = nsd_scar(scarred.image, scarred.labels, n_sd=2).labels.array
    given = scarred.labels.array
    assert not np.any(L.scar(labels) & ~L.lv_myocardium(given))
    assert np.array_equal(L.lv_myocardium(labels), L.lv_myocardium(given))
    for kept in (L.BLOOD_POOL, L.RV_BLOOD_POOL):
        assert np.array_equal(labels == kept, given == kept)


def test_automatic_remote_myocardium_avoids_the_scar(scarred):
    remote = find_remote_myocardium(scarred.image, scarred.labels)
    assert remote.sum() > 200
    assert not np.any(remote & ~L.lv_myocardium(scarred.labels.array))
    assert (remote & L.scar(scarred.labels.array)).sum() < 0.02 * remote.sum()


def test_a_given_remote_region_is_used(scarred):
    truth = scarred.labels.array
    remote = (truth == L.MYOCARDIUM) & (scarred.aha_segments.array == 7)  # mid anterior: healthy
    result = nsd_scar(scarred.image, scarred.labels, n_sd=5, remote=remote)
    assert result.remote_voxels == int(remote.sum())
    assert result.remote_mean == pytest.approx(float(scarred.image.array[remote].mean()), rel=1e-6)
    assert dice(L.scar(result.labels.array), L.scar(truth)) > 0.85


def test_healthy_heart_gets_little_or_no_scar(healthy):
    myocardium = L.lv_myocardium(healthy.labels.array).sum()
    assert L.scar(fwhm_scar(healthy.image, healthy.labels).labels.array).sum() < 0.02 * myocardium
    assert L.scar(nsd_scar(healthy.image, healthy.labels, 5).labels.array).sum() < 0.02 * myocardium


def test_a_boolean_myocardium_mask_is_enough(scarred):
    mask = scarred.labels.with_array(L.lv_myocardium(scarred.labels.array))
    labels = nsd_scar(scarred.image, mask, n_sd=5).labels.array
    assert set(np.unique(labels)) <= {0, 2, 3, 4}
    assert dice(L.scar(labels), L.scar(scarred.labels.array)) > 0.85


def test_small_islands_are_removed():
    mask = np.zeros((1, 20, 20), bool)
    mask[0, 2:8, 2:8] = True      # 36 pixels of 4 mm^2 = 144 mm^2: kept
    mask[0, 15, 15] = True        # 4 mm^2: dropped
    cleaned = remove_small_islands(mask, spacing=(2.0, 2.0, 8.0), min_area_mm2=10.0)
    assert cleaned[0, 2:8, 2:8].all() and not cleaned[0, 15, 15] and cleaned.sum() == 36


def test_mvo_must_be_enclosed_by_scar_or_blood_pool():
    y, x = np.mgrid[0:40, 0:40]
    radius = np.hypot(y - 20, x - 20)
    myo = ((radius >= 8) & (radius < 14))[None]
    pool = (radius < 8)[None]
    scar = myo & (x < 20)[None]
    core = myo & (np.hypot(y - 20, x - 10) < 2)[None]  # dark hole inside the scar band
    mvo = find_mvo(scar & ~core, myo, pool)
    assert np.array_equal(mvo, core)
    # A gap that opens the hole to healthy myocardium: nothing is enclosed any more.
    opened = scar & ~core & ~(myo & (np.abs(y - 20) < 2)[None] & (x < 12)[None])
    assert not find_mvo(opened, myo, pool).any()


def test_slices_along_the_last_array_axis_give_the_same_scar(scarred):
    """A stack stored [x, y, z] is thresholded slice by slice all the same, on its own axes."""
    from ScarSegmentLib.segment import segment

    def stored_xyz(volume):
        return volume.transposed((2, 1, 0))

    image, truth = scarred.image, scarred.labels
    as_stored = segment(image, method="nsd", myocardium=truth)
    moved = segment(stored_xyz(image), method="nsd", myocardium=stored_xyz(truth))
    assert moved.labels.same_grid(stored_xyz(image))
    assert np.array_equal(moved.labels.array, stored_xyz(as_stored.labels).array)
    assert moved.metrics["scar_slices"] == as_stored.metrics["scar_slices"] < image.shape[0] + 1
    with pytest.raises(InputError, match="remote region has shape"):
        segment(stored_xyz(image), method="nsd", myocardium=stored_xyz(truth), remote=np.ones((2, 2), bool))


@pytest.mark.parametrize("threshold", [nsd_scar, fwhm_scar])
def test_threshold_functions_take_slices_along_any_array_axis(scarred, threshold):
    """Called directly (not through segment), a stack stored [x, y, z] is still thresholded per
    short-axis slice, and labels and remote mask come back on its own axes."""
    image, truth = scarred.image, scarred.labels
    remote = find_remote_myocardium(image, truth)
    for given in (None, remote):
        as_stored = threshold(image, truth, remote=given)
        moved = threshold(image.transposed((2, 1, 0)), truth.transposed((2, 1, 0)),
                          remote=None if given is None else remote.transpose(2, 1, 0))
        assert moved.labels.same_grid(image.transposed((2, 1, 0)))
        assert np.array_equal(moved.labels.array, as_stored.labels.array.transpose(2, 1, 0))
        assert np.array_equal(moved.remote_mask, as_stored.remote_mask.transpose(2, 1, 0))
        assert moved.threshold == pytest.approx(as_stored.threshold)
    with pytest.raises(InputError, match=r"remote region has shape \(2, 2\)"):
        threshold(image.transposed((2, 1, 0)), truth.transposed((2, 1, 0)), remote=np.ones((2, 2), bool))


def test_bad_inputs_are_named(scarred):
    nan_image = scarred.image.with_array(np.where(scarred.labels.array == 2, np.nan, scarred.image.array))
    with pytest.raises(InputError, match="NaN"):
        nsd_scar(nan_image, scarred.labels)
    moved = Volume(scarred.labels.array, (1.0, 1.0, 10.0), scarred.labels.origin, scarred.labels.direction)
    with pytest.raises(InputError, match="spacing"):
        fwhm_scar(scarred.image, moved)
    with pytest.raises(InputError, match="positive"):
        nsd_scar(scarred.image, scarred.labels, n_sd=0)
    empty = scarred.labels.with_array(np.where(L.lv_myocardium(scarred.labels.array), 0, scarred.labels.array))
    with pytest.raises(InputError, match="empty"):
        nsd_scar(scarred.image, empty)


def test_real_emidec_cases_with_the_expert_myocardium(emidec_dir):
    """On real (low-contrast, 8-bit) LGE the thresholds find most of the expert's scar."""
    from LGECore.io import read_emidec_dataset

    cases = [c for c in read_emidec_dataset(emidec_dir) if c.has_infarct][:6]
    scores = {"fwhm": [], "2sd": []}
    for case in cases:
        image, labels = case.load()
        truth = L.scar(labels.array)
        scores["fwhm"].append(dice(L.scar(fwhm_scar(image, labels).labels.array), truth))
        scores["2sd"].append(dice(L.scar(nsd_scar(image, labels, 2).labels.array), truth))
    assert np.mean(scores["fwhm"]) > 0.4 and np.mean(scores["2sd"]) > 0.5
