"""`scarsynth synth` and `scarsynth synth-dataset`: outputs on the input grid, atomic, clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from LGECore import labels as L
from LGECore.errors import ScarSynthError
from LGECore.io import read_emidec_dataset, read_image, read_labels, write_volume

HAS_RENDERER = True
try:
    import ScarSynthLib.diffusion  # noqa: F401
except ImportError:
    HAS_RENDERER = False


def renderer_ready():
    """True when the diffusion renderer and its weights are installed."""
    if not HAS_RENDERER:
        return False
    try:
        ScarSynthLib.diffusion.load_generator(device="cpu")
    except ScarSynthError:
        return False
    return True


def scarsynth(*args):
    return subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", *map(str, args)],
                          capture_output=True, encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def normal_case(emidec_dir):
    return next(c for c in read_emidec_dataset(emidec_dir) if not c.has_infarct)


@pytest.fixture(scope="module")
def infarct_case(emidec_dir):
    return next(c for c in read_emidec_dataset(emidec_dir) if c.has_infarct)


def test_synth_mask_only_writes_labels_on_the_input_grid(normal_case, tmp_path):
    out = tmp_path / "out"
    run = scarsynth("synth", normal_case.image_path, normal_case.labels_path, "--territory", "LAD",
                    "--transmurality", "0.8", "--mvo", "--seed", "3", "--mask-only", "-o", out)
    assert run.returncode == 0, run.stderr
    image = read_image(normal_case.image_path)
    labels = read_labels(out / "labels.nii.gz", like=image)  # raises unless on the same grid
    params = json.loads((out / "params.json").read_text())
    assert params["territory"] == "LAD" and params["mvo"] and params["seed"] == 3
    assert (labels.array == L.MVO).sum() == params["mvo_voxels_added"] > 0
    assert L.scar(labels.array).sum() == params["scar_voxels_added"]
    assert not (out / "image.nii.gz").exists() and not params["image_synthesised"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


def test_synth_keeps_existing_scar_and_adds_the_new_one(infarct_case, tmp_path):
    run = scarsynth("synth", infarct_case.image_path, infarct_case.labels_path, "--segments",
                    "5,6,11,12", "--mask-only", "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    before = read_labels(infarct_case.labels_path).array
    after = read_labels(tmp_path / "labels.nii.gz").array
    assert np.array_equal(after[L.scar(before)], before[L.scar(before)])
    assert L.scar(after).sum() > L.scar(before).sum()
    assert "existing scar" in run.stdout


def test_synth_random_request_is_reproducible(normal_case, tmp_path):
    runs = [scarsynth("synth", normal_case.image_path, normal_case.labels_path, "--random",
                      "--seed", "9", "--mask-only", "-o", tmp_path / name) for name in ("a", "b")]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    a, b = (read_labels(tmp_path / name / "labels.nii.gz").array for name in ("a", "b"))
    assert np.array_equal(a, b) and L.scar(a).any()
    params = json.loads((tmp_path / "a" / "params.json").read_text())
    assert params["pattern"] == "ischaemic" and params["segments"]


def test_synth_renders_an_image_on_the_input_grid(normal_case, tmp_path):
    if not renderer_ready():
        pytest.skip("the diffusion renderer or its weights are not installed")
    run = scarsynth("synth", normal_case.image_path, normal_case.labels_path, "--territory", "RCA",
                    "--steps", "2", "--device", "cpu", "-o", tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "params.json").read_text())["image_synthesised"]
    image = read_image(normal_case.image_path)
    synthetic = read_image(tmp_path / "image.nii.gz")
    image.check_same_grid(synthetic, what="synthetic image")
    assert np.all(np.isfinite(synthetic.array))


@pytest.mark.skipif(HAS_RENDERER, reason="the diffusion renderer is installed")
def test_synth_without_renderer_says_to_use_mask_only(normal_case, tmp_path):
    run = scarsynth("synth", normal_case.image_path, normal_case.labels_path, "--territory", "RCA",
                    "-o", tmp_path / "out")
    assert run.returncode == 2 and "--mask-only" in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--segments", "1,2", "--territory", "LAD"], "not allowed with"),
    (["--segments", "0,3"], "1..17"),
    (["--segments", "a,b"], "segment numbers"),
    (["--territory", "LMCA"], "Unknown coronary territory"),
    (["--territory", "LAD", "--transmurality", "0.4", "--mvo"], "transmural"),
])
def test_synth_bad_requests_fail_cleanly(normal_case, tmp_path, args, message):
    run = scarsynth("synth", normal_case.image_path, normal_case.labels_path, *args,
                    "--mask-only", "-o", tmp_path / "out")
    assert run.returncode == 2 and message in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_synth_refuses_labels_on_another_grid(normal_case, tmp_path):
    labels = read_labels(normal_case.labels_path)
    shifted = tmp_path / "shifted.nii.gz"
    write_volume(type(labels)(labels.array, labels.spacing, (5.0, 0.0, 0.0), labels.direction), shifted)
    run = scarsynth("synth", normal_case.image_path, shifted, "--territory", "LAD", "--mask-only",
                    "-o", tmp_path / "out")
    assert run.returncode == 2 and "origin" in run.stderr


@pytest.fixture()
def small_dataset(emidec_dir, tmp_path):
    """Two cases without scar and one with, linked into the EMIDEC layout."""
    cases = read_emidec_dataset(emidec_dir)
    chosen = [c for c in cases if not c.has_infarct][:2] + [c for c in cases if c.has_infarct][:1]
    root = tmp_path / "data"
    for case in chosen:
        for part, path in (("Images", case.image_path), ("Contours", case.labels_path)):
            (root / case.name / part).mkdir(parents=True)
            (root / case.name / part / path.name).symlink_to(path)
    return root, [c.name for c in chosen[:2]]


def test_synth_dataset_builds_an_emidec_layout_set_from_cases_without_scar(small_dataset, tmp_path):
    root, normal_names = small_dataset
    out = tmp_path / "synthetic"
    run = scarsynth("synth-dataset", root, "-n", "3", "--seed", "1", "--mask-only", "-o", out)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "synth_dataset.json").read_text())
    assert [c["case"] for c in manifest["cases"]] == ["Case_Psyn0001", "Case_Psyn0002", "Case_Psyn0003"]
    assert {c["source"] for c in manifest["cases"]} <= set(normal_names)
    for entry in manifest["cases"]:
        labels = read_labels(out / entry["case"] / "Contours" / f"{entry['case']}.nii.gz")
        source = read_labels(root / entry["source"] / "Contours" / f"{entry['source']}.nii.gz")
        assert source.same_grid(labels)
        assert L.scar(labels.array).sum() == entry["scar_voxels_added"] > 0
    # The same seed gives the same set; an existing set is only completed with --resume.
    again = scarsynth("synth-dataset", root, "-n", "3", "--seed", "1", "--mask-only", "-o", out)
    assert again.returncode == 2 and "--resume" in again.stderr
    (out / "Case_Psyn0002" / "Contours" / "Case_Psyn0002.nii.gz").unlink()
    (out / "Case_Psyn0002" / "params.json").unlink()
    (out / "Case_Psyn0002" / "Contours").rmdir()
    (out / "Case_Psyn0002").rmdir()
    resumed = scarsynth("synth-dataset", root, "-n", "3", "--seed", "1", "--mask-only", "--resume", "-o", out)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "synth_dataset.json").read_text()) == manifest


def test_synth_dataset_from_infarct_hearts_scars_only_segments_without_scar(small_dataset, tmp_path):
    """The infarct heart keeps its scar; the new scar lies only in AHA segments that held none."""
    from ScarSynthLib.scar_masks import aha_segment_map

    root, normal_names = small_dataset
    out = tmp_path / "synthetic"
    run = scarsynth("synth-dataset", root, "-n", "2", "--seed", "1", "--from", "infarct", "--mask-only", "-o", out)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "synth_dataset.json").read_text())
    assert manifest["sources"] == "infarct"
    for entry in manifest["cases"]:
        assert entry["source"] not in normal_names and entry["existing_scar_segments"]
        assert set(entry["segments"]) <= set(entry["requested_segments"])
        assert not set(entry["segments"]) & set(entry["existing_scar_segments"])
        before = read_labels(root / entry["source"] / "Contours" / f"{entry['source']}.nii.gz")
        after = read_labels(out / entry["case"] / "Contours" / f"{entry['case']}.nii.gz").array
        old = L.scar(before.array)
        assert np.array_equal(after[old], before.array[old])  # the real scar as it was
        added = L.scar(after) & ~old
        assert added.sum() == entry["scar_voxels_added"] > 0
        segments, _ = aha_segment_map(before)
        assert set(np.unique(segments[added])) <= set(entry["segments"])
        assert not set(np.unique(segments[added])) & set(np.unique(segments[old]))
    # A set is completed only from the hearts it was made from.
    (out / "synth_dataset.json").unlink()
    resumed = scarsynth("synth-dataset", root, "-n", "3", "--seed", "1", "--mask-only", "--resume", "-o", out)
    assert resumed.returncode == 2 and "--from normal" in resumed.stderr


def test_synth_dataset_from_both_alternates_normal_and_infarct_hearts(tmp_path):
    from types import SimpleNamespace

    from ScarSynthLib.synth_sources import source_cases

    cases = [SimpleNamespace(name=n, has_infarct=n.startswith("Case_P"))
             for n in ("Case_N1", "Case_N2", "Case_N3", "Case_P1")]
    assert [c.name for c in source_cases(cases, "both")] == ["Case_N1", "Case_P1", "Case_N2", "Case_N3"]
    assert [c.name for c in source_cases(cases, "normal")] == ["Case_N1", "Case_N2", "Case_N3"]
    assert [c.name for c in source_cases(cases, "infarct")] == ["Case_P1"]


def test_synth_dataset_needs_cases_without_scar(emidec_dir, tmp_path):
    infarct = next(c for c in read_emidec_dataset(emidec_dir) if c.has_infarct)
    (tmp_path / "data" / infarct.name / "Images").mkdir(parents=True)
    (tmp_path / "data" / infarct.name / "Contours").mkdir(parents=True)
    (tmp_path / "data" / infarct.name / "Images" / "x.nii.gz").symlink_to(infarct.image_path)
    (tmp_path / "data" / infarct.name / "Contours" / "x.nii.gz").symlink_to(infarct.labels_path)
    run = scarsynth("synth-dataset", tmp_path / "data", "-n", "2", "--mask-only", "-o", tmp_path / "out")
    assert run.returncode == 2 and "Case_N" in run.stderr


def test_synth_uses_rv_insertion_points_given_in_ras(tmp_path):
    from LGECore.phantom import make_phantom

    phantom = make_phantom(seed=4, with_rv=False)  # no RV label: only the points can orient
    image_path, labels_path = tmp_path / "lge.nii.gz", tmp_path / "labels.nii.gz"
    write_volume(phantom.image, image_path)
    write_volume(phantom.labels, labels_path)
    points = phantom.truth["representative_insertion_points_lps"]
    flags = ["--rv-insertion=" + ",".join(f"{v:.3f}" for v in (-p[0], -p[1], p[2]))  # LPS -> RAS
             for p in (points["anterior"], points["inferior"])]
    run = scarsynth("synth", image_path, labels_path, "--territory", "RCA", *flags, "--mask-only",
                    "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    scar = L.scar(read_labels(tmp_path / "out" / "labels.nii.gz").array)
    assert np.isin(phantom.aha_segments.array[scar], (3, 4, 9, 10, 15)).mean() > 0.97
    assert "user" in json.loads((tmp_path / "out" / "params.json").read_text())["aha_orientation"]


def test_cli_info_prints_versions_and_model_folders():
    result = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", "info"],
                            capture_output=True, text=True, check=True)
    assert "torch" in result.stdout and "device" in result.stdout
    assert "model folders" in result.stdout


def test_cli_without_command_explains_usage():
    result = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli"], capture_output=True, text=True)
    assert result.returncode == 2 and "COMMAND" in result.stderr


@pytest.mark.parametrize("command", [
    ["phantom", "-o", "{tmp}/p.nii.gz"], ["run", "-o", "{tmp}/run"], ["synth", "a.nii.gz", "b.nii.gz", "--territory", "LAD",
                                                                       "-o", "{tmp}/s"],
    ["synth-dataset", "{tmp}", "-o", "{tmp}/d"], ["train-synth", "{tmp}", "-o", "{tmp}/t"], ["train-joint", "{tmp}", "-o", "{tmp}/j"],
    ["train-seg", "{tmp}", "-o", "{tmp}/m"], ["evaluate-synth", "{tmp}"]])
def test_a_negative_seed_is_a_usage_error_in_every_command(command, tmp_path):
    """numpy refuses negative seeds deep inside the work; every command refuses them on entry."""
    args = [part.replace("{tmp}", str(tmp_path)) for part in command] + ["--seed", "-1"]
    run = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", *args], capture_output=True, text=True)
    assert run.returncode == 2 and "a seed is a whole number of at least 0" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and sorted(p.name for p in tmp_path.iterdir()) == []


def test_make_phantom_refuses_a_negative_seed():
    from LGECore.phantom import make_phantom

    with pytest.raises(ScarSynthError, match="seed must be a whole number"):
        make_phantom(seed=-1)


@pytest.mark.parametrize("command", [["synth", "a.nii.gz", "b.nii.gz", "--territory", "LAD", "-o", "{tmp}/s"],
                                     ["train-synth", "{tmp}", "-o", "{tmp}/t"]])
def test_an_unknown_device_is_a_usage_error_before_any_work(command, tmp_path):
    args = [part.replace("{tmp}", str(tmp_path)) for part in command] + ["--device", "gpu"]
    run = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", *args], capture_output=True, text=True)
    assert run.returncode == 2 and "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and sorted(p.name for p in tmp_path.iterdir()) == []
