"""Where model weights live, and loading them safely (safetensors only, sha256 checked).

Each shipped model is three files in a Lib's `weights/` folder: NAME.safetensors, NAME.json (the
registry entry: file, sha256, architecture settings) and NAME.md (the model card). A user can
point to other weights by path, or add a folder of models with SCARSYNTH_MODEL_DIR.
"""

import hashlib
import json
import math
import os
from pathlib import Path

from .errors import TrainingDiverged, WeightsError

MODEL_DIR_VARIABLE = "SCARSYNTH_MODEL_DIR"


def model_dirs(lib_dirs=()):
    """Folders searched for models: the user's folder (SCARSYNTH_MODEL_DIR) first, then
    `lib_dirs`, the weights/ folders of the Libs that ask (each Lib passes its own)."""
    dirs = []
    if os.environ.get(MODEL_DIR_VARIABLE):
        dirs.append(Path(os.environ[MODEL_DIR_VARIABLE]))
    return dirs + [Path(d) for d in lib_dirs]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_entry(path):
    """The JSON object in `path`; None when the file is not readable JSON holding an object."""
    try:
        entry = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def list_models(lib_dirs=()):
    """Registry entries (dicts) of every model found, each with its 'path' filled in."""
    entries = []
    for folder in model_dirs(lib_dirs):
        for entry_file in sorted(folder.glob("*.json")):
            entry = read_entry(entry_file)
            if entry and "sha256" in entry and "file" in entry:
                entry["path"] = str(folder / entry["file"])
                entries.append(entry)
    return entries


def find_model(name, lib_dirs=()):
    """The registry entry of the model called `name`; WeightsError if none is installed."""
    for entry in list_models(lib_dirs):
        if entry.get("name") == name:
            return entry
    searched = ", ".join(str(d) for d in model_dirs(lib_dirs)) or "(none)"
    raise WeightsError(f"Model '{name}' not found; searched {searched}.")


def is_model_name(weights):
    """A bare name such as 'scar_segmenter_2d' (no folder, no suffix) that is not a path here."""
    text = str(weights)
    return not Path(text).exists() and Path(text).name == text and not Path(text).suffix


def _entry_file(path):
    """The registry entry file that `path` (a model folder, weights file or entry) stands for."""
    if path.is_dir():
        entries = [p for p in sorted(path.glob("*.json")) if "sha256" in (read_entry(p) or {})]
        if len(entries) != 1:
            others = sorted(p.name for p in path.glob("*.json") if p not in entries)
            unusable = f" ({', '.join(others)}: not a registry entry)" if others else ""
            raise WeightsError(f"{path} holds {len(entries)} usable model registry entries (NAME.json with a "
                               f"sha256){unusable}; expected one.")
        return entries[0]
    if not path.exists():
        raise WeightsError(f"Weights file not found: {path}")
    if path.suffix not in (".safetensors", ".json"):
        raise WeightsError(f"{path.name}: give weights as a model name, a model folder, NAME.safetensors or its "
                           "registry entry NAME.json (pickled .pt/.pth files can run code and are not read).")
    return path.with_suffix(".json") if path.suffix == ".safetensors" else path


def resolve_weights(weights, default_name, lib_dir, required=("file", "sha256"), writer="scarsynth"):
    """The registry entry, with 'path' filled in, of the weights a user named: None (the Lib's
    default model), a model name (searched in SCARSYNTH_MODEL_DIR, then `lib_dir`), a model folder
    holding one entry, a NAME.safetensors file with NAME.json beside it, or a NAME.json file.

    The entry must hold the `required` keys; 'sha256' is always among them, since without a
    checksum a corrupt or replaced weights file would load unnoticed. `writer` names the command
    that writes such entries, for the error message.
    """
    if weights is None or is_model_name(weights):
        return find_model(weights or default_name, [lib_dir])
    entry_file = _entry_file(Path(weights))
    if not entry_file.is_file():
        raise WeightsError(
            f"No registry entry {entry_file.name} found for the weights {weights}: it records the sha256 "
            f"and settings, and is written next to the weights by `{writer}`.")
    entry = read_entry(entry_file)
    if entry is None:
        raise WeightsError(f"{entry_file} is not a registry entry: not a readable JSON object.")
    required = tuple(dict.fromkeys(tuple(required) + ("sha256",)))
    if any(key not in entry for key in required):
        names = ", ".join(f"'{key}'" for key in required[:-1]) + f" and '{required[-1]}'"
        raise WeightsError(f"{entry_file} is not a usable registry entry (needs {names}).")
    entry["path"] = str(entry_file.parent / entry["file"])
    return entry


def load_state_dict(path, sha256=None):
    """Tensors of a .safetensors file, after checking its sha256 when one is given."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path.name}: weights must be a .safetensors file (pickles can run code).")
    if sha256 is not None and sha256_of(path) != sha256:
        raise WeightsError(
            f"{path.name} does not match its recorded sha256: the file is corrupt or was replaced.")
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise WeightsError(f"Could not read weights {path}: {error}") from None
    broken = non_finite_tensors(tensors)
    if broken:
        raise WeightsError(f"{path.name} holds weights that are not finite (NaN or infinite) in "
                           f"{len(broken)} tensors, first {broken[0]}: the training that wrote it diverged.")
    return tensors


def non_finite_tensors(tensors):
    """Names of the floating-point tensors of a state dict that hold NaN or infinity."""
    import torch

    return [name for name, tensor in tensors.items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]


def check_trained_weights(tensors, name):
    """TrainingDiverged instead of exporting weights that hold NaN or infinity."""
    broken = non_finite_tensors(tensors)
    if broken:
        raise TrainingDiverged(f"The trained {name} holds NaN or infinite weights ({broken[0]}, ...); nothing was "
                               "exported. Train again with a lower learning rate.")


def check_finite_loss(loss, what, step):
    """TrainingDiverged for a NaN or infinite loss, raised before the step would spread it into the
    weights: the run stops and its last checkpoint stays as it was."""
    if not math.isfinite(loss):
        raise TrainingDiverged(f"The {what} loss became {loss} at step {step + 1}; training stops, and its last "
                               "checkpoint stays as it was. Train again with a lower --learning-rate.")
