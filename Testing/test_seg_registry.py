"""The segmenter's registry entries: unreadable or unchecked ones give clear errors."""

import json

import pytest

from LGECore import models
from LGECore.errors import WeightsError


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
    unchecked = dict(find_entry())
    del unchecked["sha256"]
    (tmp_path / "unchecked.json").write_text(json.dumps(unchecked))
    with pytest.raises(WeightsError, match="needs 'file', 'settings' and 'sha256'"):
        find_entry(tmp_path / "unchecked.json")
    # A damaged JSON file in a model folder is not a model: the search goes on past it.
    monkeypatch.setenv(models.MODEL_DIR_VARIABLE, str(tmp_path / "broken"))
    assert find_entry("scar_segmenter_2d")["name"] == "scar_segmenter_2d"
