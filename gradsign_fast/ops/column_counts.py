"""Integer column sign counts of an (n, m) gradient matrix, added up over chunks, and their final reduction.

For g: (n, m) split into chunks (rows, or tiles of rows x columns):
    counts[k] = sum_i sign(g[i, k])                  (exact int64; abs only at the very end)
    nan[k]    = any_i isnan(g[i, k])
    score     = sum_k [not nan[k]] |counts[k]|       (numpy's nansum of |sum_i sign|)
    mean      = score / #{k: not nan[k]}             (numpy's nanmean; NaN if every column has a NaN)
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from .input_checks import check_matrix

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


class ColumnSignCounts:
    """counts: (m,) int64 and nan: (m,) bool of one gradient matrix's m columns, on `device`, added to
    chunk by chunk through `backend`: a backend object (engines pass the one dispatch resolved) or a
    registry name ('auto' picks for `device`). isa: the instruction set handed to a 'cpp' backend."""

    def __init__(self, m: int, *, device: torch.device | str = "cpu", backend: Any = "auto", isa: str = "auto"):
        from .registry import resolve

        if not isinstance(m, int) or m < 0:
            raise ValueError(f"m must be a non-negative int, got {m!r}")
        self.device = torch.device(device)
        self.backend = resolve(backend, self.device) if isinstance(backend, str) else backend
        self.isa = isa
        self.counts = torch.zeros(m, dtype=torch.int64, device=self.device)
        self.nan = torch.zeros(m, dtype=torch.bool, device=self.device)

    @property
    def m(self) -> int:
        return self.counts.numel()

    def add(self, g: torch.Tensor) -> None:
        """g: (n_chunk, m) or (n_chunk, *shape) with prod(shape) == m; any float dtype and strides."""
        if isinstance(g, torch.Tensor) and g.dim() != 2 and g.dim() >= 1:
            g = g.reshape(g.shape[0], -1)
        self.add_columns(g, 0)

    def add_columns(self, g: torch.Tensor, start: int) -> None:
        """g: (n_chunk, w): the per-sample values of columns start .. start + w - 1."""
        check_matrix(g)
        if start < 0 or start + g.shape[1] > self.m:
            raise ValueError(f"chunk of {g.shape[1]} columns at {start} does not fit {self.m} columns")
        if g.device != self.device:
            raise ValueError(f"chunk is on {g.device}, the counts on {self.device}")
        stop = start + g.shape[1]
        self.backend.accumulate_(g, self.counts[start:stop], self.nan[start:stop], isa=self.isa)

    def add_counts(self, counts: torch.Tensor, nan: torch.Tensor | None = None) -> None:
        """Adds integer column counts (m,) (and NaN marks) computed elsewhere, e.g. sign(D)^T sign(A)."""
        if counts.shape != self.counts.shape:
            raise ValueError(f"counts of shape {tuple(counts.shape)} for {self.m} columns")
        self.counts += counts.to(device=self.device, dtype=torch.int64)
        if nan is not None:
            self.nan |= nan.to(self.device)

    def result(self, reduction: str = "sum") -> int | float:
        """sum_k |counts[k]| over NaN-free columns (int), or their nanmean (float)."""
        return reduce_counts([self.counts], [self.nan], reduction)
