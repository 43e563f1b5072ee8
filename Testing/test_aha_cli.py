"""`scarsynth aha` end to end on phantom files: outputs, RAS points, apex flag and bad input."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from AHABullseyeLib.aha import segment_aha
from AHABullseyeLib.quantify import COLUMNS
from LGECore import labels as L
from LGECore.io import read_image, write_volume
from LGECore.phantom import make_phantom
from LGECore.volume import lps_to_ras


def scarsynth(*args):
    return subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    phantom = make_phantom(seed=21, territory="LAD", transmurality=0.6, mvo=True,
                           matrix_size=128, pixel_spacing=1.6)
    write_volume(phantom.image, folder / "image.nii.gz")
    write_volume(phantom.labels, folder / "labels.nii.gz")
    return phantom, folder


def test_aha_writes_table_record_segments_and_bullseye(phantom_files, tmp_path):
    phantom, folder = phantom_files
    out = tmp_path / "out"
    run = scarsynth("aha", folder / "labels.nii.gz", "--image", folder / "image.nii.gz", "-o", out)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["aha.csv", "aha.json", "aha_segments.nii.gz", "bullseye.png"]

    with open(out / "aha.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [r["segment"] for r in rows] == [str(s) for s in range(1, 18)] + ["total"]
    total_scar = L.scar(phantom.labels.array).sum() * phantom.labels.voxel_volume_ml
    assert float(rows[-1]["scar_ml"]) == pytest.approx(total_scar, abs=1e-3)

    record = json.loads((out / "aha.json").read_text())
    assert record["insertion_source"] == "rv_label"
    assert record["apex_side"] == "first" and record["apex_source"] == "geometry"
    assert len(record["insertion_points_ras"]) == 2 and len(record["segments"]) == 17
    assert [t["segment"] for t in record["territories"]] == ["LAD", "RCA", "LCX"]

    segments = read_image(out / "aha_segments.nii.gz")
    assert phantom.labels.same_grid(segments)
    assert np.array_equal(segments.array, segment_aha(phantom.labels).segments.array)
    assert (out / "bullseye.png").read_bytes()[:4] == b"\x89PNG"


def test_aha_on_a_stack_stored_with_slices_along_the_last_axis(phantom_files, tmp_path):
    phantom, folder = phantom_files
    stored_xyz = phantom.labels.transposed((2, 1, 0))
    write_volume(stored_xyz, tmp_path / "xyz.nii.gz")
    for name, path in (("as_stored", folder / "labels.nii.gz"), ("xyz", tmp_path / "xyz.nii.gz")):
        run = scarsynth("aha", path, "-o", tmp_path / name)
        assert run.returncode == 0, run.stderr
    assert (tmp_path / "xyz" / "aha.csv").read_text() == (tmp_path / "as_stored" / "aha.csv").read_text()
    segments = read_image(tmp_path / "xyz" / "aha_segments.nii.gz")
    assert segments.same_grid(stored_xyz)
    as_stored = read_image(tmp_path / "as_stored" / "aha_segments.nii.gz")
    assert np.array_equal(segments.array, as_stored.array.transpose(2, 1, 0))


def test_aha_takes_ras_points_and_apex_side(phantom_files, tmp_path):
    phantom, folder = phantom_files
    labels = phantom.labels.array.copy()
    labels[labels == L.RV_BLOOD_POOL] = 0
    write_volume(phantom.labels.with_array(labels), tmp_path / "no_rv.nii.gz")
    pair = phantom.truth["representative_insertion_points_lps"]
    ras = lps_to_ras(np.array([pair["anterior"], pair["inferior"]]))
    points = [",".join(f"{c:.3f}" for c in p) for p in ras]
    run = scarsynth("aha", tmp_path / "no_rv.nii.gz", "--rv-insertion", *points,
                    "--apex", "first", "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "out" / "aha.json").read_text())
    assert record["insertion_source"] == "user" and record["apex_source"] == "user"
    assert np.allclose(record["insertion_points_ras"], ras, atol=1e-3)
    segments = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "aha_segments.nii.gz")))
    myocardium = phantom.aha_segments.array > 0
    assert np.mean(segments[myocardium] == phantom.aha_segments.array[myocardium]) >= 0.95


def test_without_rv_the_warning_reaches_the_user(phantom_files, tmp_path):
    phantom, _ = phantom_files
    labels = phantom.labels.array.copy()
    labels[labels == L.RV_BLOOD_POOL] = 0
    write_volume(phantom.labels.with_array(labels), tmp_path / "no_rv.nii.gz")
    run = scarsynth("aha", tmp_path / "no_rv.nii.gz", "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert "ASSUMED" in run.stdout
    record = json.loads((tmp_path / "out" / "aha.json").read_text())
    assert record["insertion_source"] == "assumed"
    assert any("ASSUMED" in w for w in record["warnings"])


def test_bad_input_is_a_clean_error_and_writes_nothing(phantom_files, tmp_path):
    phantom, folder = phantom_files
    write_volume(phantom.labels.with_array(np.zeros(phantom.labels.shape, np.uint8)), tmp_path / "empty.nii.gz")
    for args, message in (
        (["aha", tmp_path / "empty.nii.gz", "-o", tmp_path / "out"], "no LV myocardium"),
        (["aha", folder / "labels.nii.gz", "--rv-insertion", "1,2", "-o", tmp_path / "out"], "X,Y,Z"),
        (["aha", tmp_path / "missing.nii.gz", "-o", tmp_path / "out"], "No such file"),
        (["aha", folder / "labels.nii.gz", "--rv-insertion", "10,20,30", "--rv-insertion", "10,20,30",
          "-o", tmp_path / "out"], "RV insertion points 1 and 2 are the same point"),
    ):
        run = scarsynth(*args)
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("given_as", ["labels", "image"])
def test_an_input_named_like_an_output_in_the_output_folder_is_never_overwritten(phantom_files, tmp_path, given_as):
    """`aha DIR/aha_segments.nii.gz -o DIR` (or that file as --image) is refused before any work,
    and the file is left byte for byte as it was."""
    phantom, folder = phantom_files
    victim = tmp_path / "aha_segments.nii.gz"
    write_volume(phantom.labels, victim)
    before = victim.read_bytes()
    args = (["aha", victim] if given_as == "labels" else ["aha", folder / "labels.nii.gz", "--image", victim])
    run = scarsynth(*args, "-o", tmp_path)
    assert run.returncode == 2 and "Refusing to overwrite the input" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert victim.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aha_segments.nii.gz"]
