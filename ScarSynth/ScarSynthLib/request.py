"""What a synthesis is asked for, in one place: the scar (how deep, how wide, MVO, pattern, seed)
and its rendering (sampling steps, weights, device, mask only), with the options' defaults and help,
shared by `scarsynth synth` and `scarsynth synth-dataset`."""

from dataclasses import dataclass
from typing import Optional

from LGECore.device import device_option
from LGECore.requests import number_in, option, seed

from .scar_patterns import PATTERNS
from .scar_regions import REGION_KINDS


LR_SCHEDULES = ("constant", "cosine")  # train-joint's generator learning rate


@dataclass(frozen=True)
class ScarRequest:
    transmurality: float = option(0.5, "--transmurality", "mean fraction of the wall the scar spans, 0..1 "
                                                          "(default 0.5)", type=number_in(float, 0, 1, above=True))
    extent: float = option(1.0, "--extent", "fraction of the chosen segments' wall the scar covers (default 1)",
                           type=number_in(float, 0, 1, above=True))
    mvo: bool = option(False, "--mvo", "add an MVO core (needs transmurality >= 0.75)", action="store_true")
    pattern: str = option("ischaemic", "--pattern", "scar pattern", choices=PATTERNS)
    seed: int = option(0, "--seed", "random seed (same seed, same scar)", type=seed)


@dataclass(frozen=True)
class RenderRequest:
    steps: int = option(25, "--steps", "diffusion sampling steps, 1 to 50 (default 25)", type=number_in(int, 1, 50))
    weights: Optional[str] = option(None, "--weights", "diffusion weights (.safetensors) instead of the shipped model")
    device: Optional[str] = option(None, "--device", "torch device, e.g. cpu or cuda (default: cuda if present)",
                                   type=device_option)
    mask_only: bool = option(False, "--mask-only", "write the scar labels and params only; no image is synthesised",
                             action="store_true")


@dataclass(frozen=True)
class GeneratorTrainingRequest:
    """The options train-synth and train-joint share; `run_options()` are the training function's."""
    steps: int = option(3000, "--steps", "training steps (default 3000)", type=number_in(int, 1))
    batch_size: int = option(16, "--batch-size", "slices per step and process (default 16); under torchrun "
                             "each of N processes draws its own, so a step sees N times as many",
                             type=number_in(int, 1))
    learning_rate: float = option(2e-4, "--learning-rate", "learning rate (default 0.0002)",
                                  type=number_in(float, 0, above=True))
    resume: bool = option(False, "--resume", "continue the run in --output from its checkpoint", action="store_true")
    device: Optional[str] = option(None, "--device", "cpu, cuda, cuda:1 ... (default: cuda when present)",
                                   type=device_option)
    threads: Optional[int] = option(None, "--threads", "CPU threads for torch per process (default: torch's "
                                   "choice; under torchrun the cores shared among the processes)",
                                   type=number_in(int, 1))
    checkpoint_every: int = option(200, "--checkpoint-every", "steps between checkpoints", type=number_in(int, 1))
    max_cases: Optional[int] = option(None, "--max-cases", "train on the first N training cases only",
                                      type=number_in(int, 1))
    seed: int = option(0, "--seed", "random seed (default 0)", type=seed)
    no_progress: bool = option(False, "--no-progress", "no progress bar", action="store_true")
    paint_region: str = option("scar", "--paint-region", "what the generator learns to paint: the scar and a "
                               "3-pixel margin (scar, default) or the whole heart region (heart)", choices=REGION_KINDS)

    def run_options(self):
        """Keyword arguments of train_synth / train_joint."""
        return dict(steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
                    resume=self.resume, device=self.device, seed=self.seed, checkpoint_every=self.checkpoint_every,
                    max_cases=self.max_cases, progress=not self.no_progress, paint_region=self.paint_region,
                    threads=self.threads)
