"""Triton kernels that reduce per-sample weight gradients to sign counts without writing them to memory.

1. conv_weight_signs_ (the 'triton' backend's per-layer op, the contract of the 'cpp' one; engines/
   layer_sums.py calls it): a Conv2d weight (Cout, Cin/g, kh, kw) used by calls c, sample s, group j,
   output channel o of group j, column k = (ci, p, q):
       U_s[(y, x), k] = x_c[s, j*Cin/g + ci, y*sh + p*dh - pad_top, x*sw + q*dw - pad_left]  (0 outside)
       G_s[o, k]      = sum_c sum_(y, x) D_c[s, j*Cout/g + o, y, x] * U_s[(y, x), k]
       counts[(j*Cout/g + o)*K + k] += sum_s sign(G_s[o, k]);  nan[...] |= any_s isnan(G_s[o, k])
   Implicit im2col: the kernel indexes x (n, Cin, H, W) and D (n, Cout, Ho, Wo) in place through their
   strides, no unfolded copy. One launch per call of the op when the weight has one call; a weight used
   by several calls sums them per sample through a float buffer of (samples, m) per chunk of samples.
   One program owns a (BLOCK_O, BLOCK_K) tile of one group and a slice of samples: each sample's tile of
   G is formed in registers (tl.dot over positions, IEEE float32 / float64, no TF32), reduced to signs
   there; int32 counts in registers, added to the int64 counts with one atomic add per tile, NaN marks
   stored as 1 (idempotent). float32 and float64.
2. conv_sign_counts_ / per_sample_gemm_signs_ (engines/conv_rule.py's fused path for float32 Conv2d /
   Linear-on-sequence weights on explicit unfolded factors):
       counts[j, o, k] += sum_i sign( sum_l D[i, j, o, l] * U[i, j, k, l] ),  nan[j, o, k] |= any_i isnan(...)
sign and NaN follow csrc/sign_core.h: sign(+-0) = sign(NaN) = 0, +-inf count, NaN marks its column.
Tested on the CPU with TRITON_INTERPRET=1 (set before triton is imported: tests run a subprocess) and
compiled ahead of time for sm_80 / sm_90 by tests/test_triton_aot.py. Importing never touches CUDA.
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


def gemm_blocks(o: int, k: int) -> tuple[int, int]:
    """(BLOCK_O, BLOCK_K) of _conv_sign_count_kernel for o rows and k columns per group; BLOCK_L is 32."""
    return (16 if o <= 16 else 32), (16 if k <= 16 else 64)


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
    block_o, block_k = gemm_blocks(o, k)
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


# ---------------------------------------------------------------------------------------------------------
# 1. The per-layer op: implicit im2col, one launch per call.

# Per dtype: the largest (BLOCK_O, BLOCK_K) tile, positions per tl.dot step and warps; a narrow layer gets
# BLOCK_O = 16 and / or BLOCK_K = 32. Kept small: an IEEE (FMA) dot of 32 x 64 x 32 already uses each
# loaded element in about 20 multiply-adds, and every config is one more compile (aot_configs() lists them all).
_GPU_BLOCKS = {torch.float32: (32, 64, 32, 4), torch.float64: (32, 32, 16, 4)}
_INTERPRET_BLOCK_L = 128  # the interpreter pays per step, not per register: few, long steps
_TARGET_PROGRAMS = 1024  # programs per launch to aim for (tiles x sample slices): several per SM
_PARTIAL_BYTES = 64 << 20  # the float buffer of a weight used by several calls, per chunk of samples
_GEOMETRY = 8  # kh, kw, sh, sw, dh, dw, pad_top, pad_left per call
_TL = {torch.float32: tl.float32, torch.float64: tl.float64}


_SIZES = ("s_begin", "s_end", "samples", "cin_g", "cout_g", "H", "W", "Ho", "Wo", "kh", "kw", "K", "m",
          "sxn", "sxc", "sxh", "sxw", "sdn", "sdc", "sdh", "sdw", "sh", "sw", "dh", "dw", "pt", "pl")


# Sizes, strides and geometry are never specialized (== 1, % 16): the loads are gathers anyway, and a
# network's layers would otherwise each compile their own variant on first use.
@triton.jit(do_not_specialize=_SIZES)
def _layer_signs_kernel(
    X, D, P, counts, nan,
    s_begin, s_end, samples, cin_g, cout_g, H, W, Ho, Wo, kh, kw, K, m,
    sxn, sxc, sxh, sxw, sdn, sdc, sdh, sdw, sh, sw, dh, dw, pt, pl,
    ACC: tl.constexpr, PARTIAL_IN: tl.constexpr, PARTIAL_OUT: tl.constexpr,
    BLOCK_O: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_L: tl.constexpr,
):
    tiles_o = tl.cdiv(cout_g, BLOCK_O)
    tiles_k = tl.cdiv(K, BLOCK_K)
    tile = tl.program_id(0)
    j = tile // (tiles_o * tiles_k)
    rest = tile % (tiles_o * tiles_k)
    offs_o = (rest // tiles_k) * BLOCK_O + tl.arange(0, BLOCK_O)
    offs_k = (rest % tiles_k) * BLOCK_K + tl.arange(0, BLOCK_K)
    in_o = offs_o < cout_g
    in_k = offs_k < K
    taps = kh * kw
    ci = offs_k // taps
    p = (offs_k % taps) // kw
    q = offs_k % kw
    tap_y = p * dh - pt  # (BLOCK_K,): input row of output row 0 for column k
    tap_x = q * dw - pl
    x_chan = (j * cin_g + ci).to(tl.int64) * sxc
    d_chan = (j * cout_g + offs_o).to(tl.int64) * sdc
    L = Ho * Wo
    out = (j * cout_g + offs_o)[:, None] * K + offs_k[None, :]  # column index within the weight
    keep = in_o[:, None] & in_k[None, :]
    count = tl.zeros((BLOCK_O, BLOCK_K), dtype=tl.int32)
    bad = tl.zeros((BLOCK_O, BLOCK_K), dtype=tl.int32)
    first = s_begin + tl.program_id(1) * samples
    for s in range(0, samples):
        i = first + s
        valid = i < s_end
        x_base = X + i.to(tl.int64) * sxn
        d_base = D + i.to(tl.int64) * sdn
        acc = tl.zeros((BLOCK_O, BLOCK_K), dtype=ACC)
        for l0 in range(0, L, BLOCK_L):
            offs_l = l0 + tl.arange(0, BLOCK_L)
            in_l = offs_l < L
            y = offs_l // Wo
            x = offs_l % Wo
            d = tl.load(d_base + d_chan[:, None] + (y * sdh + x * sdw)[None, :],
                        mask=valid & in_o[:, None] & in_l[None, :], other=0.0)
            iy = (y * sh)[:, None] + tap_y[None, :]  # (BLOCK_L, BLOCK_K)
            ix = (x * sw)[:, None] + tap_x[None, :]
            inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            u = tl.load(x_base + x_chan[None, :] + iy * sxh + ix * sxw,
                        mask=valid & in_l[:, None] & in_k[None, :] & inside, other=0.0)
            acc = tl.dot(d, u, acc, input_precision="ieee")
        at = P + (i - s_begin).to(tl.int64) * m + out  # this sample's row of the partial sums
        if PARTIAL_IN:
            acc += tl.load(at, mask=valid & keep, other=0.0)
        if PARTIAL_OUT:
            tl.store(at, acc, mask=valid & keep)
        else:
            count += (acc > 0).to(tl.int32) - (acc < 0).to(tl.int32)
            bad |= (acc != acc).to(tl.int32)
    if not PARTIAL_OUT:
        tl.atomic_add(counts + out, count.to(tl.int64), mask=keep)
        tl.store(nan + out, tl.full((BLOCK_O, BLOCK_K), 1, tl.uint8), mask=keep & (bad != 0))


def layer_blocks(dtype: torch.dtype, cout_g: int, k: int, *, interpret: bool = False) -> tuple[int, int, int, int]:
    """(BLOCK_O, BLOCK_K, BLOCK_L, num_warps) of the per-layer kernel for `dtype` and a group of
    cout_g output channels by k columns: the tile shrinks (to 16 / 32) for narrow layers."""
    block_o, block_k, block_l, warps = _GPU_BLOCKS[dtype]
    block_o = 16 if cout_g <= 16 else block_o
    block_k = 32 if k <= 32 else block_k
    return block_o, block_k, (_INTERPRET_BLOCK_L if interpret else block_l), warps


def aot_configs() -> list[tuple[torch.dtype, int, int, int, int]]:
    """Every (dtype, BLOCK_O, BLOCK_K, BLOCK_L, num_warps) layer_blocks can choose on a GPU."""
    shapes = {(dtype, *layer_blocks(dtype, co, k)) for dtype in _GPU_BLOCKS for co in (1, 17, 33, 999) for k in (1, 33)}
    return sorted(shapes, key=str)


def check_layer(inputs, grads, geometry, groups, counts, nan) -> tuple[int, int, int, int]:
    """Checks the per-layer op's arguments like csrc/cpu/conv_signs_cpu.cpp does; returns
    (n, Cin/groups, Cout/groups, K = Cin/groups * kh * kw)."""
    inputs, grads, geometry = list(inputs), list(grads), [int(v) for v in geometry]
    if not inputs or len(grads) != len(inputs):
        raise ValueError(f"conv_weight_signs_ needs as many inputs as grads (at least one), got {len(inputs)} and {len(grads)}")
    if len(geometry) != _GEOMETRY * len(inputs):
        raise ValueError(f"geometry needs {_GEOMETRY} ints per call (kh, kw, sh, sw, dh, dw, pad_top, pad_left), "
                         f"got {len(geometry)}")
    if int(groups) < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    dtype = inputs[0].dtype
    if dtype not in _TL:
        raise TypeError(f"conv_weight_signs_ takes float32 or float64, got {dtype}")
    for t in (*inputs, *grads):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.layout != torch.strided:
            raise ValueError(f"inputs and grads must be dense 4-D (n, C, H, W) tensors, got {getattr(t, 'shape', t)}")
        if t.dtype != dtype:
            raise TypeError(f"every input and grad must be {dtype}, got {t.dtype}")
        if t.device != inputs[0].device:
            raise ValueError(f"every input and grad must be on one device, got {inputs[0].device} and {t.device}")
    n = inputs[0].shape[0]
    if any(t.shape[0] != n for t in (*inputs, *grads)):
        raise ValueError(f"every input and grad must hold the same samples, got {[tuple(t.shape) for t in (*inputs, *grads)]}")
    cin, cout = inputs[0].shape[1], grads[0].shape[1]
    if cin % groups or cout % groups:
        raise ValueError(f"{groups} groups do not divide {cin} input and {cout} output channels")
    kh, kw = geometry[0], geometry[1]
    for c, (x, d) in enumerate(zip(inputs, grads)):
        g = geometry[_GEOMETRY * c:_GEOMETRY * (c + 1)]
        if min(g[:6]) < 1 or min(g[6:]) < 0:
            raise ValueError(f"kernel, stride and dilation must be >= 1 and padding >= 0, got {geometry}")
        if x.shape[1] != cin or d.shape[1] != cout:
            raise ValueError("every call of one weight needs the same channels")
        if (g[0], g[1]) != (kh, kw):
            raise ValueError("every call of one weight needs the same kernel size")
    k = cin // groups * kh * kw
    m = cout * k
    for name, t, want in (("counts", counts, torch.int64), ("nan", nan, torch.bool)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.shape[0] != m or not t.is_contiguous() \
                or t.device != inputs[0].device:
            raise ValueError(f"counts and nan must be contiguous ({m},) tensors on {inputs[0].device} for this weight")
        if t.dtype != want:
            raise ValueError("counts must be int64 and nan bool")
    return n, cin // groups, cout // groups, k


def conv_weight_signs_(inputs: list[torch.Tensor], grads: list[torch.Tensor], geometry: list[int], groups: int,
                       counts: torch.Tensor, nan: torch.Tensor, *, interpret: bool = False,
                       samples_per_program: int | None = None) -> None:
    """counts: (m,) int64 += column sign sums of a Conv2d weight's per-sample gradients; nan: (m,) bool
    |= NaN marks; m = Cout * Cin/groups * kh * kw, no per-sample gradient in memory for a one-call weight.

    inputs[c]: (n, Cin, H, W), grads[c]: (n, Cout, Ho, Wo) of each call c of the weight (float32 or
    float64, any strides, one device); geometry: kh, kw, sh, sw, dh, dw, pad_top, pad_left per call
    (zero padding; bottom / right follow from Ho, Wo). `interpret`: Triton's interpreter runs it (CPU
    tensors); samples_per_program: fixes the sample slice of each program (tests), else chosen."""
    n, cin_g, cout_g, k = check_layer(inputs, grads, geometry, groups, counts, nan)
    calls = [(x, d, geometry[_GEOMETRY * c:_GEOMETRY * (c + 1)]) for c, (x, d) in enumerate(zip(inputs, grads))
             if d.shape[2] * d.shape[3] > 0]  # a call without output positions adds nothing to G
    if n == 0 or not calls or counts.numel() == 0:
        return
    dtype = inputs[0].dtype
    block_o, block_k, block_l, warps = layer_blocks(dtype, cout_g, k, interpret=interpret)
    tiles = groups * triton.cdiv(cout_g, block_o) * triton.cdiv(k, block_k)
    per = samples_per_program or triton.cdiv(n, min(n, triton.cdiv(1 if interpret else _TARGET_PROGRAMS, tiles)))
    per = max(per, triton.cdiv(n, 65535))  # grid axis 1 holds at most 65535 sample slices
    m = counts.numel()
    nan8 = nan.view(torch.uint8)
    if len(calls) == 1:
        chunks, partial = [(0, n)], None
    else:  # G_s summed over the calls in a float buffer, a chunk of samples at a time
        chunk = max(1, min(n, _PARTIAL_BYTES // (m * inputs[0].element_size())))
        chunks = [(s, min(n, s + chunk)) for s in range(0, n, chunk)]
        partial = torch.empty((chunk, m), dtype=dtype, device=counts.device)
    for s_begin, s_end in chunks:
        grid = (tiles, triton.cdiv(s_end - s_begin, per))
        for c, (x, d, (kh, kw, sh, sw, dh, dw, pt, pl)) in enumerate(calls):
            _layer_signs_kernel[grid](
                x, d, x if partial is None else partial, counts, nan8,
                s_begin, s_end, per, cin_g, cout_g, x.shape[2], x.shape[3], d.shape[2], d.shape[3], kh, kw, k, m,
                *x.stride(), *d.stride(), sh, sw, dh, dw, pt, pl,
                ACC=_TL[dtype], PARTIAL_IN=c > 0, PARTIAL_OUT=c < len(calls) - 1,
                BLOCK_O=block_o, BLOCK_K=block_k, BLOCK_L=block_l, num_warps=warps,
            )
