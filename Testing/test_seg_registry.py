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
    for weights in (tmp_path / "broken" / "model.json", tmp_path / "number.json"):
        with pytest.raises(WeightsError, match="not a registry entry"):
            find_entry(weights)
    with pytest.raises(WeightsError, match=r"pickled \.pt/\.pth files can run code"):
        find_entry(tmp_path / "model.pt")
    with pytest.raises(WeightsError, match=r"holds 0 usable model registry entries .*model.json: not a registry entry"):
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


def test_scar_calibration_comes_from_the_registry_entry(tmp_path):
    """Only the entry is read for it: no weights file is needed."""
    from ScarSegmentLib.segmenter import scar_calibration

    entry = {"name": "m", "file": "m_anatomy.safetensors", "sha256": "0" * 64, "settings": {}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(entry))
    assert scar_calibration(path) == {"scar_log_bias": 0.0, "min_scar_burden_percent": 0.0}
    path.write_text(json.dumps({**entry, "postprocessing": {"scar_log_bias": 0.5, "min_scar_burden_percent": 1.5}}))
    assert scar_calibration(path) == {"scar_log_bias": 0.5, "min_scar_burden_percent": 1.5}
    for key, value in (("min_scar_burden_percent", "high"), ("min_scar_burden_percent", 100),
                       ("scar_log_bias", True), ("scar_log_bias", -7)):
        path.write_text(json.dumps({**entry, "postprocessing": {key: value}}))
        with pytest.raises(WeightsError, match=key):
            scar_calibration(path)
