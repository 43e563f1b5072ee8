"""benchmarks/synth_realism.py: its real-vs-synthetic patch classifier (c, realism_classifier.py) and its normal hearts."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import realism_classifier  # noqa: E402
import synth_realism  # noqa: E402


def _patches(level, count, seed):
    rng = np.random.default_rng(seed)
    size = realism_classifier.PATCH
    return (level + 0.05 * rng.standard_normal((count, size, size))).astype(np.float32)


def test_the_classifier_tells_patches_apart_that_differ():
    real = {name: _patches(1.0, 40, i) for i, name in enumerate(["P1", "P2", "P3"])}
    synthetic = {name: _patches(1.3, 40, 10 + i) for i, name in enumerate(["N1", "N2", "N3"])}
    figures = realism_classifier.classifier_auroc(real, synthetic, ["P1", "P2", "N1", "N2"], {"test": ["P3", "N3"]}, 0)
    assert figures["test"]["auroc"] > 0.95


def test_without_cases_to_train_on_the_classifier_reports_no_auroc():
    """With --cases no more than the held-out cases, (c) is left out instead of stopping the benchmark."""
    real, synthetic = {"P1": _patches(1.0, 5, 0)}, {"N1": _patches(1.3, 5, 1)}
    figures = realism_classifier.classifier_auroc(real, synthetic, [], {"held-out": ["P1", "N1"]}, 0)
    assert np.isnan(figures["held-out"]["auroc"])


def test_extra_scars_per_heart_keep_the_first_and_stay_with_their_heart(linked_cases):
    """--scars-per-case K: K different scars per normal heart, the first as with K = 1; the classifier
    puts every scar of a heart on the side of the split its heart is on."""
    from LGECore import labels as L
    from LGECore.io import read_emidec_dataset

    cases = read_emidec_dataset(linked_cases("Case_N006"))
    one = synth_realism.load_normal(cases, 0)
    three = synth_realism.load_normal(cases, 0, scars_per_case=3)
    assert list(three) == ["Case_N006", "Case_N006+1", "Case_N006+2"]
    assert np.array_equal(one["Case_N006"][2].array, three["Case_N006"][2].array)
    scars = [L.scar(three[key][2].array) for key in three]
    assert all(s.any() for s in scars) and not np.array_equal(scars[1], scars[2])
    assert {realism_classifier.heart(key) for key in three} == {"Case_N006"}
    synthetic = {key: _patches(1.3, 5, i) for i, key in enumerate(three)}
    x, y = realism_classifier._patch_set({"P1": _patches(1.0, 4, 9)}, synthetic, ["P1", "Case_N006"])
    assert len(x) == 19 and y.sum() == 15
    assert len(realism_classifier._patch_set({}, synthetic, ["Case_N012"])[0]) == 0
