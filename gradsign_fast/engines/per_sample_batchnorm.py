"""Per-sample BatchNorm for a batched pass: every BatchNorm that uses batch statistics normalizes each
sample alone, as it does in the authors' loop (a batch of one).

Math: for x: (n, C, *spatial), sample i, channel c:
    y[i, c] = (x[i, c] - mean(x[i, c])) / sqrt(var_biased(x[i, c]) + eps) * weight[c] + bias[c]
which is F.instance_norm(x, weight=bn.weight, bias=bn.bias, eps=bn.eps): the loop's own arithmetic
(BatchNorm on a batch of one; bitwise equal in float64). F.group_norm(x, C) is the same formula and
about 2x faster on CPU, but rounds differently, which matters where the gradient is mathematically
zero (resnet18's 2x2 maps moved the float32 score by 1.7e-3): not used. Running statistics are never
read or updated. A BatchNorm on (n, C) inputs (one value per channel per sample) cannot be scored by
the loop either: api._check_first_sample rejects it before any engine runs; here it raises CannotScoreExactly.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from ..semantics import uses_batch_statistics
from ..errors import CannotScoreExactly


def batch_statistics_modules(model: nn.Module) -> list[nn.Module]:
    """The BatchNorms of `model` that normalize with the statistics of their input batch."""
    return [m for m in model.modules() if uses_batch_statistics(m)]


def unsupported_batchnorm(model: nn.Module) -> str | None:
    """Why a batch-statistics BatchNorm of `model` cannot be made per-sample (None if all can)."""
    for m in batch_statistics_modules(model):
        if type(m).forward is not _BatchNorm.forward:
            return f"{type(m).__name__} overrides BatchNorm.forward (e.g. SyncBatchNorm); cannot evaluate it per sample"
    return None


def _per_sample_forward(bn: _BatchNorm) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        """x: (n, C, *spatial) with at least one spatial dim -> same shape, each sample normalized alone."""
        if x.dim() < 3:
            raise CannotScoreExactly(
                f"{type(bn).__name__} sees input of shape {tuple(x.shape)}: one value per channel per sample"
            )
        return F.instance_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)

    return forward


@contextlib.contextmanager
def per_sample_batchnorm(model: nn.Module) -> Iterator[None]:
    """Temporarily replaces the forward of every batch-statistics BatchNorm by its per-sample form.

    Instance attributes are set and removed again on exit (also on error); a pre-existing instance
    `forward` attribute is restored as it was.
    """
    undo: list[Callable[[], None]] = []
    try:
        for bn in batch_statistics_modules(model):
            saved = bn.__dict__.get("forward", None)
            bn.forward = _per_sample_forward(bn)  # type: ignore[method-assign]
            undo.append(lambda m=bn, s=saved: _restore_forward(m, s))
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _restore_forward(module: nn.Module, saved: object) -> None:
    if saved is None:
        module.__dict__.pop("forward", None)
    else:
        module.forward = saved  # type: ignore[method-assign]
