"""The loop engine: the authors' per-sample loop (a batch of one per forward/backward), reduced with
the sign-reduction backends. Slow; the fallback for models that torch.func cannot trace.

Uses torch.autograd.grad, so the caller's `.grad` is never touched.
"""

from __future__ import annotations

from typing import Any

import torch

from ..semantics import ScoringJob, per_sample_mode
from ..sums import SignSums
from .param_counts import ScoredParamCounts


def column_sign_sums(job: ScoringJob, backend: Any) -> SignSums:
    """The SignSums of `job`, reduced by `backend` (a registry backend object)."""
    sums = ScoredParamCounts(job, backend)
    trainable = sums.trainable()
    if not trainable:
        return sums.result()
    keys, params = list(trainable), list(trainable.values())
    chunk = sums.chunk_size()
    rows: list[list[torch.Tensor]] = [[] for _ in keys]

    def flush():
        for key, row in zip(keys, rows):
            sums.add(key, torch.stack(row))
            row.clear()

    with per_sample_mode(job.model, dropout=job.options.dropout), torch.enable_grad():
        for i in range(job.n):
            output = job.model(*(x[i : i + 1] for x in job.inputs))
            target = None if job.targets is None else job.targets[i : i + 1]
            loss = job.per_sample_loss(output, target)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for row, g, p in zip(rows, grads, params):
                row.append(torch.zeros_like(p) if g is None else g.detach())
            if len(rows[0]) == chunk:
                flush()
        if rows[0]:
            flush()
    return sums.result()
