"""The processes of a train-synth or train-joint run: one, or several under torchrun (PyTorch DDP).

Each process draws its own batches of --batch-size slices (its own seeds; rank 0 those of a
single-process run), DistributedDataParallel averages the gradients, so the weights stay the same
in every process, and rank 0 alone writes the loss log, the checkpoints and the exported model.
"""

import os

import numpy as np


def start_processes(device, threads):
    """(Distributed, torch device) of this process: the asked device when it runs alone, the GPU of
    its local rank under torchrun; `threads` CPU threads, else the cores shared among the processes."""
    import torch

    from LGECore.device import choose_device
    from ScarSegmentLib.train_distributed import Distributed

    dist = Distributed(device)
    if threads:
        torch.set_num_threads(threads)
    elif dist.world_size > 1 and dist.device.type == "cpu":  # torch would give each process every core
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size))
    return dist, (dist.device if dist.world_size > 1 else choose_device(device))


def wrap(network, dist):
    """What the training steps call: `network` itself in one process, else its DistributedDataParallel
    wrapper, which averages the gradients over the processes (checkpoints and exports keep `network`)."""
    if dist.world_size == 1:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)


def rank_rng(entropy, rank):
    """The numpy generator of one process: rank 0 draws what a single process draws, the others their own."""
    return np.random.default_rng(entropy if rank == 0 else [*np.atleast_1d(entropy).tolist(), rank])


def rank_torch_seed(seed, rank):
    """The torch seed of one process: `seed` itself on rank 0, one drawn from (seed, rank) elsewhere."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def mean_over_processes(dist, losses):
    """Each loss (a tensor or number) averaged over the processes, as floats.

    Rank 0 logs these means; every process checks them for NaN, so a loss that diverges in one
    process stops all of them at the same step instead of leaving the others waiting for its gradients.
    """
    values = [float(loss) for loss in losses]
    if dist.world_size == 1:
        return values
    import torch
    import torch.distributed

    shared = torch.tensor(values, dtype=torch.float64, device=dist.device)
    torch.distributed.all_reduce(shared)
    return (shared / dist.world_size).tolist()


def in_processes(device, threads, log, work):
    """Start this run's processes, call work(dist, device, log) in this one (log silent but in rank 0)
    and close torch.distributed again, whatever happens."""
    dist, device = start_processes(device, threads)
    try:
        return work(dist, device, log if dist.main else (lambda *_: None))
    finally:
        dist.close()
