"""Snapshot and restore of everything scoring could touch on a caller's model.

Covers parameters' values and requires_grad, `.grad`, buffers (values and which tensor is
registered), train/eval modes and hook dicts. `with preserved(model): ...` leaves the model as it found
it, also when the body raises; `ModelSnapshot(model).restore()` does the same on demand (e.g. between
two engines, so each one starts from the model the caller passed).

A forward that edits a parameter or buffer in place (a call counter, a running average, a weight
nudged under no_grad) is undone: values are copied back only for tensors whose version counter moved,
so an untouched parameter is never written (its autograd version stays what the caller's own graph
expects). Plain Python attributes of the modules are out of scope.
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


class _Values:
    """The values of some tensors, written back only into those that changed since.

    A parameter counts as changed when its version counter or its storage moved (in-place ops bump the
    version; `p.data = ...` swaps the storage). Buffers are compared by value as well: kernels that update
    state as a side effect (BatchNorm's running statistics) do not bump the version counter.
    """

    def __init__(self, params: list[torch.Tensor], buffers: list[torch.Tensor]):
        self.saved = [(t, _stamp(t), t.detach().clone(), False) for t in params]
        self.saved += [(t, _stamp(t), t.detach().clone(), True) for t in buffers]

    def restore(self) -> None:
        with torch.no_grad():
            for k, (t, stamp, value, compare) in enumerate(self.saved):
                if _stamp(t) != stamp or (compare and not _same_bits(t, value)):
                    t.copy_(value)
                    self.saved[k] = (t, _stamp(t), value, compare)


def _stamp(t: torch.Tensor) -> tuple[int, int]:
    return t._version, t.data_ptr()


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaNs included (a NaN buffer left as it was is not "changed")."""
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan()) if a.is_floating_point() else a == b).all())


class ModelSnapshot:
    """What `model` is now; restore() puts it back (parameters, buffers, grads, modes, hooks)."""

    def __init__(self, model: nn.Module):
        params = [p for _, p in model.named_parameters(remove_duplicate=True)]
        self.params = [(p, p.requires_grad, p.grad, None if p.grad is None else p.grad.detach().clone())
                       for p in params]
        self.modules = [(m, m.training, dict(m._buffers), {h: dict(getattr(m, h)) for h in _HOOK_DICTS if hasattr(m, h)})
                        for m in model.modules()]
        buffers = list({id(b): b for m in model.modules() for b in m._buffers.values() if b is not None}.values())
        self.values = _Values(params, buffers)

    def restore(self) -> None:
        self.values.restore()
        with torch.no_grad():
            for p, requires_grad, grad, grad_values in self.params:
                p.requires_grad_(requires_grad)
                if grad is not None and not torch.equal(grad, grad_values):
                    grad.copy_(grad_values)
                p.grad = grad
        for m, training, buffers, hooks in self.modules:
            m.training = training
            if not _same_items(m._buffers, buffers):
                m._buffers.clear()
                m._buffers.update(buffers)
            for h, d in hooks.items():
                live = getattr(m, h)
                if not _same_items(live, d):
                    live.clear()
                    live.update(d)


def _same_items(a: dict, b: dict) -> bool:
    """The same keys mapped to the same objects (by identity: tensors do not compare as booleans)."""
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a)


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[ModelSnapshot]:
    """Restores parameter data/requires_grad/.grad, buffers, modes and hooks of `model` on exit."""
    snapshot = ModelSnapshot(model)
    try:
        yield snapshot
    finally:
        snapshot.restore()
