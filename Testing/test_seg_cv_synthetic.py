"""benchmarks/cv.py's synthetic arm: each fold's synthetic set comes from that fold's training cases as
train-seg splits them, a fold model of the other arm is refused, and two arms print side by side."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cv_compare  # noqa: E402
import cv_synthetic  # noqa: E402


@pytest.fixture(scope="module")
def small_dataset(linked_cases):
    """Two normal hearts, an infarct heart and two MVO hearts, linked into an EMIDEC-layout folder."""
    return linked_cases("Case_N006", "Case_N012", "Case_P007", "Case_P008", "Case_P010")


def test_fold_training_cases_are_those_train_seg_trains_on(small_dataset):
    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSegmentLib.cascade_train import load_training_cases

    folds = cv_synthetic.fold_training_cases(small_dataset, "tiny", [1, 2], 2)
    for k in (1, 2):
        config = make_cascade_config("tiny", fold=(k - 1, 2))
        train, held_out = load_training_cases(small_dataset, config, show_progress=False)
        assert folds[k] == [case.name for case in train] and not set(folds[k]) & {c.name for c in held_out}


def entry(extra=(), held_out=("Case_N006",), networks=("anatomy", "scar")):
    config = {"extra_train_dirs": list(extra), "extra_train_networks": list(networks)}
    return {"training": {"config": config, "held_out_cases": list(held_out)}}


def test_a_fold_model_of_the_other_arm_is_refused(tmp_path):
    real = SimpleNamespace(runs=str(tmp_path), synthetic=0, synthetic_from="normal", synthetic_for="both")
    synthetic = SimpleNamespace(runs=str(tmp_path), synthetic=2, synthetic_from="normal", synthetic_for="both")
    cv_synthetic.check_arm(real, 1, entry())
    with pytest.raises(SystemExit, match="own RUNS_DIR"):
        cv_synthetic.check_arm(synthetic, 1, entry())
    with pytest.raises(SystemExit, match="own RUNS_DIR"):
        cv_synthetic.check_arm(real, 1, entry(["synthetic_fold_1"]))
    folder = tmp_path / "synthetic_fold_1"
    folder.mkdir()
    (folder / "synth_dataset.json").write_text('{"sources": "normal", "cases": [{"source": "Case_N006"}, '
                                               '{"source": "Case_N012"}]}')
    with pytest.raises(SystemExit, match="held-out hearts"):
        cv_synthetic.check_arm(synthetic, 1, entry(["synthetic_fold_1"]))
    cv_synthetic.check_arm(synthetic, 1, entry(["synthetic_fold_1"], held_out=("Case_P007",)))
    with pytest.raises(SystemExit, match="--synthetic-for both"):
        cv_synthetic.check_arm(synthetic, 1, entry(["synthetic_fold_1"], ("Case_P007",), networks=("scar",)))
    scar_only = SimpleNamespace(**{**vars(synthetic), "synthetic_for": "scar"})
    cv_synthetic.check_arm(scar_only, 1, entry(["synthetic_fold_1"], ("Case_P007",), networks=("scar",)))
    assert cv_synthetic.extra_training(scar_only, 1)[-2:] == ["--extra-train-for", "scar"]
    with pytest.raises(SystemExit, match="not the 3 from infarct"):
        cv_synthetic.made_set(SimpleNamespace(runs=str(tmp_path), synthetic=3, synthetic_from="infarct"), 1)


def test_two_arms_side_by_side_fold_by_fold():
    def arm(scars, extra):
        return {str(k): {"held_out": {"summary": {"scar": scar, "normals_with_scar": 0.5, "median_burden_error": 3.0,
                                                  "myocardium": 0.8, "mvo": float("nan")}},
                         "extra_train_cases": extra}
                for k, scar in enumerate(scars, 1)}

    lines = cv_compare.comparison_lines(arm([0.4, 0.5], {}), arm([0.5, 0.45, 0.6], {"synthetic_fold_1": 4}),
                                        "real.json", "synthetic.json")
    text = "\n".join(lines)
    assert "real cases only" in text and "plus 4 extra training cases per fold" in text
    assert "  1 | 0.400 | 0.500 | +0.100" in text and "  2 | 0.500 | 0.450 | -0.050" in text
    assert "0.450 (0.050) | 0.475 (0.025) | +0.025 (0.075); second better in 1, worse in 1 of 2 fold(s)" in text
    assert "scored in one arm only (left out above): 3" in text
