"""Fused per-sample GEMM + sign + count (Triton): column sign sums of G_i = D_i U_i^T, no G_i in memory.

Math: counts[j, o, k] += sum_i sign( sum_l D[i, j, o, l] * U[i, j, k, l] )
      nan[j, o, k]    |= any_i isnan( sum_l D[i, j, o, l] * U[i, j, k, l] )
One program owns a (BLOCK_O, BLOCK_K) tile of group j and a slice of samples: it forms each sample's
tile in registers (tl.dot over L, IEEE float32, no TF32), keeps int32 sign counts and NaN marks in
registers, and adds them to global memory with one atomic add / or per tile.
The 'triton' backend's per_sample_gemm_signs_ (engines/conv_rule.py calls it for float32 Conv2d /
Linear-on-sequence weights when that backend was chosen); tested on the CPU with TRITON_INTERPRET=1
(set before triton is imported). Importing this module never touches CUDA.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _conv_sign_count_kernel(
    D, U, counts, nan, n, O, K, L,
    sdn, sdg, sdo, sdl, sun, sug, suk, sul,
    BLOCK_O: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_L: tl.constexpr, SAMPLES: tl.constexpr,
):
    tiles_o = tl.cdiv(O, BLOCK_O)
    tiles_k = tl.cdiv(K, BLOCK_K)
    tile = tl.program_id(0)
    j = tile // (tiles_o * tiles_k)
    rest = tile % (tiles_o * tiles_k)
    offs_o = (rest // tiles_k) * BLOCK_O + tl.arange(0, BLOCK_O)
    offs_k = (rest % tiles_k) * BLOCK_K + tl.arange(0, BLOCK_K)
    in_o = offs_o < O
    in_k = offs_k < K
    count = tl.zeros((BLOCK_O, BLOCK_K), dtype=tl.int32)
    bad = tl.zeros((BLOCK_O, BLOCK_K), dtype=tl.int32)
    for s in range(SAMPLES):
        i = tl.program_id(1) * SAMPLES + s
        valid = i < n
        acc = tl.zeros((BLOCK_O, BLOCK_K), dtype=tl.float32)
        for l0 in range(0, L, BLOCK_L):
            offs_l = l0 + tl.arange(0, BLOCK_L)
            in_l = offs_l < L
            d = tl.load(D + i * sdn + j * sdg + offs_o[:, None] * sdo + offs_l[None, :] * sdl,
                        mask=valid & in_o[:, None] & in_l[None, :], other=0.0)
            u = tl.load(U + i * sun + j * sug + offs_l[:, None] * sul + offs_k[None, :] * suk,
                        mask=valid & in_l[:, None] & in_k[None, :], other=0.0)
            acc += tl.dot(d, u, input_precision="ieee")
        count += (acc > 0).to(tl.int32) - (acc < 0).to(tl.int32)
        bad |= (acc != acc).to(tl.int32)
    out = j * O * K + offs_o[:, None] * K + offs_k[None, :]
    keep = in_o[:, None] & in_k[None, :]
    tl.atomic_add(counts + out, count, mask=keep)
    tl.atomic_or(nan + out, bad, mask=keep)


def conv_sign_counts_(
    d: torch.Tensor, u: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor, *, samples_per_program: int = 4
) -> None:
    """d: (n, g, o, L), u: (n, g, k, L) float32, any strides; counts: (g*o*k,) int32 and nan: (g*o*k,)
    int32, contiguous, same device: counts += column sign sums of G_i = d_i u_i^T, nan |= NaN marks."""
    n, g, o, length = d.shape
    k = u.shape[2]
    if u.shape != (n, g, k, length) or d.dtype != torch.float32 or u.dtype != torch.float32:
        raise ValueError(
            f"need float32 d (n, g, o, L) and u (n, g, k, L), got {tuple(d.shape)} {d.dtype}, {tuple(u.shape)} {u.dtype}"
        )
    if counts.shape != (g * o * k,) or nan.shape != counts.shape or counts.dtype != torch.int32 or nan.dtype != torch.int32:
        raise ValueError("counts and nan must be contiguous (g*o*k,) int32 tensors")
    if n == 0 or length == 0:
        return
    block_o = 16 if o <= 16 else 32
    block_k = 16 if k <= 16 else 64
    grid = (g * triton.cdiv(o, block_o) * triton.cdiv(k, block_k), triton.cdiv(n, samples_per_program))
    _conv_sign_count_kernel[grid](
        d, u, counts, nan, n, o, k, length, *d.stride(), *u.stride(),
        BLOCK_O=block_o, BLOCK_K=block_k, BLOCK_L=32, SAMPLES=samples_per_program,
    )


def per_sample_gemm_signs_(d: torch.Tensor, u: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor) -> None:
    """counts: (g*o*k,) int64 += column sign sums of G_i = d_i u_i^T; nan: (g*o*k,) bool |= NaN marks.

    d: (n, g, o, L), u: (n, g, k, L) float32, any strides; one launch, int32 counts in the kernel."""
    count32 = torch.zeros(counts.shape, dtype=torch.int32, device=counts.device)
    nan32 = torch.zeros(counts.shape, dtype=torch.int32, device=counts.device)
    conv_sign_counts_(d, u, count32, nan32)
    counts += count32.to(torch.int64)
    nan |= nan32.bool()
