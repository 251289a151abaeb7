"""The 'cpp' sign-reduction backend: the compiled CPU kernels of gradsign_fast._C (csrc/cpu/).

Math: counts[k] += sum_i sign(g[i, k]); nan[k] |= any_i isnan(g[i, k]);
      sign_reduce(g) = sum_k [not nan[k]] |counts[k]|, for g: (n, m) fp16/bf16/fp32/fp64 on the CPU.
One pass over g, no copy for row-strided (unit column stride) or transposed (unit row stride) views;
any other strides are copied to contiguous once. The instruction set (scalar / avx2 / avx512) is
chosen per call: GRADSIGN_CPU_ISA if set (an ISA the CPU lacks raises), else the best available.
Threads: at::get_num_threads() (torch.set_num_threads).
"""

from __future__ import annotations

import torch

from .validate import check_accumulators, check_matrix

name = "cpp"


def supports(device: torch.device | str) -> bool:
    return torch.device(device).type == "cpu"


def _check_cpu(g: torch.Tensor) -> None:
    if g.device.type != "cpu":
        raise ValueError(f"the 'cpp' backend reduces CPU tensors, g is on {g.device}")


def accumulate_(g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor) -> None:
    """counts: (m,) int64 += column sums of sign(g: (n, m)); nan: (m,) bool |= column has a NaN."""
    check_accumulators(g, counts, nan)
    _check_cpu(g)
    torch.ops.gradsign_fast.sign_count_(g, counts, nan)


def sign_reduce(g: torch.Tensor) -> int:
    """sum_k |sum_i sign(g[i, k])| over the NaN-free columns of g: (n, m); a Python int."""
    check_matrix(g)
    _check_cpu(g)
    return int(torch.ops.gradsign_fast.sign_reduce(g))


def active_isa() -> str:
    """The instruction set the next call runs ('scalar', 'avx2' or 'avx512')."""
    from .. import _C

    return _C.active_isa()


def supported_isas() -> list[str]:
    """The instruction sets this CPU runs."""
    from .. import _C

    return list(_C.supported_isas())


def load():
    """This module, once gradsign_fast._C imports; ImportError saying why it does not."""
    try:
        from .. import _C  # noqa: F401  (defines torch.ops.gradsign_fast.*)
    except ImportError as exc:
        from ..info import build_reason

        raise ImportError(f"gradsign_fast._C is not available ({build_reason('cpp')}): {exc}") from exc
    from .library import register_fakes

    register_fakes()
    import sys

    return sys.modules[__name__]
