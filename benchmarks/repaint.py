"""RePaint (Lugmayr et al., CVPR 2022), the sampler of CLAIM (Sun et al.), run on ScarSynth's
generator for `benchmarks/synth.py speed`: the same crops, paint region, conditioning and network
as synthesize_volume's DDIM, only the schedule differs.

CLAIM's schedule costs 1,480 network evaluations per slice. diffusers' RePaintScheduler gives
exactly that with 500 steps, jumps of 10 steps and 3 samples per jump point: 500 descending steps
plus 49 jump points x 2 repeats x 10 steps. The benchmark counts the evaluations with a hook.
"""

import numpy as np

from ScarSynthLib import diffusion_model as dm
from ScarSynthLib.diffusion import SAMPLE_CLIP

STEPS = 500
JUMP_LENGTH = 10
JUMP_N_SAMPLE = 3


def make_scheduler(steps=STEPS, jump_length=JUMP_LENGTH, jump_n_sample=JUMP_N_SAMPLE):
    """A RePaintScheduler on the generator's training noise schedule, deterministic between
    jumps (eta 0, as DDIM) and with its own clipping off (see clipped_epsilon)."""
    dm.ensure_diffusers_importable()
    from diffusers import RePaintScheduler

    train = dm.build_train_scheduler().config
    scheduler = RePaintScheduler(num_train_timesteps=train.num_train_timesteps,
                                 beta_schedule=train.beta_schedule, eta=0.0, clip_sample=False)
    scheduler.set_timesteps(steps, jump_length, jump_n_sample)
    return scheduler


def clipped_epsilon(sample, epsilon, alpha_cumprod):
    """The noise estimate that matches the x0 estimate clipped to +-SAMPLE_CLIP, as our DDIM clips
    it. RePaintScheduler can only clip to +-1, which would cut bright heart pixels (normalised
    intensities reach about 3), and unclipped the x0 estimate near t = 999 is unbounded."""
    alpha = float(alpha_cumprod)
    x0 = ((sample - (1.0 - alpha) ** 0.5 * epsilon) / alpha ** 0.5).clamp(-SAMPLE_CLIP, SAMPLE_CLIP)
    return (sample - alpha ** 0.5 * x0) / (1.0 - alpha) ** 0.5


def sample_repaint(model, crops, seed=0, scheduler=None):
    """Normalised samples (N, S, S) for SliceCrops, sampled with RePaint in one batch.

    At every step the pixels outside the paint region are the real crop noised to that step
    (RePaint's known part); at each jump point the sample is noised back `jump_length` steps and
    denoised again, `jump_n_sample - 1` times.
    """
    import torch

    scheduler = scheduler or make_scheduler()
    device = next(model.parameters()).device
    images = torch.as_tensor(np.stack([c.image for c in crops]), dtype=torch.float32)
    regions = torch.as_tensor(np.stack([c.region for c in crops]), dtype=torch.float32)
    labels = torch.as_tensor(np.stack([c.labels for c in crops]).astype(np.int64))
    condition = dm.make_condition(images, regions, labels).to(device)
    images, known = images.to(device), (1.0 - regions).to(device)
    generator = torch.Generator(device).manual_seed(seed)
    sample = torch.randn(images.shape, generator=generator, device=device)
    t_last = scheduler.timesteps[0] + 1
    with torch.no_grad():
        for t in scheduler.timesteps:
            if t < t_last:  # a denoising step: one network evaluation
                model_input = torch.cat([sample[:, None], condition], 1)
                epsilon = model(model_input, t.expand(len(sample)).to(device)).sample[:, 0]
                epsilon = clipped_epsilon(sample, epsilon, scheduler.alphas_cumprod[t])
                sample = scheduler.step(epsilon, t, sample, images, known, generator).prev_sample
            else:  # a jump back: noise only
                sample = scheduler.undo_step(sample, t_last, generator)
            t_last = t
    return sample.cpu().numpy()
