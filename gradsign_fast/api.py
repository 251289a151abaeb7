"""score() and sign_sums(): check the call, resolve the options, run the chosen engine, average inits."""

from __future__ import annotations

import contextlib
import copy
import os
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from . import checks
from .dispatch import compute_sign_sums
from .model_state import preserved
from .options import memory_budget_bytes
from .ops.accumulator import check_reduction
from .semantics import ParamsSpec, ScoringJob, per_sample_mode, select_weights
from .sums import SignSums

_BN_SINGLE_VALUE = "Expected more than 1 value per channel"


def score(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    params: ParamsSpec = None,
    reduction: str = "sum",
    n_inits: int = 1,
    seed: int | None = None,
    chunk_size: int | None = None,
    engine: str = "auto",
    backend: str = "auto",
    dropout: bool = True,
) -> float:
    """The GradSign score: sum_k |sum_i sign(d loss(f(x_i), y_i) / d w_k)|, exactly as the authors' loop.

    inputs: (n, ...) tensor or tuple of such; targets: (n, ...) or None (then loss_fn(output)).
    reduction: "sum" (np.nansum) or "mean" (np.nanmean over the scored weights).
    n_inits > 1 averages over re-initializations (reset_parameters() of a copy, seeded by `seed`);
    the caller's weights are the first draw. The caller's model and global RNG state are left untouched.
    """
    check_reduction(reduction)
    draws = score_draws(model, inputs, targets, loss_fn, params=params, n_inits=n_inits, seed=seed,
                        chunk_size=chunk_size, engine=engine, backend=backend, dropout=dropout)
    return float(sum(d.score(reduction) for d in draws) / len(draws))


def score_draws(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    params: ParamsSpec = None,
    n_inits: int = 1,
    seed: int | None = None,
    chunk_size: int | None = None,
    engine: str = "auto",
    backend: str = "auto",
    dropout: bool = True,
) -> list[SignSums]:
    """What score() averages: the SignSums of the caller's weights, then of each re-initialization.

    Each says which engine computed it (`.engine`) and why the engines before it could not (`.notes`).
    """
    checks.check_options(n_inits=n_inits, seed=seed, chunk_size=chunk_size, dropout=dropout, loss_fn=loss_fn)
    options = dict(params=params, chunk_size=chunk_size, engine=engine, backend=backend, dropout=dropout)
    job = _make_job(model, inputs, targets, loss_fn, **options)
    with _scoring_context(job.device):
        if seed is not None:
            torch.manual_seed(seed)
        draws = [_run(job, engine)]
        if n_inits > 1:
            base_seed = seed if seed is not None else int(torch.randint(0, 2**62, ()).item())
            replica = copy.deepcopy(model)
            for k in range(1, n_inits):
                _reinitialize(replica, (base_seed + k) % 2**64)
                draws.append(_run(_make_job(replica, inputs, targets, loss_fn, **options), engine))
    return draws


def sign_sums(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: torch.Tensor | None,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
    *,
    params: ParamsSpec = None,
    chunk_size: int | None = None,
    engine: str = "auto",
    backend: str = "auto",
    dropout: bool = True,
) -> SignSums:
    """What score() is made of: per scored weight, (m,) int64 column sign sums and (m,) bool NaN marks.

    SignSums of disjoint shards of a batch add exactly (`a + b`); `.score(reduction)` finalizes.
    """
    checks.check_options(n_inits=1, seed=None, chunk_size=chunk_size, dropout=dropout, loss_fn=loss_fn)
    job = _make_job(model, inputs, targets, loss_fn, params=params, chunk_size=chunk_size, engine=engine, backend=backend, dropout=dropout)
    with _scoring_context(job.device):
        return _run(job, engine)


def _make_job(model, inputs, targets, loss_fn, *, params, chunk_size, engine, backend, dropout) -> ScoringJob:
    checks.check_model(model)
    checks.check_grad_mode()
    memory_budget_bytes()  # a bad GRADSIGN_MEMORY_BUDGET_MB fails here, whatever the engine
    inputs, targets = checks.check_batch(inputs, targets)
    weights = select_weights(model, params)
    device = checks.model_device(model, [w.param for w in weights])
    checks.check_devices(device, inputs, targets)
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string such as 'auto', 'torch' or 'cpp', got {backend!r}")
    return ScoringJob(model, inputs, targets, loss_fn, weights, device, backend, chunk_size, dropout)


def _run(job: ScoringJob, engine: str) -> SignSums:
    """The probe, then the engine(s), each starting from the model as the caller passed it; the model is
    restored at the end (also on error): its own forward may update buffers or edit parameters."""
    with preserved(job.model) as snapshot:
        _probe(job)
        snapshot.restore()
        return compute_sign_sums(engine, job, restore=snapshot.restore)


def _probe(job: ScoringJob) -> None:
    """Forwards the first sample alone to check the output, the labels and the loss before any work."""
    with torch.no_grad(), per_sample_mode(job.model, dropout=job.dropout):
        try:
            output = job.model(*(x[:1] for x in job.inputs))
        except ValueError as exc:
            if _BN_SINGLE_VALUE in str(exc):
                raise ValueError(
                    "a BatchNorm in training mode would normalize a single value per channel: GradSign "
                    "forwards each sample alone (a batch of one), as the authors' loop does, and the "
                    f"authors' loop fails here too ({exc}). Use larger inputs, or put that BatchNorm in "
                    "eval mode (model.eval()) so it uses its running statistics"
                ) from exc
            raise
        checks.check_labels(job.loss_fn, output, job.targets)
        target = None if job.targets is None else job.targets[:1]
        loss = job.loss_fn(output) if target is None else job.loss_fn(output, target)
    checks.check_loss(loss)


@contextlib.contextmanager
def _scoring_context(device: torch.device) -> Iterator[None]:
    """Forks the global RNG (restored on exit) and, on CUDA, turns TF32 off unless GRADSIGN_ALLOW_TF32=1."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _tf32(device):
        yield


@contextlib.contextmanager
def _tf32(device: torch.device) -> Iterator[None]:
    if device.type != "cuda" or os.environ.get("GRADSIGN_ALLOW_TF32", "0") == "1":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _reinitialize(model: nn.Module, seed: int) -> None:
    """A fresh draw: every module's reset_parameters(), from `seed` (modules without one keep values)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            reset: Any = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
