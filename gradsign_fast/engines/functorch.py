"""The torch.func engine: vmap(grad) of the per-sample loss, chunked over samples. Always correct.

Each sample i is forwarded as a batch of one (x_i[None]), exactly like the authors' loop, so
BatchNorm uses that sample's own statistics; dropout draws differ per sample (randomness='different').
Per chunk of c samples: per-sample gradients (c, *p.shape) -> integer column sign sums, then freed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.func import functional_call, grad, vmap

from ..errors import CannotScoreExactly
from ..semantics import ScoringJob, per_sample_mode
from ..sums import SignSums
from .param_counts import ScoredParamCounts


def column_sign_sums(job: ScoringJob, backend: Any) -> SignSums:
    """The SignSums of `job`, reduced by `backend` (a registry backend object)."""
    sums = ScoredParamCounts(job, backend)
    trainable = {key: p.detach() for key, p in sums.trainable().items()}
    if not trainable:
        return sums.result()
    has_targets = job.targets is not None

    def loss_of_one(params, xs, y):
        output = functional_call(job.model, params, tuple(x.unsqueeze(0) for x in xs))
        return job.per_sample_loss(output, y.unsqueeze(0) if has_targets else None)

    per_sample_grads = vmap(grad(loss_of_one), in_dims=(None, 0, 0 if has_targets else None), randomness="different")
    chunk = sums.chunk_size()
    with per_sample_mode(job.model, dropout=job.options.dropout), torch.enable_grad(), _refusals_as_cannot_score():
        for start in range(0, job.n, chunk):
            xs = tuple(x[start : start + chunk] for x in job.inputs)
            y = job.targets[start : start + chunk] if has_targets else None
            for key, g in per_sample_grads(trainable, xs, y).items():
                sums.add(key, g)
    return sums.result()


# Messages of torch.func's refusals (torch 2.4 - 2.14): .item() / data-dependent control flow, dynamic
# shapes, in-place writes of per-sample values into captured tensors, .numpy() / .tolist() / data_ptr()
# on a batched tensor, ops without a batching rule.
_REFUSALS = ("vmap:", "During a grad (vjp, jvp, grad, etc) transform", "Batching rule not implemented",
             "Cannot access data pointer of Tensor that doesn't have storage", "functorch", "torch.func")


@contextlib.contextmanager
def _refusals_as_cannot_score() -> Iterator[None]:
    """torch.func refusing the model becomes CannotScoreExactly (chained); any other error is the model's
    or the loss's own and propagates as raised."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not any(marker in text for marker in _REFUSALS):
            raise
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise CannotScoreExactly(f"torch.func cannot run the model one sample at a time ({first[:300]})") from exc
