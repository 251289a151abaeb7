"""Engines: per-sample gradients of a ScoringJob -> SignSums (integer column sign sums + NaN marks).

    loop       the authors' per-sample loop; any model; slow
    functorch  vmap(grad), chunked; any model vmap can trace; always exact
    batched    one batched pass, per-layer sign rules (the fast engine)
Which one runs is decided in gradsign_fast/dispatch.py.
"""

from __future__ import annotations

import importlib

from ..semantics import ScoringJob
from ..sums import SignSums

from ..errors import CannotScoreExactly  # noqa: F401  (engines raise it; re-exported for them)


ENGINE_MODULES = {"loop": "loop", "functorch": "functorch", "batched": "batched"}


def run_engine(name: str, job: ScoringJob) -> SignSums:
    module = importlib.import_module(f"{__name__}.{ENGINE_MODULES[name]}")
    return module.column_sign_sums(job)


def batched_engine_applies(job: ScoringJob) -> bool:
    """Whether the fast batched engine can give the exact answer for `job`; if not, why goes to job.notes."""
    try:
        module = importlib.import_module(f"{__name__}.batched")
    except ImportError:
        return False
    ok, why = module.applies(job)
    if not ok:
        job.notes.append(f"batched engine does not apply to {type(job.model).__name__}: {why}")
    return bool(ok)
