"""The batched engine: one batched forward and backward with per-sample semantics -> SignSums.

    1. BatchNorms that use batch statistics normalize each sample alone (per_sample_batchnorm.py);
       the batch tracker follows the samples through every aten op of the forward and refuses any op
       that mixes them, and sample 0 forwarded alone catches a forward that uses the batch size
       (separability.py).
    2. One batched forward records every call of the scored Conv2d / Linear modules (capture.py);
       the loss is the sum of the per-sample losses (batched_loss.py).
    3. One backward to the captured outputs gives D = dL/dz per call, and never forms weight gradients;
       a walk over the graph checks that the calls explain every use of the scored weights (graph_check.py).
    4. Per scored Parameter (tied weights gather the calls of all their modules):
       Linear on (n, in), called once:  sum_i sign(g_i) = sign(D)^T sign(A)          (linear_rule.py)
       otherwise G_i = D_i U_i^T by chunks of samples, reduced to signs at once     (conv_rule.py)
       through SignAccumulator (the compiled backends when built), or on CUDA the fused Triton kernel
       (ops/triton_conv_signs.py: no G_i in memory).
Where it cannot guarantee the loop's exact answer it says so up front (applies) or raises CannotScoreExactly.
GRADSIGN_BATCHED_VERIFY=1 also compares sum_i G_i with autograd's batched weight gradient.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..semantics import ScoringJob, per_sample_mode
from ..sums import SignSums
from ..errors import CannotScoreExactly
from .batched_loss import summed_per_sample_loss
from .capture import Call, CallRecorder, unsupported_module
from .conv_rule import accumulate_weight_signs, per_sample_bias_grads
from .graph_check import check_captured_uses
from .linear_rule import factorized_sign_counts
from .per_sample_batchnorm import per_sample_batchnorm, unsupported_batchnorm
from .separability import SeparabilityProbe, check_tracked, tracked
from .weight_sums import WeightSignSums

Roles = dict[str, list[tuple[nn.Module, str]]]


def _trainable(job: ScoringJob) -> dict[str, torch.Tensor]:
    """canonical name -> scored Parameter requiring grad (keys as WeightSignSums makes them)."""
    canonical = {id(p): name for name, p in job.model.named_parameters()}
    found: dict[str, torch.Tensor] = {}
    for w in job.weights:
        found.setdefault(canonical.get(id(w.param), w.name), w.param)
    return {key: p for key, p in found.items() if p.requires_grad}


def _roles(model: nn.Module, trainable: dict[str, torch.Tensor]) -> Roles:
    """canonical name -> [(module, 'weight' | 'bias')] of every Conv2d / Linear holding that Parameter."""
    key_of = {id(p): key for key, p in trainable.items()}
    roles: Roles = {key: [] for key in trainable}
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            for attr in ("weight", "bias"):
                p = module._parameters.get(attr)
                if p is not None and id(p) in key_of:
                    roles[key_of[id(p)]].append((module, attr))
    return roles


def applies(job: ScoringJob) -> tuple[bool, str]:
    """(True, '') if the batched engine can score `job` exactly as far as can be told before running
    it, else (False, why). Runtime checks may still raise CannotScoreExactly."""
    if isinstance(job.model, torch.jit.ScriptModule):
        return False, "TorchScript modules cannot be instrumented"
    if torch.is_autocast_enabled(job.device.type):
        return False, "autocast is enabled: the layers compute in another dtype than their weights"
    for w in job.weights:
        why = unsupported_module(w.module) if isinstance(w.module, (nn.Conv2d, nn.Linear)) else None
        if why is not None and w.param.requires_grad:
            return False, f"{w.name}: {why}"
    for key, roles in _roles(job.model, _trainable(job)).items():
        if not roles:
            return False, f"{key} is not the weight or bias of an nn.Conv2d / nn.Linear"
        for module, _ in roles:
            why = unsupported_module(module)
            if why is not None:
                return False, f"{key}: {why}"
    why = unsupported_batchnorm(job.model)
    return (False, why) if why else (True, "")


def column_sign_sums(job: ScoringJob) -> SignSums:
    ok, why = applies(job)
    if not ok:
        raise CannotScoreExactly(why)
    sums = WeightSignSums(job)
    trainable = sums.trainable()
    if not trainable:
        return sums.result()
    roles = _roles(job.model, trainable)
    modules = list({id(m): m for rs in roles.values() for m, _ in rs}.values())
    verify = os.environ.get("GRADSIGN_BATCHED_VERIFY", "0") == "1"
    with per_sample_mode(job.model, dropout=job.dropout), per_sample_batchnorm(job.model), torch.enable_grad():
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
        _reduce_all(job, sums, roles, live, d_of, batch_grads, verify)
    return sums.result()


def _reduce_all(job, sums, roles, live, d_of, batch_grads, verify) -> None:
    for key, key_roles in roles.items():
        key_modules = {id(m) for m, _ in key_roles}
        key_calls = [c for c in live if id(c.module) in key_modules and id(c) in d_of]
        if key_calls:
            is_bias = key_roles[0][1] == "bias"
            total = _accumulate(job, sums, key, key_calls, [d_of[id(c)] for c in key_calls], is_bias, verify)
            if verify:
                _verify(key, total, batch_grads.get(key))


def _check_batch_rows(calls: list[Call], n: int) -> None:
    for call in calls:
        if call.modified_since():
            raise CannotScoreExactly(f"the input of a {type(call.module).__name__} call was modified in place after the call")
        if call.x.dim() < 2 or call.x.shape[0] != n or call.z_shape[0] != n:
            raise CannotScoreExactly(
                f"a {type(call.module).__name__} call sees input {tuple(call.x.shape)}: dim 0 is not the batch of {n}"
            )


def _accumulate(job, sums, key, calls, grads, is_bias, verify) -> torch.Tensor | None:
    """Adds the column sign sums of Parameter `key` over all samples; returns sum_i g_i if `verify`."""
    acc = sums.accumulators[key]
    module, n = calls[0].module, job.n
    if not is_bias and len(calls) == 1 and isinstance(module, nn.Linear) and calls[0].x.dim() == 2:
        d, a = grads[0], calls[0].x
        counts = factorized_sign_counts(d, a)
        if counts is not None:
            acc.counts += counts.to(acc.counts.device)
            acc.n_samples += n
            return d.t() @ a if verify else None
    if not is_bias:
        if _fused_counts(job, acc, calls, grads):
            return None
        return accumulate_weight_signs(calls, grads, acc, job.chunk_size, verify)
    b = per_sample_bias_grads(calls, grads, 0, n)  # (n, C_out): small
    acc.add(b)
    return b.sum(0) if verify else None


def _fused_counts(job, acc, calls, grads) -> bool:
    """Float32 weights on CUDA: the fused Triton per-sample GEMM + sign count; False if not used.

    GRADSIGN_FUSED_CONV: 'auto' (default: on CUDA), '0' (never), '1' (also on the CPU when
    TRITON_INTERPRET=1, Triton's interpreter: for tests)."""
    mode = os.environ.get("GRADSIGN_FUSED_CONV", "auto")
    interpreted = mode == "1" and os.environ.get("TRITON_INTERPRET") == "1"
    if mode == "0" or calls[0].x.dtype != torch.float32 or not (job.device.type == "cuda" or interpreted):
        return False
    try:
        from ..ops import triton_conv_signs
    except ImportError:
        return False
    return triton_conv_signs.accumulate_calls_(calls, grads, acc.counts, acc.nan)


def _verify(key: str, total: torch.Tensor | None, reference: torch.Tensor | None) -> None:
    """Raises CannotScoreExactly if sum_i g_i from the captures differs from autograd's batch gradient."""
    if total is None or reference is None:
        return
    rtol = {torch.float64: 1e-8, torch.float32: 1e-3}.get(reference.dtype, 5e-2)
    reference, total = reference.reshape(-1).double(), total.reshape(-1).double()
    if not (torch.isfinite(reference).all() and torch.isfinite(total).all()):
        return  # NaN / inf columns: nothing to compare
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    if float((total - reference).abs().max()) > rtol * scale + 1e-30:
        raise CannotScoreExactly(f"{key}: the captured calls do not reproduce autograd's batch gradient")
