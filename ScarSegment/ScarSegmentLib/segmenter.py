"""Loading a trained segmenter: its registry entry (settings, sha256) and its checked weights."""

import json
from functools import lru_cache
from pathlib import Path

from LGECore import models
from LGECore.errors import WeightsError

from .network import NetworkSettings, build_network

SHIPPED_MODEL = "scar_segmenter_2d"
WEIGHTS_DIR = Path(__file__).parent / "weights"


def find_entry(weights=None):
    """Registry entry (dict with 'path', 'sha256', 'settings') of the shipped model or of `weights`:
    a model name, a model folder (as `scarsynth train-seg` writes it), NAME.safetensors with
    NAME.json beside it, or NAME.json (see LGECore.models.resolve_weights)."""
    return models.resolve_weights(weights, SHIPPED_MODEL, WEIGHTS_DIR, required=("file", "settings", "sha256"),
                                  writer="scarsynth train-seg")


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
