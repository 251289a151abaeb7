"""Engines: per-sample gradients of a ScoringJob -> SignSums (integer column sign sums + NaN marks).

    batched    one batched pass, per-layer sign rules (the fast engine); applies(job) says where it can
    functorch  vmap(grad), chunked; any model vmap can trace; always exact
    loop       the authors' per-sample loop; any model; slow
Each is a module with column_sign_sums(job, backend) -> SignSums; which one runs, with which backend
object, is decided once per job in gradsign_fast/dispatch.py.
"""

from __future__ import annotations

from . import batched, functorch, loop

ENGINES = {"batched": batched, "functorch": functorch, "loop": loop}
FALLBACK_ORDER = ("batched", "functorch", "loop")

__all__ = ["ENGINES", "FALLBACK_ORDER", "batched", "functorch", "loop"]
