"""The gradsign_fast custom ops are well-formed torch ops: opcheck passes and torch.compile(fullgraph=True)
traces them (fake implementations from gradsign_fast/ops/library.py) and gives the eager integers.
"""

from __future__ import annotations

import pytest
import torch

from gradsign_fast.ops import registry
from test_ops_cases import reference, special_matrix


@pytest.fixture(scope="module")
def ops():
    if registry.load("cpp") is None:  # loading registers the fake implementations too
        pytest.skip(f"cpp extension not available: {registry.reasons().get('cpp')}")
    return torch.ops.gradsign_fast


def _accumulators(m: int):
    return torch.zeros(m, dtype=torch.int64), torch.zeros(m, dtype=torch.bool)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16))
def test_opcheck(ops, dtype):
    g = special_matrix(13, 100, dtype)
    torch.library.opcheck(ops.sign_reduce.default, (g,))
    torch.library.opcheck(ops.sign_count_.default, (g, *_accumulators(100)))
    torch.library.opcheck(ops.sign_count_.default, (g.t().contiguous().t(), *_accumulators(100)))


def score_of(g: torch.Tensor) -> torch.Tensor:
    return torch.ops.gradsign_fast.sign_reduce(g * 2.0)  # composes with ordinary ops


def masked_total(g: torch.Tensor, counts: torch.Tensor, nan: torch.Tensor) -> torch.Tensor:
    torch.ops.gradsign_fast.sign_count_(g, counts, nan)  # mutates its two accumulators
    return counts.abs().masked_fill(nan, 0).sum()


@pytest.mark.parametrize("compiler", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compile_fullgraph(ops, compiler):
    torch._dynamo.reset()
    g = special_matrix(13, 100, torch.float32)
    expected = reference(g)
    score = torch.compile(score_of, fullgraph=True, backend=compiler)(g)
    assert score.dtype == torch.int64 and score.dim() == 0 and int(score) == expected[2]
    counts, nan = _accumulators(100)
    total = torch.compile(masked_total, fullgraph=True, backend=compiler)(g, counts, nan)
    assert int(total) == expected[2]
    assert torch.equal(counts, expected[0]) and torch.equal(nan, expected[1])


def test_fake_tensor_shapes(ops):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        g = torch.empty(5, 7)
        out = ops.sign_reduce(g)
        assert out.shape == () and out.dtype == torch.int64
