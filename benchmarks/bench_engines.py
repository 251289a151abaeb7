"""pytest-benchmark: the per-sample loop, the plain torch.func recipe, our functorch and batched engines,
side by side per model (one benchmark group per model).

    pytest benchmarks/bench_engines.py --benchmark-only --benchmark-group-by=group
    GRADSIGN_BENCH_FULL=1 pytest benchmarks/bench_engines.py ...   # also the loop / recipe on conv_heavy

Models and methods are those of benchmarks/engine_table.py (which prints the ratio table). Before
timing, each method's score is checked against the batched engine's (float32: 1e-3 relative).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_table import METHODS, workloads  # noqa: E402

CASES = ["nb201_0", "nb201_1", "nb201_2", "transformer", "conv_heavy"]
ROUNDS = {"loop": 2, "func_recipe": 3, "functorch": 3, "batched": 5}
SLOW = {("conv_heavy", "loop"), ("conv_heavy", "func_recipe")}  # minutes and GBs: GRADSIGN_BENCH_FULL=1


@functools.lru_cache(maxsize=None)
def _workload(case: str):
    family = "nb201" if case.startswith("nb201") else case
    return workloads([family])[case]


@functools.lru_cache(maxsize=None)
def _batched_score(case: str) -> float:
    model, x, y = _workload(case)
    return METHODS["batched"](model, x, y)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("case", CASES)
def test_engine(benchmark, case, method):
    if (case, method) in SLOW and os.environ.get("GRADSIGN_BENCH_FULL") != "1":
        pytest.skip("slow and memory-hungry on this model; set GRADSIGN_BENCH_FULL=1")
    model, x, y = _workload(case)
    benchmark.group = case
    expected = _batched_score(case)
    got = benchmark.pedantic(METHODS[method], args=(model, x, y), rounds=ROUNDS[method], iterations=1, warmup_rounds=1)
    assert abs(got - expected) <= 1e-3 * max(abs(expected), 1.0)
