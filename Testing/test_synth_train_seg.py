"""`scarsynth train-seg --synthetic N`: the synthetic cases are drawn on the run's own training hearts
(never its held-out fold), kept in MODEL_DIR/synthetic, and train the networks asked for."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def small_dataset(linked_cases):
    """Two normal hearts and two infarct hearts, linked into an EMIDEC-layout folder."""
    return linked_cases("Case_N006", "Case_N012", "Case_P007", "Case_P010")


def train_seg(*args):
    command = [sys.executable, "-m", "ScarSynthLib.cli", "train-seg", *map(str, args), "--preset", "tiny",
               "--threads", "1", "--no-progress", "--synthetic-steps", "2"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_synthetic_cases_come_from_the_training_fold_and_train_the_anatomy_network(small_dataset, tmp_path):
    out = tmp_path / "model"
    done = train_seg(small_dataset, "-o", out, "--fold", "1/2", "--synthetic", "2")
    assert done.returncode == 0, done.stderr
    entry = json.loads((out / "scar_cascade.json").read_text())
    config = entry["training"]["config"]
    assert config["extra_train_dirs"] == ["synthetic"] and config["extra_train_networks"] == ["anatomy"]
    manifest = json.loads((out / "synthetic" / "synth_dataset.json").read_text())
    assert len(manifest["cases"]) == 2 and manifest["sources"] == "both"
    sources = {case["source"] for case in manifest["cases"]}
    assert sources and not sources & set(entry["training"]["held_out_cases"])
    assert sorted(entry["training"]["extra_train_cases"]["synthetic"]) == [c["case"] for c in manifest["cases"]]
    assert not list(out.glob(".training_cases_*"))  # the links to the training cases are gone
    made = config["synthetic_set"]
    assert (made["cases"], made["sources"], made["steps"], made["generator"]) == (2, "both", 2, "shipped")
    assert len(made["generator_sha256"]) == 64
    card = (out / "scar_cascade.md").read_text()
    assert "--synthetic 2 --synthetic-from both --synthetic-for anatomy" in card and "--extra-train syn" not in card
    assert "The anatomy network alone was also trained on 2 synthetic cases" in card
    assert "into normal and infarct hearts of the training cases" in card


def test_settings_that_cannot_be_honoured_are_refused_before_any_work(small_dataset, tmp_path):
    out = tmp_path / "other"
    (out / "synthetic").mkdir(parents=True)
    (out / "synthetic" / "synth_dataset.json").write_text(json.dumps({"cases": [{}] * 3, "sources": "both"}))
    bad = train_seg(small_dataset, "-o", out, "--synthetic", "2")
    assert bad.returncode == 2 and "holds 3 synthetic cases" in bad.stderr and "Traceback" not in bad.stderr
    bad = train_seg(small_dataset, "-o", tmp_path / "mixed", "--synthetic", "2", "--extra-train", out / "synthetic",
                    "--extra-train-for", "scar")
    assert bad.returncode == 2 and "--synthetic-for" in bad.stderr
    assert not (tmp_path / "mixed").exists()
