"""Capture of the calls of scored nn.Conv2d / nn.Linear modules during one batched forward.

Each recorded module's forward is wrapped by an instance attribute (removed on exit, also on error).
The wrapper runs the module's own forward and records a Call: the input x as the module saw it, the
gradient edge of the raw output z (autograd.grad on that edge gives D = dL/dz even if z is modified in
place later, e.g. by Hardswish(inplace=True); no clone of z is needed), and version counters that
reveal later in-place changes of x or of the weight. The per-sample weight gradient of a module is
then G_i = sum over its calls of D_i U_i^T (see conv_rule.py, linear_rule.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.autograd.graph import GradientEdge, Node, get_gradient_edge
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.utils import parametrize

from ..errors import CannotScoreExactly
from ..ops import FLOAT_DTYPES

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass
class Call:
    """One call of a Conv2d / Linear. x: (n, C_in, H, W) or (n, *, in); z_shape: its output's shape."""

    module: nn.Module
    x: torch.Tensor
    z_shape: torch.Size
    edge: GradientEdge | None  # gradient edge of the raw output z; None when z needs no gradient
    x_node: Node | None  # the autograd node of x at the call (None when x needs no gradient)
    versions: tuple[int, ...]  # x._version, weight._version (, bias._version) at the call
    z: torch.Tensor | None = None  # z (detached, as later in-place ops leave it), kept with keep_values=True

    def params(self) -> list[torch.Tensor]:
        return [p for p in (self.module.weight, self.module.bias) if p is not None]

    def modified_since(self) -> bool:
        """True if x, the weight or the bias was modified in place after the call."""
        return tuple(t._version for t in (self.x, *self.params())) != self.versions


def unsupported_module(module: nn.Module) -> str | None:
    """Why the calls of `module` cannot explain its weight gradient exactly (None if they can)."""
    kind = type(module).__name__
    if isinstance(module, LazyModuleMixin):
        return f"{kind} is a lazy module"
    if parametrize.is_parametrized(module) or "weight" not in module._parameters:
        return f"{kind}'s weight is computed (parametrize / weight_norm), not a plain Parameter"
    if "forward" in module.__dict__:
        return f"{kind} has an instance-level forward attribute"
    if isinstance(module, nn.Conv2d):
        if type(module).forward is not nn.Conv2d.forward or type(module)._conv_forward is not nn.Conv2d._conv_forward:
            return f"{kind} overrides Conv2d.forward"
        if module.padding_mode not in PADDING_MODES:
            return f"{kind} has padding_mode {module.padding_mode!r}"
    elif isinstance(module, nn.Linear):
        if type(module).forward is not nn.Linear.forward:
            return f"{kind} overrides Linear.forward"
    else:
        return f"{kind} is neither nn.Conv2d nor nn.Linear"
    if module.weight.dtype not in FLOAT_DTYPES:
        return f"{kind}'s weight has dtype {module.weight.dtype}"
    return None


class CallRecorder:
    """`with CallRecorder(modules) as rec: model(x)`; then rec.calls[id(module)] lists its Calls in order.

    keep_values=True also keeps z (detached; for the separability probe, on tiny batches).
    """

    def __init__(self, modules: Iterable[nn.Module], *, keep_values: bool = False):
        self.modules = list({id(m): m for m in modules}.values())
        self.keep_values = keep_values
        self.calls: dict[int, list[Call]] = {id(m): [] for m in self.modules}

    def __enter__(self) -> CallRecorder:
        self._stack = contextlib.ExitStack()
        try:
            for m in self.modules:
                m.forward = self._wrap(m)  # type: ignore[method-assign]
                self._stack.callback(m.__dict__.pop, "forward", None)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def all_calls(self) -> list[Call]:
        return [c for m in self.modules for c in self.calls[id(m)]]

    def _wrap(self, module: nn.Module) -> Callable[..., Any]:
        original = type(module).forward.__get__(module)
        weight, bias = module.weight, module.bias
        record = self.calls[id(module)]

        def forward(*args: Any, **kwargs: Any) -> Any:
            x = args[0] if args else kwargs.get("input")
            if module.weight is not weight or module.bias is not bias:
                raise CannotScoreExactly(f"{type(module).__name__}'s weight was replaced during the forward")
            z = original(*args, **kwargs)
            if not isinstance(x, torch.Tensor) or not isinstance(z, torch.Tensor):
                raise CannotScoreExactly(f"{type(module).__name__} was called with a non-tensor input")
            if not (x.dtype == weight.dtype == z.dtype):
                raise CannotScoreExactly(
                    f"{type(module).__name__} computed in {z.dtype} from {x.dtype} input and {weight.dtype} "
                    "weight (autocast or mixed precision); per-sample factors would not match the loop"
                )
            params = [p for p in (weight, bias) if p is not None]
            record.append(
                Call(
                    module=module,
                    x=x.detach() if self.keep_values else x,
                    z_shape=z.shape,
                    edge=get_gradient_edge(z) if z.requires_grad else None,
                    x_node=get_gradient_edge(x).node if x.requires_grad else None,
                    versions=tuple(t._version for t in (x, *params)),
                    z=z.detach() if self.keep_values else None,
                )
            )
            return z

        return forward

