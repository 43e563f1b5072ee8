"""The conditional diffusion generator: a diffusers UNet2DModel and its conditioning channels.

The network sees, stacked on the channel axis of a square crop around the heart:

    0      the noisy image x_t (intensities normalised to about [-1, 1])
    1      the real image with the heart region blanked out (the context it must match)
    2      the heart-region mask (1 inside, where the image is generated)
    3..7   one-hot labels: background, LV blood pool, healthy myocardium, scar, MVO

and predicts the noise (epsilon), so a one-step estimate of the clean image x0_hat follows from
any timestep. RV blood pool (label 5) counts as background here: EMIDEC has no RV label.
"""

from pathlib import Path

import numpy as np

DEFAULT_MODEL_NAME = "scarsynth_lge_diffusion"
WEIGHTS_DIR = Path(__file__).parent / "weights"

CROP_SIZE = 64
NUM_LABEL_CLASSES = 5  # background, blood pool, healthy myocardium, scar, MVO
CONDITION_CHANNELS = 2 + NUM_LABEL_CLASSES
NUM_TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"
# Sampling starts from the noised label template at this fraction of the schedule (1 = pure noise);
# 0.7 followed the label anatomy best on the held-out cases (see the shipped model card).
RECOMMENDED_STRENGTH = 0.7

DEFAULT_CONFIG = dict(
    sample_size=CROP_SIZE,
    in_channels=1 + CONDITION_CHANNELS,
    out_channels=1,
    layers_per_block=1,
    block_out_channels=(32, 48, 64, 96),
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    norm_num_groups=16,
    attention_head_dim=32,
)


def ensure_diffusers_importable():
    """Let diffusers import where a broken torchvision is installed.

    A torchvision wheel that does not match the CPU torch build fails on import; diffusers imports
    it whenever it is installed and then cannot load its UNet. The generator never needs it, so
    diffusers is told it is absent.
    """
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401
    except Exception:  # RuntimeError / ImportError raised inside torchvision itself
        from diffusers.utils import import_utils

        import_utils._torchvision_available = False


def build_unet(config=None):
    """A fresh diffusers UNet2DModel with `config` (DEFAULT_CONFIG when None)."""
    ensure_diffusers_importable()
    from diffusers import UNet2DModel

    settings = dict(DEFAULT_CONFIG)
    settings.update(config or {})
    settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items()}
    return UNet2DModel(**settings)


def build_train_scheduler():
    """The DDPM noise schedule used for training (and shared with the fast samplers)."""
    ensure_diffusers_importable()
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE,
                         prediction_type="epsilon")


def one_hot_labels(labels):
    """(N, H, W) integer labels -> (N, 5, H, W) float one-hot; RV (5) counts as background."""
    import torch

    labels = torch.as_tensor(labels).long()
    labels = torch.where(labels >= NUM_LABEL_CLASSES, torch.zeros_like(labels), labels)
    return torch.nn.functional.one_hot(labels, NUM_LABEL_CLASSES).permute(0, 3, 1, 2).float()


def make_condition(image, region, labels):
    """Conditioning channels (N, 7, H, W) from normalised images (N, H, W), masks and labels.

    The image inside `region` is set to zero, so the generator never sees the pixels it renders.
    """
    import torch

    image = torch.as_tensor(image, dtype=torch.float32)
    region = torch.as_tensor(region, dtype=torch.float32)
    context = image * (1.0 - region)
    return torch.cat([context[:, None], region[:, None], one_hot_labels(labels).to(image.device)], 1)


def x0_from_epsilon(noisy, epsilon, timesteps, scheduler):
    """The one-step denoised estimate x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    alphas = scheduler.alphas_cumprod.to(noisy.device)[timesteps].float()
    alphas = alphas.view(-1, *([1] * (noisy.ndim - 1)))
    return (noisy - (1.0 - alphas).sqrt() * epsilon) / alphas.sqrt()


def parameter_count(model):
    return int(sum(np.prod(p.shape) for p in model.parameters()))
