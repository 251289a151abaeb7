"""score() and sign_sums(): check the call, build its Options once, plan and run the engines, average inits."""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from . import checks, dispatch
from .model_state import preserved
from .ops import check_reduction
from .options import Options
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


def score_draws(model: nn.Module, inputs: Any, targets: torch.Tensor | None,
                loss_fn: Callable[..., torch.Tensor] = F.cross_entropy, *, params: ParamsSpec = None,
                n_inits: int = 1, seed: int | None = None, **options: Any) -> list[SignSums]:
    """What score() averages: the SignSums of the caller's weights, then of each re-initialization.

    Each says which engine computed it (`.engine`) and why the engines before it could not (`.notes`).
    `options`: chunk_size, engine, backend, dropout, as in score().
    """
    checks.check_draws(n_inits=n_inits, seed=seed)
    job = _make_job(model, inputs, targets, loss_fn, params, Options.from_call(**options))
    with _scoring_context(job):
        if seed is not None:
            torch.manual_seed(seed)
        draws = [_run(job)]
        if n_inits > 1:
            base_seed = seed if seed is not None else int(torch.randint(0, 2**62, ()).item())
            replica = copy.deepcopy(model)
            for k in range(1, n_inits):
                _reinitialize(replica, (base_seed + k) % 2**64)
                draws.append(_run(_make_job(replica, inputs, targets, loss_fn, params, job.options)))
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

    SignSums of disjoint shards of a batch add exactly (`a + b`); `.score(reduction)` finalizes;
    `.engine` and `.notes` say which engine answered and why the ones before it could not.
    """
    return score_draws(model, inputs, targets, loss_fn, params=params, chunk_size=chunk_size, engine=engine,
                       backend=backend, dropout=dropout)[0]


def _make_job(model: Any, inputs: Any, targets: Any, loss_fn: Any, params: ParamsSpec, options: Options) -> ScoringJob:
    checks.check_model(model)
    checks.check_loss_fn(loss_fn)
    checks.check_grad_mode()
    inputs, targets = checks.check_batch(inputs, targets)
    weights = select_weights(model, params)
    device = checks.model_device(model, [w.param for w in weights])
    checks.check_devices(device, inputs, targets)
    return ScoringJob(model, inputs, targets, loss_fn, weights, device, options)


def _run(job: ScoringJob) -> SignSums:
    """The first-sample check, then the planned engine(s), each starting from the model as the caller
    passed it; the model is restored at the end (also on error): its own forward may update buffers or
    edit parameters."""
    plan = dispatch.plan(job)
    with preserved(job.model) as snapshot:
        _check_first_sample(job)
        snapshot.restore()
        return dispatch.run(plan, job, restore=snapshot.restore)


def _check_first_sample(job: ScoringJob) -> None:
    """Forwards the first sample alone to check the output, the labels and the loss before any work."""
    with torch.no_grad(), per_sample_mode(job.model, dropout=job.options.dropout):
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
def _scoring_context(job: ScoringJob) -> Iterator[None]:
    """Forks the global RNG (restored on exit) and, on CUDA, turns TF32 off unless options.allow_tf32."""
    device = job.device
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _tf32_off(device.type == "cuda" and not job.options.allow_tf32):
        yield


@contextlib.contextmanager
def _tf32_off(active: bool) -> Iterator[None]:
    if not active:
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
