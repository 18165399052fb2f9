"""Data parallel across the GPUs of one node: `torchrun --nproc_per_node N -m uchi.trainer.worker ...`
(or `accelerate launch`, which sets the same variables). One process per GPU, each takes every N-th batch;
gradients are averaged by DDP; only rank 0 writes checkpoints, the adapter and the store.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        return f"cuda:{self.local_rank}" if device == "cuda" and self.size > 1 else device


def world() -> World:
    return World(rank=int(os.environ.get("RANK", 0)), size=int(os.environ.get("WORLD_SIZE", 1)),
                 local_rank=int(os.environ.get("LOCAL_RANK", 0)))


def start(w: World, device: str) -> None:
    if w.size > 1 and not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(w.local_rank)
        dist.init_process_group("nccl" if device == "cuda" else "gloo")


def stop(w: World) -> None:
    if w.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def mean(value: float, w: World, device: str) -> float:
    if w.size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=w.device(device))
    dist.all_reduce(tensor)
    return tensor.item() / w.size


def barrier(w: World) -> None:
    if w.size > 1:
        dist.barrier()


def wrap(model, w: World, device: str):
    if w.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [w.local_rank] if device == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
