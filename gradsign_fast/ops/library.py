"""Fake (meta) implementations of the gradsign_fast custom ops, so they compose with torch.compile.

The ops themselves are defined in C++ (csrc/ops.cpp, TORCH_LIBRARY(gradsign_fast, ...)):
    torch.ops.gradsign_fast.sign_reduce(g: (n, m), isa="auto") -> 0-d int64 tensor
    torch.ops.gradsign_fast.sign_count_(g: (n, m), counts: (m,) int64, nan: (m,) bool, isa="auto") -> None
        (mutates counts and nan; isa: the CPU instruction set, ignored on CUDA)
register_fakes() runs once, after gradsign_fast._C has been imported (the schema must exist).
"""

from __future__ import annotations

import torch

_REGISTERED = False


def register_fakes() -> None:
    """Registers the shape-only implementations used by torch.compile / FakeTensor tracing; idempotent."""
    global _REGISTERED
    if _REGISTERED:
        return
    register = getattr(torch.library, "register_fake", None) or torch.library.impl_abstract

    @register("gradsign_fast::sign_reduce")
    def _sign_reduce_fake(g: torch.Tensor, isa: str = "auto") -> torch.Tensor:
        return g.new_empty((), dtype=torch.int64)

    @register("gradsign_fast::sign_count_")
    def _sign_count_fake(g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor, isa: str = "auto") -> None:
        return None

    @register("gradsign_fast::masked_abs_sum")
    def _masked_abs_sum_fake(counts: torch.Tensor, nan: torch.Tensor) -> torch.Tensor:
        return counts.new_empty((2,), dtype=torch.int64)

    @register("gradsign_fast::conv_weight_signs_")
    def _conv_weight_signs_fake(inputs, grads, geometry, groups, counts, nan, isa="auto") -> None:
        return None

    _REGISTERED = True
