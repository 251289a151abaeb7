"""Data-parallel GradSign with torch.distributed: the batch split across ranks, the same score exactly.

Each rank computes the integer column sign sums and NaN marks of its own shard (gradsign_fast.sign_sums);
one all-reduce adds the counts and ORs the NaN marks; every rank then finalizes the same number. Works
with gloo (CPU) and NCCL (GPU: the counts live on the model's device). Start it as users start any
torch.distributed job, e.g.

    torchrun --standalone --nproc_per_node 2 -m gradsign_fast.distributed --archs 2
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from .api import _scoring_context, sign_sums
from .ops.accumulator import check_reduction
from .sums import SignSums


def shard(batch: torch.Tensor, rank: int | None = None, world_size: int | None = None) -> torch.Tensor:
    """This rank's contiguous share of `batch` (n, ...) -> (n_rank, ...); shares differ by at most one."""
    rank = dist.get_rank() if rank is None else rank
    world_size = dist.get_world_size() if world_size is None else world_size
    return torch.tensor_split(batch, world_size)[rank]


def all_reduce_sign_sums(sums: SignSums, group: Any = None) -> SignSums:
    """The SignSums of the union of every rank's shard: counts summed, NaN marks OR-ed, n summed."""
    _check_same_weights(sums, group)
    counts = torch.cat([c.reshape(-1) for c in sums.counts])
    nan = torch.cat([b.reshape(-1) for b in sums.nan]).to(torch.int32)
    n = torch.tensor([sums.n_samples], dtype=torch.int64, device=counts.device)
    for t in (counts, nan, n):
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    sizes = [c.numel() for c in sums.counts]
    return SignSums(list(sums.names), list(counts.split(sizes)), [b > 0 for b in nan.split(sizes)], int(n.item()))


def score(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    reduction: str = "sum",
    group: Any = None,
    **options: Any,
) -> float:
    """GradSign of the union of every rank's (inputs, targets) shard; the same float on every rank.

    Every rank must hold the same weights (checked) and call this collectively. `options` are those of
    gradsign_fast.sign_sums (params, chunk_size, engine, backend, dropout).
    """
    check_reduction(reduction)
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialized: call dist.init_process_group first (torchrun does the env)")
    local = sign_sums(model, inputs, targets, loss_fn, **options)
    return all_reduce_sign_sums(local, group).score(reduction)


def _check_same_weights(sums: SignSums, group: Any) -> None:
    """Every rank must score the same list of weights: compare the layout across ranks."""
    layout = torch.tensor([len(sums.counts), sum(c.numel() for c in sums.counts)], dtype=torch.int64, device=sums.counts[0].device)
    low, high = layout.clone(), layout.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN, group=group)
    dist.all_reduce(high, op=dist.ReduceOp.MAX, group=group)
    if not torch.equal(low, high):
        raise ValueError("ranks score different weight layouts; build the same model on every rank")


def _fingerprint(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([p.detach().double().sum() for p in model.parameters()])


def check_same_model(model: nn.Module, group: Any = None) -> None:
    """Raises ValueError unless every rank holds the same parameter values (a cheap checksum)."""
    fp = _fingerprint(model)
    low, high = fp.clone(), fp.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN, group=group)
    dist.all_reduce(high, op=dist.ReduceOp.MAX, group=group)
    if not torch.equal(low, high):
        raise ValueError("ranks hold different weights: seed identically or broadcast the parameters from rank 0")


def main(argv: list[str] | None = None) -> int:
    """torchrun entry point: score NAS-Bench-201 architectures data-parallel; rank 0 prints the scores."""
    from .data import load_images, synthetic_batch
    from .nas.nb201 import build_nb201, sample_arch_strings

    parser = argparse.ArgumentParser(prog="python -m gradsign_fast.distributed", description=main.__doc__)
    parser.add_argument("--archs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data", default=None, help="CIFAR python batch or .npz with x, y (default: synthetic)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        rank = dist.get_rank()
        device = torch.device("cuda", rank % torch.cuda.device_count()) if torch.cuda.is_available() else torch.device("cpu")
        x, y = load_images(args.data, args.batch_size) if args.data else synthetic_batch(args.batch_size, seed=args.seed)
        dtype = getattr(torch, args.dtype)
        for arch in sample_arch_strings(args.archs, seed=args.seed):
            torch.manual_seed(args.seed)
            model = build_nb201(arch).to(device, dtype)
            check_same_model(model)
            value = score(model, shard(x).to(device, dtype), shard(y).to(device))
            if rank == 0:
                print(f"{value:.1f}\t{arch}\t(world size {dist.get_world_size()}, batch {args.batch_size})", flush=True)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
