"""Every sign-reduction backend gives the reference's integers, bit for bit, on adversarial inputs.

Backends: torch, cpp in each instruction set this CPU has, Triton's interpreter (small shapes),
and cuda / triton on a GPU when there is one. Compared: counts (m,) int64, nan (m,) bool, score.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_ops_cases import (
    DTYPES,
    LAYOUTS,
    SHAPES,
    TINY,
    backend_params,
    reducer,
    reference,
    run,
    special_matrix,
    too_big,
    with_layout,
)


def assert_same(got, expected):
    counts, nan, score = got
    ref_counts, ref_nan, ref_score = expected
    assert torch.equal(nan, ref_nan.cpu())
    assert torch.equal(counts, ref_counts.cpu())
    assert score == ref_score


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", backend_params())
def test_special_values_every_shape(name, dtype, layout, monkeypatch):
    backend, device = reducer(name, monkeypatch)
    for n, m in SHAPES:
        g = with_layout(special_matrix(n, m, dtype, seed=n + 7 * m), layout)
        if too_big(name, g):
            continue
        assert_same(run(backend, g.to(device)), reference(g))


@pytest.mark.parametrize("name", backend_params())
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)], ids=str)
def test_empty_matrices(name, shape, monkeypatch):
    backend, device = reducer(name, monkeypatch)
    g = torch.zeros(shape, device=device)
    counts, nan, score = run(backend, g)
    assert score == 0 and not nan.any() and not counts.any()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", backend_params())
def test_counts_past_int16(name, dtype, monkeypatch):
    """n = 40000 > 2^15 rows of one sign: counts +-40000 would wrap an int16 accumulator."""
    backend, device = reducer(name, monkeypatch)
    n = 40_000
    g = torch.empty(n, 4, dtype=dtype)
    g[:, 0] = TINY[dtype]  # subnormal: still +1
    g[:, 1] = float("-inf")
    g[:, 2] = torch.tensor([1.0, -1.0]).repeat(n // 2)
    g[:, 3] = -TINY[dtype]
    for view in (g, g.t().contiguous().t()):
        if name == "triton-interpret" and view.stride(0) != 1:
            continue  # one layout is enough at interpreter speed
        counts, nan, score = run(backend, view.to(device))
        assert counts.tolist() == [n, -n, 0, -n] and not nan.any() and score == 3 * n


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", backend_params())
def test_subnormals_with_flush_denormal(name, dtype, monkeypatch):
    """FTZ/DAZ set through torch.set_flush_denormal must not change a result (the kernels test bits)."""
    if name == "torch":
        pytest.skip("the torch reference compares floats, so DAZ changes it by design")
    backend, device = reducer(name, monkeypatch)
    g = torch.full((33, 70), TINY[dtype], dtype=dtype)
    g[::3] = -TINY[dtype]
    expected = reference(g)
    assert expected[2] == 70 * (22 - 11)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        got = run(backend, g.to(device))
    finally:
        torch.set_flush_denormal(False)
    assert_same(got, expected)


@pytest.mark.parametrize("name", backend_params(("cpp-scalar", "cpp-avx2", "cpp-avx512", "triton-interpret")))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(0, 70),
    m=st.integers(0, 300),
    dtype=st.sampled_from(DTYPES),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**16),
)
def test_random_cases(name, n, m, dtype, layout, seed, monkeypatch):
    backend, device = reducer(name, monkeypatch)
    g = with_layout(special_matrix(n, m, dtype, seed=seed), layout)
    assert_same(run(backend, g.to(device)), reference(g))


@pytest.mark.parametrize("name", ["torch", "cpp", "triton", "cuda"])
def test_public_sign_reduce_returns_int(name):
    from gradsign_fast import ops

    g = special_matrix(9, 31, torch.float32)
    if name not in ops.backends() or not ops.registry.get(name).supports("cpu"):
        pytest.skip(f"{name} does not reduce CPU tensors here")
    score = ops.sign_reduce(g, backend=name)
    assert type(score) is int and score == reference(g)[2]
