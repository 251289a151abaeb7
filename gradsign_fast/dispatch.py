"""The one place that chooses which engine and which sign-reduction backend run.

Backends ('auto' order): on CPU 'cpp' then 'torch'; on CUDA 'cuda', 'triton', then 'torch'.
Engines ('auto'): the fast batched engine where it applies, else 'functorch' (always correct).
An explicitly requested backend or engine must run here or raise; 'auto' falls back quietly.
GRADSIGN_BACKEND / GRADSIGN_ENGINE, when set, replace 'auto'.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from .ops import registry

ENGINES = ("auto", "batched", "functorch", "loop")
log = logging.getLogger("gradsign_fast")
_AUTO_BACKENDS = {"cpu": ("cpp", "torch"), "cuda": ("cuda", "triton", "torch")}


def _from_env(value: str, var: str) -> str:
    if value == "auto":
        return os.environ.get(var, "").strip() or "auto"
    return value


def choose_backend(name: str, device: torch.device | str) -> Any:
    """The backend object that reduces tensors on `device`; `name` is 'auto' or a registered name."""
    device = torch.device(device)
    name = _from_env(name, "GRADSIGN_BACKEND")
    if name != "auto":
        backend = registry.get(name)
        if not backend.supports(device):
            raise ValueError(
                f"backend {name!r} cannot reduce tensors on {device}; "
                f"use backend='auto' or one of {[b for b in registry.available() if registry.load(b).supports(device)]}"
            )
        return backend
    for candidate in _AUTO_BACKENDS.get(device.type, ("torch",)):
        backend = registry.load(candidate)
        if backend is not None and backend.supports(device):
            return backend
    return registry.get("torch")


def choose_engine(name: str, job: Any) -> str:
    """The engine name to run `job` (a gradsign_fast.semantics.ScoringJob) with."""
    if not isinstance(name, str) or name not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {name!r}")
    name = _from_env(name, "GRADSIGN_ENGINE")
    if name not in ENGINES:
        raise ValueError(f"GRADSIGN_ENGINE must be one of {ENGINES}, got {name!r}")
    if name != "auto":
        return name
    from .engines import batched_engine_applies

    return "batched" if batched_engine_applies(job) else "functorch"


def compute_sign_sums(engine: str, job: Any) -> Any:
    """Runs the chosen engine on `job`; with 'auto', falls back batched -> functorch -> loop where an
    engine cannot trace the model or cannot guarantee the exact answer, logging why."""
    from .engines import EngineFallback, run_engine

    explicit = _from_env(engine, "GRADSIGN_ENGINE") != "auto"
    name = choose_engine(engine, job)
    if explicit:
        return run_engine(name, job)
    chain = ["batched", "functorch", "loop"][["batched", "functorch", "loop"].index(name) :]
    for position, candidate in enumerate(chain):
        try:
            return run_engine(candidate, job)
        except (EngineFallback, RuntimeError, NotImplementedError) as exc:
            if position == len(chain) - 1 or _is_user_error(exc):
                raise
            reason = f"{candidate} engine cannot score {type(job.model).__name__} exactly ({type(exc).__name__}: {exc}); using {chain[position + 1]}"
            log.info(reason)
            job.notes.append(reason)
    raise AssertionError("unreachable")


def _is_user_error(exc: BaseException) -> bool:
    """Errors that would recur in every engine (out of memory, a bad loss) are raised, not retried."""
    return isinstance(exc, torch.OutOfMemoryError) if hasattr(torch, "OutOfMemoryError") else False
