"""benchmarks/synth_realism.py's real-vs-synthetic patch classifier (c)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import synth_realism  # noqa: E402


def _patches(level, count, seed):
    rng = np.random.default_rng(seed)
    size = synth_realism.PATCH
    return (level + 0.05 * rng.standard_normal((count, size, size))).astype(np.float32)


def test_the_classifier_tells_patches_apart_that_differ():
    real = {name: _patches(1.0, 40, i) for i, name in enumerate(["P1", "P2", "P3"])}
    synthetic = {name: _patches(1.3, 40, 10 + i) for i, name in enumerate(["N1", "N2", "N3"])}
    figures = synth_realism.classifier_auroc(real, synthetic, ["P1", "P2", "N1", "N2"], {"test": ["P3", "N3"]}, 0)
    assert figures["test"]["auroc"] > 0.95


def test_without_cases_to_train_on_the_classifier_reports_no_auroc():
    """With --cases no more than the held-out cases, (c) is left out instead of stopping the benchmark."""
    real, synthetic = {"P1": _patches(1.0, 5, 0)}, {"N1": _patches(1.3, 5, 1)}
    figures = synth_realism.classifier_auroc(real, synthetic, [], {"held-out": ["P1", "N1"]}, 0)
    assert np.isnan(figures["held-out"]["auroc"])
