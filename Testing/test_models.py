"""The weights registry: loading refuses pickles and corrupt files, and the user's folder is searched."""

import json

import pytest
import torch
from safetensors.torch import save_file

from LGECore import models
from LGECore.errors import WeightsError


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
