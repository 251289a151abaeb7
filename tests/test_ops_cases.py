"""Adversarial sign-reduction inputs shared by the tests/test_ops_*.py files, and the oracle they use.

The oracle is the 'torch' backend (gradsign_fast/ops/torch_ref.py); the tests in this file check it
against numpy's definition, np.nansum(|sum_i np.sign(G)|), on every case here.
Other test files import this module (`from test_ops_cases import ...`): pytest puts tests/ on sys.path.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from gradsign_fast.ops import registry, torch_ref

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# the smallest positive subnormal of each dtype (2^-24, 2^-133, 2^-149, 2^-1074)
TINY = {torch.float16: 2.0**-24, torch.bfloat16: 2.0**-133, torch.float32: 2.0**-149, torch.float64: 2.0**-1074}
SHAPES = ((1, 1), (1, 37), (29, 1), (3, 17), (64, 200), (33, 1031), (7, 4099), (130, 65))
LAYOUTS = ("contiguous", "transposed", "row_strided", "strided", "expanded")


# Every way of reducing that can run somewhere: name -> device. 'cpp-<isa>' forces GRADSIGN_CPU_ISA;
# 'triton-interpret' runs the Triton kernel in Triton's interpreter on CPU tensors (small shapes only);
# TRITON_INTERPRET=1 must be set before triton is imported, so it runs in a subprocess of its own
# (tests/test_ops_triton_interpret.py) and is skipped in a process started without it.
BACKENDS = ("torch", "cpp-scalar", "cpp-avx2", "cpp-avx512", "triton-interpret", "cuda", "triton-cuda")
SLOW = {"triton-interpret": 20_000}  # elements per call above which a test skips that backend
GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def backend_params(names=BACKENDS):
    """pytest params for `names`; the GPU ones carry the skip-without-GPU mark."""
    return [pytest.param(n, id=n, marks=[GPU] if n in ("cuda", "triton-cuda") else []) for n in names]


def reducer(name: str, monkeypatch: pytest.MonkeyPatch):
    """(backend object, device) for a BACKENDS name; skips the test when it cannot run here."""
    if name == "torch":
        return torch_ref, torch.device("cpu")
    if name.startswith("cpp-"):
        cpp = registry.load("cpp")
        if cpp is None:
            pytest.skip(f"cpp extension not available: {registry.reasons().get('cpp')}")
        isa = name[len("cpp-"):]
        if isa not in cpp.supported_isas():
            pytest.skip(f"this CPU lacks {isa}")
        monkeypatch.setenv("GRADSIGN_CPU_ISA", isa)
        return cpp, torch.device("cpu")
    if name == "triton-interpret":
        if os.environ.get("TRITON_INTERPRET") != "1":  # must be set before triton is imported
            pytest.skip("runs in the TRITON_INTERPRET=1 subprocess of tests/test_ops_triton_interpret.py")
        pytest.importorskip("triton")
        from gradsign_fast.ops import triton_sign_reduce

        try:
            return triton_sign_reduce.load(), torch.device("cpu")
        except ImportError as exc:  # triton was imported before TRITON_INTERPRET was set
            pytest.skip(str(exc))
    backend = registry.load("cuda" if name == "cuda" else "triton")
    if backend is None:
        pytest.skip(f"{name} backend not available: {registry.reasons()}")
    return backend, torch.device("cuda")


def too_big(name: str, g: torch.Tensor) -> bool:
    return g.numel() > SLOW.get(name, float("inf"))


def run(backend, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(counts, nan, score) of `backend` on g, accumulated into fresh zeros (results on the CPU)."""
    m = g.shape[1]
    counts = torch.zeros(m, dtype=torch.int64, device=g.device)
    nan = torch.zeros(m, dtype=torch.bool, device=g.device)
    backend.accumulate_(g, counts, nan)
    score = backend.sign_reduce(g)
    assert isinstance(score, int)
    return counts.cpu(), nan.cpu(), score


def special_matrix(n: int, m: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """(n, m) of dtype: random signs mixed with +0, -0, +-inf, subnormals, max finite, and NaN in ~1/7 columns."""
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(n, m, generator=gen, dtype=torch.float64)
    pick = torch.randint(0, 10, (n, m), generator=gen)
    tiny, big = TINY[dtype], torch.finfo(dtype).max
    specials = {0: 0.0, 1: -0.0, 2: float("inf"), 3: float("-inf"), 4: tiny, 5: -tiny, 6: big, 7: -big}
    g = g.to(dtype)
    for code, value in specials.items():
        g[pick == code] = value
    nan_cols = torch.rand(m, generator=gen) < 1 / 7
    nan_rows = torch.randint(0, max(n, 1), (m,), generator=gen)
    if n > 0:
        cols = torch.nonzero(nan_cols).flatten()
        g[nan_rows[cols], cols] = float("nan")
    return g


def with_layout(g: torch.Tensor, layout: str) -> torch.Tensor:
    """The same (n, m) values as a view with another memory layout (no value changes)."""
    n, m = g.shape
    if layout == "contiguous":
        return g.contiguous()
    if layout == "transposed":  # column-major: stride (1, n)
        return g.t().contiguous().t()
    if layout == "row_strided":  # unit column stride, row stride m + 5
        wide = torch.zeros(n, m + 5, dtype=g.dtype)
        wide[:, 2 : m + 2] = g
        return wide[:, 2 : m + 2]
    if layout == "strided":  # neither stride is 1
        big = torch.zeros(2 * n, 3 * m, dtype=g.dtype)
        big[::2, ::3] = g
        return big[::2, ::3]
    if layout == "expanded":  # stride 0 along rows: row 0 repeated (values change: every row = g[0])
        return g[:1].expand(n, m) if n > 0 else g
    raise ValueError(layout)


def reference(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(counts: (m,) int64, nan: (m,) bool, score: int) from the 'torch' backend."""
    m = g.shape[1]
    counts = torch.zeros(m, dtype=torch.int64, device=g.device)
    nan = torch.zeros(m, dtype=torch.bool, device=g.device)
    torch_ref.accumulate_(g, counts, nan)
    return counts, nan, torch_ref.sign_reduce(g)


def numpy_score(g: torch.Tensor) -> int:
    """The authors' definition: np.nansum(np.abs(np.sum(np.sign(G), 0)))."""
    a = g.detach().cpu().to(torch.float64).numpy()  # exact for every dtype: signs, NaN, subnormals kept
    with np.errstate(invalid="ignore"):
        return int(np.nansum(np.abs(np.sum(np.sign(a), 0))))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_reference_matches_numpy_definition(dtype, layout):
    for n, m in SHAPES:
        g = with_layout(special_matrix(n, m, dtype, seed=n * m), layout)
        assert reference(g)[2] == numpy_score(g), (n, m)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cases_hold_what_they_promise(dtype):
    g = special_matrix(64, 200, dtype)
    bits = g.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[g.element_size()])
    assert torch.isnan(g).any(0).sum() > 0 and not torch.isnan(g).all()
    assert (torch.isinf(g)).any() and (g == 0).any() and torch.signbit(g[g == 0]).any()
    subnormal = (g != 0) & (g.abs() < torch.finfo(dtype).tiny)
    assert subnormal.any()
    assert (bits != 0).any()
