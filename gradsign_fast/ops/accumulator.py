"""Integer column sign sums accumulated over successive sample chunks, and their final reduction.

For g: (n, m) split by rows into chunks g_1, ..., g_c:
    counts[k] = sum_c sum_{i in chunk c} sign(g[i, k])     (exact int64; abs only at the very end)
    nan[k]    = any_c any_{i in chunk c} isnan(g[i, k])
    score     = sum_k [not nan[k]] |counts[k]|              (numpy's nansum of |sum_i sign|)
    mean      = score / #{k: not nan[k]}                    (numpy's nanmean; NaN if every column has a NaN)
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from .validate import check_matrix

REDUCTIONS = ("sum", "mean")


def check_reduction(reduction: object) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def reduce_counts(
    counts: Iterable[torch.Tensor], nan: Iterable[torch.Tensor], reduction: str = "sum"
) -> int | float:
    """Final reduction over several (m_p,) int64 counts / (m_p,) bool NaN marks, as one column set.

    Returns an int for reduction="sum", a float for "mean" (NaN when no column is NaN-free).
    """
    check_reduction(reduction)
    total = 0
    finite_columns = 0
    for c, bad in zip(counts, nan, strict=True):
        total += int(c.abs().masked_fill(bad, 0).sum().item())
        finite_columns += int(bad.numel() - bad.sum().item())
    if reduction == "sum":
        return total
    return total / finite_columns if finite_columns else math.nan


class SignAccumulator:
    """Adds the column sign sums and NaN marks of (n_chunk, m) gradient chunks; exact for any n.

    counts: (m,) int64 and nan: (m,) bool live on `device`; `backend` is a name ("auto", "torch",
    "cpp", "triton", "cuda") resolved once by gradsign_fast.dispatch for that device.
    """

    def __init__(self, m: int, *, device: torch.device | str = "cpu", backend: str = "auto"):
        from ..dispatch import choose_backend

        if not isinstance(m, int) or m < 0:
            raise ValueError(f"m must be a non-negative int, got {m!r}")
        self.device = torch.device(device)
        self.backend = choose_backend(backend, self.device)
        self.counts = torch.zeros(m, dtype=torch.int64, device=self.device)
        self.nan = torch.zeros(m, dtype=torch.bool, device=self.device)
        self.n_samples = 0

    @property
    def m(self) -> int:
        return self.counts.numel()

    def add(self, g: torch.Tensor) -> None:
        """g: (n_chunk, m) or (n_chunk, *shape) with prod(shape) == m; any float dtype and strides."""
        if isinstance(g, torch.Tensor) and g.dim() != 2 and g.dim() >= 1:
            g = g.reshape(g.shape[0], -1)
        check_matrix(g)
        if g.shape[1] != self.m:
            raise ValueError(f"chunk has {g.shape[1]} columns, the accumulator has {self.m}")
        if g.device != self.device:
            raise ValueError(f"chunk is on {g.device}, the accumulator on {self.device}")
        self.backend.accumulate_(g, self.counts, self.nan)
        self.n_samples += g.shape[0]

    def result(self, reduction: str = "sum") -> int | float:
        """sum_k |counts[k]| over NaN-free columns (int), or their nanmean (float)."""
        return reduce_counts([self.counts], [self.nan], reduction)
