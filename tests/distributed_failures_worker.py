"""Run by tests/test_distributed.py under torchrun: data-parallel scoring that must fail loudly.

    python distributed_failures_worker.py SCENARIO OUT_DIR

Every rank runs the SCENARIO's cases in order and writes OUT_DIR/rank<r>.json:
{case: {"value": float} or {"error": exception type name, "message": str, "seconds": float}}.
Scenarios: "values" (ranks holding different weights/buffers/scored names), "batch_of_one",
"loss_raises" (the loss raises on rank 1 only, then a normal score must still work).
"""

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

import gradsign_fast
import gradsign_fast.distributed as gd
from gradsign_fast.cli.distributed import exit_now


def tiny_mlp(seed: int) -> nn.Module:
    """Linear(4, 3) -> ReLU -> Linear(3, 2), float64, initialized from `seed`."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same (n, 4) float64 inputs and (n,) labels in [0, 2) on every rank."""
    g = torch.Generator().manual_seed(123)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, 2, (n,), generator=g)


def score_sharded(model: nn.Module, n: int = 6, **kwargs) -> float:
    x, y = batch(n)
    return gd.score(model, gd.shard(x), gd.shard(y), **kwargs)


def seeded_by_rank() -> float:
    return score_sharded(tiny_mlp(seed=dist.get_rank()))


def all_reduce_seeded_by_rank() -> float:
    model = tiny_mlp(seed=dist.get_rank())
    x, y = batch(6)
    local = gradsign_fast.sign_sums(model, gd.shard(x), gd.shard(y))
    return gd.all_reduce_sign_sums(local, model=model).score()


def buffer_differs() -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)).double().eval()
    if dist.get_rank() == 1:
        model[1].running_mean[0] += 1.0
    return score_sharded(model)


def swapped_entries() -> float:
    """Two weights swapped on rank 1: the same sum, the same layout, different values."""
    model = tiny_mlp(seed=0)
    if dist.get_rank() == 1:
        with torch.no_grad():
            w = model[2].weight
            w[0, 0], w[0, 1] = w[0, 1].clone(), w[0, 0].clone()
    gd.check_same_model(model)
    return 0.0


def different_scored_names() -> float:
    """Same model, but each rank scores another (2, 2) weight: same totals, different names."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)).double()
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    wanted = f"{dist.get_rank()}.weight"
    return gd.score(model, gd.shard(x), gd.shard(y), params=lambda name, module, p: name == wanted)


def different_architectures() -> float:
    """Rank 1's last layer has 3 outputs instead of 2."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2 + dist.get_rank())).double()
    return score_sharded(model)


def identical() -> float:
    return score_sharded(tiny_mlp(seed=0))


def batch_of_one() -> float:
    return score_sharded(tiny_mlp(seed=0), n=1)


def raising_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if dist.get_rank() == 1:
        raise ValueError("boom: this loss refuses rank 1")
    return F.cross_entropy(output, target)


def loss_raises_on_rank_1() -> float:
    return score_sharded(tiny_mlp(seed=0), loss_fn=raising_loss)


SCENARIOS = {
    "values": [identical, seeded_by_rank, all_reduce_seeded_by_rank, buffer_differs, swapped_entries,
               different_scored_names, different_architectures, identical],
    "batch_of_one": [batch_of_one, identical],
    "loss_raises": [loss_raises_on_rank_1, identical],
}


def run_case(case) -> dict:
    start = time.monotonic()
    try:
        return {"value": case()}
    except Exception as exc:  # recorded for the test to check, on every rank
        return {"error": type(exc).__name__, "message": str(exc), "seconds": time.monotonic() - start}


if __name__ == "__main__":
    scenario, out_dir = sys.argv[1], Path(sys.argv[2])
    dist.init_process_group("gloo", timeout=timedelta(seconds=30))
    results = {}
    for i, case in enumerate(SCENARIOS[scenario]):
        results[f"{i}_{case.__name__}"] = run_case(case)
    (out_dir / f"rank{dist.get_rank()}.json").write_text(json.dumps(results, indent=1))
    dist.barrier()  # every rank done before any tears the group down (gloo aborts a peer otherwise)
    dist.destroy_process_group()
    exit_now(0)  # no interpreter teardown (see gradsign_fast.cli.distributed.exit_now)
