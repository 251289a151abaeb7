"""Fixtures of benchmarks/bench_sign_reduce.py: the (n, m) matrix per device, built once per session.

GRADSIGN_BENCH_SHAPE="64x4194304" (the default) sets (n, m); GRADSIGN_BENCH_DTYPE="float32" the dtype.
Benchmarks run only when named: `pytest benchmarks/bench_sign_reduce.py --benchmark-json=out.json`
(the default `pytest` collects tests/ only, see [tool.pytest.ini_options] in pyproject.toml).
"""

from __future__ import annotations

import os

import pytest
import torch


def bench_shape() -> tuple[int, int]:
    n, m = os.environ.get("GRADSIGN_BENCH_SHAPE", "64x4194304").lower().split("x")
    return int(n), int(m)


@pytest.fixture(scope="session")
def matrices():
    """device -> (g: (n, m) row-major, the reference score); built lazily per device."""
    cache: dict[str, tuple[torch.Tensor, int]] = {}

    def get(device: str) -> tuple[torch.Tensor, int]:
        if device not in cache:
            from gradsign_fast.ops import torch_ref

            dtype = getattr(torch, os.environ.get("GRADSIGN_BENCH_DTYPE", "float32"))
            g = torch.randn(*bench_shape(), generator=torch.Generator().manual_seed(0)).to(dtype)
            g[::7, ::5] = 0.0  # some exact zeros
            g = g.to(device)
            cache.clear()  # one device's matrix at a time keeps memory at one copy
            cache[device] = (g, torch_ref.sign_reduce(g))
        return cache[device]

    return get
