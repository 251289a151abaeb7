"""The one place that decides, once per job, which engines run and with which sign-reduction backend.

    plan(job)            -> Plan: the engine chain and the backend object, from job.options
    run(plan, job, ...)  -> SignSums: the chain in order, falling back where an engine cannot be exact

Engines ('auto'): the fast batched engine where batched.applies(job), else 'functorch'; each falls back
to the next (batched -> functorch -> loop) on CannotScoreExactly. An explicitly named engine runs alone
and raises. Backends: ops.registry.resolve (the options' name, or 'auto': on CPU 'cpp' then 'torch';
on CUDA 'triton', 'cuda', then 'torch'). GRADSIGN_ENGINE / GRADSIGN_BACKEND were read into job.options.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from .engines import ENGINES, FALLBACK_ORDER, batched
from .errors import CannotScoreExactly
from .ops import registry
from .semantics import ScoringJob
from .sums import SignSums

log = logging.getLogger("gradsign_fast")


@dataclass(frozen=True)
class Plan:
    """chain: engine names to try in order; backend: the backend object every engine reduces with."""

    chain: tuple[str, ...]
    backend: Any


def plan(job: ScoringJob) -> Plan:
    """The engines and the backend for `job`, decided from job.options (the applies() check runs here,
    once; why the batched engine does not apply goes to job.notes)."""
    backend = registry.resolve(job.options.backend, job.device)
    name = job.options.engine
    if name != "auto":
        return Plan((name,), backend)
    ok, why = batched.applies(job)
    if ok:
        return Plan(FALLBACK_ORDER, backend)
    job.notes.append(f"batched engine does not apply to {type(job.model).__name__}: {why}")
    return Plan(FALLBACK_ORDER[1:], backend)


def run(plan: Plan, job: ScoringJob, restore: Callable[[], None] | None = None) -> SignSums:
    """Runs the plan's engines in order until one scores `job` exactly. Between attempts `restore` puts
    the caller's model back as it was; why an engine could not goes to the result's `notes`. Any other
    exception (an error of the user's own forward or loss, out of memory) is raised as raised: no other
    engine runs the user's code again for it."""
    for position, name in enumerate(plan.chain):
        if name == "batched" and len(plan.chain) == 1:
            ok, why = batched.applies(job)
            if not ok:
                raise CannotScoreExactly(why)
        try:
            sums = ENGINES[name].column_sign_sums(job, plan.backend)
        except CannotScoreExactly as exc:
            if position == len(plan.chain) - 1:
                raise
            reason = f"{name} engine cannot score {type(job.model).__name__} exactly: {exc}; using {plan.chain[position + 1]}"
            log.info(reason)
            job.notes.append(reason)
            if restore is not None:
                restore()
            continue
        sums.engine, sums.notes = name, list(job.notes)
        return sums
    raise AssertionError("unreachable: a plan has at least one engine")
