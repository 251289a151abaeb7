"""The one place that chooses which engine and which sign-reduction backend run.

Backends ('auto' order): on CPU 'cpp' then 'torch'; on CUDA 'cuda', 'triton', then 'torch'.
Engines ('auto'): the fast batched engine where it applies, else 'functorch' (always correct).
An explicitly requested backend or engine must run here or raise; 'auto' falls back quietly.
GRADSIGN_BACKEND / GRADSIGN_ENGINE, when set, replace 'auto'.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

import torch

from .errors import CannotScoreExactly
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
                f"available here: {[b for b in registry.runnable() if registry.load(b).supports(device)]}; "
                "use backend='auto' to pick one automatically"
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


def compute_sign_sums(engine: str, job: Any, restore: Callable[[], None] | None = None) -> Any:
    """Runs the chosen engine on `job`. With 'auto' it falls back batched -> functorch -> loop where an
    engine cannot score the model exactly (CannotScoreExactly, torch.func's refusals included), calling
    `restore` (the caller's model as it was) between attempts; the reasons go to the result's `notes`.
    Any other exception (an error of the user's own forward or loss, out of memory) is raised as
    raised: no other engine runs the user's code again for it."""
    from .engines import run_engine

    explicit = _from_env(engine, "GRADSIGN_ENGINE") != "auto"
    name = choose_engine(engine, job)
    chain = [name] if explicit else ["batched", "functorch", "loop"][["batched", "functorch", "loop"].index(name):]
    for position, candidate in enumerate(chain):
        try:
            sums = run_engine(candidate, job)
        except CannotScoreExactly as exc:
            if position == len(chain) - 1:
                raise
            reason = f"{candidate} engine cannot score {type(job.model).__name__} exactly: {exc}; using {chain[position + 1]}"
            log.info(reason)
            job.notes.append(reason)
            if restore is not None:
                restore()
            continue
        sums.engine, sums.notes = candidate, list(job.notes)
        return sums
    raise AssertionError("unreachable")
