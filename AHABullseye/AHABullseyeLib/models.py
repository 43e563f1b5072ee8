"""Where model weights live, and loading them safely (safetensors only, sha256 checked).

Each shipped model is three files in a Lib's `weights/` folder: NAME.safetensors, NAME.json (the
registry entry: file, sha256, architecture settings) and NAME.md (the model card). A user can
point to other weights by path, or add a folder of models with SCARSYNTH_MODEL_DIR.
"""

import hashlib
import json
import os
from pathlib import Path

from .errors import WeightsError

MODEL_DIR_VARIABLE = "SCARSYNTH_MODEL_DIR"


def model_dirs():
    """Folders searched for models, user folder first, then each installed Lib's weights/."""
    dirs = []
    if os.environ.get(MODEL_DIR_VARIABLE):
        dirs.append(Path(os.environ[MODEL_DIR_VARIABLE]))
    for lib in ("ScarSegmentLib", "ScarSynthLib"):
        try:
            module = __import__(lib)
        except ImportError:
            continue
        dirs.append(Path(module.__file__).parent / "weights")
    return dirs


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


def list_models():
    """Registry entries (dicts) of every model found, each with its 'path' filled in."""
    entries = []
    for folder in model_dirs():
        for entry_file in sorted(folder.glob("*.json")):
            entry = read_entry(entry_file)
            if entry and "sha256" in entry and "file" in entry:
                entry["path"] = str(folder / entry["file"])
                entries.append(entry)
    return entries


def find_model(name):
    """The registry entry of the model called `name`; WeightsError if none is installed."""
    for entry in list_models():
        if entry.get("name") == name:
            return entry
    searched = ", ".join(str(d) for d in model_dirs()) or "(none)"
    raise WeightsError(f"Model '{name}' not found; searched {searched}.")


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
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise WeightsError(f"Could not read weights {path}: {error}") from None
