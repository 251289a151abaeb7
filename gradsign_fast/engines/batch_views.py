"""Batch-tracker rules for views, shape ops and indexing: where the samples go, and back.

Each view rule maps the tag of its input to its output; `view_inverse` maps a tag written into a
view back to its base (the tracker needs it when an in-place op writes samples into a view of a
tensor that held none, as F.pad's circular mode does). Selecting or slicing *along* the batch dim,
gathering by a tensor of sample-dependent indices, concatenating along it: all refused as mixing.
"""

from __future__ import annotations

import torch

from .batch_dim import BatchDim, normalize_dim, permuted, reshaped, squeezed, transposed, unsqueezed
from .batch_rules import OpCall, Tags, one_tag, tensors_in


def _only_self(call: OpCall) -> BatchDim:
    """The tag of args[0], the only argument that may hold samples."""
    batched = call.batched(call.args)
    if len(batched) != 1 or batched[0][0] is not call.args[0]:
        raise call.mix("indexes or combines by a tensor that depends on the samples")
    return batched[0][1]


def _slice_keeps_all(call: OpCall, size: int) -> bool:
    start, end, step = call.arg("start"), call.arg("end"), call.arg("step", 1)
    start = 0 if start is None else (start + size if start < 0 else start)
    end = size if end is None else (end + size if end < 0 else end)
    return step == 1 and start <= 0 and end >= size


def view_rule(call: OpCall) -> Tags:
    """The tag of a view / shape op's output(s)."""
    tag, x, name = _only_self(call), call.args[0], call.name
    ndim = x.dim()
    if name in ("view", "_unsafe_view", "_reshape_alias", "reshape"):
        out = call.first_out()
        if out.dtype != x.dtype and out.element_size() != x.element_size() and tag.dim == ndim - 1:
            raise call.mix("reinterprets the batch dim as another dtype")
        mapped = reshaped(tag, x.shape, out.shape, call.n) if out.shape != x.shape else tag
        if mapped is None:
            raise call.mix(f"reshapes {tuple(x.shape)} -> {tuple(out.shape)} splitting the samples over dims")
        return mapped
    if name in ("alias", "detach", "lift_fresh"):
        return tag
    if name == "expand":
        return tag.moved(tag.dim + len(call.arg("size")) - ndim)
    if name == "permute":
        return permuted(tag, call.arg("dims"))
    if name == "transpose":
        return transposed(tag, call.arg("dim0"), call.arg("dim1"), ndim)
    if name == "t":
        return transposed(tag, 0, 1, ndim) if ndim == 2 else tag
    if name == "unsqueeze":
        return unsqueezed(tag, call.arg("dim"), ndim)
    if name == "squeeze":
        dim = call.arg("dim")
        return squeezed(tag, x.shape, None if dim is None else [dim] if isinstance(dim, int) else list(dim))
    if name == "select":
        dim = normalize_dim(call.arg("dim"), ndim)
        if dim == tag.dim:
            raise call.mix("selects one index of the batch dim")
        return tag.moved(tag.dim - 1) if dim < tag.dim else tag
    if name == "slice":
        dim = normalize_dim(call.arg("dim", 0), ndim)
        if dim == tag.dim and not _slice_keeps_all(call, x.shape[dim]):
            raise call.mix("slices the batch dim")
        return tag
    if name in ("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "unbind"):
        dim = normalize_dim(call.arg("dim", 0), ndim)
        pieces = tensors_in(call.out)
        if dim == tag.dim and not (len(pieces) == 1 and pieces[0].shape == x.shape):
            raise call.mix("splits the batch dim")
        return tag.moved(tag.dim - 1) if name == "unbind" and dim < tag.dim else tag
    if name == "unfold":
        if normalize_dim(call.arg("dimension"), ndim) == tag.dim:
            raise call.mix("slides windows along the batch dim")
        return tag
    if name == "diagonal":
        dims = {normalize_dim(call.arg("dim1", 0), ndim), normalize_dim(call.arg("dim2", 1), ndim)}
        if tag.dim in dims:
            raise call.mix("takes a diagonal through the batch dim")
        return tag.moved(tag.dim - sum(d < tag.dim for d in dims))
    raise call.mix("a view the batch tracker does not follow")


VIEW_OPS = ("view", "_unsafe_view", "_reshape_alias", "reshape", "alias", "detach", "lift_fresh", "expand",
            "permute", "transpose", "t", "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes",
            "unsafe_split", "unsafe_split_with_sizes", "unbind", "unfold", "diagonal")


def view_inverse(func, base: torch.Tensor, view: torch.Tensor, args: tuple, kwargs: dict, n: int,
                 tag: BatchDim) -> BatchDim | None:
    """The tag of `base` implied by samples written into its view `view` at `tag` (None: not followed)."""
    name = func.overloadpacket.__name__
    call = OpCall(func, args, kwargs, view, n, lambda t: None)
    if name in ("view", "_unsafe_view", "_reshape_alias", "reshape", "alias", "detach", "lift_fresh"):
        return tag if view.shape == base.shape else reshaped(tag, view.shape, base.shape, n)
    if name == "permute":
        dims = [normalize_dim(d, base.dim()) for d in call.arg("dims")]
        return tag.moved(dims[tag.dim])
    if name in ("transpose", "t"):
        d0, d1 = (call.arg("dim0"), call.arg("dim1")) if name == "transpose" else (0, 1)
        return transposed(tag, d0, d1, base.dim()) if base.dim() >= 2 else tag
    if name == "unsqueeze":
        dim = normalize_dim(call.arg("dim"), base.dim() + 1)
        return tag.moved(tag.dim - 1) if tag.dim > dim else tag
    if name in ("select", "unbind"):
        dim = normalize_dim(call.arg("dim", 0), base.dim())
        return tag.moved(tag.dim + 1) if tag.dim >= dim else tag
    if name in ("slice", "split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes"):
        dim = normalize_dim(call.arg("dim", 0), base.dim())
        return None if tag.dim == dim and view.shape[dim] != base.shape[dim] else tag
    if name == "squeeze":
        dim = call.arg("dim")
        wanted = range(base.dim()) if dim is None else \
            {normalize_dim(d, base.dim()) for d in ([dim] if isinstance(dim, int) else dim)}
        kept = [d for d in range(base.dim()) if not (d in wanted and base.shape[d] == 1)]
        return tag.moved(kept[tag.dim]) if len(kept) == view.dim() else None
    return None


def cat(call: OpCall) -> Tags:
    tensors = [t for t in call.arg("tensors") if not (t.dim() == 1 and t.shape[0] == 0)]
    tag = one_tag(call, [tag for _, tag in call.batched(tensors)])
    if normalize_dim(call.arg("dim", 0), tensors[0].dim()) == tag.dim:
        raise call.mix("concatenates along the batch dim")
    return tag


def stack(call: OpCall) -> Tags:
    tensors = call.arg("tensors")
    tag = one_tag(call, [tag for _, tag in call.batched(tensors)])
    dim = normalize_dim(call.arg("dim", 0), tensors[0].dim() + 1)
    return tag.moved(tag.dim + 1) if dim <= tag.dim else tag


def index(call: OpCall) -> Tags:
    """x[..., idx, ...] with index tensors that do not depend on the samples and miss the batch dim."""
    tag = _only_self(call)
    indices = list(call.arg("indices"))
    positions = [i for i, ix in enumerate(indices) if ix is not None]
    if tag.dim in positions or any(ix is not None and ix.dtype == torch.bool for ix in indices):
        raise call.mix("indexes the batch dim (or by a mask)")
    width = max(ix.dim() for ix in indices if ix is not None)
    before = sum(p < tag.dim for p in positions)
    if positions == list(range(positions[0], positions[-1] + 1)):
        return tag if tag.dim < positions[0] else tag.moved(tag.dim - len(positions) + width)
    return tag.moved(width + tag.dim - before)


def index_select(call: OpCall) -> Tags:
    tag = _only_self(call)
    if normalize_dim(call.arg("dim"), call.args[0].dim()) == tag.dim:
        raise call.mix("selects along the batch dim")
    return tag


def gather(call: OpCall) -> Tags:
    x, ix = call.arg("self"), call.arg("index")
    tags = [tag for _, tag in call.batched([x, ix])]
    tag = one_tag(call, tags)
    if normalize_dim(call.arg("dim"), x.dim()) == tag.dim or (call.tag_of(x) and ix.shape[tag.dim] != x.shape[tag.dim]):
        raise call.mix("gathers along the batch dim")
    return tag


def embedding(call: OpCall) -> Tags:
    if call.batched([call.arg("weight")]):
        raise call.mix("the embedding table depends on the samples")
    (_, tag), = call.batched([call.arg("indices")])
    return tag


def repeat(call: OpCall) -> Tags:
    tag, x = _only_self(call), call.args[0]
    repeats = list(call.arg("repeats"))
    moved = tag.moved(tag.dim + len(repeats) - x.dim())
    return BatchDim(moved.dim, tag.outer * int(repeats[moved.dim]), tag.inner)


def repeat_interleave(call: OpCall) -> Tags:
    tag = _only_self(call)
    dim, repeats = call.arg("dim"), call.arg("repeats")
    if dim is None or not isinstance(repeats, int):
        raise call.mix("repeats the flattened batch (or by a tensor)")
    if normalize_dim(dim, call.args[0].dim()) == tag.dim:
        return BatchDim(tag.dim, tag.outer, tag.inner * repeats)
    return tag


def flip_roll(call: OpCall) -> Tags:
    tag = _only_self(call)
    dims = call.arg("dims")
    ndim = call.args[0].dim()
    if not dims or tag.dim in {normalize_dim(d, ndim) for d in dims}:
        raise call.mix("reorders the batch dim")
    return tag
