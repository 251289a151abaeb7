"""The loss of a batched pass whose gradient is every sample's own loop gradient.

Math: L = sum_i loss_fn(output[i:i+1], targets[i:i+1]); dL/d output_i = d loss_i / d output_i exactly
(the backward of a sum hands 1.0 to every term), so the batched backward carries each sample's loop
gradient. loss_fn on the whole batch with reduction='mean' is NOT that (it divides by n).

Two ways, both exact:
- a batched cross-entropy with reduction='sum' where it provably equals the sum of the per-sample
  losses: F.cross_entropy / nn.CrossEntropyLoss / partial(F.cross_entropy, ...) without class
  weights (mean-reduced CE with weights divides by the sample's class weight), no target equal to
  ignore_index (the loop's mean over no element is 0/0 = NaN), logits (n, C) and targets (n,) class
  indices or (n, C) probabilities;
- otherwise the per-sample losses themselves, computed row by row on the batched output exactly as
  the loop computes them (only the loss is looped; the output is split once per tensor leaf).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils import _pytree as pytree

from ..semantics import ScoringJob
from ..errors import CannotScoreExactly

_CE_KEYWORDS = {"weight", "ignore_index", "reduction", "label_smoothing"}


def _cross_entropy_options(loss_fn: Any) -> dict[str, Any] | None:
    """The keyword options of a plain cross-entropy loss_fn, or None if it is not one."""
    if loss_fn is F.cross_entropy:
        return {}
    if type(loss_fn) is nn.CrossEntropyLoss:
        return dict(weight=loss_fn.weight, ignore_index=loss_fn.ignore_index, reduction=loss_fn.reduction,
                    label_smoothing=loss_fn.label_smoothing)
    if isinstance(loss_fn, functools.partial) and loss_fn.func is F.cross_entropy and not loss_fn.args:
        if set(loss_fn.keywords) <= _CE_KEYWORDS:
            return dict(loss_fn.keywords)
    return None


def _summed_cross_entropy(job: ScoringJob, output: Any) -> torch.Tensor | None:
    """sum_i CE(output_i, target_i) as one batched call, where provably equal; else None."""
    options = _cross_entropy_options(job.loss_fn)
    targets = job.targets
    if options is None or targets is None or not isinstance(output, torch.Tensor) or output.dim() != 2:
        return None
    if options.get("weight") is not None or options.get("reduction", "mean") not in ("mean", "sum"):
        return None
    ignore_index = options.get("ignore_index", -100)
    if targets.is_floating_point():
        if targets.shape != output.shape:
            return None
    elif targets.dim() != 1 or bool((targets == ignore_index).any()):
        return None
    return F.cross_entropy(output, targets, reduction="sum", ignore_index=ignore_index,
                           label_smoothing=options.get("label_smoothing", 0.0))


def _split_rows(output: Any, n: int) -> list[Any]:
    """A pytree of (n, ...) tensors -> n pytrees of (1, ...) slices (one split per leaf)."""
    leaves, spec = pytree.tree_flatten(output)
    columns = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            if leaf.dim() == 0 or leaf.shape[0] != n:
                raise CannotScoreExactly(f"the model output has a tensor of shape {tuple(leaf.shape)} without the batch dim")
            columns.append(leaf.split(1))
        else:
            columns.append([leaf] * n)
    return [pytree.tree_unflatten([column[i] for column in columns], spec) for i in range(n)]


def summed_per_sample_loss(job: ScoringJob, output: Any) -> torch.Tensor:
    """0-d tensor sum_i job.per_sample_loss(output[i:i+1], targets[i:i+1]) of a batched output."""
    fast = _summed_cross_entropy(job, output)
    if fast is not None:
        return fast
    rows = _split_rows(output, job.n)
    targets = [None] * job.n if job.targets is None else job.targets.split(1)
    losses = [job.per_sample_loss(row, target) for row, target in zip(rows, targets)]
    return torch.stack(losses).sum()
