"""The batched engine: one batched forward and backward with per-sample semantics -> SignSums.

    0. Dispatch has checked that it applies (batched_scope.applies), once per job.
    1. BatchNorms that use batch statistics normalize each sample alone (per_sample_batchnorm.py);
       the batch tracker follows the samples through every aten op of the forward and refuses any op
       that mixes them, and sample 0 forwarded alone catches a forward that uses the batch size
       (separability.py).
    2. One batched forward records every call of the scored Conv2d / Linear modules (capture.py);
       the loss is the sum of the per-sample losses (batched_loss.py).
    3. One backward to the captured outputs gives D = dL/dz per call, and never forms weight gradients;
       a walk over the graph checks that the calls explain every use of the scored weights (graph_check.py).
    4. Per scored Parameter (tied weights gather the calls of all their modules) a rule adds its column
       sign counts without the (n, m) per-sample gradient matrix (layer_sums.py).
Where it cannot guarantee the loop's exact answer it raises CannotScoreExactly.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import CannotScoreExactly
from ..semantics import ScoringJob, per_sample_mode
from ..sums import SignSums
from .batched_loss import summed_per_sample_loss
from .batched_scope import Roles, applies, layer_roles
from .capture import Call, CallRecorder
from .graph_check import check_captured_uses
from .layer_sums import add_param_signs, check_against_autograd
from .param_counts import ScoredParamCounts
from .per_sample_batchnorm import per_sample_batchnorm
from .separability import SeparabilityProbe, check_tracked, tracked

__all__ = ["applies", "column_sign_sums"]


def column_sign_sums(job: ScoringJob, backend: Any) -> SignSums:
    """The SignSums of `job` (for which applies(job) holds), reduced by `backend`."""
    sums = ScoredParamCounts(job, backend)
    trainable = sums.trainable()
    if not trainable:
        return sums.result()
    roles = layer_roles(job.model, trainable)
    modules = list({id(m): m for rs in roles.values() for m, _ in rs}.values())
    verify = job.options.verify
    with per_sample_mode(job.model, dropout=job.options.dropout), per_sample_batchnorm(job.model), torch.enable_grad():
        probe = SeparabilityProbe(job, modules)
        with CallRecorder(modules) as recorder, tracked(job) as tracker:
            output = job.model(*job.inputs)
        calls = recorder.all_calls()
        check_tracked(tracker, calls, output)
        del tracker
        loss = summed_per_sample_loss(job, output)
    _check_batch_rows(calls, job.n)
    probe.check(output, recorder)
    del output, probe
    live = check_captured_uses(loss, calls, trainable)
    wanted = [c.edge for c in live] + (list(trainable.values()) if verify else [])
    grads = torch.autograd.grad(loss, wanted, allow_unused=True) if wanted and loss.requires_grad else []
    del loss
    d_of = {id(c): g for c, g in zip(live, grads) if g is not None}
    batch_grads = dict(zip(trainable, grads[len(live) :])) if verify else {}
    with torch.no_grad():
        _reduce_all(job, sums, roles, live, d_of, batch_grads)
    return sums.result()


def _reduce_all(job: ScoringJob, sums: ScoredParamCounts, roles: Roles, live: list[Call],
                d_of: dict[int, torch.Tensor], batch_grads: dict[str, torch.Tensor]) -> None:
    options = job.options
    for key, key_roles in roles.items():
        key_modules = {id(m) for m, _ in key_roles}
        key_calls = [c for c in live if id(c.module) in key_modules and id(c) in d_of]
        if not key_calls:
            continue
        total = add_param_signs(sums.counts[key], key_calls, [d_of[id(c)] for c in key_calls],
                                is_bias=key_roles[0][1] == "bias", chunk_size=options.chunk_size,
                                memory_budget=options.memory_budget, verify=options.verify)
        if options.verify:
            check_against_autograd(key, total, batch_grads.get(key))


def _check_batch_rows(calls: list[Call], n: int) -> None:
    for call in calls:
        if call.modified_since():
            raise CannotScoreExactly(f"the input of a {type(call.module).__name__} call was modified in place after the call")
        if call.x.dim() < 2 or call.x.shape[0] != n or call.z_shape[0] != n:
            raise CannotScoreExactly(
                f"a {type(call.module).__name__} call sees input {tuple(call.x.shape)}: dim 0 is not the batch of {n}"
            )
