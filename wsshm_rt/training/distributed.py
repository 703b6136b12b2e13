"""One code path for 1 CPU, 1 GPU and N GPUs under torchrun: DDP with gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..engines import DEVICES
from ..errors import WsshmError, check_choice


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def ddp(self) -> bool:
        return self.world > 1


def pick_device(pref: str, local_rank: int) -> torch.device:
    check_choice("device", pref, DEVICES)
    if pref == "cuda" and not torch.cuda.is_available():
        raise WsshmError("--device cuda was asked for but no CUDA GPU is available")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(pref: str = "auto") -> Dist:
    """Read torchrun's environment (RANK/WORLD_SIZE/LOCAL_RANK); without it, a single process."""
    if "RANK" not in os.environ:
        return Dist(0, 1, pick_device(pref, 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(pref, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def mean_across_ranks(x: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        x = x.detach().clone()
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return x


def state_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer, in name order: equal digests mean bitwise-equal replicas."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def replica_digests(model: torch.nn.Module) -> list[str]:
    """Every rank's state digest (a collective: all ranks must call it)."""
    mine = state_digest(model)
    if not dist.is_initialized():
        return [mine]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, mine)
    return out


def sync_buffers(model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running stats) to every rank.

    DDP only broadcasts buffers at the START of each forward, so after a step every rank holds running stats of
    its own shard; syncing before the EMA update and at the end keeps teachers and saved replicas identical.
    """
    if dist.is_initialized():
        for b in model.buffers():
            dist.broadcast(b, 0)
