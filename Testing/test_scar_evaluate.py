"""EMIDEC metrics against values worked out by hand, and dataset evaluation of two folders."""

import csv
import math
import os

import numpy as np
import pytest

from LGECore.errors import InputError
from LGECore.io import write_volume
from LGECore.volume import Volume
from ScarSegmentLib.evaluate import dice, evaluate_folders, evaluate_labels, hausdorff_mm

SPACING = (1.5, 1.5, 10.0)  # x, y, z in mm


def block_labels(shift_columns=0):
    array = np.zeros((4, 20, 20), dtype=np.uint8)
    array[1:3, 5:12, 5 + shift_columns:12 + shift_columns] = 2
    array[1:3, 7:10, 7 + shift_columns:10 + shift_columns] = 1
    array[1, 5:7, 5 + shift_columns:8 + shift_columns] = 3
    return Volume(array, spacing=SPACING)


def test_identical_labels_give_dice_one_and_zero_distances():
    labels = block_labels()
    metrics = evaluate_labels(labels, labels)
    for name in ("blood_pool", "myocardium", "infarct", "scar", "mvo"):
        assert metrics[f"{name}_dice"] == 1.0
        assert metrics[f"{name}_volume_difference_ml"] == 0.0
    assert metrics["mvo_reference_volume_ml"] == 0.0  # both empty: Dice 1 above
    assert metrics["myocardium_hausdorff_mm"] == 0.0
    assert metrics["myocardium_hausdorff95_mm"] == 0.0


def test_shifted_masks_give_known_distances_and_volume_ratios():
    reference, prediction = block_labels(), block_labels(shift_columns=2)
    metrics = evaluate_labels(prediction, reference)
    # Every surface point moves 2 columns of 1.5 mm: the Hausdorff distance is 3 mm.
    assert metrics["myocardium_hausdorff_mm"] == pytest.approx(3.0)
    assert metrics["myocardium_hausdorff95_mm"] <= 3.0 + 1e-6
    # Myocardium: 2 slices x (7x7 - 3x3) = 80 voxels; shifted by 2 columns: 2 x (5x7 - 3x3 ...)
    ref_myo = np.isin(reference.array, (2, 3, 4))
    pred_myo = np.isin(prediction.array, (2, 3, 4))
    expected = 2 * (ref_myo & pred_myo).sum() / (ref_myo.sum() + pred_myo.sum())
    assert metrics["myocardium_dice"] == pytest.approx(expected)
    # Infarct: 2x3 block shifted by 2 columns overlaps in 2x1: Dice = 2*2 / (6+6).
    assert metrics["infarct_dice"] == pytest.approx(4 / 12)
    voxel_ml = 1.5 * 1.5 * 10 / 1000
    assert metrics["myocardium_reference_volume_ml"] == pytest.approx(80 * voxel_ml)
    assert metrics["infarct_volume_difference_ml"] == pytest.approx(0.0)


def test_volume_difference_as_percent_of_reference_myocardium():
    reference = block_labels()
    predicted = reference.array.copy()
    predicted[2, 5, 5:8] = 3  # 3 more infarct voxels, myocardium unchanged
    metrics = evaluate_labels(reference.with_array(predicted), reference)
    assert metrics["infarct_volume_difference_ml"] == pytest.approx(3 * 0.0225)
    assert metrics["infarct_volume_difference_percent_of_myocardium"] == pytest.approx(100 * 3 / 80)


def test_empty_cases():
    empty = np.zeros((3, 4, 4), bool)
    full = np.ones((3, 4, 4), bool)
    assert dice(empty, empty) == 1.0
    assert dice(empty, full) == 0.0
    assert hausdorff_mm(empty, empty, (10, 1, 1)) == 0.0
    assert math.isnan(hausdorff_mm(empty, full, (10, 1, 1)))


def test_labels_on_another_grid_are_refused():
    reference = block_labels()
    moved = Volume(reference.array, spacing=(1.0, 1.0, 10.0))
    with pytest.raises(InputError, match="spacing"):
        evaluate_labels(moved, reference)


def test_folders_match_cases_by_name_in_emidec_and_flat_layouts(tmp_path):
    for name, shift in (("Case_A", 0), ("Case_B", 2)):
        write_volume(block_labels(), tmp_path / "gt" / name / "Contours" / f"{name}.nii.gz")
        write_volume(block_labels(shift), tmp_path / "pred" / f"{name}.nii.gz")
    write_volume(block_labels(), tmp_path / "gt" / "Case_C" / "Contours" / "Case_C.nii.gz")
    rows = evaluate_folders(tmp_path / "pred", tmp_path / "gt", progress=False)
    by_case = {row["case"]: row for row in rows}
    assert by_case["Case_A"]["myocardium_dice"] == 1.0
    assert by_case["Case_B"]["myocardium_hausdorff_mm"] == pytest.approx(3.0)
    assert by_case["Case_C"]["status"] == "missing prediction"


def test_cli_evaluates_a_dataset_into_a_csv(tmp_path):
    from ScarSynthLib.cli import main

    for name in ("Case_A", "Case_B"):
        write_volume(block_labels(), tmp_path / "gt" / f"{name}.nii.gz")
        write_volume(block_labels(1), tmp_path / "pred" / name / "labels.nii.gz")
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"),
                 "-o", str(tmp_path / "out.csv")]) == 0
    with open(tmp_path / "out.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["case"] for row in rows] == ["Case_A", "Case_B", "mean"]
    assert float(rows[-1]["myocardium_hausdorff_mm"]) == pytest.approx(1.5)


def test_real_emidec_layout_against_itself(emidec_dir, tmp_path):
    """Reference folder in the EMIDEC layout; predictions as `segment` output folders."""
    from LGECore.io import read_emidec_dataset, read_labels

    cases = read_emidec_dataset(emidec_dir)[:2]
    for case in cases:
        write_volume(read_labels(case.labels_path), tmp_path / case.name / "labels.nii.gz")
    rows = evaluate_folders(tmp_path, emidec_dir, progress=False)
    evaluated = [row for row in rows if row["status"] == "ok"]
    assert [row["case"] for row in evaluated] == [case.name for case in cases]
    assert len(rows) > len(evaluated)  # the other reference cases are listed as missing
    for row in evaluated:
        assert row["myocardium_dice"] == 1.0 and row["myocardium_hausdorff_mm"] == 0.0


def test_cli_never_writes_metrics_over_an_input(tmp_path, capsys):
    from ScarSynthLib.cli import main

    write_volume(block_labels(), tmp_path / "gt" / "Case_A.nii.gz")
    write_volume(block_labels(1), tmp_path / "pred" / "Case_A.nii.gz")
    reference = tmp_path / "gt" / "Case_A.nii.gz"
    before = reference.read_bytes()
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "-o", str(reference)]) == 2
    reference_copy = tmp_path / "gt" / "copy.csv"
    reference_copy.write_bytes(before)  # any file inside an input folder counts as an input
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "-o", str(reference_copy)]) == 2
    assert "Refusing to overwrite the input" in capsys.readouterr().err
    assert reference.read_bytes() == before and reference_copy.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "gt").iterdir()) == ["Case_A.nii.gz", "copy.csv"]


def test_cli_metrics_file_needs_a_known_suffix_and_is_readable_by_others(tmp_path, capsys):
    from ScarSynthLib.cli import main

    write_volume(block_labels(), tmp_path / "gt.nii.gz")
    write_volume(block_labels(1), tmp_path / "pred.nii.gz")
    pair = [str(tmp_path / "pred.nii.gz"), str(tmp_path / "gt.nii.gz")]
    assert main(["evaluate", *pair, "-o", str(tmp_path / "metrics.txt")]) == 2
    assert "must end in .json or .csv" in capsys.readouterr().err
    assert not (tmp_path / "metrics.txt").exists()
    assert main(["evaluate", *pair, "-o", str(tmp_path / "metrics.json")]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~umask
