"""Where the samples of a batch sit in a tensor, and how shape operations move them.

A tensor computed from a batch of n samples either does not depend on the samples at all (tag None)
or holds them along one dimension:

    BatchDim(dim, outer, inner):  shape[dim] == outer * n * inner, and index p of that dimension
                                  belongs to sample (p // inner) % n; every other index is per sample.

The model inputs are ROWS = BatchDim(0, 1, 1) (row i is sample i). Merging the batch with the
channels, as instance_norm does ((n, C, H, W) -> (1, n*C, H, W)), gives BatchDim(1, 1, C); a
sequence-first (T, n, d) -> (T*n, d) gives BatchDim(0, T, 1). These functions map a tag through one
shape operation and return None where the samples no longer sit along one dimension (the caller
then treats the op as mixing samples).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence


class BatchDim(NamedTuple):
    dim: int
    outer: int = 1
    inner: int = 1

    def moved(self, dim: int) -> BatchDim:
        return BatchDim(dim, self.outer, self.inner)


ROWS = BatchDim(0)


def normalize_dim(dim: int, ndim: int) -> int:
    """dim in [-ndim, ndim) -> [0, ndim) (ndim 0 counts as 1, like torch)."""
    size = max(ndim, 1)
    return dim + size if dim < 0 else dim


def reshaped(tag: BatchDim, source: Sequence[int], target: Sequence[int], n: int) -> BatchDim | None:
    """The tag after viewing a tensor of shape `source` as `target` (same numel, row-major order).

    Flat index f of the source belongs to sample (f // R) % n with R = inner * prod(source[dim+1:]).
    That is expressible on `target` iff some dim j has S_j = prod(target[j+1:]) dividing R with
    R < S_j * target[j], and S_j * target[j] a multiple of R * n (the dim spans whole periods).
    """
    below = tag.inner * math.prod(source[tag.dim + 1 :])
    period = below * n
    suffix = 1
    for j in reversed(range(len(target))):
        size = int(target[j])
        if suffix <= below < suffix * size:
            if below % suffix or (suffix * size) % period:
                return None
            return BatchDim(j, (suffix * size) // period, below // suffix)
        suffix *= size
    return None


def permuted(tag: BatchDim, perm: Sequence[int]) -> BatchDim:
    """The tag after x.permute(perm)."""
    ndim = len(perm)
    return tag.moved([normalize_dim(p, ndim) for p in perm].index(tag.dim))


def transposed(tag: BatchDim, dim0: int, dim1: int, ndim: int) -> BatchDim:
    d0, d1 = normalize_dim(dim0, ndim), normalize_dim(dim1, ndim)
    if tag.dim == d0:
        return tag.moved(d1)
    if tag.dim == d1:
        return tag.moved(d0)
    return tag


def unsqueezed(tag: BatchDim, dim: int, ndim: int) -> BatchDim:
    """The tag after x.unsqueeze(dim) on an ndim-dim tensor."""
    d = normalize_dim(dim, ndim + 1)
    return tag.moved(tag.dim + 1) if d <= tag.dim else tag


def squeezed(tag: BatchDim, shape: Sequence[int], dims: Sequence[int] | None) -> BatchDim:
    """The tag after x.squeeze(dims) (all size-1 dims when dims is None); the batch dim has size >= 2."""
    ndim = len(shape)
    candidates = range(ndim) if dims is None else [normalize_dim(d, ndim) for d in dims]
    removed = sum(1 for d in set(candidates) if d < tag.dim and shape[d] == 1)
    return tag.moved(tag.dim - removed)


def dropped(tag: BatchDim, dims: Sequence[int]) -> BatchDim:
    """The tag after removing `dims` (none of them the batch dim), e.g. a reduction without keepdim."""
    return tag.moved(tag.dim - sum(1 for d in set(dims) if d < tag.dim))


def aligned(tag: BatchDim, ndim: int, out_ndim: int) -> BatchDim:
    """The tag of an operand of `ndim` dims broadcast to `out_ndim` dims (new dims are leading)."""
    return tag.moved(tag.dim + out_ndim - ndim)
