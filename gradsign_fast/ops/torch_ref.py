"""The 'torch' sign-reduction backend: plain PyTorch, any device, the readable reference of the kernels.

Math: counts[k] += #{i: g[i,k] > 0} - #{i: g[i,k] < 0};  nan[k] |= any_i isnan(g[i,k]);
      sign_reduce(g) = sum_k [not nan[k]] * |counts[k]|.
Columns are processed in blocks so the boolean temporaries stay small for any m.
"""

from __future__ import annotations

import torch

from .input_checks import check_accumulators, check_matrix

name = "torch"
_BLOCK_ELEMENTS = 1 << 24  # elements of g per column block: bounds the (n, block) temporaries


def supports(device: torch.device) -> bool:
    return True


def _column_blocks(g: torch.Tensor):
    n, m = g.shape
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, m, step):
        yield start, min(m, start + step)


def accumulate_(g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor, *, isa: str | None = None) -> None:
    """counts: (m,) int64 += column sums of sign(g: (n, m)); nan: (m,) bool |= column has a NaN."""
    check_accumulators(g, counts, nan)
    if g.shape[0] == 0:
        return
    for start, stop in _column_blocks(g):
        block = g[:, start:stop]
        counts[start:stop] += (block > 0).sum(0) - (block < 0).sum(0)
        nan[start:stop] |= torch.isnan(block).any(0)


def sign_reduce(g: torch.Tensor, *, isa: str | None = None) -> int:
    """sum_k |sum_i sign(g[i, k])| over the NaN-free columns of g: (n, m)."""
    check_matrix(g)
    m = g.shape[1]
    counts = torch.zeros(m, dtype=torch.int64, device=g.device)
    nan = torch.zeros(m, dtype=torch.bool, device=g.device)
    accumulate_(g, counts, nan)
    return int(counts.abs().masked_fill_(nan, 0).sum().item())
