"""benchmarks/cv.py --other-grids: each held-out case is also scored on another scanner's grid, drawn
from its name so that every arm and fold sees the same grid, and cv_compare prints both groups."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cv  # noqa: E402
import cv_compare  # noqa: E402


def _phantom():
    from LGECore.phantom import make_phantom
    from LGECore.volume import Volume

    phantom = make_phantom(seed=4, n_slices=4, pixel_spacing=1.35, matrix_size=128, direction=np.eye(3),
                           territory="LAD", transmurality=0.5)
    return phantom.image, Volume(phantom.labels.array, (1.35, 1.35, 10.0))


def test_a_case_is_scored_on_the_grid_its_name_draws():
    image, labels = _phantom()
    first = cv.other_grid_figures("Case_P001", image, labels, None)
    again = cv.other_grid_figures("Case_P001", image, labels, None)
    other = cv.other_grid_figures("Case_N002", image, labels, None)
    assert first == again  # the same grid, the same figures
    assert first["case"] == "Case_P001" and first["kind"] == "infarct"
    # the moved truth lies where the moved image shows the heart (misaligned, Dice falls near 0)
    assert first["myocardium"] > 0.5 and other["myocardium"] > 0.5
    assert other["predicted_burden"] != first["predicted_burden"]  # another name, another grid


def _arm(myocardium, moved=None):
    def summary(value):
        return {"scar": 0.5, "normals_with_scar": 0.5, "median_burden_error": 3.0, "myocardium": value,
                "mvo": 0.3}

    folds = {}
    for k, value in enumerate(myocardium, 1):
        folds[str(k)] = {"held_out": {"summary": summary(value)}}
        if moved is not None:
            folds[str(k)]["held_out_other_grids"] = {"summary": summary(moved[k - 1])}
    return folds


def test_other_grids_are_compared_where_both_arms_scored_them(capsys):
    cv_compare.print_comparison(_arm([0.8, 0.8], [0.70, 0.75]), _arm([0.8, 0.81], [0.78, 0.74]), "base", "edge")
    text = capsys.readouterr().out
    assert "held out, on other scanners' grids, 2 fold(s) scored in both" in text
    assert "  1 | 0.700 | 0.780 | +0.080" in text and "  2 | 0.750 | 0.740 | -0.010" in text
    cv_compare.print_comparison(_arm([0.8, 0.8]), _arm([0.8, 0.81], [0.78, 0.74]), "base", "edge")
    text = capsys.readouterr().out
    assert "held out, 2 fold(s)" in text and "other scanners' grids" not in text


def test_train_args_reach_every_fold_and_bad_ones_are_refused_first(tmp_path, capsys):
    import pytest

    args = cv.parse_args([str(tmp_path), "--train", "--train-args", "--edge-cuts 0.25 --blur 1"])
    command = cv.fold_command(args, 2, 1)
    assert command[command.index("--fold") + 1] == "2/5" and command[-4:] == ["--edge-cuts", "0.25", "--blur", "1"]
    (tmp_path / "fold_2").mkdir()
    (tmp_path / "fold_2" / "checkpoint_anatomy.pt").write_bytes(b"")
    assert cv.fold_command(args, 2, 1)[-1] == "--resume"  # a stopped fold resumes
    for bad in ("--edge-cuts 2", "--no-such-option", "--edge-cuts '0.25"):
        with pytest.raises(SystemExit):
            cv.parse_args([str(tmp_path), "--train", "--train-args", bad])
        assert "--train-args" in capsys.readouterr().err
