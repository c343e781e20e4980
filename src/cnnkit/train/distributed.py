"""Data-parallel training through PyTorch's own engine (``torchrun``), gloo on CPU, nccl on GPU.

``torchrun --nproc_per_node=N -m cnnkit train ...`` (and multi-node rendezvous) sets
RANK / WORLD_SIZE / LOCAL_RANK; every rank holds the dataset in memory, takes a
disjoint share of each global batch, and DistributedDataParallel averages the
gradients - so N ranks with batch B step like one process with batch B.  Only
rank 0 writes the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    env = os.environ
    size = int(env.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(env.get("RANK", "0")), size, int(env.get("LOCAL_RANK", "0")),
                 int(env.get("LOCAL_WORLD_SIZE", str(size))))


def init(world: World, device_type: str) -> None:
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        if device_type == "cpu":
            # the ranks of a machine share its cores
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))


def barrier(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.barrier()


def shutdown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def agree(world: World, text: str) -> str:
    """Rank 0's value of ``text`` on every rank (e.g. a run directory chosen on rank 0)."""
    if world.size <= 1:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]
