"""Snapshot and restore of everything scoring could touch on a caller's model.

Covers parameters' values and requires_grad, `.grad`, buffers, train/eval modes and hook dicts:
`with preserved(model): ...` leaves the model as it found it, also when the body raises.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Restores parameter data/requires_grad/.grad, buffers, modes and hooks of `model` on exit."""
    params = list(model.named_parameters(remove_duplicate=True))
    saved_params = [
        (p, p.detach().clone(), p.requires_grad, p.grad, None if p.grad is None else p.grad.detach().clone())
        for _, p in params
    ]
    modules = list(model.modules())
    saved_modules = [
        (
            m,
            m.training,
            dict(m._buffers),
            {k: b.detach().clone() for k, b in m._buffers.items() if b is not None},
            {h: dict(getattr(m, h)) for h in _HOOK_DICTS if hasattr(m, h)},
        )
        for m in modules
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, data, requires_grad, grad, grad_values in saved_params:
                p.copy_(data)
                p.requires_grad_(requires_grad)
                if grad is not None:
                    grad.copy_(grad_values)
                p.grad = grad
            for m, training, buffers, values, hooks in saved_modules:
                m.training = training
                m._buffers.clear()
                m._buffers.update(buffers)
                for k, v in values.items():
                    buffers[k].copy_(v)
                for h, d in hooks.items():
                    live = getattr(m, h)
                    live.clear()
                    live.update(d)
