"""Linear on 2-D inputs, called once: column sign sums without any per-sample gradient.

Math: g_i = d_i a_i^T (outer product), so sum_i sign(g_i) = sum_i sign(d_i) sign(a_i)^T
      = sign(D)^T sign(A), an integer matrix product of sign matrices (exact in float32 while n < 2^24).
Exact only where the loop's rounded product fl(d * a) has the sign of d * a: no NaN/inf anywhere
(inf * 0 = NaN), no underflow to 0 (|d a| > smallest subnormal / 2) and no overflow (|d a| <= max).
The range check uses min / max nonzero magnitudes in float64 logarithms; where it fails the caller
takes the per-sample path, which rounds every product like the loop does.
"""

from __future__ import annotations

import math

import torch

_EXACT_ROWS = 2**24  # float32 represents every integer of magnitude <= 2^24


def _log2_range(t: torch.Tensor) -> tuple[float, float] | None:
    """(log2 of the smallest nonzero |t|, log2 of the largest |t|), or None if t is all zero."""
    mags = t.detach().abs()
    largest = float(mags.max())
    if largest == 0:
        return None
    smallest = float(torch.where(mags > 0, mags, torch.full_like(mags, math.inf)).min())
    return math.log2(smallest), math.log2(largest)


def products_keep_sign(d: torch.Tensor, a: torch.Tensor) -> bool:
    """True if fl(d[i, o] * a[i, k]) in d's dtype has the sign of the exact product for every i, o, k.

    d: (n, out), a: (n, in), same floating dtype.
    """
    if not (bool(torch.isfinite(d).all()) and bool(torch.isfinite(a).all())):
        return False
    d_range, a_range = _log2_range(d), _log2_range(a)
    if d_range is None or a_range is None:
        return True  # every product is an exact zero
    info = torch.finfo(d.dtype)
    smallest_subnormal = info.tiny * info.eps
    low = d_range[0] + a_range[0]
    high = d_range[1] + a_range[1]
    return low >= math.log2(smallest_subnormal) and high < math.log2(info.max)


def factorized_sign_counts(d: torch.Tensor, a: torch.Tensor) -> torch.Tensor | None:
    """counts: (out * in,) int64 = flatten(sign(d)^T sign(a)), or None where that is not exact.

    d: (n, out) = dL/dz of the n samples, a: (n, in) = the layer's inputs; row-major like weight (out, in).
    """
    if d.shape[0] >= _EXACT_ROWS or not products_keep_sign(d, a):
        return None
    counts = torch.sign(d).to(torch.float32).t() @ torch.sign(a).to(torch.float32)  # exact integers
    return counts.to(torch.int64).reshape(-1)
