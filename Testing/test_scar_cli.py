"""`scarsynth segment` and `scarsynth run` from the command line: files, grids, and clean errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from LGECore import labels as L
from LGECore.io import read_image, read_labels, write_volume
from LGECore.volume import Volume
from ScarSegmentLib.evaluate import dice

phantom_module = pytest.importorskip("LGECore.phantom")


def scarsynth(*args):
    return subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", *map(str, args)],
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    phantom = phantom_module.make_phantom(seed=4, territory="LAD", transmurality=0.7, mvo=True,
                                          look="scanner")
    write_volume(phantom.image, folder / "lge.nrrd")
    write_volume(phantom.labels, folder / "contours.nii.gz")
    return folder, phantom


def test_segment_nsd_with_a_given_myocardium_writes_files_on_the_input_grid(case, tmp_path):
    folder, phantom = case
    before = (folder / "lge.nrrd").read_bytes()
    done = scarsynth("segment", folder / "lge.nrrd", "-o", tmp_path / "out", "--method", "nsd",
                     "--sd", "3", "--myocardium", folder / "contours.nii.gz")
    assert done.returncode == 0, done.stderr
    assert "progress: 100%" in done.stderr
    image = read_image(folder / "lge.nrrd")
    labels = read_labels(tmp_path / "out" / "labels.nii.gz", like=image)  # raises if off-grid
    assert dice(L.scar(labels.array), L.scar(phantom.labels.array)) > 0.85
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    voxel_ml = float(np.prod(phantom.image.spacing)) / 1000
    assert metrics["scar_volume_ml"] == pytest.approx(L.scar(labels.array).sum() * voxel_ml)
    assert metrics["threshold"]["method"] == "3-SD"
    assert not (tmp_path / "out" / "probabilities.nii.gz").exists()  # thresholds have none
    assert (folder / "lge.nrrd").read_bytes() == before


def scarsynth_here(capsys, *args):
    """Run the CLI in this process (faster than a subprocess); returns (exit code, stderr)."""
    from ScarSynthLib.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:  # argparse rejects bad choices this way
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("problem", ["nan", "grid", "method", "weights", "overwrite", "output_is_a_file"])
def test_bad_inputs_give_clear_errors_and_write_nothing(case, tmp_path, capsys, problem):
    folder, phantom = case
    image, myocardium = folder / "lge.nrrd", folder / "contours.nii.gz"
    extra = ["--method", "nsd", "--myocardium", myocardium]
    outdir = tmp_path / "out"
    if problem == "nan":
        broken = phantom.image.array.copy()
        broken[3, 50, 50] = np.nan
        image = write_volume(phantom.image.with_array(broken), tmp_path / "nan.nii.gz")
        expected = "NaN"
    elif problem == "grid":
        moved = Volume(phantom.labels.array, (1.0, 1.0, 8.0), phantom.labels.origin, phantom.labels.direction)
        extra[-1] = write_volume(moved, tmp_path / "moved.nii.gz")
        expected = "not on the same grid"
    elif problem == "method":
        extra = ["--method", "otsu"]
        expected = "invalid choice"
    elif problem == "weights":
        extra = ["--method", "dl", "--weights", tmp_path / "none.safetensors"]
        expected = "Weights file not found"
    elif problem == "output_is_a_file":
        outdir = tmp_path / "notes.txt"
        outdir.write_text("kept")
        expected = "is a file; choose a folder"
    else:
        extra = ["--method", "nsd", "--myocardium", write_volume(phantom.labels, tmp_path / "labels.nii.gz")]
        image = folder / "lge.nrrd"
        outdir = tmp_path
        expected = "Refusing to overwrite the input"
    code, stderr = scarsynth_here(capsys, "segment", image, "-o", outdir, *extra)
    assert code == 2, stderr
    assert expected in stderr and "Traceback" not in stderr
    if problem == "overwrite":
        assert read_labels(tmp_path / "labels.nii.gz").same_grid(phantom.labels)
    elif problem == "output_is_a_file":
        assert outdir.read_text() == "kept"
    else:
        assert not outdir.exists()
    assert not list(tmp_path.glob(".*"))  # no staging folder left


@pytest.mark.parametrize("region", ["healthy_myocardium", "everything", "nothing"])
def test_a_given_remote_mask_sets_the_threshold(case, tmp_path, capsys, region):
    """A mask is not an image: all ones (the whole myocardium is remote) is usable, all zeros is
    refused for what it is, an empty remote region."""
    folder, phantom = case
    healthy = phantom.labels.array == L.MYOCARDIUM
    mask = {"healthy_myocardium": healthy, "everything": np.ones_like(healthy),
            "nothing": np.zeros_like(healthy)}[region]
    remote = write_volume(phantom.labels.with_array(mask.astype(np.uint8)), tmp_path / "remote.nii.gz")
    code, stderr = scarsynth_here(capsys, "segment", folder / "lge.nrrd", "-o", tmp_path / "out", "--method",
                                  "nsd", "--myocardium", folder / "contours.nii.gz", "--remote", remote)
    if region == "nothing":
        assert code == 2 and "remote myocardium holds 0 voxels" in stderr, stderr
        assert not (tmp_path / "out").exists()
        return
    assert code == 0, stderr
    threshold = json.loads((tmp_path / "out" / "metrics.json").read_text())["threshold"]
    myocardium = L.lv_myocardium(phantom.labels.array)
    assert threshold["remote_voxels"] == int((mask.astype(bool) & myocardium).sum())


def test_rerun_into_a_folder_replaces_the_earlier_outputs_only(case, tmp_path, capsys):
    folder, _ = case
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "probabilities.nii.gz").write_text("an earlier dl run's probabilities")
    (outdir / "metrics.json").write_text("{}")
    (outdir / "my_notes.txt").write_text("the user's own file")
    code, stderr = scarsynth_here(capsys, "segment", folder / "lge.nrrd", "-o", outdir, "--method", "fwhm",
                                  "--myocardium", folder / "contours.nii.gz")
    assert code == 0, stderr
    # a threshold method has no probabilities: the earlier ones would no longer match the labels
    assert sorted(p.name for p in outdir.iterdir()) == [
        "grey_zone_max.nii.gz", "grey_zone_sd.nii.gz", "labels.nii.gz", "metrics.json", "my_notes.txt"]
    assert json.loads((outdir / "metrics.json").read_text())["threshold"]["method"] == "FWHM"
    assert (outdir / "my_notes.txt").read_text() == "the user's own file"


def test_run_without_input_reports_on_a_phantom(tmp_path):
    pytest.importorskip("AHABullseyeLib.aha")
    done = scarsynth("run", "-o", tmp_path / "report", "--method", "fwhm")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report"
    for name in ("report.html", "report.md", "labels.nii.gz", "bullseye.png", "aha.csv",
                 "slices.png", "metrics.json", "image.nii.gz", "truth_labels.nii.gz"):
        assert (out / name).exists(), name
    markdown = (out / "report.md").read_text()
    assert "synthetic LGE phantom" in markdown and "FWHM" in markdown
    assert "in the LAD territory" in markdown  # the headline names where the scar is
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # bullseye, transmurality, slices
    truth = read_labels(out / "truth_labels.nii.gz")
    labels = read_labels(out / "labels.nii.gz", like=truth)
    assert dice(L.scar(labels.array), L.scar(truth.array)) > 0.85
    aha_rows = (out / "aha.csv").read_text().splitlines()
    lad = [r for r in aha_rows[1:] if r.split(",")[0] in ("1", "7")]
    rca = [r for r in aha_rows[1:] if r.split(",")[0] in ("4", "10")]
    column = aha_rows[0].split(",").index("scar_percent")
    assert all(float(r.split(",")[column]) > 20 for r in lad)   # LAD scar found in LAD segments
    assert all(float(r.split(",")[column]) < 5 for r in rca)


def test_the_main_job_runs_the_network_on_a_phantom(tmp_path):
    """`scarsynth run -o OUTDIR` as the README's main job gives it: the deep network when installed."""
    from ScarSegmentLib.cli import network_available

    pytest.importorskip("AHABullseyeLib.aha")
    if not network_available():
        pytest.skip("no deep model is installed")
    done = scarsynth("run", "-o", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report"
    assert json.loads((out / "metrics.json").read_text())["method"] == "dl"
    truth = read_labels(out / "truth_labels.nii.gz")
    labels = read_labels(out / "labels.nii.gz", like=truth)
    import SimpleITK as sitk

    probabilities = sitk.ReadImage(str(out / "probabilities.nii.gz"))
    assert probabilities.GetNumberOfComponentsPerPixel() == 5
    assert probabilities.GetSize() == truth.shape[::-1]
    assert dice(L.lv_myocardium(labels.array), L.lv_myocardium(truth.array)) > 0.85
    assert dice(L.scar(labels.array), L.scar(truth.array)) > 0.8
    assert "deep network" in (out / "report.md").read_text()


def test_run_on_a_file_uses_the_given_myocardium_and_rv_insertion_points(case, tmp_path):
    pytest.importorskip("AHABullseyeLib.aha")
    from LGECore.volume import lps_to_ras

    folder, phantom = case
    points = phantom.truth["representative_insertion_points_lps"]
    anterior, inferior = lps_to_ras([points["anterior"], points["inferior"]])
    done = scarsynth("run", folder / "lge.nrrd", "-o", tmp_path / "out", "--method", "nsd",
                     "--myocardium", folder / "contours.nii.gz",
                     "--rv-insertion", *anterior, "--rv-insertion", *inferior)
    assert done.returncode == 0, done.stderr
    aha = json.loads((tmp_path / "out" / "aha.json").read_text())["aha"]
    assert aha["insertion_source"] == "user"
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "phantom" not in markdown.lower() and "Spacing assumed" not in markdown
    assert not (tmp_path / "out" / "image.nii.gz").exists()  # the input is not copied


@pytest.mark.parametrize("bad", ["same point twice", "nan"])
def test_run_refuses_unusable_rv_insertion_points(case, tmp_path, capsys, bad):
    """RV insertion points the user gave are never dropped into a warning, nor used to make empty
    septal segments: `run` exits with 2, a one-line error, and writes nothing."""
    pytest.importorskip("AHABullseyeLib.aha")
    from LGECore.volume import lps_to_ras

    folder, phantom = case
    anterior = lps_to_ras(phantom.truth["representative_insertion_points_lps"]["anterior"])
    second = anterior if bad == "same point twice" else ["nan", 2, 3]
    code, stderr = scarsynth_here(capsys, "run", folder / "lge.nrrd", "-o", tmp_path / "out",
                                  "--method", "nsd", "--myocardium", folder / "contours.nii.gz",
                                  "--rv-insertion", *anterior, "--rv-insertion", *second)
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith("progress:")]
    assert len(errors) == 1 and errors[0].startswith("scarsynth run: error: RV insertion points"), stderr
    assert ("1 and 2 are the same point" if bad == "same point twice" else "NaN") in errors[0]
    assert not (tmp_path / "out").exists()


def test_unit_spacing_is_reported_as_assumed(case, tmp_path, capsys):
    folder, phantom = case
    unit = Volume(phantom.image.array, (1, 1, 1), phantom.image.origin, phantom.image.direction)
    write_volume(unit, tmp_path / "unit.nii.gz")
    write_volume(unit.with_array(phantom.labels.array), tmp_path / "lab.nii.gz")
    code, stderr = scarsynth_here(capsys, "segment", tmp_path / "unit.nii.gz", "-o", tmp_path / "out",
                                  "--method", "fwhm", "--myocardium", tmp_path / "lab.nii.gz")
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert any("Spacing assumed" in w for w in metrics["warnings"])
    assert metrics["voxel_volume_ml"] == pytest.approx(0.001)


def test_slices_that_look_like_a_long_axis_view_are_warned_of(case, tmp_path, capsys):
    """Short-axis geometry passes quietly; a stack whose slice normal lies across the typical LV
    long axis, as a four-chamber view's does, gets a warning."""
    from AHABullseyeLib.orientation import TYPICAL_LONG_AXIS_LPS

    folder, phantom = case
    across = np.cross(TYPICAL_LONG_AXIS_LPS, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    in_plane = np.cross(across, TYPICAL_LONG_AXIS_LPS)
    direction = np.stack([TYPICAL_LONG_AXIS_LPS, in_plane, across], axis=1)
    for name, geometry in (("short", phantom.image.direction), ("long", direction)):
        image = Volume(phantom.image.array, phantom.image.spacing, phantom.image.origin, geometry)
        write_volume(image, tmp_path / f"{name}.nii.gz")
        write_volume(image.with_array(phantom.labels.array), tmp_path / f"{name}_labels.nii.gz")
        code, stderr = scarsynth_here(capsys, "segment", tmp_path / f"{name}.nii.gz", "-o", tmp_path / name,
                                      "--method", "fwhm", "--myocardium", tmp_path / f"{name}_labels.nii.gz")
        assert code == 0, stderr
    short = json.loads((tmp_path / "short" / "metrics.json").read_text())["warnings"]
    long = json.loads((tmp_path / "long" / "metrics.json").read_text())["warnings"]
    assert not any("short-axis" in w for w in short)
    assert any("may not be short-axis: their normal lies 90 degrees" in w for w in long)


def test_run_on_a_stack_stored_with_slices_along_the_last_axis(case, tmp_path):
    """The same scan stored [x, y, z] gets the same AHA table and scar, with every file on its own
    grid: the AHA model and the figures work on the slices, wherever the array keeps them."""
    pytest.importorskip("AHABullseyeLib.aha")
    from ScarSegmentLib.pipeline import run_pipeline

    _, phantom = case
    image, truth = phantom.image, phantom.labels
    stored_xyz = image.transposed((2, 1, 0))
    for name, volume, myocardium in (("as_stored", image, truth), ("xyz", stored_xyz, truth.transposed((2, 1, 0)))):
        run_pipeline(volume, tmp_path / name, "test", method="fwhm", myocardium=myocardium)
    labels = read_labels(tmp_path / "xyz" / "labels.nii.gz", like=stored_xyz)
    segments = read_image(tmp_path / "xyz" / "aha_segments.nii.gz")  # AHA numbers 1..17, not labels
    assert segments.same_grid(stored_xyz)
    assert np.array_equal(labels.array, read_labels(tmp_path / "as_stored" / "labels.nii.gz").array.transpose(2, 1, 0))
    assert np.array_equal(segments.array,
                          read_image(tmp_path / "as_stored" / "aha_segments.nii.gz").array.transpose(2, 1, 0))
    assert (tmp_path / "xyz" / "aha.csv").read_text() == (tmp_path / "as_stored" / "aha.csv").read_text()


def test_aha_functions_take_slices_along_any_axis(case):
    """segment_aha and quantify_aha on the label map stored [x, y, z]: the same table, and the
    segment map on that grid."""
    pytest.importorskip("AHABullseyeLib.aha")
    from AHABullseyeLib.aha import segment_aha
    from AHABullseyeLib.quantify import quantify_aha

    labels = case[1].labels
    stored_xyz = labels.transposed((2, 1, 0))
    as_stored, xyz = segment_aha(labels), segment_aha(stored_xyz)
    assert xyz.segments.same_grid(stored_xyz)
    assert np.array_equal(xyz.segments.array, as_stored.segments.array.transpose(2, 1, 0))
    assert xyz.slice_levels == as_stored.slice_levels
    assert quantify_aha(stored_xyz, xyz) == quantify_aha(labels, as_stored)


def test_run_auto_method_and_bad_weights(tmp_path, capsys):
    from ScarSegmentLib.cli import network_available

    code, stderr = scarsynth_here(capsys, "run", "-o", tmp_path / "out", "--weights",
                                  tmp_path / "absent.safetensors")
    assert code == 2 and "Weights file not found" in stderr and not (tmp_path / "out").exists()
    if network_available():
        pytest.skip("a deep model is installed: auto picks it")
    code, stderr = scarsynth_here(capsys, "run", tmp_path / "lge.nii.gz", "-o", tmp_path / "out")
    assert code == 2 and "No deep segmentation model is installed" in stderr


@pytest.mark.parametrize("spacing, extra, message", [
    ((30.0, 30.0, 10.0), [], "slices would be 4800 mm across"),            # a header with 30 mm pixels
    ((1.5, 1.5, 10.0), ["--spacing", "1000", "1000", "10"], "implausible (over 100 mm)"),
    ((1.5, 1.5, 10.0), ["--spacing", "1.5", "1.5", "1e308"], "implausible (over 100 mm)"),
])
@pytest.mark.parametrize("method", ["dl", "fwhm"])
def test_an_implausible_geometry_is_refused_before_any_resampling(capsys, tmp_path, spacing, extra, message, method):
    """A 160 x 160 x 10 stack whose header says 30 mm pixels made segment grow past 6 GB; 1000 mm
    pixels asked for 560 GB. Now each is one clear error, with nothing written."""
    import tracemalloc

    rng = np.random.default_rng(0)
    image = Volume((rng.random((10, 160, 160)) * 100).astype(np.float32), spacing)
    write_volume(image, tmp_path / "lge.nii.gz")
    labels = [] if method == "dl" else ["--myocardium", tmp_path / "labels.nii.gz"]
    if labels:
        write_volume(image.with_array(np.full(image.shape, L.MYOCARDIUM, np.uint8)), tmp_path / "labels.nii.gz")
    tracemalloc.start()
    code, stderr = scarsynth_here(capsys, "segment", tmp_path / "lge.nii.gz", "-o", tmp_path / "out",
                                  "--method", method, *labels, *extra)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2 and message in stderr and "Traceback" not in stderr, stderr
    assert not (tmp_path / "out").exists()
    assert peak < 200e6  # refused before anything of the resampled size was allocated
