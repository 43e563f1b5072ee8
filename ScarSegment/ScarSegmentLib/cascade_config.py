"""Settings of a cascade training run (`scarsynth train-seg`): one StageConfig per network.

The anatomy network (background, blood pool, myocardium; healthy and infarcted myocardium as two
outputs) learns on LV-centred crops of whole slices, slices with scar drawn three times as often,
with some patches anywhere in the slice so that it can also find the LV; the scar network (not
scar, scar, MVO) learns on the myocardium region at full resolution, from the image normalised
to the myocardium's own statistics, the neighbouring slices and the anatomy probabilities.
"""

import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from LGECore.errors import InputError

from .network import NetworkSettings

MODEL_NAME = "scar_cascade"
ANATOMY, SCAR = "anatomy", "scar"
# train-seg --extra-train-for: the networks that train on the extra cases
EXTRA_TRAIN_FOR = {"both": (ANATOMY, SCAR), SCAR: (SCAR,), ANATOMY: (ANATOMY,)}


@dataclass
class StageConfig:
    """How one network of the cascade is trained."""

    epochs: int = 20
    iterations_per_epoch: int = 100  # summed over all processes
    batch_size: int = 16  # per process
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_iterations: int = 50
    kl_weight: float = 0.5
    kl_sigma: float = 1.0  # pixels; smoothing of the soft labels
    class_weights: tuple = (1.0, 1.0, 1.0)
    positive_oversampling: float = 2.0  # extra sampling weight of slices with scar
    mvo_oversampling: float = 2.0  # ... and with MVO
    jitter: float = 0.15  # random offset of the LV in a patch, as a fraction of the patch size
    background_patches: float = 0.0  # fraction of patches anywhere in the slice
    rotation: bool = True  # any in-plane angle (else right angles and flips only)
    scale: float = 0.15  # random zoom of +- this fraction
    intensity: float = 1.0  # strength of gamma, contrast, shift and noise (0 = none)
    blur: float = 0.0  # largest Gaussian blur (pixels) of a patch: coarser or resampled pixels of other scanners
    edge_cuts: float = 0.0  # share of patches cut by an image edge near the LV (small or cropped fields of view)
    # The scar network's share of windows whose anatomy input misses part of the scar (called blood pool or
    # background), as the anatomy network does, to pair with NetworkSettings.claims_border_px. 0 in the presets:
    # in 5-fold CV at 40 epochs it found more MVO and a little more scar, but the burden error grew in every fold
    # (docs/segmenter_measurements.md).
    anatomy_misses: float = 0.0
    network: NetworkSettings = field(default_factory=NetworkSettings)

    def to_dict(self):
        values = asdict(self)
        values["class_weights"] = list(self.class_weights)
        values["network"] = self.network.to_dict()
        return values


def _anatomy(channels, **changes):
    # Four outputs, read as three classes: infarcted myocardium is learnt apart from healthy myocardium
    # (with three outputs it called 30 % of the scar pixels blood pool or background, in 5-fold CV).
    network = NetworkSettings(channels=channels, num_classes=4, class_groups=((0,), (1,), (2, 3)), patch_size=128,
                              context_slices=1, window_normalisation=True, dropout=0.0)
    # Full augmentation and KL: a lighter recipe (benchmarks/cascade_recipe.py "light") fitted better and gained
    # 0.007 myocardium Dice in 5-fold CV, but lost 0.009 and 0.030 on other scanners' grids (folds 1 and 2).
    return StageConfig(class_weights=(1.0, 1.0, 1.0, 1.0), background_patches=0.2, network=network, **changes)


def _scar(channels, **changes):
    network = NetworkSettings(channels=channels, num_classes=3, patch_size=96, context_slices=1,
                              anatomy_channels=2, dropout=0.0)
    return StageConfig(class_weights=(1.0, 2.0, 3.0), network=network, **changes)


@dataclass
class CascadeConfig:
    """Everything a cascade training run depends on; saved with the checkpoints and the weights."""

    anatomy: StageConfig
    scar: StageConfig
    fold: tuple = ()  # (index, count): hold out fold `index` of `count` stratified folds; () = train on all
    extra_train_dirs: tuple = ()  # more EMIDEC-layout datasets for training only (phantoms, synthetic cases)
    extra_train_networks: tuple = EXTRA_TRAIN_FOR["both"]  # the networks that train on them
    # how the extra set "synthetic" was made, when `train-seg --synthetic` (ScarSynth) made it: {cases,
    # sources, steps, generator, generator_sha256}; {} for none. Read by the card's rebuild command.
    synthetic_set: dict = field(default_factory=dict)
    phantoms: int = 0  # LGE phantoms made for training only (scanner contrast, other grids)
    phantom_weight: float = 0.5  # how often a phantom's slices are drawn, against a real case's
    init_weights: str = ""  # a trained cascade to start from (fine-tuning on local scans); "" = from scratch
    lost_spacing_mm: float = 1.35  # pixel size assumed where a header says 1x1x1 (EMIDEC)
    seed: int = 0
    device: str = ""
    threads: int = 0
    name: str = MODEL_NAME
    preset: str = "cpu"

    def to_dict(self):
        values = asdict(self)
        values["anatomy"], values["scar"] = self.anatomy.to_dict(), self.scar.to_dict()
        values["fold"] = list(self.fold)
        values["extra_train_dirs"] = [Path(folder).name for folder in self.extra_train_dirs]
        values["extra_train_networks"] = list(self.extra_train_networks)
        values["init_weights"] = Path(self.init_weights).name  # a name, never a machine path
        return values


CHANNELS_GPU = (32, 64, 128, 256, 512)
PRESETS = {
    # A CPU: both networks in about 45 minutes of one core with bfloat16 autocast (28 on two). Twice
    # the 20 epochs first tried: in 5-fold cross-validation that lifted scar Dice 0.434 -> 0.504, and the
    # anatomy network's separate infarcted-myocardium output then to 0.546.
    "cpu": CascadeConfig(anatomy=_anatomy(CHANNELS_GPU, epochs=40, iterations_per_epoch=100),
                         scar=_scar(CHANNELS_GPU, epochs=40, iterations_per_epoch=100), phantoms=40),
    # A GPU: more and larger batches.
    "gpu": CascadeConfig(anatomy=_anatomy(CHANNELS_GPU, epochs=40, iterations_per_epoch=200, batch_size=32),
                         scar=_scar(CHANNELS_GPU, epochs=40, iterations_per_epoch=200, batch_size=32), phantoms=40),
    # A few iterations, for tests.
    "tiny": CascadeConfig(
        anatomy=replace(_anatomy((4, 8, 16)), epochs=1, iterations_per_epoch=2, batch_size=2, warmup_iterations=1),
        scar=replace(_scar((4, 8, 16)), epochs=1, iterations_per_epoch=2, batch_size=2, warmup_iterations=1)),
}
for _preset in PRESETS["tiny"].anatomy, PRESETS["tiny"].scar:
    _preset.network = replace(_preset.network, strides=(2, 2), num_res_units=0,
                              patch_size=32 if _preset.network.anatomy_channels == 0 else 24)

_AT_LEAST = {"epochs": 1, "iterations_per_epoch": 1, "batch_size": 1}
MAX_BLUR = 3.0  # pixels; beyond, a patch no longer shows the wall


def check_stage(stage, what):
    for name, least in _AT_LEAST.items():
        value = getattr(stage, name)
        if not isinstance(value, int) or value < least:
            raise InputError(f"{what} {name.replace('_', ' ')} must be a whole number of at least {least}; got {value}.")
    if not (math.isfinite(stage.learning_rate) and stage.learning_rate > 0):
        raise InputError(f"{what} learning rate must be a finite number above 0; got {stage.learning_rate}.")
    if not (math.isfinite(stage.anatomy_misses) and 0 <= stage.anatomy_misses <= 1):
        raise InputError(f"{what} share of windows with missed scar must lie from 0 to 1; got {stage.anatomy_misses}.")
    weights = stage.class_weights
    if len(weights) != stage.network.num_classes or not all(math.isfinite(w) and w > 0 for w in weights):
        raise InputError(f"{what} class weights need {stage.network.num_classes} positive numbers; got {list(weights)}.")


def with_grid_augmentation(config, blur=0.0, edge_cuts=0.0):
    """`config` with both networks' patches blurred by up to `blur` pixels and `edge_cuts` of the anatomy
    network's patches ending at an image edge near the LV (`train-seg --blur`, `--edge-cuts`), aimed at
    other scanners' grids; over five folds neither paid (docs/segmenter_measurements.md)."""
    if not (math.isfinite(blur) and 0 <= blur <= MAX_BLUR):
        raise InputError(f"--blur must be a number of pixels from 0 to {MAX_BLUR:g}; got {blur}.")
    if not (math.isfinite(edge_cuts) and 0 <= edge_cuts <= 1):
        raise InputError(f"--edge-cuts must be a share of patches from 0 to 1; got {edge_cuts}.")
    return replace(config, anatomy=replace(config.anatomy, blur=blur, edge_cuts=edge_cuts),
                   scar=replace(config.scar, blur=blur))


def extra_train_networks(config_values):
    """The networks that trained on a saved run's extra cases (both, in entries older than the choice)."""
    return list(config_values.get("extra_train_networks", EXTRA_TRAIN_FOR["both"]))


def make_cascade_config(preset="cpu", stage_changes=None, **overrides):
    """A CascadeConfig from a preset; `stage_changes` are StageConfig fields set on both stages
    (e.g. epochs), `overrides` CascadeConfig fields (seed, fold, device, threads, name)."""
    if preset not in PRESETS:
        raise InputError(f"Unknown preset '{preset}'; choose one of {', '.join(PRESETS)}.")
    config = PRESETS[preset]
    unknown = [k for k in overrides if k not in CascadeConfig.__dataclass_fields__]
    unknown += [k for k in (stage_changes or {}) if k not in StageConfig.__dataclass_fields__]
    if unknown:
        raise InputError(f"Unknown training settings: {', '.join(unknown)}.")
    for name in ("seed", "threads", "phantoms"):
        value = overrides.get(name, 0)
        if not isinstance(value, int) or value < 0:
            raise InputError(f"--{name} must be a whole number of at least 0; got {value}.")
    changes = stage_changes or {}
    config = replace(config, preset=preset, anatomy=replace(config.anatomy, **changes),
                     scar=replace(config.scar, **changes), **overrides)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", config.name):
        raise InputError(f"--name must be a plain file name (letters, digits, _ . -); got {config.name!r}.")
    if not (math.isfinite(config.phantom_weight) and config.phantom_weight > 0):
        raise InputError(f"--phantom-weight must be a finite number above 0; got {config.phantom_weight}.")
    if not config.extra_train_networks or set(config.extra_train_networks) - {ANATOMY, SCAR}:
        raise InputError(f"--extra-train-for must name {ANATOMY}, {SCAR} or both; got {config.extra_train_networks}.")
    check_stage(config.anatomy, "The anatomy network's")
    check_stage(config.scar, "The scar network's")
    return config
