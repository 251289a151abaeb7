"""Data-parallel GradSign with torch.distributed: the batch split across ranks, the same score exactly.

Each rank computes the integer column sign sums and NaN marks of its own shard (gradsign_fast.sign_sums);
one all-reduce adds the counts and ORs the NaN marks; every rank then finalizes the same number. Works
with gloo (CPU) and NCCL (GPU: the counts live on the model's device). Start it as users start any
torch.distributed job; gradsign_fast/cli/distributed.py is a ready one, scoring NAS-Bench-201 archs:

    torchrun --standalone --nproc_per_node 2 -m gradsign_fast.cli.distributed --archs 2

Trust first: before any work every rank checks, collectively, that all hold bitwise the same parameters
and buffers and a sample each; a rank that fails makes every rank raise (none waits in a collective).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from .api import sign_sums
from .ops import check_reduction
from .sums import SignSums

T = TypeVar("T")
_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_GOLDEN, _MIX1, _MIX2 = -7046029254386353131, -4658895280553007687, -7723592293110705685  # splitmix64, as int64
_DIGEST_CHUNK = 1 << 22


def shard(batch: torch.Tensor, rank: int | None = None, world_size: int | None = None) -> torch.Tensor:
    """This rank's contiguous share of `batch` (n, ...) -> (n_rank, ...); shares differ by at most one."""
    rank = dist.get_rank() if rank is None else rank
    world_size = dist.get_world_size() if world_size is None else world_size
    return torch.tensor_split(batch, world_size)[rank]


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
    """GradSign of the union of every rank's (inputs (n_rank, ...), targets (n_rank, ...)) shard.

    Call it collectively; the same float on every rank. Raises the same ValueError on every rank unless
    all ranks hold bitwise the same parameters and buffers and at least one sample each; if computing a
    rank's sign sums raises, that rank raises its error and every other rank a RuntimeError naming it.
    `options` are those of gradsign_fast.sign_sums (params, chunk_size, engine, backend, dropout).
    """
    _require_process_group()
    check_same_model(model, group)
    _check_every_rank_has_samples(inputs, group)

    def local_work() -> SignSums:
        check_reduction(reduction)
        return sign_sums(model, inputs, targets, loss_fn, **options)

    local = _run_everywhere(local_work, group, "computing its sign sums")
    return _all_reduce(local, group).score(reduction)


def all_reduce_sign_sums(sums: SignSums, group: Any = None, *, model: nn.Module) -> SignSums:
    """The SignSums of the union of every rank's shard: counts summed, NaN marks OR-ed, n summed.

    `sums` are this rank's gradsign_fast.sign_sums of `model`; raises the same ValueError on every rank
    unless all ranks hold bitwise the same `model` values and scored the same weight names and shapes.
    """
    _require_process_group()
    check_same_model(model, group)
    return _all_reduce(sums, group)


def check_same_model(model: nn.Module, group: Any = None) -> None:
    """Raises the same ValueError on every rank unless all hold the same parameters and buffers:
    the same names, shapes and dtypes, and bitwise the same values (an exact per-tensor digest)."""
    _require_process_group()
    entries = list(model.named_parameters()) + list(model.named_buffers())
    layout = [(name, tuple(t.shape), str(t.dtype)) for name, t in entries]
    _check_same_layout(layout, group, ("hold different parameters or buffers", "holds"),
                       "build the same model on every rank")
    if not entries:
        return
    device = _collective_device(group)
    digests = _run_everywhere(lambda: torch.stack([_digest(t).to(device) for _, t in entries]), group,
                              "computing its parameter digests")
    low, high = _min_max(digests, group)
    differ = (low != high).nonzero()
    if differ.numel():
        name = entries[int(differ[0, 0])][0]
        raise ValueError(f"ranks hold different values of {name}: seed identically or broadcast the parameters "
                         "from rank 0 (e.g. dist.broadcast(t, 0) for every parameter and buffer)")


def _all_reduce(sums: SignSums, group: Any) -> SignSums:
    """Sums over the ranks, after checking that every rank scored the same names and shapes."""
    layout = [(name, tuple(c.shape)) for name, c in zip(sums.names, sums.counts)]
    _check_same_layout(layout, group, ("score different weights", "scores"),
                       "build the same model and pass the same `params` on every rank")
    counts = torch.cat([c.reshape(-1) for c in sums.counts])
    nan = torch.cat([b.reshape(-1) for b in sums.nan]).to(torch.int32)
    n = torch.tensor([sums.n_samples], dtype=torch.int64, device=counts.device)
    for t in (counts, nan, n):
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    sizes = [c.numel() for c in sums.counts]
    return SignSums(list(sums.names), list(counts.split(sizes)), [b > 0 for b in nan.split(sizes)], int(n.item()))


def _digest(t: torch.Tensor) -> torch.Tensor:
    """() int64 on t's device: sum_i mix(bits_i + i * golden) of t's raw bits (wrapping int64 arithmetic).

    mix is splitmix64's bijective finalizer, so changing any one entry always changes the digest, and
    any other bit difference does with probability about 1 - 2^-64.
    """
    t = t.detach()
    if t.is_complex():
        t = torch.view_as_real(t)
    bits = t.reshape(-1).view(_INT_OF_SIZE[t.element_size()])
    total = torch.zeros((), dtype=torch.int64, device=t.device)
    for start in range(0, bits.numel(), _DIGEST_CHUNK):
        x = bits[start : start + _DIGEST_CHUNK].to(torch.int64)
        x = x + torch.arange(start, start + x.numel(), dtype=torch.int64, device=t.device) * _GOLDEN
        x = (x ^ _shift_right(x, 30)) * _MIX1
        x = (x ^ _shift_right(x, 27)) * _MIX2
        total += (x ^ _shift_right(x, 31)).sum()
    return total


def _shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical (zero-filling) right shift of int64 x by k bits."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _check_same_layout(layout: list[tuple], group: Any, what: tuple[str, str], fix: str) -> None:
    """Raises the same ValueError on every rank unless every rank passes an equal `layout` list.

    what: ("score different weights", "scores"), the error's subject and verb; fix: what to do.
    """
    key = int.from_bytes(hashlib.sha256(repr(layout).encode()).digest()[:8], "little", signed=True)
    low, high = _min_max(torch.tensor([key, len(layout)], dtype=torch.int64, device=_collective_device(group)), group)
    if torch.equal(low, high):
        return
    layouts: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(layouts, layout, group=group)
    rank, other = next((r, lay) for r, lay in enumerate(layouts) if lay != layouts[0])
    i = next(i for i, (a, b) in enumerate(zip(layouts[0] + [None], other + [None])) if a != b)
    mine, theirs = (_describe_entry(lay, i) for lay in (layouts[0], other))
    subject, verb = what
    raise ValueError(f"ranks {subject}: rank 0 {verb} {mine} where rank {rank} {verb} {theirs} (entry {i}); {fix}")


def _describe_entry(layout: list[tuple], i: int) -> str:
    return " ".join(str(part) for part in layout[i]) if i < len(layout) else "nothing"


def _check_every_rank_has_samples(inputs: Any, group: Any) -> None:
    """Raises the same ValueError on every rank if some rank's shard holds no sample."""
    first = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs
    n = int(first.shape[0]) if isinstance(first, torch.Tensor) and first.dim() > 0 else -1  # -1: sign_sums says why
    device = _collective_device(group)
    world = dist.get_world_size(group)
    counts = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([n], dtype=torch.int64, device=device), group=group)
    sizes = [int(c.item()) for c in counts]
    empty = [r for r, s in enumerate(sizes) if s == 0]
    if not empty:
        return
    total = sum(max(s, 0) for s in sizes)
    if total < world:
        raise ValueError(f"the batch of {total} samples is split over {world} ranks: rank {empty[0]} has no sample; "
                         f"use a batch of at least {world} samples or fewer ranks")
    raise ValueError(f"rank {empty[0]} has no sample (the ranks hold {sizes} samples): give every rank at least "
                     "one, e.g. with gradsign_fast.distributed.shard(batch)")


def _run_everywhere(work: Callable[[], T], group: Any, what: str) -> T:
    """work() on this rank, then one all-reduce of a failure flag: if any rank failed, every rank raises
    (the failing rank its own exception, the others a RuntimeError naming it), so none hangs later."""
    try:
        result, error = work(), None
    except Exception as exc:  # re-raised below, after telling the other ranks
        result, error = None, exc
    flag = torch.tensor([0 if error is None else 1], dtype=torch.int64, device=_collective_device(group))
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=group)
    if int(flag.item()) == 0:
        return result  # type: ignore[return-value]
    messages: list[Any] = [None] * dist.get_world_size(group)
    summary = None if error is None else f"{type(error).__name__}: {error}"[:1000]
    dist.all_gather_object(messages, summary, group=group)
    if error is not None:
        raise error
    failed = {r: m for r, m in enumerate(messages) if m is not None}
    details = "; ".join(f"rank {r} failed while {what} with {m}" for r, m in failed.items())
    raise RuntimeError(f"{details}; this rank raises too rather than wait for it in a collective")


def _min_max(t: torch.Tensor, group: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise MIN and MAX of t over the ranks (equal everywhere iff every rank passed the same t)."""
    low, high = t.clone(), t.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN, group=group)
    dist.all_reduce(high, op=dist.ReduceOp.MAX, group=group)
    return low, high


def _collective_device(group: Any) -> torch.device:
    """Where small bookkeeping tensors must live for the group's backend (NCCL: this rank's GPU)."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _require_process_group() -> None:
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialized: call dist.init_process_group first (torchrun does the env)")

