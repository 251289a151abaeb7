"""The authors' GradSign, plainly: a per-sample loop, a stacked (n, m) numpy matrix, np.sign, nansum.

The oracle of the tests and the baseline of the benchmarks. Slow, and memory grows as n * m.
Semantics (see shared/docs/GRADSIGN.md): for each sample, zero_grad, forward the batch of ONE
inputs[[i]], loss on targets[[i]], backward; collect `.weight.grad` of every nn.Conv2d / nn.Linear in
model.modules() order (None -> zeros); score = nansum_k |sum_i np.sign(G[i, k])| (or nanmean).
Unlike the authors' code it restores the model (grads, running stats, modes) when done.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .model_state import preserved
from .semantics import ParamsSpec, dropout_off, select_weights


def score(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    params: ParamsSpec = None,
    reduction: str = "sum",
    dropout: bool = True,
) -> float:
    """GradSign by the authors' loop; same meaning of the arguments as gradsign_fast.score."""
    matrix = per_sample_gradients(model, inputs, targets, loss_fn, params=params, dropout=dropout)
    return score_of_matrix(matrix, reduction)


def score_of_matrix(matrix: np.ndarray, reduction: str = "sum") -> float:
    """matrix: (n, m) per-sample gradients -> nansum (or nanmean) over k of |sum_i np.sign(G[i, k])|."""
    per_weight = np.abs(np.sign(matrix).sum(axis=0, dtype=np.float64))
    if reduction == "sum":
        return float(np.nansum(per_weight))
    if reduction == "mean":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice": every column NaN
            return float(np.nanmean(per_weight))
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def scored_weights(model: nn.Module, params: ParamsSpec = None) -> list[torch.Tensor]:
    """The authors' list: `.weight` of each nn.Conv2d / nn.Linear in modules() order (or `params`)."""
    if params is None:
        return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return [w.param for w in select_weights(model, params)]


def per_sample_gradients(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    params: ParamsSpec = None,
    dropout: bool = True,
) -> np.ndarray:
    """G: (n, m) numpy array, row i = the flattened scored weight gradients of sample i alone."""
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    weights = scored_weights(model, params)
    rows = []
    with preserved(model), torch.enable_grad(), contextlib.ExitStack() as stack:
        if not dropout:
            stack.enter_context(dropout_off(model))
        for i in range(inputs[0].shape[0]):
            model.zero_grad(set_to_none=True)
            output = model(*(x[[i]] for x in inputs))
            loss = loss_fn(output) if targets is None else loss_fn(output, targets[[i]])
            if loss.requires_grad:
                loss.backward()
            rows.append(np.concatenate([_as_numpy(w.grad if w.grad is not None else torch.zeros_like(w)) for w in weights]))
    return np.stack(rows)


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu().reshape(-1)
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
