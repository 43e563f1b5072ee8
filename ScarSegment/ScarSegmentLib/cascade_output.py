"""What a finished cascade run writes: two safetensors files, one registry entry, a model card."""

import json

from LGECore.models import check_trained_weights, sha256_of

from .cascade_config import ANATOMY, SCAR
from .train_output import save_atomic


def _save_network(network, path):
    from safetensors.torch import save_file

    state = {k: v.detach().float().cpu().contiguous() for k, v in network.state_dict().items()}
    check_trained_weights(state, path.stem)
    save_atomic(lambda p: save_file(state, str(p)), path)
    return {"file": path.name, "sha256": sha256_of(path)}


def write_cascade(results, config, out_dir, train_cases, held_out, processes, device_type, parent=None, extra=None):
    """NAME_anatomy.safetensors, NAME_scar.safetensors, NAME.json and NAME.md in out_dir; returns
    the entry's path. `results[stage]` = (network, validation scores, seconds); `extra`: more
    fields of the entry (a weakly supervised model's `weak_supervision`)."""
    anatomy = _save_network(results[ANATOMY][0], out_dir / f"{config.name}_{ANATOMY}.safetensors")
    scar = _save_network(results[SCAR][0], out_dir / f"{config.name}_{SCAR}.safetensors")
    entry = {
        "name": config.name,
        "kind": "cascade",
        **anatomy,
        "architecture": "two monai.networks.nets.UNet (2D): anatomy, then scar",
        "settings": config.anatomy.network.to_dict(),
        "scar_stage": {**scar, "settings": config.scar.network.to_dict()},
        "training": {
            "config": config.to_dict(),
            "seconds": {role: round(results[role][2], 1) for role in (ANATOMY, SCAR)},
            "processes": processes,
            "device": device_type,
            "train_cases": [case.name for case in train_cases],
            "held_out_cases": [case.name for case in held_out],
            **extra_sets_of(train_cases),
            **({"fine_tuned_from": parent} if parent else {}),
        },
        "validation": {role: {k: round(v, 4) for k, v in results[role][1].items()} for role in (ANATOMY, SCAR)},
        **(extra or {}),
    }
    return _write_entry(entry, out_dir / f"{config.name}.json")


def extra_sets_of(train_cases):
    """{"extra_train_cases": {folder name: case names}} of the cases from --extra-train folders; {} without."""
    sets = {}
    for case in train_cases:
        if getattr(case, "extra_set", ""):
            sets.setdefault(case.extra_set, []).append(case.name)
    return {"extra_train_cases": sets} if sets else {}


def update_entry(entry_path, **fields):
    """Set fields of a model's registry entry (the recipe's `cross_validation` table, measured
    `postprocessing`) and write its card again with them; the weights are left as they are."""
    from pathlib import Path

    entry_path = Path(entry_path)
    _write_entry({**json.loads(entry_path.read_text()), **fields}, entry_path)


def _write_entry(entry, entry_path):
    """The registry entry NAME.json and, from it, the model card NAME.md beside it; returns the entry's path."""
    from .cascade_card import cascade_card_text

    save_atomic(lambda p: p.write_text(json.dumps(entry, indent=2) + "\n"), entry_path)
    save_atomic(lambda p: p.write_text(cascade_card_text(entry)), entry_path.with_suffix(".md"))
    return entry_path
