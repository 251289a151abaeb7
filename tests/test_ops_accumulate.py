"""Chunked accumulation equals one shot: counts add over row chunks, NaN marks OR, abs only at the end."""

from __future__ import annotations

import math

import pytest
import torch

from gradsign_fast.ops import ColumnSignCounts, registry
from test_ops_cases import DTYPES, backend_params, reducer, reference, special_matrix, too_big, with_layout


def chunks(n: int, seed: int) -> list[tuple[int, int]]:
    """Random row ranges covering [0, n), some of them empty."""
    gen = torch.Generator().manual_seed(seed)
    cuts = sorted(torch.randint(0, n + 1, (5,), generator=gen).tolist())
    bounds = [0, *cuts, n]
    return list(zip(bounds[:-1], bounds[1:]))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", backend_params())
def test_backend_chunks_equal_one_shot(name, dtype, monkeypatch):
    backend, device = reducer(name, monkeypatch)
    for layout in ("contiguous", "transposed", "strided"):
        g = with_layout(special_matrix(90, 130, dtype, seed=3), layout)
        if too_big(name, g):
            continue
        counts = torch.zeros(130, dtype=torch.int64, device=device)
        nan = torch.zeros(130, dtype=torch.bool, device=device)
        for start, stop in chunks(90, seed=len(layout)):
            backend.accumulate_(g[start:stop].to(device), counts, nan)
        ref_counts, ref_nan, ref_score = reference(g)
        assert torch.equal(counts.cpu(), ref_counts) and torch.equal(nan.cpu(), ref_nan)
        assert backend.sign_reduce(g.to(device)) == ref_score


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_sign_accumulator(backend):
    if backend not in registry.available():
        pytest.skip(f"{backend} not available: {registry.reasons().get(backend)}")
    g = special_matrix(77, 301, torch.float32, seed=5)
    acc = ColumnSignCounts(301, backend=backend)
    for start, stop in chunks(77, seed=11):
        acc.add(g[start:stop])
    _, nan, score = reference(g)
    assert acc.result() == score
    assert math.isclose(acc.result("mean"), score / int((~nan).sum()))
