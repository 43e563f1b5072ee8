"""Settings of a weakly supervised run (`scarsynth train-weak`): a cascade's settings, one more
network (the scar classifier, built as the scar network is) and the weak options.

The classifier shares the scar network's architecture and inputs, so that the scar network can
start from it: it already knows where scar is, which is what its class-activation map showed.
"""

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from LGECore.errors import InputError

from .cascade_config import CascadeConfig, StageConfig, check_stage, make_cascade_config

LEVELS = ("slice", "stack")
SHIPPED = "shipped"  # --init-weights shipped: the shipped weak model of the run's level
CLASSIFIER = "classifier"
# The tiny preset's scar window (24 px) holds too little of a phantom's myocardial ring to tell
# scarred from normal; the weak tiny run sees the whole ring and takes enough classifier steps to
# separate the test phantoms (still seconds of one core).
TINY_SCAR_PATCH = 48
TINY_CLASSIFIER = {"epochs": 3, "iterations_per_epoch": 80, "batch_size": 8, "learning_rate": 0.01,
                   "warmup_iterations": 5}


@dataclass
class WeakConfig(CascadeConfig):
    """A cascade's settings (anatomy, scar, folds, phantoms, seed...) and the weak ones."""

    level: str = "slice"
    labels_file: str = ""  # CSV of yes/no per case or slice; "" = derived from the dataset
    labels_sha256: str = ""  # of that file: a resumed run must read the same labels
    anatomy_weights: str = ""  # a trained cascade whose anatomy network is taken as it is
    classifier: StageConfig = field(default_factory=StageConfig)
    pooling_sharpness: float = 5.0  # log-mean-exp pooling of the scar map: 0 -> mean, large -> max

    def to_dict(self):
        values = super().to_dict()
        values["classifier"] = self.classifier.to_dict()
        values["labels_file"] = Path(self.labels_file).name  # names, never machine paths
        values["anatomy_weights"] = Path(self.anatomy_weights).name
        return values


def shipped_model_name(level):
    """The name a shipped weakly supervised model of `level` has (`--init-weights shipped`)."""
    return f"scar_weak_{level}"


def _file_sha256(path):
    if not path:
        return ""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--labels {path} is a folder; give the CSV file.")
    if not path.is_file():
        raise InputError(f"--labels: file not found: {path}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny(config):
    for stage in ("scar", "classifier"):
        stage_config = getattr(config, stage)
        stage_config.network = replace(stage_config.network, patch_size=TINY_SCAR_PATCH)
    return config


def make_weak_config(level, preset="cpu", stage_changes=None, labels_file="", anatomy_weights="",
                     pooling_sharpness=5.0, **overrides):
    """A WeakConfig: the cascade preset's settings (`stage_changes` on all three networks,
    `overrides` as make_cascade_config takes them), the classifier built like the scar network."""
    if level not in LEVELS:
        raise InputError(f"--level must be one of {', '.join(LEVELS)}; got {level!r}.")
    if not (math.isfinite(pooling_sharpness) and pooling_sharpness > 0):
        raise InputError(f"The pooling sharpness must be a finite number above 0; got {pooling_sharpness}.")
    overrides.setdefault("name", shipped_model_name(level))
    if overrides.get("init_weights") == SHIPPED:
        overrides["init_weights"] = shipped_model_name(level)
    base = make_cascade_config(preset, stage_changes, **overrides)
    classifier_changes = {**(TINY_CLASSIFIER if preset == "tiny" else {}), **(stage_changes or {})}
    classifier = replace(base.scar, **classifier_changes)
    check_stage(classifier, "The classifier's")
    values = {name: getattr(base, name) for name in CascadeConfig.__dataclass_fields__}
    config = WeakConfig(**values, level=level, labels_file=str(labels_file or ""),
                        labels_sha256=_file_sha256(labels_file), anatomy_weights=str(anatomy_weights or ""),
                        classifier=classifier, pooling_sharpness=float(pooling_sharpness))
    return _tiny(config) if preset == "tiny" else config
