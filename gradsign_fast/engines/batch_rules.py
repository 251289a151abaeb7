"""Per-op rules of the batch tracker: where the samples sit in an aten op's outputs, or why it mixes them.

A rule gets an OpCall (the op, its arguments, its result, the tags of its tensor arguments) and
returns the tag of its tensor outputs (one BatchDim or None for all, or a list in output order), or
raises MixesSamples. Rules only ever see ops with at least one argument that holds samples; an op
with no rule raises MixesSamples: the tracker is conservative, never permissive.

    pointwise (torch.Tag.pointwise and a few untagged ones)   operands aligned by broadcasting must agree
    views and shape ops                                        batch_dim.py maps the tag (views.py)
    reductions, scans                                          fine unless they run along the batch dim
    mm / bmm / convolution / attention                         the batch must sit on a free dim, never contracted
    normalizations, pooling, padding, upsampling               fine where they act within one sample
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .batch_dim import BatchDim, aligned, dropped, normalize_dim

Tags = BatchDim | None | list[BatchDim | None]


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in an op's arguments or result (tensors, lists / tuples / dicts of them), in order.

    aten lists are homogeneous (int[], Tensor[], Tensor?[]): a list is looked into only when its first
    element that is not None is a tensor or a list."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = tuple(value.values())
    elif not isinstance(value, (list, tuple)):
        return []
    found = []
    for item in value:
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, (list, tuple)) and item:
            head = next((e for e in item if e is not None), None)
            if isinstance(head, (torch.Tensor, list, tuple)):
                found.extend(tensors_in(item))
    return found


_NO_DEFAULT = object()
_SCHEMAS: dict[Any, list[tuple[str, Any]]] = {}


def _schema(func) -> list[tuple[str, Any]]:
    """(name, default or _NO_DEFAULT) of each schema argument of `func`, cached per op."""
    found = _SCHEMAS.get(func)
    if found is None:
        found = [(a.name, a.default_value if a.has_default_value() else _NO_DEFAULT) for a in func._schema.arguments]
        _SCHEMAS[func] = found
    return found


class MixesSamples(Exception):
    """An op makes some output depend on more than one sample (or on samples in a way not followed)."""


@dataclass
class OpCall:
    func: Any
    args: tuple
    kwargs: dict
    out: Any
    n: int
    tag_of: Callable[[torch.Tensor], BatchDim | None]
    _named: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.func.overloadpacket.__name__

    def arg(self, name: str, default: Any = None) -> Any:
        """An argument by its schema name (positional, keyword or the schema's default)."""
        if self._named is None:
            self._named = {}
            for i, (key, fallback) in enumerate(_schema(self.func)):
                if i < len(self.args):
                    self._named[key] = self.args[i]
                elif key in self.kwargs:
                    self._named[key] = self.kwargs[key]
                elif fallback is not _NO_DEFAULT:
                    self._named[key] = fallback
        return self._named.get(name, default)

    def batched(self, value: Any) -> list[tuple[torch.Tensor, BatchDim]]:
        """(tensor, tag) of every tensor in `value` (an argument or a list of them) that holds samples."""
        found = []
        for t in tensors_in(value):
            tag = self.tag_of(t)
            if tag is not None:
                found.append((t, tag))
        return found

    def first_out(self) -> torch.Tensor:
        return tensors_in(self.out)[0]

    def mix(self, why: str) -> MixesSamples:
        return MixesSamples(f"{self.func}: {why}")


def one_tag(call: OpCall, tags: list[BatchDim]) -> BatchDim | None:
    """The common tag of several operands, or MixesSamples if they hold the samples differently."""
    if len(set(tags)) > 1:
        raise call.mix(f"combines operands that hold the samples along different dims {sorted(set(tags), key=str)}")
    return tags[0] if tags else None


def broadcast(call: OpCall, operands: Any, out_ndim: int) -> BatchDim | None:
    """Operands broadcast against each other to an out_ndim-dim result: their aligned tags must agree."""
    return one_tag(call, [aligned(tag, t.dim(), out_ndim) for t, tag in call.batched(operands)])


def pointwise(call: OpCall) -> Tags:
    operands = [a for a in (*call.args, *call.kwargs.values()) if a is not call.kwargs.get("out")]
    return broadcast(call, operands, call.first_out().dim())


def no_data(call: OpCall) -> Tags:
    """Ops that read only the shape, dtype and device of their tensor arguments (empty_like, ...)."""
    return None


def copy_into(call: OpCall) -> Tags:
    """copy_(self, src): self takes src's values (broadcast), so src's tag; self keeps a tag it had."""
    dst, src = call.args[0], call.args[1]
    tags = [aligned(tag, t.dim(), dst.dim()) for t, tag in call.batched([src])]
    own = call.tag_of(dst)
    return one_tag(call, tags + ([own] if own is not None else []))


def keeps_own_tag(call: OpCall) -> Tags:
    """In-place overwrites with values of no sample (fill_, zero_, uniform_, ...): conservatively the
    target keeps the tag it had (its storage still counts as holding samples)."""
    return call.tag_of(call.args[0])


# --- reductions and scans -------------------------------------------------------------------------

def _dims(call: OpCall, default: Any = None) -> list[int] | None:
    """The normalized `dim` argument as a list; None for 'every dim'."""
    dim = call.arg("dim", default)
    ndim = call.args[0].dim()
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
    return [normalize_dim(int(d), ndim) for d in dims]


def reduction(default_dim: Any = None) -> Callable[[OpCall], Tags]:
    def rule(call: OpCall) -> Tags:
        (_, tag), = call.batched([call.args[0]]) or [(None, None)]
        if tag is None:
            raise call.mix("reduces a tensor of samples together with another one")
        dims = _dims(call, default_dim)
        if dims is None or tag.dim in dims:
            raise call.mix("reduces over the batch dim")
        return tag if call.arg("keepdim", False) else dropped(tag, dims)

    return rule


def along_dim(default_dim: Any = -1) -> Callable[[OpCall], Tags]:
    """Scans and per-dim ops (softmax, cumsum, sort, topk, glu): fine unless `dim` is the batch dim."""

    def rule(call: OpCall) -> Tags:
        tags = call.batched([call.args[0]])
        if len(tags) != len(call.batched(call.args)):
            raise call.mix("combines a tensor of samples with another one")
        tag = tags[0][1]
        dims = _dims(call, default_dim)
        if dims is None or tag.dim in dims:
            raise call.mix("runs along the batch dim")
        return tag

    return rule


REDUCTIONS = ("sum", "mean", "amax", "amin", "prod", "var", "std", "var_mean", "std_mean", "logsumexp",
              "linalg_vector_norm", "norm", "any", "all", "nansum", "nanmean", "count_nonzero", "argmax",
              "argmin", "max", "min", "aminmax")
SCANS = {"_softmax": None, "_safe_softmax": None, "_log_softmax": None, "cumsum": None, "cumprod": None, "logcumsumexp": None,
         "cummax": None, "cummin": None, "sort": -1, "argsort": -1, "topk": -1, "glu": -1, "kthvalue": -1,
         "median": None, "nanmedian": None, "mode": -1}


# --- products: the batch must sit on a free dim of the result, never on a contracted one -------------

# op -> per operand (by schema name): operand dim -> result dim, or "c" (contracted)
PRODUCTS: dict[str, dict[str, tuple]] = {
    "mm": {"self": (0, "c"), "mat2": ("c", 1)},
    "addmm": {"mat1": (0, "c"), "mat2": ("c", 1)},
    "_addmm_activation": {"mat1": (0, "c"), "mat2": ("c", 1)},
    "bmm": {"self": (0, 1, "c"), "mat2": (0, "c", 2)},
    "baddbmm": {"batch1": (0, 1, "c"), "batch2": (0, "c", 2)},
    "mv": {"self": (0, "c"), "vec": ("c",)},
    "addmv": {"mat": (0, "c"), "vec": ("c",)},
}


def product(call: OpCall) -> Tags:
    roles = PRODUCTS[call.name]
    out = call.first_out()
    tags = []
    for name, dims in roles.items():
        for t, tag in call.batched([call.arg(name)]):
            role = dims[tag.dim]
            if role == "c":
                raise call.mix(f"contracts {name} over its batch dim")
            tags.append(tag.moved(role))
    extra = [a for a in ("self", "input") if a not in roles and call.arg(a) is not None]
    tags += [aligned(tag, t.dim(), out.dim()) for a in extra for t, tag in call.batched([call.arg(a)])]
    return one_tag(call, tags)


def convolution(call: OpCall) -> Tags:
    if call.batched([call.arg("weight"), call.arg("bias")]):
        raise call.mix("the filter depends on the samples")
    (_, tag), = call.batched([call.arg("input")])
    if tag.dim != 0:
        raise call.mix(f"convolves over the dim that holds the samples ({tag.dim})")
    return tag


def attention(call: OpCall) -> Tags:
    """Scaled dot-product attention, q/k/v: (B, H, L, E): samples on B (or H), never on L or E."""
    names = [a.name for a in call.func._schema.arguments[:3]]
    tags = [tag for t, tag in call.batched([call.arg(a) for a in names])]
    mask = next((a for a in ("attn_mask", "attn_bias") if call.arg(a) is not None), None)
    ndim = call.args[0].dim()
    tags += [aligned(tag, t.dim(), ndim) for t, tag in call.batched([call.arg(mask)])] if mask else []
    tag = one_tag(call, tags)
    if len(call.batched(call.args)) != len(tags) or tag.dim >= ndim - 2:
        raise call.mix("attends across the samples")
    size = call.args[0].shape[tag.dim]
    return [tag if o.dim() > tag.dim and o.shape[tag.dim] == size else None
            for o in tensors_in(call.out)]


# --- normalization, pooling, padding: per sample as long as the samples sit outside what they mix ---

def trailing(k: int | Callable[[OpCall], int]) -> Callable[[OpCall], Tags]:
    """Ops acting on the last k dims (pool2d: 2, pad: len(pad) // 2, ...) and per leading index."""

    def rule(call: OpCall) -> Tags:
        x = call.args[0]
        width = k(call) if callable(k) else k
        tags = call.batched(call.args)
        if len(tags) != 1 or tags[0][0] is not x:
            raise call.mix("combines a tensor of samples with another one")
        tag = tags[0][1]
        if tag.dim >= x.dim() - width:
            raise call.mix(f"acts on the last {width} dims, which hold the samples")
        out = call.first_out()
        return aligned(tag, x.dim(), out.dim()) if out.dim() > x.dim() else tag

    return rule


def layer_norm(call: OpCall) -> Tags:
    width = len(call.arg("normalized_shape"))
    if call.batched([call.arg("weight"), call.arg("bias")]):
        raise call.mix("the affine parameters depend on the samples")
    return trailing(width)(OpCall(call.func, call.args[:1], {}, call.out, call.n, call.tag_of))


def group_norm(call: OpCall) -> Tags:
    (_, tag), = call.batched([call.args[0]]) or [(None, None)]
    if tag is None or tag.dim != 0 or len(call.batched(call.args)) != 1:
        raise call.mix("normalizes over the samples")
    return tag


_TRAINING = {"_batch_norm_with_update": True, "_batch_norm_with_update_functional": True,
             "_native_batch_norm_legit_no_training": False}


def batch_norm(call: OpCall) -> Tags:
    """With batch statistics it normalizes each channel (dim 1) over every other dim: fine only when the
    samples sit in the channel dim (instance_norm's (1, n*C, ...) view). With running statistics it is
    a per-channel affine map: fine anywhere."""
    x = call.args[0]
    if len(call.batched(call.args)) != 1 or not call.batched([x]):
        raise call.mix("the statistics or affine parameters depend on the samples")
    tag = call.tag_of(x)
    training = _TRAINING.get(call.name, call.arg("training"))
    if training is None:  # _batch_norm_no_update: batch statistics iff there are no running ones
        training = call.arg("running_mean") is None
    if training and tag.dim != 1:
        raise call.mix("normalizes with statistics over the batch")
    outs = [o for o in tensors_in(call.out)]
    aux = tag.moved(0) if tag.dim == 1 else None
    return [tag] + [aux if aux is not None and o.dim() == 1 and o.shape[0] == x.shape[1] else None for o in outs[1:]]
