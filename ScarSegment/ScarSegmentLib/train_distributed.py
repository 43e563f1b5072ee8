"""The processes of a training run: one, or several under torchrun (PyTorch DDP)."""

import os

from LGECore.device import wants_cuda


class Distributed:
    """Rank, world size and device of this process; starts torch.distributed under torchrun."""

    def __init__(self, device_name):
        import torch
        import torch.distributed as dist

        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = wants_cuda(device_name)  # each process takes the GPU of its local rank
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.started_here = False
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            self.started_here = True

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        import torch.distributed as dist

        if self.world_size > 1:
            dist.barrier()

    def close(self):
        import torch.distributed as dist

        if self.started_here:
            dist.destroy_process_group()
