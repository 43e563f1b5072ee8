"""Anatomical clean-up of predicted labels."""

import numpy as np

from ScarSegmentLib.postprocess import clean_labels, keep_largest_lv, mvo_inside_scar, remove_small_scar


def ring_slice(size=40, centre=(20, 20)):
    rows, cols = np.mgrid[:size, :size]
    radius = np.hypot(rows - centre[0], cols - centre[1])
    labels = np.zeros((size, size), np.uint8)
    labels[radius < 12] = 2
    labels[radius < 8] = 1
    return labels


def test_only_the_largest_lv_is_kept():
    labels = np.stack([ring_slice()] * 3)
    labels[:, 0:3, 36:39] = 2  # a stray blob outside the LV
    kept = keep_largest_lv(labels)
    assert kept[:, 0:3, 36:39].max() == 0
    assert np.array_equal(kept > 0, np.stack([ring_slice()] * 3) > 0)


def test_mvo_without_scar_becomes_scar_and_mvo_in_scar_stays():
    labels = np.stack([ring_slice()] * 2)
    labels[0, 9:12, 18:22] = 3
    labels[0, 10, 19:21] = 4  # MVO inside scar
    labels[1, 29:31, 18:20] = 4  # MVO with no scar around it
    cleaned = mvo_inside_scar(labels)
    assert cleaned[0, 10, 19] == 4
    assert (cleaned[1, 29:31, 18:20] == 3).all()


def test_specks_of_scar_become_myocardium():
    labels = np.stack([ring_slice()])
    labels[0, 9:12, 14:24] = 3  # 30 pixels: kept
    labels[0, 28, 20] = 3  # one pixel: removed
    cleaned = remove_small_scar(labels, min_pixels=5)
    assert cleaned[0, 28, 20] == 2 and (cleaned[0, 9:12, 14:24] == 3).all()
    assert clean_labels(labels, pixel_area_mm2=1.0, min_scar_mm2=5.0)[0, 28, 20] == 2


def test_scar_under_the_minimum_burden_is_dropped_and_larger_scar_kept():
    from ScarSegmentLib.postprocess import drop_scant_scar

    labels = np.stack([ring_slice()] * 2)
    myocardium = int((labels >= 2).sum())
    labels[0, 9:12, 14:24] = 3  # 30 pixels of scar
    labels[0, 10, 18:20] = 4  # MVO inside it
    burden = 100.0 * 30 / myocardium
    dropped = drop_scant_scar(labels, min_burden_percent=burden + 0.1)
    assert dropped.max() == 2 and np.array_equal(dropped > 0, labels > 0)  # scar and MVO became myocardium
    assert np.array_equal(drop_scant_scar(labels, min_burden_percent=burden - 0.1), labels)
    assert np.array_equal(clean_labels(labels, 1.0, min_scar_mm2=1.0, min_burden_percent=burden + 0.1), dropped)
    assert (labels == 3).sum() == 28  # the input is untouched


def test_scar_bias_tips_only_close_calls_towards_scar():
    from ScarSegmentLib.postprocess import biased_argmax

    probabilities = np.zeros((5, 1, 1, 3), np.float32)
    probabilities[:, 0, 0, 0] = (0.0, 0.1, 0.5, 0.4, 0.0)  # myocardium, scar a close second
    probabilities[:, 0, 0, 1] = (0.0, 0.0, 0.9, 0.1, 0.0)  # clearly myocardium
    probabilities[:, 0, 0, 2] = (0.0, 0.6, 0.0, 0.1, 0.3)  # blood pool, MVO second
    assert biased_argmax(probabilities).ravel().tolist() == [2, 2, 1]
    assert biased_argmax(probabilities, 1.0).ravel().tolist() == [3, 2, 4]
    assert biased_argmax(probabilities, -1.0).ravel().tolist() == [2, 2, 1]
