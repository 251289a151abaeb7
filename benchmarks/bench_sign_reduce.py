"""Sign-reduction speed: each backend on its own device vs torch's expression and the memory-read floor.

    expr   g.sign().sum(0).abs().sum()      what one would write in torch
    floor  g.sum()                          reads g once: the memory-bound floor
    ours   cpp (each ISA, row- and column-major), torch_ref; cuda and triton on a GPU
GB/s = bytes of g / median time, recorded in benchmark.extra_info (see benchmarks/ratio_table.py).
Run: pytest benchmarks/bench_sign_reduce.py --benchmark-json=/tmp/b.json && python benchmarks/ratio_table.py /tmp/b.json
"""

from __future__ import annotations

import pytest
import torch

from gradsign_fast.ops import registry, torch_ref

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def _run(benchmark, matrices, device: str, name: str, fn, *, layout: str = "row-major", check: bool = True,
         rounds: int = 10):
    g, expected = matrices(device)
    if layout == "column-major":
        g = g.t().contiguous().t()
    sync = _sync(device)
    if check:  # correctness before timing
        assert int(fn(g)) == expected, name

    def call():
        out = fn(g)
        sync()
        return out

    benchmark.extra_info.update(name=name, device=device, layout=layout, shape=list(g.shape),
                                dtype=str(g.dtype).replace("torch.", ""), bytes=g.numel() * g.element_size())
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=1, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["gbps"] = g.numel() * g.element_size() / median / 1e9


def _expr(g):
    return g.sign().sum(0).abs().sum()


def _floor(g):
    return g.sum()


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
def test_cpu_expr(benchmark, matrices, layout):
    _run(benchmark, matrices, "cpu", "expr", _expr, layout=layout, rounds=3)


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
def test_cpu_floor(benchmark, matrices, layout):
    _run(benchmark, matrices, "cpu", "floor", _floor, layout=layout, check=False)


def test_cpu_torch_backend(benchmark, matrices):
    _run(benchmark, matrices, "cpu", "torch", torch_ref.sign_reduce, rounds=3)


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
@pytest.mark.parametrize("isa", ["auto", "avx512", "avx2", "scalar"])
def test_cpu_cpp(benchmark, matrices, isa, layout, monkeypatch):
    cpp = registry.load("cpp")
    if cpp is None:
        pytest.skip(f"cpp extension not available: {registry.reasons().get('cpp')}")
    if isa != "auto" and isa not in cpp.supported_isas():
        pytest.skip(f"this CPU lacks {isa}")
    if isa == "auto":
        monkeypatch.delenv("GRADSIGN_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("GRADSIGN_CPU_ISA", isa)
    name = f"cpp-{cpp.active_isa()}" + (" (auto)" if isa == "auto" else "")
    _run(benchmark, matrices, "cpu", name, cpp.sign_reduce, layout=layout, rounds=10 if isa != "scalar" else 3)


@GPU
@pytest.mark.parametrize("name", ["expr", "floor", "cuda", "triton"])
def test_gpu(benchmark, matrices, name):
    if name in ("expr", "floor"):
        fn = _expr if name == "expr" else _floor
    else:
        backend = registry.load(name)
        if backend is None:
            pytest.skip(f"{name} backend not available: {registry.reasons().get(name)}")
        fn = backend.sign_reduce
    _run(benchmark, matrices, "cuda", name, fn, check=name != "floor", rounds=20)
