"""What a training run writes: checkpoints and weights atomically, the per-epoch log, and the
finished model (safetensors, registry entry, model card, split)."""

import csv
import json
import os
from pathlib import Path

from LGECore.models import sha256_of

CHECKPOINT = "checkpoint.pt"
LOG_FILE = "training_log.csv"
LOG_COLUMNS = ("epoch", "seconds", "lr", "loss", "dice_ce", "kl",
               "val_dice_myocardium", "val_dice_scar", "val_dice_mvo", "val_dice_blood_pool")


def save_atomic(write, path):
    temporary = Path(f"{path}.partial")
    write(temporary)
    os.replace(temporary, path)


def write_model(network, config, out_dir, scores, seconds, train_cases, valid_cases, processes, extra_cases=0,
                 lineage=None, device_type=""):
    """NAME.safetensors + NAME.json (registry entry) + NAME.md (model card) in out_dir."""
    from safetensors.torch import save_file

    from .model_card import model_card_text

    weights_path = out_dir / f"{config.name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_atomic(lambda p: save_file(state, str(p)), weights_path)
    entry = {
        "name": config.name,
        "file": weights_path.name,
        "sha256": sha256_of(weights_path),
        "architecture": "monai.networks.nets.UNet (2D)",
        "settings": config.network.to_dict(),
        "training": {
            "config": config.to_dict(),
            "seconds": round(seconds, 1),
            "processes": processes,
            "device": device_type,
            "train_cases": len(train_cases),
            "extra_train_cases": extra_cases,
            "fine_tuned_from": lineage,
            "validation_cases": [case.name for case in valid_cases],
        },
        "validation": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()},
    }
    save_atomic(lambda p: p.write_text(json.dumps(entry, indent=2) + "\n"), out_dir / f"{config.name}.json")
    save_atomic(lambda p: p.write_text(model_card_text(entry)), out_dir / f"{config.name}.md")
    (out_dir / "split.json").write_text(json.dumps(
        {"validation": entry["training"]["validation_cases"],
         "train": [case.name for case in train_cases]}, indent=2) + "\n")
    return weights_path


def append_log(path, row):
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{row[k]:.5g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in LOG_COLUMNS})
