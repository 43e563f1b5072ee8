"""The segmenter's training settings: TrainConfig, its presets and make_config."""

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from LGECore.errors import InputError

from .network import NetworkSettings
from .segmenter import SHIPPED_MODEL as MODEL_NAME


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved with the checkpoint and the weights."""

    epochs: int = 100
    iterations_per_epoch: int = 50  # summed over all processes
    batch_size: int = 16  # per process
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_iterations: int = 50
    kl_weight: float = 0.5
    kl_sigma: float = 1.0  # pixels; smoothing of the soft labels
    class_weights: tuple = (0.5, 1.0, 1.0, 2.0, 3.0)  # background, pool, myocardium, scar, MVO
    scar_oversampling: float = 1.0  # extra sampling weight of slices with scar
    mvo_oversampling: float = 2.0  # and with MVO
    jitter: float = 0.4  # random offset of the LV in a patch, as a fraction of the patch size
    background_patches: float = 0.25  # fraction of patches anywhere in the slice
    # fraction of patches normalised as if the scanner's field of view were smaller (less air)
    fov_normalisation: float = 0.5
    # With network.window_normalisation: the fraction of patches normalised on their own window
    # (as inference does around the LV); the rest are normalised on the whole image (or a smaller
    # field of view, above), as the coarse search for the LV over whole slices sees them.
    window_patches: float = 0.75
    # ... of which this fraction shows only a random smaller field of view around the heart (zero
    # beyond it, anchors from inside it), as a tight scan's window reaching past its edge does
    tight_fov: float = 0.3
    validation_cases: int = 16
    split_file: str = ""  # JSON {"validation": [...]}; empty = stratified split by seed
    extra_train_dirs: tuple = ()  # more EMIDEC-layout datasets used for training only (phantoms, synthetic)
    extra_weight: float = 0.5  # sampling weight of their slices relative to the main dataset's
    init_weights: str = ""  # fine-tune: "shipped" or a model (file, entry or folder); "" = from scratch
    lost_spacing_mm: float = 1.35  # pixel size assumed where a header says 1x1x1 (EMIDEC)
    seed: int = 0
    device: str = ""  # "", "cpu" or "cuda"
    threads: int = 0  # CPU threads per process; 0 = the CPU cores divided among processes
    workers: int = 0  # data loader worker processes
    name: str = MODEL_NAME
    preset: str = "cpu"
    network: NetworkSettings = field(default_factory=NetworkSettings)

    def to_dict(self):
        values = asdict(self)
        values["class_weights"] = list(self.class_weights)
        values["extra_train_dirs"] = [Path(d).name for d in self.extra_train_dirs]
        values["init_weights"] = Path(self.init_weights).name if self.init_weights else ""
        values["split_file"] = Path(self.split_file).name if self.split_file else ""
        values["network"] = self.network.to_dict()
        return values


PRESETS = {
    # Trains on a 2-core CPU in under an hour; the shipped model is seventeen such runs, each fine-tuning the
    # last (the thirteenth grown to 32-512 features with --channels).
    "cpu": TrainConfig(network=NetworkSettings(patch_size=128, window_normalisation=True)),
    # A GPU: wider network, larger patches, many more iterations.
    "gpu": TrainConfig(
        epochs=300, iterations_per_epoch=100, batch_size=32, workers=4, learning_rate=1e-3,
        network=NetworkSettings(channels=(32, 64, 128, 256, 512), num_res_units=2, patch_size=128,
                                window_normalisation=True)),
    # A few iterations, for tests.
    "tiny": TrainConfig(
        epochs=1, iterations_per_epoch=2, batch_size=2, warmup_iterations=1, validation_cases=1,
        network=NetworkSettings(channels=(4, 8, 16), strides=(2, 2), num_res_units=0, patch_size=32,
                                window_normalisation=True)),
}


def make_config(preset="cpu", **overrides):
    """A TrainConfig from a preset with some fields replaced (network fields by name too)."""
    if preset not in PRESETS:
        raise InputError(f"Unknown preset '{preset}'; choose one of {', '.join(PRESETS)}.")
    config = PRESETS[preset]
    network_fields = {k: overrides.pop(k) for k in list(overrides) if k in NetworkSettings.__dataclass_fields__}
    unknown = [k for k in overrides if k not in TrainConfig.__dataclass_fields__]
    if unknown:
        raise InputError(f"Unknown training settings: {', '.join(unknown)}.")
    _check_overrides(overrides, config)
    return replace(config, preset=preset, network=replace(config.network, **network_fields), **overrides)


# Settings that must be whole numbers of at least this (a run with no step would export an
# untrained model; a negative seed is refused by numpy deep inside the run).
_AT_LEAST = {"epochs": 1, "iterations_per_epoch": 1, "batch_size": 1, "validation_cases": 0, "seed": 0,
             "threads": 0, "workers": 0}


def _check_overrides(overrides, config):
    """InputError naming the first setting that cannot make a working run."""
    for name, least in _AT_LEAST.items():
        value = overrides.get(name)
        if value is not None and (not isinstance(value, int) or value < least):
            raise InputError(f"--{name.replace('_', '-')} must be a whole number of at least {least}; got {value}.")
    learning_rate = overrides.get("learning_rate", config.learning_rate)
    if not (math.isfinite(learning_rate) and learning_rate >= 0):
        raise InputError(f"--learning-rate must be a finite number of at least 0; got {learning_rate}.")
    weights = overrides.get("class_weights", config.class_weights)
    if len(weights) != config.network.num_classes or not all(math.isfinite(w) and w > 0 for w in weights):
        raise InputError(f"class_weights needs {config.network.num_classes} positive numbers (background, "
                         f"blood pool, myocardium, scar, MVO); got {list(weights)}.")
