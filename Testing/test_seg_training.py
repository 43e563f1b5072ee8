"""Training the segmenter cascade: end to end for a few iterations, resume, folds, CLI, DDP (gloo)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from LGECore.errors import InputError
from LGECore.models import load_state_dict, sha256_of


@pytest.fixture(scope="module")
def small_dataset(linked_cases):
    """Four real cases (normal, infarct, MVO), linked into an EMIDEC-layout folder."""
    return linked_cases("Case_N006", "Case_N012", "Case_P001", "Case_P002")


@pytest.fixture(scope="module")
def phantom_dataset(tmp_path_factory):
    """Three small phantoms (normal, scar, scar with MVO) written in the EMIDEC layout."""
    from LGECore.io import write_volume
    from LGECore.phantom import make_phantom

    root = tmp_path_factory.mktemp("phantoms")
    kinds = {"Case_N001": {}, "Case_P001": {"territory": "LAD"}, "Case_P002": {"territory": "RCA", "mvo": True,
                                                                              "transmurality": 0.8}}
    for seed, (name, scar) in enumerate(kinds.items()):
        phantom = make_phantom(seed=seed, n_slices=4, matrix_size=64, pixel_spacing=2.0, **scar)
        write_volume(phantom.image, root / name / "Images" / f"{name}.nii.gz")
        write_volume(phantom.labels, root / name / "Contours" / f"{name}.nii.gz")
    return root


def read_log(model_dir, stage):
    with open(model_dir / f"training_log_{stage}.csv") as handle:
        return list(csv.DictReader(handle))


def tiny(**changes):
    from ScarSegmentLib.cascade_config import make_cascade_config

    return make_cascade_config("tiny", threads=1, **changes)


def test_cascade_trains_on_phantoms_and_segments_with_both_networks(phantom_dataset, tmp_path):
    """Phantoms carry their true spacing (2 mm) and an RV label, which training leaves out; the
    trained cascade is then what `segment_dl` runs, and its probabilities cover all five classes."""
    import torch

    from LGECore.io import read_emidec_dataset
    from ScarSegmentLib.cascade_train import train_cascade
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.segmenter import load_scar_stage, load_segmenter

    out = tmp_path / "model"
    entry_path = train_cascade(phantom_dataset, out, tiny(), progress=False)
    entry = json.loads(entry_path.read_text())
    assert entry["kind"] == "cascade" and entry["training"]["device"] == "cpu"
    assert entry["sha256"] == sha256_of(out / entry["file"])
    assert entry["scar_stage"]["sha256"] == sha256_of(out / entry["scar_stage"]["file"])
    assert len(entry["training"]["train_cases"]) == 3 and entry["training"]["held_out_cases"] == []
    card = (out / "scar_cascade.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "scarsynth train-seg DATASET_DIR -o MODEL_DIR --preset tiny" in card
    assert "4 outputs read as 3 classes" in card and card.count("slices with scar drawn 3 times as often") == 2
    # Each network's KL and augmentation as trained (the scar network's input cancels contrast and brightness).
    assert card.count("x KL to labels smoothed") == 2
    assert "any in-plane angle and flips, zoom +-15 %, gamma, contrast, brightness and noise at strength 1" in card
    assert "any in-plane angle and flips, zoom +-15 %, gamma and noise at strength 1" in card
    assert [row["epoch"] for row in read_log(out, "anatomy")] == ["1"] and read_log(out, "scar")
    anatomy, anatomy_settings = load_segmenter(entry_path)
    scar, scar_settings = load_scar_stage(entry_path)
    # Four outputs (healthy and infarcted myocardium apart), read as three classes.
    assert anatomy_settings.num_classes == 4 and anatomy_settings.in_channels == 3
    assert anatomy(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert scar_settings.in_channels == 5  # the slice, its two neighbours, blood-pool and myocardium probabilities
    image, _ = read_emidec_dataset(phantom_dataset)[1].load()
    result = segment_dl(image, weights=entry_path, device="cpu", progress=False)
    assert result.probabilities.shape == (5,) + image.shape
    assert abs(result.probabilities.sum(axis=0) - 1).max() < 1e-4


def test_resume_refusals_and_changed_settings(small_dataset, tmp_path):
    from ScarSegmentLib.cascade_train import train_cascade

    out = tmp_path / "model"
    train_cascade(small_dataset, out, tiny(fold=(0, 2)), progress=False)
    rows = read_log(out, "anatomy")
    assert float(rows[0]["loss"]) > 0 and rows[0]["val_dice_myocardium"] != ""  # the held-out fold is scored
    assert read_log(out, "scar")[0]["val_dice_scar"] != ""
    with pytest.raises(InputError, match="already holds a training run"):
        train_cascade(small_dataset, out, tiny(fold=(0, 2)), progress=False)
    with pytest.raises(InputError, match="Nothing to resume"):
        train_cascade(small_dataset, tmp_path / "empty", tiny(), resume=True, progress=False)
    with pytest.raises(InputError, match="other settings"):
        train_cascade(small_dataset, out, tiny(fold=(1, 2)), resume=True, progress=False)
    # A run stopped after its first network resumes with the second; nothing is trained twice.
    (out / "checkpoint_scar.pt").unlink()
    (out / "training_log_scar.csv").unlink()
    train_cascade(small_dataset, out, tiny(fold=(0, 2)), resume=True, progress=False)
    assert len(read_log(out, "anatomy")) == 1 and len(read_log(out, "scar")) == 1
    assert set(load_state_dict(out / "scar_cascade_scar.safetensors"))


def test_folds_hold_every_case_once_and_share_the_kinds():
    from ScarSegmentLib.folds import parse_fold, stratified_folds

    kinds = {"normal": [f"N{i}" for i in range(26)], "infarct": [f"I{i}" for i in range(24)],
             "mvo": [f"M{i}" for i in range(30)]}
    folds = stratified_folds(kinds, 5, seed=0)
    assert sorted(sum(folds, [])) == sorted(sum(kinds.values(), []))
    for fold in folds:
        assert len(fold) == 16
        for kind, names in kinds.items():
            assert abs(sum(name in names for name in fold) - len(names) / 5) <= 1
    assert folds == stratified_folds(kinds, 5, seed=0) and folds != stratified_folds(kinds, 5, seed=1)
    assert parse_fold("2/5") == (1, 5)
    for bad in ("0/5", "6/5", "1/1", "2", "a/b"):
        with pytest.raises(InputError, match="--fold"):
            parse_fold(bad)


def test_train_seg_cli(small_dataset, tmp_path):
    """A cross-validation fold with an extra training set (one phantom case, as a synthetic set would be):
    the extra case trains, is never held out, and the entry and card name its folder."""
    from LGECore.io import write_volume
    from LGECore.phantom import make_phantom

    extra = tmp_path / "extra"
    phantom = make_phantom(seed=5, n_slices=4, matrix_size=64, pixel_spacing=2.0, territory="LAD")
    write_volume(phantom.image, extra / "Case_P9100" / "Images" / "Case_P9100.nii.gz")
    write_volume(phantom.labels, extra / "Case_P9100" / "Contours" / "Case_P9100.nii.gz")
    out = tmp_path / "cli_model"
    command = [sys.executable, "-m", "ScarSynthLib.cli", "train-seg", str(small_dataset), "-o", str(out),
               "--preset", "tiny", "--threads", "1", "--no-progress", "--fold", "2/2", "--learning-rate", "1e-3",
               "--extra-train", str(extra), "--blur", "1", "--edge-cuts", "0.25"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = json.loads((out / "scar_cascade.json").read_text())
    assert entry["training"]["config"]["fold"] == [1, 2] and len(entry["training"]["held_out_cases"]) == 2
    assert entry["training"]["config"]["scar"]["learning_rate"] == 1e-3
    assert entry["training"]["config"]["extra_train_dirs"] == ["extra"]  # the folder's name, not its path
    assert entry["training"]["extra_train_cases"] == {"extra": ["Case_P9100"]}
    assert "Case_P9100" in entry["training"]["train_cases"] and len(entry["training"]["train_cases"]) == 3
    card = (out / "scar_cascade.md").read_text()
    assert "Trained on 2 cases" in card and "1 from `extra`" in card and "--extra-train extra" in card
    assert "LGE phantoms" not in card  # the tiny preset makes none; the extra case is not one
    config = entry["training"]["config"]
    assert (config["anatomy"]["blur"], config["anatomy"]["edge_cuts"]) == (1.0, 0.25)
    assert (config["scar"]["blur"], config["scar"]["edge_cuts"]) == (1.0, 0.0)  # edges: the anatomy network's
    assert "--preset tiny --blur 1 --edge-cuts 0.25 --extra-train extra" in card
    assert "Gaussian blur up to 1 pixel, an image edge near the LV in 25 %" in card
    for args, message in (([str(tmp_path / "missing"), "-o", str(tmp_path / "x")], "Dataset folder not found"),
                          ([str(small_dataset), "-o", str(tmp_path / "y"), "--fold", "3/2"], "--fold K/N"),
                          ([str(small_dataset), "-o", str(tmp_path / "z"), "--epochs", "0"], "epochs must be"),
                          ([str(small_dataset), "-o", str(tmp_path / "b"), "--blur", "4"], "--blur: expected"),
                          ([str(small_dataset), "-o", str(tmp_path / "e"), "--edge-cuts", "-0.1"], "--edge-cuts: expected"),
                          ([str(small_dataset), "-o", str(tmp_path / "v"), "--extra-train", str(tmp_path / "none")],
                           "--extra-train: Dataset folder not found"),
                          ([str(small_dataset), "-o", str(tmp_path / "w"), "--extra-train", str(tmp_path)],
                           "--extra-train: No cases in"),
                          ([str(small_dataset), "-o", str(tmp_path / "u"), "--extra-train", str(small_dataset)],
                           "named as, or the same files as")):
        bad = subprocess.run(command[:4] + args + ["--preset", "tiny"], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
        assert not Path(args[2]).exists()  # refused before any work


def test_extra_training_cases_reach_only_the_networks_asked_for():
    from ScarSegmentLib.cascade_card import _extra_text
    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSegmentLib.cascade_train import stage_training_cases
    from ScarSegmentLib.weak_card import rebuild_command

    cases = [SimpleNamespace(name="Case_N001", extra_set=""), SimpleNamespace(name="Case_Psyn01", extra_set="syn")]
    both = make_cascade_config("tiny", extra_train_dirs=("runs/syn",))
    scar_only = make_cascade_config("tiny", extra_train_dirs=("runs/syn",), extra_train_networks=("scar",))
    assert [len(stage_training_cases(cases, both, role)) for role in ("anatomy", "scar")] == [2, 2]
    assert [len(stage_training_cases(cases, scar_only, role)) for role in ("anatomy", "scar")] == [1, 2]
    with pytest.raises(InputError, match="--extra-train-for"):
        make_cascade_config("tiny", extra_train_networks=("heart",))
    for config, said, option in ((both, "Both networks were", ""), (scar_only, "The scar network alone was",
                                                                     " --extra-train-for scar")):
        training = {"config": config.to_dict(), "extra_train_cases": {"syn": ["Case_Psyn01"]}}
        assert said in _extra_text(training)
        assert rebuild_command({"training": training}).endswith(f"--extra-train syn{option}")


def test_bad_settings_are_named():
    from ScarSegmentLib.cascade_config import make_cascade_config

    with pytest.raises(InputError, match="Unknown preset"):
        make_cascade_config("huge")
    with pytest.raises(InputError, match="learning_rat"):
        make_cascade_config("cpu", {"learning_rat": 1.0})
    with pytest.raises(InputError, match="class weights need 4 positive"):
        make_cascade_config("cpu", {"class_weights": (1.0, float("nan"), 1.0)})
    for name, value in (("epochs", 0), ("batch_size", 0), ("iterations_per_epoch", 0)):
        with pytest.raises(InputError, match="must be a whole number"):
            make_cascade_config("cpu", {name: value})
    with pytest.raises(InputError, match="learning rate must be a finite number"):
        make_cascade_config("cpu", {"learning_rate": float("inf")})
    with pytest.raises(InputError, match="--seed must be"):
        make_cascade_config("cpu", seed=-1)
    from ScarSegmentLib.cascade_config import with_grid_augmentation

    with pytest.raises(InputError, match="--blur must be"):
        with_grid_augmentation(make_cascade_config("cpu"), blur=float("nan"))
    with pytest.raises(InputError, match="--edge-cuts must be"):
        with_grid_augmentation(make_cascade_config("cpu"), edge_cuts=1.5)
    plain = with_grid_augmentation(make_cascade_config("cpu"))
    assert plain == make_cascade_config("cpu")  # the defaults change nothing


def test_ddp_two_gloo_processes(small_dataset, tmp_path):
    """torchrun with two CPU processes: gradients are averaged over gloo and rank 0 writes the model."""
    out = tmp_path / "ddp_model"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "ScarSynthLib.cli", "train-seg", str(small_dataset), "-o", str(out),
               "--preset", "tiny", "--iterations-per-epoch", "4", "--device", "cpu", "--threads", "1", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "scar_cascade_scar.safetensors").is_file()
    assert [row["epoch"] for row in read_log(out, "scar")] == ["1"]
    # Only rank 0 writes; the registry entry records the world of two processes.
    assert done.stdout.count("model:") == 1
    assert json.loads((out / "scar_cascade.json").read_text())["training"]["processes"] == 2


def test_modules_import_without_torch_or_slicer():
    """torch and monai load lazily; the Lib never imports Slicer, Qt or VTK."""
    code = ("import sys\n"
            "import ScarSegmentLib.inference, ScarSegmentLib.cascade_train, ScarSegmentLib.train_cli, "
            "ScarSegmentLib.segmenter\n"
            "print(sorted(m for m in ('torch', 'monai', 'slicer', 'vtk', 'qt') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_fine_tuning_starts_from_a_trained_cascade(small_dataset, tmp_path):
    """With a zero learning rate, fine-tuning hands back the parent's two networks unchanged, and
    the entry and card name the parent by name and sha256, never by a machine path."""
    from ScarSegmentLib.cascade_train import train_cascade

    parent = train_cascade(small_dataset, tmp_path / "parent", tiny(), progress=False)
    frozen = tiny(init_weights=str(tmp_path / "parent"))
    frozen.anatomy.learning_rate = frozen.scar.learning_rate = 1e-30
    child = train_cascade(small_dataset, tmp_path / "child", frozen, progress=False)
    parent_entry, child_entry = json.loads(parent.read_text()), json.loads(child.read_text())
    import torch

    for parent_file, child_file in ((parent_entry["file"], child_entry["file"]),
                                    (parent_entry["scar_stage"]["file"], child_entry["scar_stage"]["file"])):
        before = load_state_dict(tmp_path / "parent" / parent_file)
        after = load_state_dict(tmp_path / "child" / child_file)
        assert all(torch.allclose(before[k], after[k]) for k in before)
    lineage = child_entry["training"]["fine_tuned_from"]
    assert lineage["sha256"] == parent_entry["sha256"] and lineage["scar_sha256"] == parent_entry["scar_stage"]["sha256"]
    assert child_entry["training"]["config"]["init_weights"] == "parent"
    assert "with `--init-weights scar_cascade`" in (tmp_path / "child" / "scar_cascade.md").read_text()
    # A parent built with other settings than the preset's is refused with the reason.
    from dataclasses import replace

    other = tiny(init_weights=str(tmp_path / "parent"))
    other.anatomy.network = replace(other.anatomy.network, channels=(8, 16, 32))
    with pytest.raises(InputError, match="other settings"):
        train_cascade(small_dataset, tmp_path / "other", other, progress=False)
    with pytest.raises(InputError, match="not a cascade"):  # the shipped single network
        train_cascade(small_dataset, tmp_path / "single", tiny(init_weights="scar_segmenter_2d"), progress=False)


def test_training_phantoms_join_the_training_cases_at_their_weight(small_dataset, tmp_path):
    """Phantoms are made in memory for training only, drawn at their weight; the held-out fold stays real."""
    from dataclasses import replace

    from ScarSegmentLib.cascade_batches import StageCases
    from ScarSegmentLib.cascade_train import train_cascade
    from ScarSegmentLib.data import load_phantoms

    config = tiny(fold=(0, 2), phantoms=2, phantom_weight=0.5)
    phantoms = load_phantoms(2, config.anatomy.network, 0.5, progress=False)
    assert [case.name for case in phantoms] == ["Phantom_P9000", "Phantom_P9001"]
    assert all(case.sampling_weight == 0.5 and case.labels.max() <= 4 for case in phantoms)
    unweighted = replace(config.anatomy, positive_oversampling=0.0, mvo_oversampling=0.0)
    stage = StageCases(phantoms[1:], unweighted, "anatomy")
    assert np.allclose(stage.weights, 1 / len(stage.weights))  # relative within the case, normalised overall
    entry = json.loads(train_cascade(small_dataset, tmp_path / "m", config, progress=False).read_text())
    assert [n for n in entry["training"]["train_cases"] if n.startswith("Phantom_")] == ["Phantom_P9000", "Phantom_P9001"]
    assert not any(n.startswith("Phantom_") for n in entry["training"]["held_out_cases"])
    assert "2 LGE phantoms" in (tmp_path / "m" / "scar_cascade.md").read_text()
    with pytest.raises(InputError, match="phantom-weight"):
        tiny(phantom_weight=0.0)


def test_a_damaged_file_of_either_network_is_refused(small_dataset, tmp_path):
    import shutil

    from LGECore.errors import WeightsError
    from ScarSegmentLib.cascade_train import train_cascade
    from ScarSegmentLib.segmenter import load_scar_stage, load_segmenter

    entry = json.loads(train_cascade(small_dataset, tmp_path / "model", tiny(), progress=False).read_text())
    files = (entry["file"], entry["scar_stage"]["file"], "scar_cascade.json")
    for damaged, load in ((entry["file"], load_segmenter), (entry["scar_stage"]["file"], load_scar_stage)):
        copy = tmp_path / damaged
        copy.mkdir()
        for name in files:
            shutil.copy(tmp_path / "model" / name, copy / name)
        data = bytearray((copy / damaged).read_bytes())
        data[-100] ^= 0xFF
        (copy / damaged).write_bytes(bytes(data))
        with pytest.raises(WeightsError, match="sha256"):
            load(copy)


def test_a_diverging_cascade_run_stops_and_keeps_its_last_checkpoint(phantom_dataset, tmp_path, monkeypatch):
    """A NaN loss in the second epoch of the anatomy network stops the run: the first epoch's
    checkpoint stays as it was, and no model is exported."""
    import torch

    from LGECore.errors import TrainingDiverged
    from ScarSegmentLib import losses
    from ScarSegmentLib.cascade_train import train_cascade

    from ScarSegmentLib.cascade_config import make_cascade_config

    config = make_cascade_config("tiny", {"epochs": 2}, threads=1)  # two steps an epoch
    real_forward, calls = losses.RobustSegmentationLoss.__call__, []

    def nan_in_epoch_two(self, *args, **kwargs):
        loss, parts = real_forward(self, *args, **kwargs)
        calls.append(1)
        return (loss * float("nan"), parts) if len(calls) == 3 else (loss, parts)

    monkeypatch.setattr(losses.RobustSegmentationLoss, "__call__", nan_in_epoch_two)
    with pytest.raises(TrainingDiverged, match="anatomy network's loss became nan at step 3"):
        train_cascade(phantom_dataset, tmp_path / "run", config, progress=False)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint_anatomy.pt", map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 1
    assert not list((tmp_path / "run").glob("*.safetensors"))
