"""Per-sample weight gradients of Conv2d, and of Linear on sequences, reduced to sign counts by chunks.

Math: Conv2d with g groups, sample i, group j:
    G_i[j] = D_i[j] U_i[j]^T    D_i[j]: (C_out/g, L) = dL/dz_i,  U_i[j]: (C_in/g * kh * kw, L) the
    unfolded input (F.pad with the module's own padding and mode, F.unfold with its dilation and
    stride), L = H_out * W_out. Linear on x: (n, *, in) is the same with g = 1, L = prod(*), U_i = x_i^T.
    Several calls (a reused module, a tied weight): G_i = sum over calls of D_i U_i^T = one product of
    the calls' (D, U) concatenated along L. The bias: b_i = sum over L of D_i.
G is laid out like the weight (C_out, C_in/g, kh, kw) flattened, and never exists for all n at once.
Two ways to form it, chosen per Parameter (both exact in the sense of the loop's per-sample product):
- "bmm": per chunk of samples, U once, then one batched matmul per tile of output channels (or of
  groups), each tile (about 1 MB) reduced to signs while it is still in cache. Best for few positions
  (L <= 64: deep conv stages, Linear on sequences) and 1x1 convs (U is a view of x).
- "grouped": per chunk, the convolution's own weight-gradient kernel with the c samples as c * g groups
  (input (1, c*C_in, H, W), grad (1, c*C_out, H_out, W_out)): the loop's own per-sample kernel (bitwise
  equal to it in our CPU checks), no im2col. Best for many positions and few channels (early stages).
Where the chosen backend has a fused per-sample GEMM + sign kernel (per_sample_gemm_signs_: the 'triton'
backend), float32 D and U go to it by chunks of samples instead: no G_i is ever written to memory.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import CannotScoreExactly
from ..ops import ColumnSignCounts
from .capture import Call

_GROUPED_CHUNK_BYTES = 8 << 20  # "grouped": one chunk of G, reduced to signs while still in cache
_FACTOR_CHUNK_BYTES = 1 << 20  # "bmm": one chunk of U
_TILE_ELEMENTS = 1 << 18  # "bmm": one tile of G (1 MB in float32)
_BMM_MAX_POSITIONS = 64  # "bmm" for convs with at most this many output positions per sample


def unfold_input(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """x: (c, C_in, H, W) -> U: (c, C_in * kh * kw, L), exactly the patches conv's forward multiplies
    (F.unfold's layout; formed as one strided copy of the padded input, faster than im2col on CPU)."""
    if conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
        ph, pw = conv.padding
        pads = (pw, pw, ph, ph)
        mode = "constant"
    else:  # 'same' / 'valid' or reflect / replicate / circular: pad as Conv2d._conv_forward does
        pads = tuple(conv._reversed_padding_repeated_twice)
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    if any(pads):
        x = F.pad(x, pads, mode=mode)
    (kh, kw), (dh, dw), (sh, sw) = conv.kernel_size, conv.dilation, conv.stride
    c, channels, hp, wp = x.shape
    if (kh, kw, sh, sw) == (1, 1, 1, 1):
        return x.reshape(c, channels, hp * wp)
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = x.stride()
    patches = x.as_strided((c, channels, kh, kw, ho, wo), (s0, s1, dh * s2, dw * s3, sh * s2, sw * s3), x.storage_offset())
    return patches.reshape(c, channels * kh * kw, ho * wo)


def factors(call: Call, d: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples start:stop of a call: (D: (c, g, o, L), U: (c, g, k, L)), views where possible; d = dL/dz."""
    module, c = call.module, stop - start
    if isinstance(module, nn.Linear):
        u = call.x[start:stop].reshape(c, 1, -1, module.in_features).transpose(2, 3)
        return d[start:stop].reshape(c, 1, -1, module.out_features).transpose(2, 3), u
    g = module.groups
    if call.x.dim() != 4:
        raise CannotScoreExactly(f"Conv2d call with input {tuple(call.x.shape)}")
    u = unfold_input(module, call.x[start:stop])
    d = d[start:stop].reshape(c, g, module.out_channels // g, -1)
    if d.shape[-1] != u.shape[-1]:
        raise CannotScoreExactly(f"Conv2d call with input {tuple(call.x.shape)}: positions do not match its output")
    return d, u.reshape(c, g, u.shape[1] // g, -1)


def _conv_weight_grads(call: Call, d: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """G: (c, m) for samples start:stop of a Conv2d call, the c samples as c * groups groups."""
    conv, c = call.module, stop - start
    x = call.x[start:stop]
    if x.dim() != 4:
        raise CannotScoreExactly(f"Conv2d call with input {tuple(call.x.shape)}")
    if conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
        padding = list(conv.padding)
    else:  # 'same' / 'valid' or reflect / replicate / circular: pad as Conv2d._conv_forward does
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        x, padding = F.pad(x, conv._reversed_padding_repeated_twice, mode=mode), [0, 0]
    d = d[start:stop]
    w = conv.weight
    shape = (c * w.shape[0], *w.shape[1:])
    proxy = torch.empty_strided(shape, (0,) * len(shape), dtype=w.dtype, device=w.device)  # only its shape is read
    grads = torch.ops.aten.convolution_backward(
        d.reshape(1, c * d.shape[1], *d.shape[2:]), x.reshape(1, c * x.shape[1], *x.shape[2:]), proxy, None,
        list(conv.stride), padding, list(conv.dilation), False, [0, 0], c * conv.groups, [False, True, False],
    )[1]
    return grads.reshape(c, -1)


def _concatenated(calls: Sequence[Call], grads: Sequence[torch.Tensor], start: int, stop: int):
    """(D: (c, g, o, L_total), U: (c, g, k, L_total)): the calls' factors concatenated along L."""
    parts = [factors(call, d, start, stop) for call, d in zip(calls, grads)]
    if len(parts) == 1:
        return parts[0]
    return torch.cat([p[0] for p in parts], -1), torch.cat([p[1] for p in parts], -1)


def _groups(call: Call) -> int:
    return call.module.groups if isinstance(call.module, nn.Conv2d) else 1


def per_sample_weight_grads(calls: Sequence[Call], grads: Sequence[torch.Tensor], start: int, stop: int) -> torch.Tensor:
    """G: (c, m) per-sample weight gradients of samples start:stop, summed over the calls."""
    if _uses_grouped_conv(calls):
        total = _conv_weight_grads(calls[0], grads[0], start, stop)
        for call, d in zip(calls[1:], grads[1:]):
            total.add_(_conv_weight_grads(call, d, start, stop))
        return total
    d, u = _concatenated(calls, grads, start, stop)
    return torch.matmul(d, u.transpose(-1, -2)).reshape(stop - start, -1)


def _uses_grouped_conv(calls: Sequence[Call]) -> bool:
    """The "grouped" way for convs with many output positions (not plain 1x1) or mixed group counts."""
    if not isinstance(calls[0].module, nn.Conv2d):
        return False
    if len({_groups(call) for call in calls}) > 1:
        return True
    for call in calls:
        conv = call.module
        pointwise = conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding in ((0, 0), "valid")
        if not pointwise and call.z_shape[2:].numel() > _BMM_MAX_POSITIONS:
            return True
    return False


def accumulate_weight_signs(calls: Sequence[Call], grads: Sequence[torch.Tensor], counts: ColumnSignCounts,
                            requested: int | None, budget: int, want_total: bool) -> torch.Tensor | None:
    """counts (m columns) += column sign sums of the n per-sample weight gradients G_i = sum over calls of
    D_i U_i^T; returns sum_i G_i: (m,) if want_total (the safety net), else None. `budget`: bytes for
    one chunk of samples; `requested`: the caller's chunk_size."""
    n, m = calls[0].x.shape[0], counts.m
    total = torch.zeros(m, dtype=grads[0].dtype, device=grads[0].device) if want_total else None
    fused = getattr(counts.backend, "per_sample_gemm_signs_", None)
    if fused is not None and grads[0].dtype == torch.float32 and len({_groups(c) for c in calls}) == 1:
        chunk = samples_per_chunk(calls, n, 0, requested, budget, n)
        for start in range(0, n, chunk):
            d, u = _concatenated(calls, grads, start, min(n, start + chunk))
            fused(d, u, counts.counts, counts.nan)
            if want_total:
                total += torch.einsum("ngol,ngkl->gok", d, u).reshape(-1)
        return total
    if _uses_grouped_conv(calls):
        chunk = samples_per_chunk(calls, n, m, requested, budget, _GROUPED_CHUNK_BYTES // max(1, 4 * m))
        for start in range(0, n, chunk):
            g = per_sample_weight_grads(calls, grads, start, min(n, start + chunk))
            counts.add(g)
            if want_total:
                total += g.sum(0)
        return total
    elt = grads[0].element_size()
    per_sample_u = elt * sum(_factor_elements(call) for call in calls)
    chunk = samples_per_chunk(calls, n, m, requested, budget, _FACTOR_CHUNK_BYTES // max(1, per_sample_u))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d, u = _concatenated(calls, grads, start, stop)
        c, g, o, k = stop - start, d.shape[1], d.shape[2], u.shape[2]
        if g == 1:  # tiles of output channels: columns [o0 * k, o1 * k)
            step = max(1, min(o, _TILE_ELEMENTS // max(1, c * k)))
            tiles = [(d[:, 0, a : a + step], u[:, 0], a * k, min(o, a + step) * k) for a in range(0, o, step)]
        else:  # tiles of groups: columns [j0 * o * k, j1 * o * k)
            step = max(1, min(g, _TILE_ELEMENTS // max(1, c * o * k)))
            tiles = [(d[:, a : a + step], u[:, a : a + step], a * o * k, min(g, a + step) * o * k)
                     for a in range(0, g, step)]
        for dt, ut, lo, hi in tiles:
            tile = torch.matmul(dt, ut.transpose(-1, -2)).reshape(c, hi - lo)
            counts.add_columns(tile, lo)
            if want_total:
                total[lo:hi] += tile.sum(0)
    return total


def per_sample_bias_grads(calls: Sequence[Call], grads: Sequence[torch.Tensor], start: int, stop: int) -> torch.Tensor:
    """B: (c, C_out) per-sample bias gradients of samples start:stop: D summed over positions and calls."""
    total = None
    for call, d in zip(calls, grads):
        d = d[start:stop]
        if isinstance(call.module, nn.Conv2d):
            b = d.reshape(d.shape[0], d.shape[1], -1).sum(-1)
        else:
            b = d.reshape(d.shape[0], -1, d.shape[-1]).sum(1)
        total = b if total is None else total.add_(b)
    return total


def _factor_elements(call: Call) -> int:
    """Elements of one sample's (D, U) for a call: L * (C_out + C_in * kh * kw), or L * (out + in)."""
    module, shape = call.module, call.z_shape
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return shape[2:].numel() * (module.out_channels + module.in_channels * kh * kw)
    return shape[1:-1].numel() * (module.out_features + module.in_features)


def samples_per_chunk(calls: Sequence[Call], n: int, m: int, requested: int | None, budget: int,
                      by_cache: int) -> int:
    """Samples per chunk: G (c, m) plus the chunk's U and D within `budget` bytes (the memory budget),
    at most `by_cache` (what keeps the working set in cache) and `requested` (the caller's chunk_size)."""
    elt = calls[0].x.element_size()
    per_sample = elt * (sum(_factor_elements(call) for call in calls) + 3 * m)  # U, D, G, sums, sign temps
    by_budget = budget // max(per_sample, 1)
    chunk = max(1, min(n, by_budget, by_cache))
    return min(chunk, requested) if requested else chunk
