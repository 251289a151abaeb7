"""The backend calls shared by 'cpp' and 'cuda': both run the torch.library ops gradsign_fast::sign_count_
and gradsign_fast::sign_reduce, and differ only in the device their kernels are registered for.
`isa` goes to the CPU kernels (the CUDA ones ignore it); None reads GRADSIGN_CPU_ISA now."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ..options import cpu_isa
from .input_checks import check_accumulators, check_matrix


def op_backend(name: str, device_type: str, what: str) -> SimpleNamespace:
    """supports / accumulate_ / sign_reduce for the ops' kernels on `device_type` ('cpu' or 'cuda')."""

    def supports(device: torch.device | str) -> bool:
        return torch.device(device).type == device_type

    def check_device(g: torch.Tensor) -> None:
        if g.device.type != device_type:
            raise ValueError(f"the {name!r} backend reduces {what} tensors, g is on {g.device}")

    def accumulate_(g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor, *, isa: str | None = None) -> None:
        """counts: (m,) int64 += column sums of sign(g: (n, m)); nan: (m,) bool |= column has a NaN."""
        check_accumulators(g, counts, nan)
        check_device(g)
        torch.ops.gradsign_fast.sign_count_(g, counts, nan, cpu_isa() if isa is None else isa)

    def sign_reduce(g: torch.Tensor, *, isa: str | None = None) -> int:
        """sum_k |sum_i sign(g[i, k])| over the NaN-free columns of g: (n, m); a Python int."""
        check_matrix(g)
        check_device(g)
        return int(torch.ops.gradsign_fast.sign_reduce(g, cpu_isa() if isa is None else isa))

    return SimpleNamespace(supports=supports, accumulate_=accumulate_, sign_reduce=sign_reduce)
