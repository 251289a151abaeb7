"""Engines x backends x models: what GradSign costs per model, for every combination that runs here.

    pytest benchmarks/bench_matrix.py --benchmark-json=/tmp/matrix.json     (a few minutes on 2 cores)
    python benchmarks/ratio_table.py /tmp/matrix.json                       (the markdown table)

engine in (functorch, batched, loop) x backend in gradsign_fast.backends() (those that reduce on the
device) x models: a NAS-Bench-201 zero-cost cell network and a small transformer, at batch
GRADSIGN_BENCH_BATCH (default 8). A correctness pass first checks every combination against the
loop engine (float32: relative 1e-3); combinations that cannot run are skipped with the reason.
GRADSIGN_BENCH_DEVICE picks the device (default: cuda if available, else cpu). For reported numbers
pin threads (OMP_NUM_THREADS=1 or GRADSIGN_BENCH_THREADS) on a shared machine.
"""

from __future__ import annotations

import functools
import os

import pytest
import torch
from torch import nn

import gradsign_fast
from gradsign_fast.nas import build_nb201

BATCH = int(os.environ.get("GRADSIGN_BENCH_BATCH", "8"))
DEVICE = os.environ.get("GRADSIGN_BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
ENGINES = ("functorch", "batched", "loop")
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


class Block(nn.Module):
    """Pre-norm attention (Linear q/k/v/out projections) + MLP on x: (n, T, d)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1) @ v
        x = x + self.out(att.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.norm2(x))


class SmallTransformer(nn.Module):
    """x: (n, T, features) -> logits (n, classes)."""

    def __init__(self, features: int = 16, d: int = 64, heads: int = 4, depth: int = 2, classes: int = 10):
        super().__init__()
        self.embed = nn.Linear(features, d)
        self.blocks = nn.Sequential(*(Block(d, heads) for _ in range(depth)))
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.embed(x)).mean(1))


def _nb201():
    return build_nb201(NB201_ARCH, variant="zero_cost", C=16, N=5), torch.randn(BATCH, 3, 32, 32)


def _transformer():
    return SmallTransformer(), torch.randn(BATCH, 32, 16)


MODELS = {"nb201_zero_cost": _nb201, "transformer": _transformer}


@functools.lru_cache(maxsize=None)
def workload(name: str):
    """(model in train mode, x, y) on DEVICE, seeded."""
    torch.manual_seed(0)
    model, x = MODELS[name]()
    y = torch.randint(0, 10, (BATCH,))
    return model.to(DEVICE).train(), x.to(DEVICE), y.to(DEVICE)


@functools.lru_cache(maxsize=None)
def reference(name: str) -> float:
    model, x, y = workload(name)
    return gradsign_fast.score(model, x, y, engine="loop", backend="torch")


def backends_here() -> list[str]:
    from gradsign_fast.ops import registry

    return [b for b in gradsign_fast.backends() if registry.load(b).supports(torch.device(DEVICE))]


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("backend", backends_here())
@pytest.mark.parametrize("engine", ENGINES)
def test_matrix(benchmark, engine, backend, model_name):
    threads = os.environ.get("GRADSIGN_BENCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    model, x, y = workload(model_name)

    def run() -> float:
        return gradsign_fast.score(model, x, y, engine=engine, backend=backend)

    try:
        value = run()  # the correctness pass, and the warm-up
    except (ValueError, NotImplementedError, RuntimeError) as exc:
        pytest.skip(f"{engine} x {backend} does not run {model_name} here: {exc}")
    expected = reference(model_name)
    assert abs(value - expected) <= 1e-3 * abs(expected), (engine, backend, model_name, value, expected)
    benchmark.extra_info.update({"device": DEVICE, "layout": model_name, "name": f"{engine} / {backend}",
                                 "shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch."),
                                 "threads": torch.get_num_threads(), "score": value})
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
