"""Loading a trained segmenter: its registry entry (settings, sha256) and its checked weights."""

import json
from functools import lru_cache
from pathlib import Path

from LGECore import models
from LGECore.errors import WeightsError

from .network import NetworkSettings, build_network, grouped_outputs

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
    return grouped_outputs(network, settings).eval(), settings


def _load_file(path, sha256, settings):
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    return _load(str(path), sha256, json.dumps(settings, sort_keys=True), path.stat().st_mtime_ns)


def load_segmenter(weights=None):
    """(network in eval mode on the CPU, NetworkSettings); the sha256 is checked on every new file.
    For a cascade this is its first, anatomy network; its outputs are the classes the pipeline reads
    (NetworkSettings.class_groups), the trained network is then its `.ungrouped`."""
    entry = find_entry(weights)
    return _load_file(entry["path"], entry.get("sha256"), entry["settings"])


def load_scar_stage(weights=None):
    """(scar network, NetworkSettings) of a cascade, or None for a single-network model."""
    entry = find_entry(weights)
    stage = entry.get("scar_stage")
    if stage is None:
        return None
    if not isinstance(stage, dict) or not all(key in stage for key in ("file", "sha256", "settings")):
        raise WeightsError(f"{entry['name']}: the registry entry's scar_stage needs file, sha256 and settings.")
    return _load_file(Path(entry["path"]).parent / stage["file"], stage["sha256"], stage["settings"])


CALIBRATION = {"scar_log_bias": (-5.0, 5.0), "min_scar_burden_percent": (0.0, 100.0)}


def scar_calibration(weights=None):
    """{scar_log_bias, min_scar_burden_percent} from the model's registry entry ('postprocessing'):
    the bias added to the scar and MVO log probabilities before the labels are taken, and the
    scar burden (percent of the myocardium) below which a case's scar is dropped; 0 where the
    entry gives none."""
    given = find_entry(weights).get("postprocessing", {})
    calibration = {}
    for key, (low, high) in CALIBRATION.items():
        value = given.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
            raise WeightsError(f"The registry entry's {key} must be a number from {low:g} to {high:g}; got {value!r}.")
        calibration[key] = float(value)
    return calibration
