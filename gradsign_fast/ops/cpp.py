"""The 'cpp' sign-reduction backend: the compiled CPU kernels of gradsign_fast._C (csrc/cpu/).

Math: counts[k] += sum_i sign(g[i, k]); nan[k] |= any_i isnan(g[i, k]);
      sign_reduce(g) = sum_k [not nan[k]] |counts[k]|, for g: (n, m) fp16/bf16/fp32/fp64 on the CPU.
One pass over g, no copy for row-strided (unit column stride) or transposed (unit row stride) views;
any other strides are copied to contiguous once. The instruction set (scalar / avx2 / avx512) is an
argument of every call (Options.cpu_isa, from GRADSIGN_CPU_ISA): 'auto' runs the best this CPU has,
one the CPU lacks raises. Threads: at::get_num_threads() (torch.set_num_threads).
conv_weight_signs_ is the fused per-layer op: a Conv2d's per-sample weight gradients reduced to sign
counts in one call, without writing them to memory.
"""

from __future__ import annotations

import torch

from ..options import cpu_isa
from .op_backend import op_backend

name = "cpp"
# at one thread, also leave the convs where the tile path wins to it (engines/layer_op.py)
layer_op_one_thread_rule = True

_ops = op_backend(name, "cpu", "CPU")
supports, accumulate_, sign_reduce = _ops.supports, _ops.accumulate_, _ops.sign_reduce


def conv_weight_signs_(inputs: list[torch.Tensor], grads: list[torch.Tensor], geometry: list[int], groups: int,
                       counts: torch.Tensor, nan: torch.Tensor, *, isa: str | None = None) -> None:
    """counts: (m,) int64 += column sign sums of a Conv2d weight's per-sample gradients; nan: (m,) bool
    |= NaN marks; one call per layer, no per-sample gradient in memory (csrc/cpu/conv_signs_cpu.cpp).

    inputs[c]: (n, Cin, H, W), grads[c]: (n, Cout, Ho, Wo) of each call c of the weight (float32 or
    float64, any strides, on the CPU); geometry: kh, kw, sh, sw, dh, dw, pad_top, pad_left per call.
    """
    for t in (*inputs, *grads, counts, nan):
        if t.device.type != "cpu":
            raise ValueError(f"the 'cpp' backend reduces CPU tensors, got one on {t.device}")
    torch.ops.gradsign_fast.conv_weight_signs_(list(inputs), list(grads), list(geometry), int(groups), counts, nan,
                                               cpu_isa() if isa is None else isa)


def masked_abs_sum(counts: torch.Tensor, nan: torch.Tensor) -> tuple[int, int]:
    """(sum_k [not nan[k]] |counts[k]|, #{k: not nan[k]}) for counts: (m,) int64, nan: (m,) bool, one pass."""
    total, finite = torch.ops.gradsign_fast.masked_abs_sum(counts, nan).tolist()
    return total, finite


def active_isa(isa: str | None = None) -> str:
    """The instruction set a call with `isa` runs ('scalar', 'avx2' or 'avx512'); None: GRADSIGN_CPU_ISA."""
    from .. import _C

    return _C.active_isa(cpu_isa() if isa is None else isa)


def supported_isas() -> list[str]:
    """The instruction sets this CPU runs."""
    from .. import _C

    return list(_C.supported_isas())


def load():
    """This module, once gradsign_fast._C imports; ImportError saying why it does not."""
    try:
        from .. import _C  # noqa: F401  (defines torch.ops.gradsign_fast.*)
    except ImportError as exc:
        from .build_record import build_reason

        raise ImportError(f"gradsign_fast._C is not available ({build_reason('cpp')}): {exc}") from exc
    from .library import register_fakes

    register_fakes()
    import sys

    return sys.modules[__name__]
