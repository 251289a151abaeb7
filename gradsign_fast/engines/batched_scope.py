"""What the batched engine scores, and whether it can score a job exactly (checked once, by dispatch).

The scored Parameters that require grad, keyed by their canonical name (as ScoredParamCounts keys
them), and the role of each: the weight or bias of which nn.Conv2d / nn.Linear modules. A scored
Parameter that is no such weight or bias, a module whose calls cannot explain its gradient
(capture.unsupported_module), a BatchNorm that cannot be made per sample, TorchScript or autocast:
the batched engine does not apply.
"""

from __future__ import annotations

import torch
from torch import nn

from ..semantics import ScoringJob
from .capture import unsupported_module
from .per_sample_batchnorm import unsupported_batchnorm

Roles = dict[str, list[tuple[nn.Module, str]]]


def trainable_params(job: ScoringJob) -> dict[str, torch.Tensor]:
    """canonical name -> scored Parameter requiring grad."""
    canonical = {id(p): name for name, p in job.model.named_parameters()}
    found: dict[str, torch.Tensor] = {}
    for w in job.weights:
        found.setdefault(canonical.get(id(w.param), w.name), w.param)
    return {key: p for key, p in found.items() if p.requires_grad}


def layer_roles(model: nn.Module, trainable: dict[str, torch.Tensor]) -> Roles:
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
    for key, roles in layer_roles(job.model, trainable_params(job)).items():
        if not roles:
            return False, f"{key} is not the weight or bias of an nn.Conv2d / nn.Linear"
        for module, _ in roles:
            why = unsupported_module(module)
            if why is not None:
                return False, f"{key}: {why}"
    why = unsupported_batchnorm(job.model)
    return (False, why) if why else (True, "")
