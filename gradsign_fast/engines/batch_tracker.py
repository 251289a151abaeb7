"""Does the batched forward keep every sample apart? Follow the batch through every aten op of the run.

    with BatchTracker(job.inputs, n) as tracker:
        output = model(*inputs)
    tracker.violation      None, or the first op that made an output depend on more than one sample
    tracker.tag_of(t)      where t holds the samples (batch_dim.BatchDim), None if it holds none

A TorchDispatchMode sees every aten op of the forward (below autograd, after composite ops such as
instance_norm or F.linear are decomposed). Each tensor is tagged with where it holds the samples; the
per-op rules (batch_rules.py, batch_views.py) map the tags of the inputs to the outputs, and any op
that combines two samples (a sum or a softmax over the batch, x[1:] - x[:-1], a cumsum along it, a
matmul contracting it, an op with no rule at all) is a violation. This is sound for the run it
watches, whatever the values: a mixing whose result happens to be zero is still found. Out of its
reach: mixing that only happens for other inputs (data-dependent control flow), values read into
Python without an aten op (Tensor.tolist(), .numpy()), and gradients changed by backward hooks or
custom autograd.Functions (graph_check.py refuses the latter).

In-place writes are followed through views: writing samples into a view of a tensor that held none
(F.pad's circular mode fills a new_empty tensor slice by slice) tags the base too; a view made before
such a write and read after it, or a view whose base was made outside the forward, is a violation.
The mode also remembers the first aten op that raised (`failed_op`), so an error of the user's own
Python code can be told from an op that failed on the batch.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakTensorKeyDictionary

from . import batch_rules as rules
from . import batch_views as views
from .batch_dim import ROWS, BatchDim

_EXTRA_POINTWISE = ("hardswish", "hardswish_", "silu", "silu_", "mish", "mish_", "elu", "elu_", "leaky_relu",
                    "leaky_relu_", "hardtanh", "hardtanh_", "softplus", "threshold", "threshold_", "_to_copy",
                    "native_dropout", "bernoulli", "bernoulli_", "_prelu_kernel", "rrelu_with_noise", "celu",
                    "celu_", "selu", "selu_", "lift_fresh_copy", "_conj", "logit", "fill")
_NO_DATA = ("empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "randint_like",
            "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided")
_OVERWRITES = ("fill_", "zero_", "uniform_", "normal_", "random_", "exponential_", "geometric_", "cauchy_",
               "log_normal_")
_CONVOLUTIONS = ("convolution", "_convolution", "convolution_overrideable", "cudnn_convolution",
                 "mkldnn_convolution", "_nnpack_spatial_convolution", "slow_conv_dilated2d", "thnn_conv2d",
                 "_slow_conv2d_forward", "cudnn_convolution_relu", "cudnn_convolution_add_relu")
_ATTENTION = ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
              "_scaled_dot_product_fused_attention_overrideable")
_BATCH_NORMS = ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
                "_native_batch_norm_legit_functional", "_batch_norm_with_update", "_batch_norm_with_update_functional",
                "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm")
_TRAILING = {**{f"{p}{d}d": d for d in (1, 2, 3) for p in ("reflection_pad", "replication_pad", "upsample_nearest",
                                                          "_upsample_nearest_exact", "_adaptive_avg_pool",
                                                          "adaptive_max_pool", "avg_pool")},
             **{f"max_pool{d}d_with_indices": d for d in (2, 3)}, "max_pool1d": 1, "upsample_linear1d": 1,
             "upsample_bilinear2d": 2, "upsample_bicubic2d": 2, "_upsample_bilinear2d_aa": 2,
             "upsample_trilinear3d": 3, "im2col": 3, "pixel_shuffle": 3, "pixel_unshuffle": 3,
             "channel_shuffle": 3, "native_channel_shuffle": 3}


def _table() -> dict[str, Callable[[rules.OpCall], rules.Tags]]:
    table: dict[str, Callable] = {}
    table.update({name: rules.pointwise for name in _EXTRA_POINTWISE})
    table.update({name: rules.no_data for name in _NO_DATA})
    table.update({name: rules.keeps_own_tag for name in _OVERWRITES})
    table.update({name: rules.reduction() for name in rules.REDUCTIONS})
    table.update({"kthvalue": rules.reduction(-1), "mode": rules.reduction(-1), "median": rules.reduction(),
                  "nanmedian": rules.reduction()})
    table.update({name: rules.along_dim(d) for name, d in rules.SCANS.items() if name not in table})
    table.update({name: rules.product for name in rules.PRODUCTS})
    table.update({name: rules.convolution for name in _CONVOLUTIONS})
    table.update({name: rules.attention for name in _ATTENTION})
    table.update({name: rules.trailing(k) for name, k in _TRAILING.items()})
    table.update({name: rules.batch_norm for name in _BATCH_NORMS})
    table.update({name: views.view_rule for name in views.VIEW_OPS})
    table.update(copy_=rules.copy_into, constant_pad_nd=rules.trailing(lambda c: len(c.arg("pad")) // 2),
                 native_layer_norm=rules.layer_norm, native_group_norm=rules.group_norm, cat=views.cat,
                 stack=views.stack, index=views.index, index_select=views.index_select, gather=views.gather,
                 embedding=views.embedding, repeat=views.repeat, repeat_interleave=views.repeat_interleave,
                 flip=views.flip_roll, roll=views.flip_roll)
    return table


_RULES = _table()
_RULE_OF: dict[Any, Callable] = {}
_WRITES_OF: dict[Any, list[tuple[int, str]]] = {}


def _unknown(call: rules.OpCall) -> rules.Tags:
    raise call.mix("an op the batch tracker has no rule for, applied to the samples")


def rule_for(func) -> Callable[[rules.OpCall], rules.Tags]:
    rule = _RULE_OF.get(func)
    if rule is None:
        pointwise = torch.Tag.pointwise in func.tags
        rule = rules.pointwise if pointwise else _RULES.get(func.overloadpacket.__name__, _unknown)
        _RULE_OF[func] = rule
    return rule


def _written(func, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The tensors an op writes to (schema arguments marked Tensor(a!))."""
    spots = _WRITES_OF.get(func)
    if spots is None:
        spots = [(i, a.name) for i, a in enumerate(func._schema.arguments) if a.alias_info is not None and a.alias_info.is_write]
        _WRITES_OF[func] = spots
    found = []
    for i, name in spots:
        value = args[i] if i < len(args) else kwargs.get(name)
        found += rules.tensors_in(value)
    return found


def _storage_key(t: torch.Tensor) -> int | None:
    try:
        return t.untyped_storage().data_ptr() if t.numel() else None
    except (RuntimeError, NotImplementedError):
        return None


class BatchTracker(TorchDispatchMode):
    """Tags the batch through the aten ops run under it; see the module docstring.

    Tags are kept by tensor identity (id): every op output gets its tag written (or cleared), so an id
    reused by a later tensor never inherits a stale one. Views of tensors holding no samples remember
    their base (weakly), so samples written into them later tag the base too.
    """

    def __init__(self, inputs: tuple[torch.Tensor, ...], n: int):
        super().__init__()
        self.n = n
        self.inputs = inputs
        self.tags: dict[int, BatchDim] = {}  # id(tensor) -> where it holds the samples (absent: none)
        self.parents = WeakTensorKeyDictionary()  # view of a sample-free tensor -> (func, base, args, kwargs)
        self.dirty: set[int] = set()  # storages that samples were written into in place
        self.ops = 0
        self.violation: str | None = None
        self.failed_op: str | None = None
        for x in inputs:
            if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[0] == n:
                self.tags[id(x)] = ROWS

    def tag_of(self, t: torch.Tensor) -> BatchDim | None:
        return self.tags.get(id(t))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            out = func(*args, **kwargs)
        except Exception as exc:
            if self.failed_op is None:
                self.failed_op = f"{func} ({type(exc).__name__}: {exc})"
            raise
        if self.violation is None:
            try:
                self._follow(func, args, kwargs, out)
            except rules.MixesSamples as exc:
                self.violation = str(exc)
            except Exception as exc:  # a rule that cannot read this call: refuse, never crash the forward
                self.violation = f"{func}: the batch tracker cannot follow this call ({type(exc).__name__}: {exc})"
        return out

    def _follow(self, func, args: tuple, kwargs: dict, out: Any) -> None:
        self.ops += 1
        tags = self.tags
        inputs = rules.tensors_in(args) + rules.tensors_in(kwargs) if kwargs else rules.tensors_in(args)
        if self.dirty:
            self._check_not_stale(func, inputs)
        outs = rules.tensors_in(out)
        written = _written(func, args, kwargs)
        if any(id(t) in tags for t in inputs):
            if not outs:
                raise rules.MixesSamples(f"{func}: reads values of the samples into Python")
            result = rule_for(func)(rules.OpCall(func, args, kwargs, out, self.n, self.tag_of))
        else:
            result = None
        out_tags = result if isinstance(result, list) else [result] * len(outs)
        for o, tag in zip(outs, out_tags):
            if any(o is w for w in written):
                self._write(func, o, tag)
                continue
            if tag is None:
                tags.pop(id(o), None)
                if func.is_view and args and isinstance(args[0], torch.Tensor):
                    self.parents[o] = (func, args[0], args, kwargs)
            else:
                tags[id(o)] = tag
            if self.dirty and not func.is_view:
                self.dirty.discard(_storage_key(o))  # a fresh allocation, wherever it lies

    def _check_not_stale(self, func, inputs: list[torch.Tensor]) -> None:
        """A tensor holding no samples on a storage that samples were written into is a view made before
        that write (a later view of the base would carry the base's tag): its contents are not followed."""
        for t in inputs:
            if id(t) not in self.tags and _storage_key(t) in self.dirty:
                raise rules.MixesSamples(f"{func}: reads a view of a tensor that samples were written into after "
                                         "the view was made")

    def _write(self, func, target: torch.Tensor, tag: BatchDim | None) -> None:
        old = self.tags.get(id(target))
        if tag is None or tag == old:
            return
        if old is not None:
            raise rules.MixesSamples(f"{func}: writes samples held along {tag} into a tensor holding them along {old}")
        self._adopt(func, target, tag)

    def _adopt(self, func, target: torch.Tensor, tag: BatchDim) -> None:
        """`target` (holding no samples so far) now holds them at `tag`; so do the bases it is a view of."""
        self.tags[id(target)] = tag
        key = _storage_key(target)
        if key is not None:
            self.dirty.add(key)
        parent = self.parents.get(target)
        if parent is None:
            if target._base is not None:
                raise rules.MixesSamples(f"{func}: writes samples into a view whose base the batch tracker "
                                         "did not see made")
            return
        view_func, base, args, kwargs = parent
        base_tag = views.view_inverse(view_func, base, target, args, kwargs, self.n, tag)
        if base_tag is None:
            raise rules.MixesSamples(f"{func}: writes samples into a view ({view_func}) whose base the batch "
                                     "tracker cannot follow")
        old = self.tags.get(id(base))
        if old is None:
            self._adopt(func, base, base_tag)
        elif old != base_tag:
            raise rules.MixesSamples(f"{func}: writes samples into a view of a tensor that holds them elsewhere")
