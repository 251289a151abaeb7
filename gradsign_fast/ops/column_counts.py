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
        t, f = masked_abs_sum(c, bad)
        total += t
        finite_columns += f
    if reduction == "sum":
        return total
    return total / finite_columns if finite_columns else math.nan


def masked_abs_sum(counts: torch.Tensor, nan: torch.Tensor) -> tuple[int, int]:
    """(sum_k [not nan[k]] |counts[k]|, #{k: not nan[k]}) of one entry: the 'cpp' backend's one-pass
    op for CPU tensors where it is built, else plain torch (masking only when a NaN is there)."""
    from .registry import load

    cpp = load("cpp") if counts.device.type == "cpu" else None
    if cpp is not None and counts.is_contiguous() and nan.is_contiguous():
        total, finite = cpp.masked_abs_sum(counts, nan)
        return total, finite
    if bool(nan.any()):
        return int(counts.abs().masked_fill(nan, 0).sum()), int(nan.numel() - nan.sum())
    return int(counts.abs().sum()), nan.numel()


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
        self.m = m
        self._counts: torch.Tensor | None = None  # allocated on first use (add_counts may adopt a tensor)
        self._nan: torch.Tensor | None = None

    @property
    def counts(self) -> torch.Tensor:
        if self._counts is None:
            self._counts = torch.zeros(self.m, dtype=torch.int64, device=self.device)
        return self._counts

    @property
    def nan(self) -> torch.Tensor:
        if self._nan is None:
            self._nan = torch.zeros(self.m, dtype=torch.bool, device=self.device)
        return self._nan

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

    def add_counts(self, counts: torch.Tensor, nan: torch.Tensor | None = None, *, owned: bool = False) -> None:
        """Adds integer column counts (m,) (and NaN marks) computed elsewhere, e.g. sign(D)^T sign(A).

        owned: `counts` is a fresh contiguous int64 tensor on this device that nobody else holds; the
        first add then keeps it instead of adding it to zeros."""
        if counts.shape != (self.m,):
            raise ValueError(f"counts of shape {tuple(counts.shape)} for {self.m} columns")
        fits = owned and counts.dtype == torch.int64 and counts.device == self.device and counts.is_contiguous()
        if self._counts is None and fits:
            self._counts = counts
        else:
            self.counts.add_(counts.to(device=self.device, dtype=torch.int64))
        if nan is not None:
            self.nan |= nan.to(self.device)

    def result(self, reduction: str = "sum") -> int | float:
        """sum_k |counts[k]| over NaN-free columns (int), or their nanmean (float)."""
        return reduce_counts([self.counts], [self.nan], reduction)
