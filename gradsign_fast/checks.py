"""Boundary checks of score(): bad input becomes a clear exception that says what to fix."""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from .errors import InferenceModeError


def check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_batch(inputs: object, targets: object) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
    """inputs: a tensor or a tuple/list of tensors sharing dim 0 (n >= 1); targets: (n, ...) or None."""
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    elif isinstance(inputs, (tuple, list)) and inputs and all(isinstance(x, torch.Tensor) for x in inputs):
        inputs = tuple(inputs)
    else:
        raise TypeError(
            "inputs must be a torch.Tensor or a non-empty tuple of tensors sharing the batch dimension, "
            f"got {_describe(inputs)}"
        )
    if targets is not None and not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor (or None for a loss of the output alone), got {_describe(targets)}")
    for k, x in enumerate(inputs):
        if x.dim() == 0:
            raise ValueError(f"inputs[{k}] is 0-d; every input needs a leading batch dimension")
    n = inputs[0].shape[0]
    if n == 0:
        raise ValueError("the batch is empty (0 samples); GradSign needs at least one sample")
    for k, x in enumerate(inputs):
        if x.shape[0] != n:
            raise ValueError(f"batch-size mismatch: inputs[0] has {n} samples but inputs[{k}] has {x.shape[0]}")
    if targets is not None:
        if targets.dim() == 0 or targets.shape[0] != n:
            raise ValueError(f"batch-size mismatch: inputs have {n} samples but targets have shape {tuple(targets.shape)}")
    for what, t in [*((f"inputs[{k}]", x) for k, x in enumerate(inputs)), ("targets", targets)]:
        if t is not None and (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{what} holds NaN or infinite values; clean the batch before scoring")
    return inputs, targets


def model_device(model: nn.Module, weights_params: list[torch.Tensor]) -> torch.device:
    devices = {p.device for p in weights_params}
    if len(devices) != 1:
        raise ValueError(f"the scored weights live on several devices {sorted(map(str, devices))}; put the model on one device")
    return devices.pop()


def check_devices(device: torch.device, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor | None) -> None:
    for what, t in [*((f"inputs[{k}]", x) for k, x in enumerate(inputs)), ("targets", targets)]:
        if t is not None and t.device != device:
            raise ValueError(f"the model is on {device} but {what} is on {t.device}; move them to one device (.to({str(device)!r}))")


def check_grad_mode() -> None:
    if torch.is_inference_mode_enabled():
        raise InferenceModeError(
            "score() cannot run under torch.inference_mode(): GradSign needs gradients; "
            "call it outside inference_mode (torch.no_grad() is fine)"
        )


def check_draws(*, n_inits: object, seed: object) -> None:
    """n_inits: a positive int; seed: None or an int torch.manual_seed accepts."""
    if not isinstance(n_inits, int) or isinstance(n_inits, bool) or n_inits < 1:
        raise ValueError(f"n_inits must be a positive int, got {n_inits!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if seed is not None and not -(2**63) <= seed < 2**64:
        raise ValueError(f"seed must lie in [-2**63, 2**64) (what torch.manual_seed accepts), got {seed}")


def check_loss_fn(loss_fn: object) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (output, target) -> scalar tensor, got {type(loss_fn).__name__}")


def check_loss(loss: object) -> None:
    """The per-sample loss of a batch of one must be a tensor with exactly one element."""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a tensor, got {_describe(loss)}")
    if loss.numel() != 1:
        raise ValueError(
            f"loss_fn returned shape {tuple(loss.shape)} for a batch of one; it must return a scalar "
            "(use reduction='mean' or 'sum', not 'none')"
        )
    if not loss.is_floating_point():
        raise TypeError(f"loss_fn must return a floating-point tensor, got {loss.dtype}")


_CLASSIFICATION_LOSSES = (F.cross_entropy, F.nll_loss)


def classification_ignore_index(loss_fn: Callable[..., Any]) -> int | None:
    """The ignore_index of a cross-entropy / NLL loss (module, function or partial), else None."""
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return loss_fn.ignore_index
    if isinstance(loss_fn, functools.partial) and loss_fn.func in _CLASSIFICATION_LOSSES:
        return loss_fn.keywords.get("ignore_index", -100)
    if loss_fn in _CLASSIFICATION_LOSSES:
        return -100
    return None


def check_labels(loss_fn: Callable[..., Any], output: object, targets: torch.Tensor | None) -> None:
    """Class labels of a cross-entropy / NLL loss must lie in [0, C) (or equal ignore_index)."""
    ignore = classification_ignore_index(loss_fn)
    if ignore is None or targets is None or targets.is_floating_point() or not isinstance(output, torch.Tensor):
        return
    if output.dim() < 2:
        raise ValueError(f"a classification loss needs model outputs of shape (n, C, ...), got {tuple(output.shape)}")
    classes = output.shape[1]
    labels = targets[targets != ignore]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes}) for a model with {classes} outputs; "
            f"got labels from {int(labels.min())} to {int(labels.max())}"
        )


def _describe(x: object) -> str:
    if isinstance(x, (tuple, list)):
        return f"{type(x).__name__} of {[type(v).__name__ for v in x][:4]}"
    return type(x).__name__
