"""What a synthesis is asked for, in one place: the scar (how deep, how wide, MVO, pattern, seed)
and its rendering (sampling steps, weights, device, mask only), with the options' defaults and help,
shared by `scarsynth synth` and `scarsynth synth-dataset`."""

from dataclasses import dataclass
from typing import Optional

from LGECore.requests import option

from .scar_patterns import PATTERNS


@dataclass(frozen=True)
class ScarRequest:
    transmurality: float = option(0.5, "--transmurality", "mean fraction of the wall the scar spans, 0..1 "
                                                          "(default 0.5)", type=float)
    extent: float = option(1.0, "--extent", "fraction of the chosen segments' wall the scar covers (default 1)",
                           type=float)
    mvo: bool = option(False, "--mvo", "add an MVO core (needs transmurality >= 0.75)", action="store_true")
    pattern: str = option("ischaemic", "--pattern", "scar pattern", choices=PATTERNS)
    seed: int = option(0, "--seed", "random seed (same seed, same scar)", type=int)


@dataclass(frozen=True)
class RenderRequest:
    steps: int = option(25, "--steps", "diffusion sampling steps (default 25)", type=int)
    weights: Optional[str] = option(None, "--weights", "diffusion weights (.safetensors) instead of the shipped model")
    device: Optional[str] = option(None, "--device", "torch device, e.g. cpu or cuda (default: cuda if present)")
    mask_only: bool = option(False, "--mask-only", "write the scar labels and params only; no image is synthesised",
                             action="store_true")
