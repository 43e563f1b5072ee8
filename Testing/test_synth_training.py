"""Generator training and joint training: the consistency gradient, and short end-to-end runs."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

TINY_CONFIG = dict(block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8)
# The start of a script that runs the `scarsynth` command line with the tiny generator as its
# default, for runs under torchrun (the command line has no option for the architecture).
TINY_DEFAULT = ("from ScarSynthLib import diffusion_model\n"
                f"diffusion_model.DEFAULT_CONFIG = {{**diffusion_model.DEFAULT_CONFIG, **{TINY_CONFIG!r}}}\n")


pytestmark = pytest.mark.usefixtures("one_torch_thread")

@pytest.fixture(scope="module")
def phantom_dataset(tmp_path_factory):
    """Two small LGE phantoms written in the EMIDEC layout (Case_X/Images, Case_X/Contours)."""
    from LGECore.io import write_volume
    from LGECore.phantom import make_phantom

    root = tmp_path_factory.mktemp("phantom_dataset")
    for seed, name in ((1, "Case_P001"), (2, "Case_P002")):
        phantom = make_phantom(seed=seed, n_slices=4, matrix_size=96, scar_segments=(8, 9, 10),
                               transmurality=0.7, mvo=True)
        write_volume(phantom.image, root / name / "Images" / f"{name}.nii.gz")
        write_volume(phantom.labels, root / name / "Contours" / f"{name}.nii.gz")
    return root


@pytest.fixture(scope="module")
def crops(phantom_dataset):
    """Training arrays (normalised crops, labels, regions) of the phantom cases."""
    from LGECore.io import read_emidec_dataset
    from ScarSynthLib.diffusion_data import load_training_arrays

    return load_training_arrays(read_emidec_dataset(phantom_dataset), progress=False)


def test_consistency_loss_alone_sends_gradient_into_the_generator(crops):
    import torch

    from ScarSynthLib import diffusion_model as dm
    from ScarSynthLib import joint_losses as jl
    from ScarSynthLib.scar_regions import random_scar_labels

    torch.manual_seed(0)
    generator, segmenter = dm.build_unet(TINY_CONFIG), jl.build_segmenter()
    rng = np.random.default_rng(0)
    labels = np.stack([random_scar_labels(l, rng) for l in crops["labels"][:2]]).astype(np.int64)
    loss, composite, _ = jl.consistency_loss(
        generator, segmenter, dm.build_train_scheduler(), torch.from_numpy(crops["images"][:2]),
        torch.from_numpy(labels), torch.from_numpy(crops["regions"][:2]), jl.segmentation_loss(),
        torch.Generator().manual_seed(0))
    loss.backward()
    gradients = [p.grad for p in generator.parameters()]
    assert all(g is not None for g in gradients)
    total = sum(float(g.abs().sum()) for g in gradients)
    assert np.isfinite(total) and total > 0
    # The convolution that reads the noisy image gets gradient, so it flows through x0_hat.
    assert float(generator.conv_in.weight.grad[:, 0].abs().sum()) > 0
    assert all(p.grad is None for p in segmenter.parameters())  # the segmenter is frozen for this term
    assert all(p.requires_grad for p in segmenter.parameters())  # ... and trainable again after it
    # Outside the heart region the composite is the real context.
    outside = crops["regions"][:2] < 0.5
    assert np.allclose(composite.detach().numpy()[outside], crops["images"][:2][outside])


def test_random_scar_labels_stay_inside_the_myocardium(crops):
    from LGECore import labels as L
    from ScarSynthLib.scar_regions import random_scar_labels

    rng = np.random.default_rng(1)
    original = crops["labels"][len(crops["labels"]) // 2]
    for _ in range(5):
        new = random_scar_labels(original, rng)
        assert np.array_equal(L.lv_myocardium(new), L.lv_myocardium(original))
        assert np.array_equal(new == L.BLOOD_POOL, original == L.BLOOD_POOL)
        assert L.scar(new).any()


def test_each_process_draws_its_own_batches_and_rank_zero_those_of_one_process():
    from ScarSynthLib.train_processes import rank_rng, rank_torch_seed

    def draws(rng):
        return rng.integers(0, 1000, 8).tolist()

    for entropy in (7, [7, 3]):
        assert draws(rank_rng(entropy, 0)) == draws(np.random.default_rng(entropy))
        assert len({tuple(draws(rank_rng(entropy, rank))) for rank in range(4)}) == 4
    assert rank_torch_seed(7, 0) == 7 and len({rank_torch_seed(7, rank) for rank in range(4)}) == 4


def test_train_synth_runs_resumes_and_exports(phantom_dataset, tmp_path):
    from ScarSynthLib.diffusion import load_generator
    from ScarSynthLib.diffusion_model import DEFAULT_MODEL_NAME
    from ScarSynthLib.diffusion_train import train_synth

    out = tmp_path / "run"
    summary = train_synth(phantom_dataset, out, steps=2, batch_size=2, max_cases=1, config=TINY_CONFIG,
                          checkpoint_every=1, progress=False, log=lambda *_: None)
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss_mean_last_2"])
    train_synth(phantom_dataset, out, steps=3, batch_size=2, max_cases=1, resume=True, progress=False,
                log=lambda *_: None)
    with open(out / "losses.csv") as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1", "2", "3"]
    model = load_generator(str(out / f"{DEFAULT_MODEL_NAME}.safetensors"))
    assert model.config.block_out_channels == (8, 16)
    entry = json.loads((out / f"{DEFAULT_MODEL_NAME}.json").read_text())
    assert entry["paint_region"] == "scar" and entry["training"]["paint_region"] == "scar"


def test_a_resumed_run_keeps_the_paint_region_it_started_with(phantom_dataset, tmp_path):
    from ScarSynthLib.diffusion_model import DEFAULT_MODEL_NAME
    from ScarSynthLib.diffusion_train import train_synth

    out = tmp_path / "run"
    quiet = dict(batch_size=2, max_cases=1, progress=False, log=lambda *_: None)
    heart = train_synth(phantom_dataset, out, steps=1, config=TINY_CONFIG, paint_region="heart", **quiet)
    resumed = train_synth(phantom_dataset, out, steps=2, resume=True, paint_region="scar", **quiet)
    assert resumed["paint_region"] == "heart"
    assert json.loads((out / f"{DEFAULT_MODEL_NAME}.json").read_text())["paint_region"] == "heart"
    scar = train_synth(phantom_dataset, tmp_path / "scar", steps=1, config=TINY_CONFIG, **quiet)
    assert scar["training_crops"] > heart["training_crops"]  # the scar and sectors of every slice


def test_train_synth_continues_from_trained_weights(phantom_dataset, tmp_path):
    """With a zero learning rate, continuing a trained generator hands back its weights (up to the
    rounding of the weight average)."""
    import torch

    from LGECore.models import load_state_dict, sha256_of
    from ScarSynthLib.diffusion_model import DEFAULT_MODEL_NAME
    from ScarSynthLib.diffusion_train import train_synth

    quiet = dict(batch_size=2, max_cases=1, progress=False, log=lambda *_: None)
    train_synth(phantom_dataset, tmp_path / "parent", steps=2, config=TINY_CONFIG, **quiet)
    parent = tmp_path / "parent" / f"{DEFAULT_MODEL_NAME}.safetensors"
    summary = train_synth(phantom_dataset, tmp_path / "child", steps=2, learning_rate=0.0,
                          init_weights=str(parent), **quiet)
    assert summary["started_from"]["sha256"] == sha256_of(parent) and summary["started_from"]["steps"] == 2
    before = load_state_dict(parent)
    after = load_state_dict(tmp_path / "child" / f"{DEFAULT_MODEL_NAME}.safetensors")
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)


def test_train_joint_runs_with_consistency_loss(phantom_dataset, tmp_path):
    from ScarSynthLib.joint_train import JOINT_GENERATOR_NAME, JOINT_SEGMENTER_NAME, train_joint

    out = tmp_path / "joint"
    summary = train_joint(phantom_dataset, out, steps=2, batch_size=2, max_cases=1, config=TINY_CONFIG,
                          segmenter_warmup=0, refresh_every=2, progress=False, log=lambda *_: None)
    assert summary["final_consistency_loss_mean_last_2"] > 0
    assert (out / f"{JOINT_GENERATOR_NAME}.safetensors").is_file()
    assert (out / f"{JOINT_SEGMENTER_NAME}.json").is_file()


def test_train_joint_records_the_generator_it_started_from_across_a_resume(phantom_dataset, tmp_path):
    from LGECore.models import sha256_of
    from ScarSynthLib.diffusion_train import train_synth
    from ScarSynthLib.joint_train import JOINT_GENERATOR_NAME, train_joint

    quiet = dict(max_cases=1, progress=False, log=lambda *_: None)
    train_synth(phantom_dataset, tmp_path / "parent", steps=2, batch_size=2, config=TINY_CONFIG, **quiet)
    parent = tmp_path / "parent" / "scarsynth_lge_diffusion.safetensors"
    joint = dict(batch_size=2, segmenter_warmup=0, refresh_every=2, **quiet)
    train_joint(phantom_dataset, tmp_path / "joint", steps=1, generator_weights=str(parent), **joint)
    summary = train_joint(phantom_dataset, tmp_path / "joint", steps=2, resume=True, **joint)
    assert summary["started_from"]["sha256"] == sha256_of(parent) and summary["started_from"]["steps"] == 2
    entry = json.loads((tmp_path / "joint" / f"{JOINT_GENERATOR_NAME}.json").read_text())
    assert entry["training"]["started_from"] == summary["started_from"]
    assert entry["training"]["exported_weights"] in ("ema", "raw")
    assert (entry["training"]["segmenter_warmup"], entry["training"]["refresh_every"]) == (0, 2)


def test_the_cosine_schedule_decays_the_generator_learning_rate_to_zero():
    from ScarSynthLib.joint_train import generator_learning_rate

    rates = [generator_learning_rate(2e-4, "cosine", step, 100) for step in (0, 50, 99)]
    assert rates[0] == pytest.approx(2e-4) and rates[1] == pytest.approx(1e-4) and 0 < rates[2] < 1e-6
    assert generator_learning_rate(2e-4, "constant", 99, 100) == 2e-4


def test_train_joint_follows_and_records_its_learning_rate_schedule(phantom_dataset, tmp_path):
    from LGECore.errors import InputError
    from ScarSynthLib.diffusion_train import load_checkpoint
    from ScarSynthLib.joint_train import train_joint

    quiet = dict(max_cases=1, batch_size=2, config=TINY_CONFIG, segmenter_warmup=0, progress=False,
                 log=lambda *_: None)
    with pytest.raises(InputError, match="schedule"):
        train_joint(phantom_dataset, tmp_path / "bad", steps=2, lr_schedule="linear", **quiet)
    summary = train_joint(phantom_dataset, tmp_path / "joint", steps=2, learning_rate=2e-4, lr_schedule="cosine",
                          **quiet)
    assert summary["lr_schedule"] == "cosine"
    state = load_checkpoint(tmp_path / "joint" / "checkpoint.pt")
    # the last step (step 1 of 2) ran at half the rate, which the optimiser keeps
    assert state["generator_optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)


def test_the_critic_learns_to_tell_painted_from_real_scar_and_the_generator_to_fool_it(crops):
    import torch

    from ScarSynthLib import joint_adversarial as ja

    torch.manual_seed(0)
    critic = ja.build_critic()
    index = ja.real_scar_crops(crops)
    assert len(index) and all(((crops["labels"][i] >= 3) & (crops["regions"][i] > 0.5)).any() for i in index)
    real, regions = ja.real_scar_batch(crops, index, 4, np.random.default_rng(0))
    painted = (real + 0.5).requires_grad_(True)  # far too bright: easy to tell apart
    low, high = torch.tensor([10, 10, 10, 10]), torch.tensor([900, 900, 900, 900])
    optimizer = ja.critic_optimizer(critic)
    before = float(ja.critic_term(critic, real, regions, painted, regions, low).detach())
    for _ in range(30):
        optimizer.zero_grad()
        ja.critic_term(critic, real, regions, painted, regions, low).backward()
        optimizer.step()
    assert float(ja.critic_term(critic, real, regions, painted, regions, low).detach()) < before
    # at high noise levels the painted crops weigh nothing; at low ones the generator's term sends
    # gradient into the painted pixels, not into the critic
    assert float(ja.generator_term(critic, painted, regions, high).detach()) == 0.0
    optimizer.zero_grad(set_to_none=True)
    ja.generator_term(critic, painted, regions, low).backward()
    assert float(painted.grad.abs().sum()) > 0 and all(p.grad is None for p in critic.parameters())
    assert all(p.requires_grad for p in critic.parameters())


def test_train_joint_with_the_adversarial_term_trains_and_resumes_the_critic(phantom_dataset, tmp_path):
    import torch

    from ScarSynthLib.diffusion_train import load_checkpoint
    from ScarSynthLib.joint_train import train_joint

    quiet = dict(max_cases=1, batch_size=2, config=TINY_CONFIG, segmenter_warmup=0, progress=False,
                 log=lambda *_: None, adversarial_weight=0.05)
    train_joint(phantom_dataset, tmp_path / "joint", steps=1, **quiet)
    first = load_checkpoint(tmp_path / "joint" / "checkpoint.pt")["critic"]
    summary = train_joint(phantom_dataset, tmp_path / "joint", steps=2, resume=True, **quiet)
    second = load_checkpoint(tmp_path / "joint" / "checkpoint.pt")["critic"]
    assert summary["adversarial_weight"] == 0.05 and summary["final_critic_loss_mean_last_2"] > 0
    assert any(not torch.equal(first[k], second[k]) for k in first)  # the resumed critic learnt on


def test_cli_refuses_a_missing_dataset(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", "train-synth", str(tmp_path / "none"),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Dataset folder not found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_diverging_generator_run_stops_and_keeps_its_last_checkpoint(phantom_dataset, tmp_path, monkeypatch):
    """A NaN loss at step 3 stops the run before that step: the step-2 checkpoint stays, no weights are exported."""
    import torch

    from LGECore.errors import TrainingDiverged
    from ScarSynthLib import diffusion_train as dt

    real_loss, calls = dt.diffusion_loss, []

    def nan_at_step_three(*args, **kwargs):
        loss, parts = real_loss(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan"), parts) if len(calls) == 3 else (loss, parts)

    monkeypatch.setattr(dt, "diffusion_loss", nan_at_step_three)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="loss became nan at step 3"):
        dt.train_synth(phantom_dataset, out, steps=4, batch_size=2, max_cases=1, config=TINY_CONFIG,
                       checkpoint_every=2, progress=False, log=lambda *_: None)
    checkpoint = dt.load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 2
    assert all(bool(torch.isfinite(t).all()) for t in checkpoint["model"].values() if t.is_floating_point())
    assert not list(out.glob("*.safetensors"))


def test_weights_that_are_not_finite_are_never_exported(tmp_path):
    from LGECore.errors import TrainingDiverged
    from ScarSynthLib import diffusion_model as dm
    from ScarSynthLib.diffusion_train import export_weights

    model = dm.build_unet(TINY_CONFIG)
    next(iter(model.parameters())).data.fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="NaN or infinite weights"):
        export_weights(model, tmp_path, "broken", {})
    assert not list(tmp_path.iterdir())


def torchrun_tiny_cli(tmp_path, arguments, extra=""):
    """`scarsynth ARGUMENTS` with the tiny generator, as two CPU processes under torchrun; `extra`:
    Python code run first in each process."""
    script = tmp_path / "tiny_cli.py"
    script.write_text(f"import sys\n{TINY_DEFAULT}{extra}\n"
                      "from ScarSynthLib import cli\nsys.exit(cli.main(sys.argv[1:]))\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               *map(str, arguments), "--device", "cpu", "--threads", "1", "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_train_synth_under_torchrun_writes_one_run_from_rank_zero(phantom_dataset, tmp_path):
    """Two gloo processes: one loss row per step, one export, the world of two in the summary; and
    --resume under torchrun goes on from the checkpoint."""
    from ScarSynthLib.diffusion_model import DEFAULT_MODEL_NAME

    out = tmp_path / "run"
    arguments = ["train-synth", phantom_dataset, "-o", out, "--batch-size", "2", "--max-cases", "1"]
    done = torchrun_tiny_cli(tmp_path, arguments + ["--steps", "2"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done: 2 steps") == 1  # only rank 0 reports
    resumed = torchrun_tiny_cli(tmp_path, arguments + ["--steps", "3", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resumed at step 2") == 1
    with open(out / "losses.csv") as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1", "2", "3"]
    assert [p.name for p in out.glob("*.safetensors")] == [f"{DEFAULT_MODEL_NAME}.safetensors"]
    entry = json.loads((out / f"{DEFAULT_MODEL_NAME}.json").read_text())
    assert entry["training"]["world_size"] == 2 and entry["training"]["steps"] == 3
    assert entry["unet_config"]["block_out_channels"] == [8, 16]


def test_train_joint_under_torchrun_writes_one_run_from_rank_zero(phantom_dataset, tmp_path):
    from ScarSynthLib.joint_train import JOINT_GENERATOR_NAME, JOINT_SEGMENTER_NAME

    out = tmp_path / "joint"
    done = torchrun_tiny_cli(tmp_path, ["train-joint", phantom_dataset, "-o", out, "--steps", "2", "--batch-size", "2",
                                        "--max-cases", "1", "--segmenter-warmup", "0", "--adversarial-weight", "0.05"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done: 2 joint steps") == 1
    with open(out / "losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["1", "2"]
    assert all(float(row["consistency_loss"]) > 0 for row in rows)  # both networks ran under DDP
    assert all(float(row["critic_loss"]) > 0 for row in rows)  # ... and the critic
    assert sorted(p.name for p in out.glob("*.safetensors")) == sorted(
        [f"{JOINT_GENERATOR_NAME}.safetensors", f"{JOINT_SEGMENTER_NAME}.safetensors"])
    assert json.loads((out / f"{JOINT_SEGMENTER_NAME}.json").read_text())["training"]["world_size"] == 2


def test_a_loss_that_diverges_in_one_process_stops_every_process(phantom_dataset, tmp_path):
    """A NaN in rank 1 alone at step 2: both processes stop with the same error, none waits for the
    other, and the step-1 checkpoint stays."""
    nan_in_rank_one = """import os
from ScarSynthLib import diffusion_train
real_loss, calls = diffusion_train.diffusion_loss, []
def nan_in_rank_one(*args, **kwargs):
    loss, parts = real_loss(*args, **kwargs)
    calls.append(1)
    return (loss * float("nan"), parts) if len(calls) == 2 and os.environ["RANK"] == "1" else (loss, parts)
diffusion_train.diffusion_loss = nan_in_rank_one"""
    out = tmp_path / "run"
    done = torchrun_tiny_cli(tmp_path, ["train-synth", phantom_dataset, "-o", out, "--steps", "3", "--batch-size", "2",
                                        "--max-cases", "1", "--checkpoint-every", "1"], extra=nan_in_rank_one)
    assert done.returncode != 0
    assert done.stderr.count("generator's loss became nan at step 2") == 2, done.stderr[-3000:]
    with open(out / "losses.csv") as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1"]
    assert not list(out.glob("*.safetensors"))
