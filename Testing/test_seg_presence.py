"""The probability that scar is present, per slice and per case, that every network segmentation
reports: its rule, and where it shows (metrics, report, the panel's table)."""

import numpy as np
import pytest


def test_scar_presence_per_slice_and_case_reaches_the_report_and_the_table():
    from ScarSegmentLib.presence import presence_rows, scar_presence
    from ScarSegmentLib.report import key_numbers

    labels = np.zeros((3, 20, 20), np.uint8)
    labels[:2, 5:15, 5:15] = 2
    probabilities = np.zeros((5,) + labels.shape, np.float32)
    probabilities[0] = 1.0
    probabilities[3, 1, 8:11, 8:11] = 0.9  # a confident patch on slice 1
    probabilities[3, 2, 8:11, 8:11] = 0.9  # ... on a slice without myocardium: not counted
    probabilities[3, 0, 9, 9] = 0.9  # one stray voxel on slice 0, smoothed down
    presence = scar_presence(probabilities, labels)
    first, second, third = presence["per_slice"]
    assert second > 0.5 > first > 0 and third == 0 and presence["case"] == second
    metrics = {"scar_presence": presence}
    assert [row[0] for row in presence_rows(metrics)][-1] == "Scar present (probability, slice 2)"
    context = {"metrics": metrics, "aha_table": None}
    assert ("Scar present (probability, case)", f"{second:.2f}", "") in key_numbers(context)
    assert presence_rows({}) == []
    scene = pytest.importorskip("ScarSegmentLib.scene", exc_type=ImportError)
    table = scene.measurement_table_rows({**metrics, "method_name": "deep network"})
    assert {"Measurement": "Scar present (probability, case)", "Value": second, "Unit": ""} in table


def test_the_threshold_methods_give_no_presence_probability():
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.segment import segment

    phantom = make_phantom(seed=1, n_slices=4, matrix_size=64, pixel_spacing=2.0, territory="LAD")
    for method in ("nsd", "fwhm"):
        assert "scar_presence" not in segment(phantom.image, method, myocardium=phantom.labels).metrics
