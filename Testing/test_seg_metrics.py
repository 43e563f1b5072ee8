"""Dice summaries: over the cases that hold a structure, and over all cases as EMIDEC averages."""

import numpy as np
import pytest

from LGECore import labels as L
from ScarSegmentLib.metrics import score_cases


def _case(myocardium_rows, scar_rows):
    """A 1 x 4 x 10 label array: myocardium on the given rows, scar on the given rows within it."""
    labels = np.zeros((1, 4, 10), dtype=np.uint8)
    labels[0, myocardium_rows] = L.MYOCARDIUM
    labels[0, scar_rows] = L.SCAR
    return labels


def test_both_averages_of_scar_dice_match_a_hand_count():
    truths = [_case([0, 1], [0]), _case([0, 1], []), _case([0, 1], [])]
    # Infarct: half the true scar row found plus nothing else -> Dice 2*5/(10+5) = 2/3.
    found_half = _case([0, 1], [])
    found_half[0, 0, :5] = L.SCAR
    # Normal heart with a speck of scar -> 0; normal heart left clean -> both empty.
    speck = _case([0, 1], [])
    speck[0, 1, 0] = L.SCAR
    summary, per_case = score_cases([found_half, speck, _case([0, 1], [])], truths)

    assert per_case[0]["scar"] == pytest.approx(2 / 3)
    assert per_case[1]["scar"] == 0.0 and per_case[2]["scar"] is None
    assert summary["cases_with_scar"] == 1
    assert summary["dice_scar"] == pytest.approx(2 / 3)  # the infarct only
    assert summary["dice_scar_all_cases"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    # No MVO anywhere: every case counts 1 in EMIDEC's average; no case to average over otherwise.
    assert summary["dice_mvo_all_cases"] == 1.0 and np.isnan(summary["dice_mvo"])
    # Burden: 5 of 20 myocardium pixels predicted scar against 10 of 20; 1 of 20 against 0; 0.
    assert summary["scar_burden_abs_error"] == pytest.approx((25 + 5 + 0) / 3)
