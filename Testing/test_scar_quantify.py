"""Scar volumes, masses and percentages against values worked out by hand."""

import numpy as np
import pytest

from LGECore.errors import InputError
from LGECore.volume import Volume
from ScarSegmentLib.quantify import measurement_rows, quantify_scar


def small_labels():
    # 2 slices of 4 x 5 voxels; spacing 1.5 x 1.5 mm in-plane, 8 mm between slices.
    array = np.zeros((2, 4, 5), dtype=np.uint8)
    array[0, 0, :] = 2          # 5 healthy
    array[0, 1, :3] = 3         # 3 scar
    array[1, 0, :2] = 4         # 2 MVO
    array[1, 1, :4] = 3         # 4 scar
    array[1, 2, :] = 1          # 5 blood pool
    array[1, 3, :] = 5          # RV: not myocardium
    return Volume(array, spacing=(1.5, 1.5, 8.0))


def test_quantities_match_hand_computed_values():
    metrics = quantify_scar(small_labels())
    voxel_ml = 1.5 * 1.5 * 8.0 / 1000.0  # 0.018 mL
    assert metrics["voxel_volume_ml"] == pytest.approx(voxel_ml)
    assert metrics["myocardium_volume_ml"] == pytest.approx(14 * voxel_ml)  # 5 + 3 + 2 + 4
    assert metrics["myocardium_mass_g"] == pytest.approx(14 * voxel_ml * 1.05)
    assert metrics["scar_volume_ml"] == pytest.approx(9 * voxel_ml)  # scar 7 + MVO 2
    assert metrics["scar_mass_g"] == pytest.approx(9 * voxel_ml * 1.05)
    assert metrics["scar_burden_percent"] == pytest.approx(100 * 9 / 14)
    assert metrics["mvo_volume_ml"] == pytest.approx(2 * voxel_ml)
    assert metrics["mvo_percent_of_myocardium"] == pytest.approx(100 * 2 / 14)
    assert metrics["mvo_percent_of_scar"] == pytest.approx(100 * 2 / 9)
    assert metrics["lv_blood_pool_volume_ml"] == pytest.approx(5 * voxel_ml)
    assert metrics["scar_slices"] == 2


def test_no_myocardium_gives_zero_percentages_not_a_division_error():
    metrics = quantify_scar(Volume(np.zeros((2, 3, 3), np.uint8), spacing=(2, 2, 5)))
    assert metrics["scar_burden_percent"] == 0.0 and metrics["mvo_percent_of_scar"] == 0.0


def test_rows_keep_order_and_units():
    rows = measurement_rows(quantify_scar(small_labels()))
    assert rows[0] == ("LV myocardium volume", round(14 * 0.018, 2), "mL")
    assert ("Scar burden (% of LV myocardium)", round(100 * 9 / 14, 2), "%") in rows


def test_unknown_label_values_are_refused():
    with pytest.raises(InputError, match="unknown label"):
        quantify_scar(Volume(np.full((1, 2, 2), 9, np.uint8)))
