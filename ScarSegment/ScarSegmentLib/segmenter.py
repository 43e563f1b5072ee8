"""Loading a trained segmenter: its registry entry (settings, sha256) and its checked weights."""

import json
from functools import lru_cache
from pathlib import Path

from AHABullseyeLib import models
from AHABullseyeLib.errors import WeightsError

from .network import NetworkSettings, build_network

SHIPPED_MODEL = "scar_segmenter_2d"


def find_entry(weights=None):
    """Registry entry (dict with 'path', 'sha256', 'settings') of the shipped model or of `weights`.

    `weights` may be a .safetensors file with its NAME.json beside it, a NAME.json file, or a
    model folder (as written by `scarsynth train-seg`) holding one registry entry.
    """
    if weights is None:
        return models.find_model(SHIPPED_MODEL)
    path = Path(weights)
    if path.is_dir():
        entries = [p for p in sorted(path.glob("*.json")) if "sha256" in (models.read_entry(p) or {})]
        if len(entries) != 1:
            raise WeightsError(f"{path} holds {len(entries)} model registry entries (NAME.json); expected one.")
        path = entries[0]
    elif path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.is_file():
        raise WeightsError(
            f"No registry entry {path.name} found for the weights {weights}: it records the sha256 "
            "and network settings, and is written next to the weights by `scarsynth train-seg`.")
    entry = models.read_entry(path)
    if entry is None:
        raise WeightsError(f"{path} is not a registry entry: not a readable JSON object.")
    if "file" not in entry or "settings" not in entry or "sha256" not in entry:
        # Without a checksum a corrupt or replaced weights file would load unnoticed.
        raise WeightsError(f"{path} is not a segmenter registry entry (needs 'file', 'settings' and 'sha256').")
    entry["path"] = str(path.parent / entry["file"])
    return entry


@lru_cache(maxsize=4)
def _load(path, sha256, settings_json, modified):
    settings = NetworkSettings.from_dict(json.loads(settings_json))
    network = build_network(settings)
    state = models.load_state_dict(path, sha256)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise WeightsError(f"{Path(path).name} does not fit the network its registry entry describes: "
                           f"{str(error).splitlines()[0]}") from None
    return network.eval(), settings


def load_segmenter(weights=None):
    """(network in eval mode on the CPU, NetworkSettings); the sha256 is checked on every new file."""
    entry = find_entry(weights)
    path = Path(entry["path"])
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    return _load(str(path), entry.get("sha256"), json.dumps(entry["settings"], sort_keys=True),
                 path.stat().st_mtime_ns)
