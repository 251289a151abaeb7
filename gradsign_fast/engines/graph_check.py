"""Structural safety net: every use of a scored Parameter in the loss graph is a captured module call.

The gradient of a Parameter p is the sum over the autograd edges that enter p's AccumulateGrad node.
If each such edge lies inside a captured call of a Conv2d / Linear (between the call's output node and
its input x), then dL/dp = sum over those calls of D U^T, per sample as in the batch, and the
per-layer rules are exact. An edge outside every captured call (nn.MultiheadAttention's
F.linear(x, out_proj.weight), a weight reused by a Conv1d, a custom functional use) means the captures
do not explain p's gradient: the engine raises CannotScoreExactly. So does a custom autograd.Function
anywhere in the graph (its backward, e.g. a straight-through estimator or a backward hook, is code no
forward check sees). One walk over the graph, no arithmetic.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import torch
from torch.autograd.function import BackwardCFunction
from torch.autograd.graph import Node

from ..errors import CannotScoreExactly
from .capture import Call

_LOCAL_LIMIT = 16  # nodes one Conv2d / Linear call creates: pad / view / t / addmm / conv (a handful)


def _accumulated(node: Node) -> torch.Tensor | None:
    """The leaf tensor of an AccumulateGrad node, else None."""
    return getattr(node, "variable", None) if type(node).__name__ == "AccumulateGrad" else None


def _edge_counts(start: Node, stop: Node | None, targets: set[int], limit: int | None) -> tuple[Counter, dict[int, Node]]:
    """Edges into AccumulateGrad(p), p in `targets`, below `start` (not below `stop`); the visited nodes
    by id (the dict keeps the Python node objects, and so their ids, alive)."""
    counts: Counter = Counter()
    seen = {id(start): start}
    stack = [start]
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            leaf = _accumulated(nxt)
            if leaf is not None:
                if id(leaf) in targets:
                    counts[id(leaf)] += 1
                continue
            if nxt is stop or id(nxt) in seen:
                continue
            seen[id(nxt)] = nxt
            stack.append(nxt)
            if limit is not None and len(seen) > limit:
                raise CannotScoreExactly("a captured Conv2d / Linear call created an unexpectedly deep autograd graph")
    return counts, seen


def check_captured_uses(loss: torch.Tensor, calls: Iterable[Call], params: dict[str, torch.Tensor]) -> list[Call]:
    """Raises CannotScoreExactly unless every graph edge from `loss` into a Parameter of `params` (name ->
    Parameter) lies inside one of `calls`; returns the calls whose output reaches the loss."""
    if loss.grad_fn is None:
        return []
    targets = {id(p) for p in params.values()}
    total, reachable = _edge_counts(loss.grad_fn, None, targets, None)
    custom = next((n for n in reachable.values() if isinstance(n, BackwardCFunction)), None)
    if custom is not None:
        raise CannotScoreExactly(f"the loss graph holds a custom autograd.Function ({type(custom).__name__}): its "
                                 "backward is arbitrary code that may mix the samples' gradients")
    captured: Counter = Counter()
    live = []
    for call in calls:
        if call.edge is None or id(call.edge.node) not in reachable:
            continue
        local, _ = _edge_counts(call.edge.node, call.x_node, targets, _LOCAL_LIMIT)
        captured.update(local)
        live.append(call)
    for name, p in params.items():
        if total[id(p)] != captured[id(p)]:
            raise CannotScoreExactly(
                f"{name} is used outside the forward of its nn.Conv2d / nn.Linear module "
                f"({total[id(p)] - captured[id(p)]} uncaptured use(s), e.g. F.linear(x, module.weight) as in "
                "nn.MultiheadAttention); the captured calls do not explain its gradient"
            )
    return live
