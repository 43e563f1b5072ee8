"""Joint training pieces: the segmenter and its loss (ScarSegment's) and the segmentation-consistency
loss (new-scar label maps come from scar_regions.random_scar_labels).

The consistency loss asks that the generator's one-step denoised estimate x0_hat, conditioned on a
label map, is segmented back into that label map by the segmenter. The segmenter's weights are
frozen for this term, so its gradient flows only into the generator.
"""

import contextlib

from . import diffusion_model as dm

CONSISTENCY_MAX_TIMESTEP = 400  # beyond this x0_hat is too blurred to segment meaningfully


def build_segmenter():
    """ScarSegment's residual U-Net, sized for 64 x 64 heart crops: (N, 1, S, S) -> (N, 5, S, S)."""
    from ScarSegmentLib.network import NetworkSettings, build_network

    return build_network(NetworkSettings(channels=(16, 32, 64, 128), strides=(2, 2, 2), dropout=0.0,
                                         patch_size=dm.CROP_SIZE))


def segmentation_loss(device="cpu"):
    """ScarSegment's training loss (Dice + CE + KL to smoothed labels) as one tensor.

    Takes logits (N, 5, H, W) and integer labels (N, 1, H, W).
    """
    from ScarSegmentLib.losses import RobustSegmentationLoss

    loss = RobustSegmentationLoss(num_classes=dm.NUM_LABEL_CLASSES, device=device)

    def total(logits, labels):
        return loss(logits, labels)[0]

    return total


def consistency_loss(generator, segmenter, scheduler, images, labels, regions, loss_function,
                     generator_rng=None, max_timestep=CONSISTENCY_MAX_TIMESTEP):
    """Segmentation loss of the segmenter on the generator's x0_hat composited into the context.

    images, regions: (N, S, S) normalised crops and heart-region masks; labels: (N, S, S) integers
    describing what the generator must render. Returns (loss, x0_hat composite, timesteps); the
    composite keeps its graph, for the adversarial term (joint_adversarial).
    """
    import torch

    noise = torch.randn(images.shape, generator=generator_rng, device=images.device)
    timesteps = torch.randint(0, max_timestep, (images.shape[0],), generator=generator_rng,
                              device=images.device)
    noisy = scheduler.add_noise(images, noise, timesteps)
    condition = dm.make_condition(images, regions, labels)
    epsilon = generator(torch.cat([noisy[:, None], condition], 1), timesteps).sample[:, 0]
    x0_hat = dm.x0_from_epsilon(noisy, epsilon, timesteps, scheduler)
    composite = regions * x0_hat + (1.0 - regions) * images
    with frozen(segmenter):
        loss = loss_function(segmenter(composite[:, None]), labels[:, None].long())
    return loss, composite, timesteps


@contextlib.contextmanager
def frozen(network):
    """`network` passes gradient to its input but takes none itself (its DDP wrapper would wait for it)."""
    trainable = [p.requires_grad for p in network.parameters()]
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    try:
        yield network
    finally:
        for parameter, flag in zip(network.parameters(), trainable):
            parameter.requires_grad_(flag)
