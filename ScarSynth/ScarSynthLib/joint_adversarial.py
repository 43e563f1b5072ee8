"""The patch adversarial term of joint training (`train-joint --adversarial-weight`).

A small convolutional critic learns to tell real scar from painted scar patch by patch (receptive
field 14 pixels, about the size of the realism benchmark's patches), inside the paint regions only;
it sees the image alone, never the region's outline, so that it judges texture and brightness, not
shape. The generator is asked to fool it on the crops it paints for the consistency loss, at low
noise levels only, where its one-step estimate x0_hat is sharp enough for texture to be judged:
the consistency loss makes the scar findable, this term makes it look like real scar.
"""

import numpy as np

ADVERSARIAL_MAX_TIMESTEP = 200  # beyond this x0_hat is blurred by the noise itself, not by the generator
CRITIC_LEARNING_RATE = 2e-4


def build_critic():
    """(N, 1, S, S) image crops -> (N, 1, S/2, S/2) logits "real scar" per patch."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(64, 1, 3, padding=1))


def critic_optimizer(critic):
    import torch

    return torch.optim.Adam(critic.parameters(), lr=CRITIC_LEARNING_RATE, betas=(0.5, 0.999))


def real_scar_crops(arrays):
    """Indices of the training crops whose paint region holds real scar: the critic's real examples."""
    holds_scar = ((arrays["labels"] >= 3) & (arrays["regions"] > 0.5)).any(axis=(1, 2))
    return np.flatnonzero(holds_scar)


def real_scar_batch(arrays, index, size, rng):
    """(images, regions) of `size` crops with real scar, as tensors."""
    import torch

    chosen = index[rng.integers(0, len(index), size)]
    return torch.from_numpy(arrays["images"][chosen]), torch.from_numpy(arrays["regions"][chosen])


def _patch_weights(regions, keep=None):
    """The share of each critic patch that lies in the paint region (N, 1, S/2, S/2); samples where
    `keep` is False weigh nothing."""
    import torch.nn.functional as F

    weights = F.avg_pool2d(regions[:, None], 2)
    if keep is not None:
        weights = weights * keep[:, None, None, None].to(weights.dtype)
    return weights


def _weighted_mean(values, weights):
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def generator_term(critic, composite, regions, timesteps):
    """Non-saturating adversarial loss of the painted crops (with graph), at low noise levels only."""
    import torch.nn.functional as F

    from .joint_losses import frozen

    keep = timesteps < ADVERSARIAL_MAX_TIMESTEP
    with frozen(critic):
        logits = critic(composite[:, None])
    return _weighted_mean(F.softplus(-logits), _patch_weights(regions, keep))


def critic_term(critic, real_images, real_regions, painted, painted_regions, painted_timesteps):
    """The critic's loss: real scar patches "real", painted ones (detached) "painted"."""
    import torch.nn.functional as F

    real = _weighted_mean(F.softplus(-critic(real_images[:, None])), _patch_weights(real_regions))
    keep = painted_timesteps < ADVERSARIAL_MAX_TIMESTEP
    fake = _weighted_mean(F.softplus(critic(painted.detach()[:, None])), _patch_weights(painted_regions, keep))
    return real + fake
