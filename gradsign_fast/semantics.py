"""What GradSign scores, and the per-sample semantics of the authors' loop.

- Scored weights (default): the `.weight` of every nn.Conv2d / nn.Linear (subclasses included) in
  `model.modules()` order; a Parameter shared by two scored modules is scored twice, as the loop does.
- Per-sample BatchNorm: the loop forwards a batch of ONE, so a BatchNorm that uses batch statistics
  normalizes each sample with its own statistics; running statistics must not be updated by scoring.
- Dropout: kept active (the authors' behaviour) unless dropout=False (dropout_off()).
- NaN rule: numpy's sign(nan) is nan, so a column holding a NaN contributes 0 (see ops.accumulator).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.instancenorm import _InstanceNorm

from .options import Options

ParamsSpec = None | str | Callable[[str, nn.Module, nn.Parameter], bool]


@dataclass(frozen=True)
class ScoredWeight:
    """One scored entry: `name` is '<module path>.<param name>'; `param` may repeat across entries."""

    name: str
    module: nn.Module
    param: nn.Parameter


@dataclass
class ScoringJob:
    """Everything an engine needs. inputs: tuple of (n, ...) tensors; targets: (n, ...) or None."""

    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    targets: torch.Tensor | None
    loss_fn: Callable[..., torch.Tensor]
    weights: list[ScoredWeight]
    device: torch.device
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.inputs[0].shape[0]

    def per_sample_loss(self, output: Any, target: torch.Tensor | None) -> torch.Tensor:
        """loss_fn(output of a batch of one, target[None]) as a 0-d tensor (the loop's loss)."""
        loss = self.loss_fn(output) if target is None else self.loss_fn(output, target)
        return loss.reshape(())


def _is_default_scored(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, nn.Linear)) and isinstance(module.weight, torch.Tensor)


def select_weights(model: nn.Module, params: ParamsSpec = None) -> list[ScoredWeight]:
    """The scored weights of `model`: None (the authors' Conv2d/Linear weights), "all", or a predicate."""
    found: list[ScoredWeight] = []
    if params is None:
        for path, module in model.named_modules():
            if _is_default_scored(module):
                found.append(ScoredWeight(_join(path, "weight"), module, module.weight))
    elif isinstance(params, str):
        if params != "all":
            raise ValueError(f'params must be None, "all" or a callable (name, module, param) -> bool, got {params!r}')
        owners = {id(p): (path, m) for path, m in reversed(list(model.named_modules())) for p in m.parameters(recurse=False)}
        for name, p in model.named_parameters():
            found.append(ScoredWeight(name, owners[id(p)][1], p))
    elif callable(params):
        for path, module in model.named_modules():
            for pname, p in module.named_parameters(recurse=False):
                name = _join(path, pname)
                if params(name, module, p):
                    found.append(ScoredWeight(name, module, p))
    else:
        raise TypeError(f'params must be None, "all" or a callable (name, module, param) -> bool, got {type(params).__name__}')
    for w in found:
        if isinstance(w.param, nn.parameter.UninitializedParameter):
            raise ValueError(f"{w.name} is an uninitialized lazy parameter; run one forward pass before scoring")
    if not found:
        what = "no nn.Conv2d or nn.Linear weight" if params is None else "no parameter matched `params`"
        raise ValueError(f"nothing to score: {what} in {type(model).__name__}; pass params='all' or a predicate")
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def uses_batch_statistics(module: nn.Module) -> bool:
    """True for a BatchNorm that normalizes with the statistics of its input batch."""
    return isinstance(module, _BatchNorm) and (module.training or module.running_mean is None)


@contextlib.contextmanager
def dropout_off(model: nn.Module) -> Iterator[None]:
    """Temporarily puts every nn.Dropout* module in training mode into eval mode (restored on exit)."""
    switched = [m for m in model.modules() if isinstance(m, _DropoutNd) and m.training]
    for m in switched:
        m.training = False
    try:
        yield
    finally:
        for m in switched:
            m.training = True


@contextlib.contextmanager
def per_sample_mode(model: nn.Module, *, dropout: bool) -> Iterator[None]:
    """Temporarily: BatchNorms in training mode stop updating running stats (they still normalize with
    the statistics of their input), InstanceNorms likewise, and with dropout=False every nn.Dropout*
    is in eval mode. Everything is restored on exit, also on error."""
    undo: list[Callable[[], None]] = []
    try:
        for module in model.modules():
            if isinstance(module, _BatchNorm) and module.training and module.track_running_stats:
                module.track_running_stats = False
                undo.append(lambda m=module: setattr(m, "track_running_stats", True))
            elif isinstance(module, _InstanceNorm) and module.training and module.running_mean is not None:
                saved = (module.running_mean, module.running_var)
                module.running_mean = module.running_var = None
                undo.append(lambda m=module, s=saved: (setattr(m, "running_mean", s[0]), setattr(m, "running_var", s[1])))
        with contextlib.ExitStack() as stack:
            if not dropout:
                stack.enter_context(dropout_off(model))
            yield
    finally:
        for restore in reversed(undo):
            restore()
