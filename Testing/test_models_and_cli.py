"""Weights loading refuses pickles and corrupt files; the CLI's info command runs."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from AHABullseyeLib import models
from AHABullseyeLib.errors import WeightsError


def test_safetensors_load_checks_sha256(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_file({"w": torch.arange(6, dtype=torch.float32)}, str(path))
    digest = models.sha256_of(path)
    assert torch.equal(models.load_state_dict(path, digest)["w"], torch.arange(6.0))
    with pytest.raises(WeightsError, match="sha256"):
        models.load_state_dict(path, "0" * 64)


def test_corrupt_missing_and_pickled_weights_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        models.load_state_dict(tmp_path / "absent.safetensors")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"not loaded")
    with pytest.raises(WeightsError, match="safetensors"):
        models.load_state_dict(pickled)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 50)
    with pytest.raises(WeightsError, match="Could not read"):
        models.load_state_dict(corrupt)


def test_user_model_folder_is_searched(tmp_path, monkeypatch):
    path = tmp_path / "mine.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    entry = {"name": "mine", "file": path.name, "sha256": models.sha256_of(path)}
    (tmp_path / "mine.json").write_text(json.dumps(entry))
    monkeypatch.setenv(models.MODEL_DIR_VARIABLE, str(tmp_path))
    found = models.find_model("mine")
    assert found["path"] == str(path)
    with pytest.raises(WeightsError, match="not found"):
        models.find_model("no-such-model")


def test_unreadable_registry_entries_give_clear_errors(tmp_path, monkeypatch):
    pytest.importorskip("monai")
    from ScarSegmentLib.segmenter import find_entry

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text('{"sha256": ')
    (tmp_path / "model.pt").write_bytes(bytes(range(256)))
    (tmp_path / "number.json").write_text("5")
    for weights in (tmp_path / "broken" / "model.json", tmp_path / "model.pt", tmp_path / "number.json"):
        with pytest.raises(WeightsError, match="not a registry entry"):
            find_entry(weights)
    with pytest.raises(WeightsError, match="holds 0 model registry entries"):
        find_entry(tmp_path / "broken")
    # An entry without a checksum would let corrupt or replaced weights load unchecked.
    unchecked = dict(models.find_model("scar_segmenter_2d"))
    del unchecked["sha256"]
    (tmp_path / "unchecked.json").write_text(json.dumps(unchecked))
    with pytest.raises(WeightsError, match="needs 'file', 'settings' and 'sha256'"):
        find_entry(tmp_path / "unchecked.json")
    # A damaged JSON file in a model folder is not a model: the search goes on past it.
    monkeypatch.setenv(models.MODEL_DIR_VARIABLE, str(tmp_path / "broken"))
    assert models.find_model("scar_segmenter_2d")["name"] == "scar_segmenter_2d"


def test_cli_info_prints_versions_and_model_folders():
    result = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli", "info"],
                            capture_output=True, text=True, check=True)
    assert "torch" in result.stdout and "device" in result.stdout
    assert "model folders" in result.stdout


def test_cli_without_command_explains_usage():
    result = subprocess.run([sys.executable, "-m", "ScarSynthLib.cli"], capture_output=True, text=True)
    assert result.returncode == 2 and "COMMAND" in result.stderr
