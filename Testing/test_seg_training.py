"""Training of the deep segmenter: end to end for a few iterations, resume, CLI, DDP (gloo)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from LGECore.errors import InputError
from LGECore.models import load_state_dict, sha256_of


@pytest.fixture(scope="module")
def small_dataset(emidec_dir, tmp_path_factory):
    """Four real cases (normal, infarct, MVO), linked into an EMIDEC-layout folder."""
    root = tmp_path_factory.mktemp("small_emidec")
    for name in ("Case_N006", "Case_N012", "Case_P001", "Case_P002"):
        (root / name).symlink_to(emidec_dir / name)
    return root


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


def test_training_on_phantoms(phantom_dataset, tmp_path):
    """Phantoms carry their true spacing (2 mm) and an RV label, which training leaves out."""
    from ScarSegmentLib.data import load_dataset
    from ScarSegmentLib.train import make_config, train_segmenter

    config = make_config("tiny", threads=1)
    cases = load_dataset(phantom_dataset, config.network, config.lost_spacing_mm, progress=False)
    assert {case.kind for case in cases} == {"normal", "infarct", "mvo"}
    assert all(case.labels.max() <= 4 for case in cases)
    assert cases[0].image.shape[1:] == (95, 95)  # 64 pixels of 2 mm on the 1.35 mm grid
    weights = train_segmenter(phantom_dataset, tmp_path / "model", config, progress=False)
    assert weights.is_file() and len(read_log(tmp_path / "model")) == 1
    # No device was asked for: the card names the one that was found.
    assert json.loads((tmp_path / "model" / "scar_segmenter_2d.json").read_text())["training"]["device"] == "cpu"
    assert " min on the CPU." in (tmp_path / "model" / "scar_segmenter_2d.md").read_text()


def read_log(model_dir):
    with open(model_dir / "training_log.csv") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_weights_log_card_and_resumes(small_dataset, tmp_path):
    from ScarSegmentLib.segmenter import load_segmenter
    from ScarSegmentLib.train import make_config, train_segmenter

    out = tmp_path / "model"
    weights = train_segmenter(small_dataset, out, make_config("tiny", threads=1), progress=False)
    entry = json.loads((out / "scar_segmenter_2d.json").read_text())
    assert entry["sha256"] == sha256_of(weights)
    assert len(entry["training"]["validation_cases"]) == 1
    card = (out / "scar_segmenter_2d.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "window around the LV, over all slices" in card
    assert "75% of the patches normalised on their own window" in card
    assert "12% of the patches normalised by the percentiles of a smaller field" in card  # half the other 25%
    rows = read_log(out)
    assert [row["epoch"] for row in rows] == ["1"]
    assert float(rows[0]["loss"]) > 0 and rows[0]["val_dice_myocardium"] != ""
    network, settings = load_segmenter(out)
    assert settings.patch_size == 32 and sum(p.numel() for p in network.parameters()) > 0

    # Resume continues from the checkpoint to the new number of epochs.
    train_segmenter(small_dataset, out, make_config("tiny", threads=1, epochs=2), resume=True, progress=False)
    assert [row["epoch"] for row in read_log(out)] == ["1", "2"]
    assert set(load_state_dict(out / "scar_segmenter_2d.safetensors")) == set(network.state_dict())

    with pytest.raises(InputError, match="already holds a training run"):
        train_segmenter(small_dataset, out, make_config("tiny"), progress=False)
    with pytest.raises(InputError, match="Nothing to resume"):
        train_segmenter(small_dataset, tmp_path / "empty", make_config("tiny"), resume=True, progress=False)


def test_fine_tuning_starts_from_the_parent_weights(phantom_dataset, tmp_path):
    """With a zero learning rate, fine-tuning must hand back the parent's weights unchanged; and it
    draws other patches than the parent did with the same seed."""
    from ScarSegmentLib.train import make_config, train_segmenter

    frozen = make_config("tiny", threads=1, learning_rate=0.0)
    parent = train_segmenter(phantom_dataset, tmp_path / "parent", frozen, progress=False)
    child = train_segmenter(phantom_dataset, tmp_path / "child",
                            make_config("tiny", threads=1, learning_rate=0.0, init_weights=str(tmp_path / "parent")),
                            progress=False)
    before, after = load_state_dict(parent), load_state_dict(child)
    assert all((before[k] == after[k]).all() for k in before)
    # The same weights, unchanged by training, give another loss: the patches differ.
    assert read_log(tmp_path / "child")[0]["loss"] != read_log(tmp_path / "parent")[0]["loss"]
    training = json.loads((tmp_path / "child" / "scar_segmenter_2d.json").read_text())["training"]
    assert training["fine_tuned_from"]["sha256"] == sha256_of(parent)
    assert training["config"]["init_weights"] == "parent"  # a folder name, never a machine path
    assert "fine-tuned from `scar_segmenter_2d`" in (tmp_path / "child" / "scar_segmenter_2d.md").read_text()

    # Resuming needs only the checkpoint: the parent may be gone, its lineage stays.
    parent_sha256 = sha256_of(parent)
    parent.unlink()
    train_segmenter(phantom_dataset, tmp_path / "child",
                    make_config("tiny", threads=1, epochs=2, init_weights=str(tmp_path / "parent")),
                    resume=True, progress=False)
    training = json.loads((tmp_path / "child" / "scar_segmenter_2d.json").read_text())["training"]
    assert training["fine_tuned_from"]["sha256"] == parent_sha256 and training["config"]["epochs"] == 2
    with pytest.raises(Exception, match="registry entr"):
        train_segmenter(phantom_dataset, tmp_path / "orphan",
                        make_config("tiny", threads=1, init_weights=str(tmp_path / "missing.json")), progress=False)


def test_train_seg_cli_with_extra_phantoms(small_dataset, phantom_dataset, tmp_path):
    out = tmp_path / "cli_model"
    command = [sys.executable, "-m", "ScarSynthLib.cli", "train-seg", str(small_dataset), "-o", str(out),
               "--preset", "tiny", "--threads", "1", "--no-progress", "--extra-train", str(phantom_dataset),
               "--class-weights", "1", "1", "1", "2", "3", "--intensity-anchors", "image"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "scar_segmenter_2d.safetensors").is_file() and (out / "checkpoint.pt").is_file()
    entry = json.loads((out / "scar_segmenter_2d.json").read_text())
    assert entry["settings"]["window_normalisation"] is False
    training = entry["training"]
    assert training["extra_train_cases"] == 3 and training["train_cases"] == 3
    assert training["config"]["class_weights"] == [1.0, 1.0, 1.0, 2.0, 3.0]
    card = (out / "scar_segmenter_2d.md").read_text()
    assert "--class-weights 1 1 1 2 3 --intensity-anchors image" in card and "percentiles of the whole image" in card
    bad = subprocess.run(command[:4] + [str(tmp_path / "missing"), "-o", str(tmp_path / "x"), "--preset", "tiny"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Dataset folder not found" in bad.stderr


def test_each_generation_of_a_lineage_has_its_own_patch_seeds():
    from ScarSegmentLib.train import generation, patch_seed

    first = {"name": "scar_segmenter_2d", "fine_tuned_from": None}
    second = {"name": "scar_segmenter_2d", "fine_tuned_from": first}
    assert [generation(lineage) for lineage in (None, first, second)] == [0, 1, 2]
    seeds = [patch_seed(0, g, epoch, rank) for g in range(3) for epoch in range(100) for rank in range(2)]
    assert len(set(seeds)) == len(seeds) and seeds == [patch_seed(0, g, epoch, rank) for g in range(3)
                                                       for epoch in range(100) for rank in range(2)]


def test_bad_settings_are_named():
    from ScarSegmentLib.train import make_config

    with pytest.raises(InputError, match="Unknown preset"):
        make_config("huge")
    with pytest.raises(InputError, match="learning_rat"):
        make_config("cpu", learning_rat=1.0)
    with pytest.raises(InputError, match="class_weights needs 5 positive"):
        make_config("cpu", class_weights=(1.0, 1.0, 0.0, 2.0, 3.0))
    with pytest.raises(InputError, match="class_weights needs 5 positive"):
        make_config("cpu", class_weights=(1.0, 1.0))
    # A NaN weight made every network weight NaN; no epoch exported an untrained model; a negative
    # seed failed deep inside the run.
    with pytest.raises(InputError, match="class_weights needs 5 positive"):
        make_config("cpu", class_weights=(float("nan"), 1.0, 1.0, 1.0, 1.0))
    for name, value in (("epochs", 0), ("seed", -1), ("batch_size", 0), ("iterations_per_epoch", 0), ("workers", -2)):
        with pytest.raises(InputError, match=f"--{name.replace('_', '-')} must be a whole number"):
            make_config("cpu", **{name: value})
    with pytest.raises(InputError, match="--learning-rate must be a finite number"):
        make_config("cpu", learning_rate=float("inf"))


def test_stratified_split_holds_out_each_kind():
    from ScarSegmentLib.data import stratified_split

    kinds = {"normal": [f"N{i}" for i in range(26)], "infarct": [f"I{i}" for i in range(24)],
             "mvo": [f"M{i}" for i in range(30)]}
    held = stratified_split(kinds, 16, seed=0)
    assert len(held) == 16 and len(set(held)) == 16
    counts = {kind: sum(name in names for name in held) for kind, names in kinds.items()}
    assert counts == {"normal": 5, "infarct": 5, "mvo": 6}


def test_ddp_two_gloo_processes(small_dataset, tmp_path):
    """torchrun with two CPU processes: gradients are averaged over gloo and rank 0 writes the model."""
    out = tmp_path / "ddp_model"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "ScarSynthLib.cli", "train-seg", str(small_dataset), "-o", str(out),
               "--preset", "tiny", "--iterations-per-epoch", "4", "--device", "cpu", "--threads", "1", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "scar_segmenter_2d.safetensors").is_file()
    assert [row["epoch"] for row in read_log(out)] == ["1"]
    # Only rank 0 writes; the registry entry records the world of two processes.
    assert done.stdout.count("weights:") == 1
    assert json.loads((out / "scar_segmenter_2d.json").read_text())["training"]["processes"] == 2


def test_modules_import_without_torch_or_slicer():
    """torch and monai load lazily; the Lib never imports Slicer, Qt or VTK."""
    code = ("import sys\n"
            "import ScarSegmentLib.inference, ScarSegmentLib.train, ScarSegmentLib.train_cli, ScarSegmentLib.segmenter\n"
            "print(sorted(m for m in ('torch', 'monai', 'slicer', 'vtk', 'qt') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_widened_input_predicts_as_the_parent_did():
    """The neighbours' new input weights start at zero: the 2.5D network equals its 2D parent."""
    import torch

    from ScarSegmentLib.network import build_network, widen_input
    from ScarSegmentLib.train import make_config

    settings = make_config("tiny").network
    parent = build_network(settings).eval()
    widened_settings = type(settings).from_dict({**settings.to_dict(), "context_slices": 1})
    child = build_network(widened_settings).eval()
    child.load_state_dict(widen_input(parent.state_dict(), child))
    torch.manual_seed(0)
    middle = torch.rand(2, 1, 32, 32)
    with_neighbours = torch.cat([torch.rand(2, 1, 32, 32), middle, torch.rand(2, 1, 32, 32)], dim=1)
    with torch.no_grad():
        assert torch.allclose(child(with_neighbours), parent(middle), atol=1e-6)
    narrower = build_network(settings)
    with pytest.raises(ValueError, match="cannot be widened"):
        widen_input(child.state_dict(), narrower)


@pytest.mark.parametrize("residual_units", [0, 1])
def test_widened_features_predict_as_the_parent_did_and_learn(residual_units):
    """More features per level (and neighbouring slices) grown from a parent: the child first
    predicts exactly as the parent did, and its new features receive gradients."""
    import torch

    from ScarSegmentLib.network import build_network, widen_features
    from ScarSegmentLib.train import grow_parent, make_config

    tiny = make_config("tiny").network
    parent_settings = type(tiny).from_dict({**tiny.to_dict(), "num_res_units": residual_units})
    child_settings = type(tiny).from_dict({**parent_settings.to_dict(), "channels": [6, 12, 24], "context_slices": 1})
    torch.manual_seed(1)
    parent = build_network(parent_settings).eval()
    child = build_network(child_settings).eval()
    child.load_state_dict(grow_parent(parent.state_dict(), parent_settings, child_settings, seed=0))
    middle = torch.rand(2, 1, 32, 32)
    with_neighbours = torch.cat([torch.rand(2, 1, 32, 32), middle, torch.rand(2, 1, 32, 32)], dim=1)
    with torch.no_grad():
        assert torch.allclose(child(with_neighbours), parent(middle), atol=1e-6)

    # The new features reach the output only through weights that start at zero; those learn.
    child(with_neighbours).square().mean().backward()
    top_up_layer = next(module for name, module in child.named_modules()
                        if isinstance(module, torch.nn.ConvTranspose2d) and "submodule" not in name)
    skip_features, parent_skip = child_settings.channels[0], parent_settings.channels[0]
    new_inputs = [*range(parent_skip, skip_features), *range(skip_features + parent_skip, 2 * skip_features)]
    assert top_up_layer.weight[new_inputs].abs().sum() == 0
    assert top_up_layer.weight.grad[new_inputs].abs().sum() > 0

    with pytest.raises(ValueError, match="cannot be widened"):
        widen_features(child.state_dict(), child_settings.channels, build_network(parent_settings),
                       parent_settings.channels)


def _train_parent_and_child(dataset, tmp_path, child_arguments):
    """Train a tiny parent, then a child fine-tuned from it with `child_arguments`; their folders."""
    parent, child = tmp_path / "parent", tmp_path / "child"
    base = [sys.executable, "-m", "ScarSynthLib.cli", "train-seg", str(dataset), "--preset", "tiny",
            "--threads", "1", "--no-progress"]
    for command in (base + ["-o", str(parent)], base + ["-o", str(child), "--init-weights", str(parent)] + child_arguments):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    return parent, child


def test_fine_tuning_to_more_features(phantom_dataset, tmp_path):
    """--channels with --init-weights grows the parent; the card says so and the child segments."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.segmenter import load_segmenter

    parent, child = _train_parent_and_child(phantom_dataset, tmp_path, ["--channels", "6", "12", "24", "--seed", "5"])
    _, settings = load_segmenter(child)
    assert tuple(settings.channels) == (6, 12, 24)
    # Features the parent's weights do not fit into are refused, not silently replaced.
    for channels in (["2", "12", "24"], ["6", "12"]):
        refused = subprocess.run(
            [sys.executable, "-m", "ScarSynthLib.cli", "train-seg", str(phantom_dataset), "--preset", "tiny",
             "-o", str(tmp_path / "refused"), "--init-weights", str(parent), "--channels", *channels],
            capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2, refused.stderr
        assert "3 levels of 4 8 16 features" in refused.stderr
        assert not (tmp_path / "refused").exists()
    card = (child / "scar_segmenter_2d.md").read_text()
    assert "The parent had [4, 8, 16] features per level" in card and "--channels 6 12 24" in card
    assert "--seed 5" in card

    phantom = make_phantom(seed=3, n_slices=5, matrix_size=64, pixel_spacing=2.0)
    result = segment_dl(phantom.image, weights=child, device="cpu", progress=False)
    assert result.labels.shape == phantom.image.shape


def test_fine_tuning_to_neighbouring_slices_and_segmenting_with_them(phantom_dataset, tmp_path):
    """A 2D parent becomes a 2.5D child (--context-slices 1) that segments whole volumes."""
    from LGECore.phantom import make_phantom
    from ScarSegmentLib.inference import segment_dl
    from ScarSegmentLib.segmenter import load_segmenter

    parent, child = _train_parent_and_child(phantom_dataset, tmp_path, ["--context-slices", "1"])
    network, settings = load_segmenter(child)
    assert settings.context_slices == 1 and settings.in_channels == 3
    before = load_state_dict(parent / "scar_segmenter_2d.safetensors")
    widened = {name for name, tensor in network.state_dict().items() if tensor.shape != before[name].shape}
    assert widened and all(before[name].shape[1] == 1 and network.state_dict()[name].shape[1] == 3
                           for name in widened)
    card = (child / "scar_segmenter_2d.md").read_text()
    assert "--context-slices 1" in card and "taken 10 mm apart as in training" in card

    phantom = make_phantom(seed=3, n_slices=5, matrix_size=64, pixel_spacing=2.0)
    result = segment_dl(phantom.image, weights=child, device="cpu", progress=False)
    assert result.labels.shape == phantom.image.shape and result.probabilities.shape == (5,) + phantom.image.shape
