"""Data-parallel training over processes with torch.distributed (gloo on the CPU, NCCL on
CUDA).

K processes each run their own environments (seeded differently) and hold a full copy of
the agent. After every backward pass the gradients are averaged with one all-reduce, so
every process takes the same optimiser step from the same parameters: the copies stay
identical without ever being sent again. ``ppo-course train ... --nproc K`` starts the K
processes on this machine; ``torchrun --nproc_per_node K -m course.cli train ...`` does
the same, and ``torchrun --nnodes M --node_rank R --master_addr HOST ...`` spreads them
over M machines (each process finds its rank and the world size in the environment that
torchrun sets: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).

With one process every helper here does nothing, so the trainer has a single code path.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def launched_by_torchrun() -> bool:
    """True inside a process started by torchrun (or any launcher that sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_environment(device: torch.device) -> None:
    """Join the process group described by RANK, WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT (NCCL for CUDA devices, gloo otherwise)."""
    if active():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)


def close(clean: bool = True) -> None:
    """Leave the process group. After a clean run every process first waits for the
    others (a barrier), so that none tears its connections down while another is still
    sending on them (gloo aborts the process that finds its peer gone). After a failure
    there is no waiting: the others may never get there."""
    if active():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the processes (one all-reduce of a flat
    buffer). Parameters without a gradient count as zero gradients."""
    world = world_size()
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def mean_over_processes(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over the processes (itself with one process)."""
    if world_size() == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world_size()


def all_gather_cat(value: torch.Tensor) -> torch.Tensor:
    """Every process's tensor (same shape everywhere), concatenated along dim 0 in rank
    order."""
    if world_size() == 1:
        return value
    parts = [torch.empty_like(value) for _ in range(world_size())]
    dist.all_gather(parts, value.contiguous())
    return torch.cat(parts, dim=0)


def pooled_moments(
    count: int, mean: torch.Tensor, m2: torch.Tensor
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """The count, mean and M2 (sum of squared deviations from the mean) of the union of
    every process's batch, from each batch's own: one all-gather, then Chan et al.'s
    pairwise combination in rank order, so every process computes the same bits.

        mean = (1/K) sum_k mean_k,   M2 = sum_k M2_k + n sum_k (mean_k - mean)^2

    (every process's batch holds the same ``count`` n of rows: the processes step the
    same number of environments; with one process the arguments come back).

    Args:
        count: n, the rows of this process's batch.
        mean, m2: (D,) this batch's mean and M2.

    Returns:
        ``(K n, mean (D,), M2 (D,))`` over the K processes' batches together.
    """
    world = world_size()
    if world == 1:
        return count, mean, m2
    parts = all_gather_cat(torch.stack([mean, m2])[None])  # (K, 2, D), rank order
    means, m2s = parts[:, 0], parts[:, 1]
    pooled_mean = means.mean(0)
    pooled_m2 = m2s.sum(0) + count * ((means - pooled_mean) ** 2).sum(0)
    return count * world, pooled_mean, pooled_m2


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Give every process rank 0's parameters (they start equal anyway: same seed)."""
    if world_size() == 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def agree(flag: bool) -> bool:
    """Rank 0's decision, for all (whether to stop, say)."""
    if world_size() == 1:
        return flag
    on = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL sends device tensors
    box = torch.tensor([1.0 if flag else 0.0], device=on)
    dist.broadcast(box, src=0)
    return bool(box.item() > 0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(index: int, world: int, port: int, target: Callable, args: tuple) -> Any:
    os.environ.update(
        {
            "RANK": str(index),
            "LOCAL_RANK": str(index),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    return target(*args)


def spawn(world: int, target: Callable, args: tuple) -> None:
    """Run ``target(*args)`` in ``world`` new processes on this machine, as torchrun
    would (each with RANK, WORLD_SIZE and the rendezvous address in its environment)."""
    import torch.multiprocessing as mp

    mp.start_processes(
        _entry, args=(world, free_port(), target, args), nprocs=world, start_method="spawn"
    )
