"""The 'triton' sign-reduction backend: one streaming pass over g on the GPU (or Triton's interpreter).

Kernel math, program p owning columns K_p = [p*BLOCK_M, (p+1)*BLOCK_M):
    c[k] = sum_i sign(g[i, k]), bad[k] = any_i isnan(g[i, k])    rows streamed BLOCK_N at a time,
                                                                 c/bad kept in registers (int32/int64)
    accumulate: counts[k] += c[k]; nan[k] |= bad[k]
    reduce:     partial[p] = sum_{k in K_p} [not bad[k]] |c[k]|  then total = sum_p partial[p]
sign and isnan are integer tests on the bit pattern a = bits & abs_mask (like csrc/sign_core.h):
sign counts iff 0 < a <= bits(+inf) (so sign(NaN) = 0, like torch.sign), isnan iff a > bits(+inf). Any strides are read in
place (Triton addresses g[i, k] = g_ptr + i*stride0 + k*stride1): no copy.

Interpretation (checked on triton 3.8): triton.jit reads TRITON_INTERPRET when it decorates, and
triton.language's own helpers (tl.zeros, tl.sum, ...) are decorated when triton is first imported.
So TRITON_INTERPRET=1 must be set before the first `import triton` of the process; load() checks
that both agree and says so otherwise. Interpreted, the backend runs on CPU tensors (slowly: tests
use small shapes); compiled, on CUDA tensors only. Our kernel is decorated in load(), not at import.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from .input_checks import check_accumulators, check_matrix

# (integer type of the bit pattern, |x| mask, bits of +inf) per floating dtype
_BITS = {
    torch.float16: (tl.int16, 0x7FFF, 0x7C00),
    torch.bfloat16: (tl.int16, 0x7FFF, 0x7F80),
    torch.float32: (tl.int32, 0x7FFFFFFF, 0x7F800000),
    torch.float64: (tl.int64, 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000),
}


def _sign_count_kernel(
    g_ptr, counts_ptr, nan_ptr, partial_ptr, n, m, stride_n, stride_m,
    BITS: tl.constexpr, ABS_MASK: tl.constexpr, INF_BITS: tl.constexpr, ACC: tl.constexpr,
    REDUCE: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr,
):
    pid = tl.program_id(0)
    cols = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    col_ok = cols < m
    col_off = cols.to(tl.int64) * stride_m
    acc = tl.zeros([BLOCK_M], dtype=ACC)
    bad = tl.zeros([BLOCK_M], dtype=tl.int32)
    for start in range(0, n, BLOCK_N):
        rows = start + tl.arange(0, BLOCK_N)
        ok = (rows[:, None] < n) & col_ok[None, :]
        x = tl.load(g_ptr + rows.to(tl.int64)[:, None] * stride_n + col_off[None, :], mask=ok, other=0.0)
        b = x.to(BITS, bitcast=True)
        a = b & ABS_MASK
        s = tl.where((a != 0) & (a <= INF_BITS), tl.where(b < 0, -1, 1), 0).to(ACC)
        acc += tl.sum(s, axis=0)
        bad = tl.maximum(bad, tl.max((a > INF_BITS).to(tl.int32), axis=0))
    if REDUCE:
        kept = tl.where(bad != 0, 0, tl.abs(acc)).to(tl.int64)
        tl.store(partial_ptr + pid, tl.sum(kept, axis=0))
    else:
        c = tl.load(counts_ptr + cols, mask=col_ok, other=0)
        tl.store(counts_ptr + cols, c + acc.to(tl.int64), mask=col_ok)
        f = tl.load(nan_ptr + cols, mask=col_ok, other=0)
        tl.store(nan_ptr + cols, f | bad.to(tl.uint8), mask=col_ok)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


def _language_interpreted() -> bool:
    """Whether triton.language's jit helpers were decorated for the interpreter (at `import triton`)."""
    return type(tl.zeros).__name__ == "InterpretedFunction"


class TritonSignReduce:
    """A 'triton' backend object; `interpret` fixes whether its kernel runs in Triton's interpreter."""

    name = "triton"
    # conv_weight_signs_ takes every float32 / float64 Conv2d and sequence Linear (engines/layer_sums.py):
    # one launch, no unfolded copy; the 'cpp' op's threshold (32 channels per group) is a CPU measurement
    layer_op_min_channels = 1

    def __init__(self, interpret: bool):
        self.interpret = interpret
        # rows x columns per tile: registers bound it on a GPU; the interpreter prefers few, big steps
        self.BLOCK_N, self.BLOCK_M = (512, 64) if interpret else (32, 128)
        self._kernel = triton.jit(_sign_count_kernel)  # decorated now: TRITON_INTERPRET is read here

    def supports(self, device: torch.device | str) -> bool:
        kind = torch.device(device).type
        return kind == "cuda" or (self.interpret and kind == "cpu")

    def _launch(self, g, counts, nan, partial, reduce: bool) -> None:
        if not self.supports(g.device):
            raise ValueError(
                f"the 'triton' backend reduces CUDA tensors{' and CPU tensors' if self.interpret else ''}; "
                f"g is on {g.device} (CPU tensors need TRITON_INTERPRET=1 when the backend loads)"
            )
        n, m = g.shape
        bits, abs_mask, inf_bits = _BITS[g.dtype]
        acc = tl.int64 if n >= 2**31 else tl.int32
        grid = (triton.cdiv(m, self.BLOCK_M),)
        self._kernel[grid](
            g, counts, nan, partial, n, m, g.stride(0), g.stride(1),
            BITS=bits, ABS_MASK=abs_mask, INF_BITS=inf_bits, ACC=acc, REDUCE=reduce,
            BLOCK_N=self.BLOCK_N, BLOCK_M=self.BLOCK_M,
        )

    def accumulate_(self, g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor, *, isa: str | None = None) -> None:
        """counts: (m,) int64 += column sums of sign(g: (n, m)); nan: (m,) bool |= column has a NaN."""
        check_accumulators(g, counts, nan)
        if g.shape[0] == 0 or g.shape[1] == 0:
            return
        self._launch(g, counts, nan.view(torch.uint8), counts, reduce=False)

    def sign_reduce(self, g: torch.Tensor, *, isa: str | None = None) -> int:
        """sum_k |sum_i sign(g[i, k])| over the NaN-free columns of g: (n, m); a Python int."""
        check_matrix(g)
        n, m = g.shape
        if n == 0 or m == 0:
            return 0
        partial = torch.empty(triton.cdiv(m, self.BLOCK_M), dtype=torch.int64, device=g.device)
        self._launch(g, partial, partial, partial, reduce=True)
        return int(partial.sum().item())


    def per_sample_gemm_signs_(self, d: torch.Tensor, u: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor) -> None:
        """counts: (g*o*k,) int64 += column sign sums of G_i = d_i u_i^T over the samples; nan: (g*o*k,)
        bool |= NaN marks. d: (n, g, o, L), u: (n, g, k, L) float32 on a device this backend supports.
        One fused launch (ops/triton_conv_signs.py): no G_i in memory."""
        from .triton_conv_signs import per_sample_gemm_signs_

        if not self.supports(d.device):
            raise ValueError(f"the 'triton' backend runs on CUDA tensors (CPU with TRITON_INTERPRET=1), got {d.device}")
        per_sample_gemm_signs_(d, u, counts, nan)

    def conv_weight_signs_(self, inputs: list[torch.Tensor], grads: list[torch.Tensor], geometry: list[int],
                           groups: int, counts: torch.Tensor, nan: torch.Tensor, *, isa: str | None = None) -> None:
        """counts: (m,) int64 += column sign sums of a Conv2d weight's per-sample gradients; nan: (m,) bool
        |= NaN marks: the per-layer op of the 'cpp' backend (same arguments, engines/layer_op.py builds
        them), one launch per call with implicit im2col (ops/triton_conv_signs.py). inputs[c]: (n, Cin,
        H, W), grads[c]: (n, Cout, Ho, Wo) float32 / float64; geometry: 8 ints per call; isa is ignored."""
        from .triton_conv_signs import conv_weight_signs_

        for t in (*inputs, *grads, counts, nan):
            if not self.supports(t.device):
                raise ValueError(f"the 'triton' backend runs on CUDA tensors (CPU with TRITON_INTERPRET=1), got {t.device}")
        conv_weight_signs_(inputs, grads, geometry, groups, counts, nan, interpret=self.interpret)


def load() -> TritonSignReduce:
    """A backend object; interpreted iff TRITON_INTERPRET=1 (as at `import triton`). Touches no GPU."""
    if _interpreting() != _language_interpreted():
        raise ImportError(
            f"TRITON_INTERPRET is {'1' if _interpreting() else 'not 1'} now but was "
            f"{'1' if _language_interpreted() else 'not 1'} when triton was first imported; "
            "set it before the first import of triton in the process"
        )
    if not _interpreting() and not torch.version.cuda:
        raise ImportError(f"torch {torch.__version__} is a CPU-only build and TRITON_INTERPRET is not 1")
    return TritonSignReduce(interpret=_interpreting())
