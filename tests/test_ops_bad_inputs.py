"""Bad input raises a clear Python error, through the backends and through the raw torch.ops, never a crash."""

from __future__ import annotations

import pytest
import torch

from gradsign_fast.ops import registry
from test_ops_cases import backend_params, reducer

def _good_counts():
    return torch.zeros(4, dtype=torch.int64)


def _good_nan():
    return torch.zeros(4, dtype=torch.bool)


BAD_MATRICES = [
    pytest.param(torch.ones(4), ValueError, "2-D", id="1-D"),
    pytest.param(torch.ones(2, 4, 1), ValueError, "2-D", id="3-D"),
    pytest.param(torch.ones(3, 4, dtype=torch.int32), TypeError, "float", id="int32"),
    pytest.param(torch.ones(3, 4, dtype=torch.complex64), TypeError, "float", id="complex"),
]
# factories: each call builds fresh tensors (a clone would make the strided one contiguous)
BAD_ACCUMULATORS = [
    pytest.param(lambda: (torch.zeros(5, dtype=torch.int64), _good_nan()), id="counts-too-long"),
    pytest.param(lambda: (torch.zeros(4, dtype=torch.int32), _good_nan()), id="counts-int32"),
    pytest.param(lambda: (torch.zeros(8, dtype=torch.int64)[::2], _good_nan()), id="counts-strided"),
    pytest.param(lambda: (torch.zeros(1, 4, dtype=torch.int64), _good_nan()), id="counts-2-D"),
    pytest.param(lambda: (_good_counts(), torch.zeros(4, dtype=torch.uint8)), id="nan-uint8"),
    pytest.param(lambda: (_good_counts(), torch.zeros(3, dtype=torch.bool)), id="nan-too-short"),
    pytest.param(lambda: (_good_counts(), torch.zeros(8, dtype=torch.bool)[::2]), id="nan-strided"),
]


@pytest.mark.parametrize("g, error, match", BAD_MATRICES)
@pytest.mark.parametrize("name", backend_params(("torch", "cpp-avx512", "cpp-scalar", "triton-interpret")))
def test_backend_rejects_bad_matrix(name, g, error, match, monkeypatch):
    backend, _ = reducer(name, monkeypatch)
    with pytest.raises(error, match=match):
        backend.sign_reduce(g)
    with pytest.raises(error, match=match):
        backend.accumulate_(g, _good_counts(), _good_nan())


@pytest.mark.parametrize("make", BAD_ACCUMULATORS)
@pytest.mark.parametrize("name", backend_params(("torch", "cpp-avx512", "triton-interpret")))
def test_backend_rejects_bad_accumulators(name, make, monkeypatch):
    backend, _ = reducer(name, monkeypatch)
    with pytest.raises(ValueError, match="counts|nan"):
        backend.accumulate_(torch.ones(3, 4), *make())


@pytest.fixture
def ops():
    if registry.load("cpp") is None:
        pytest.skip(f"cpp extension not available: {registry.reasons().get('cpp')}")
    return torch.ops.gradsign_fast


@pytest.mark.parametrize("g, error, match", BAD_MATRICES)
def test_raw_ops_reject_bad_matrix(ops, g, error, match):
    """The C++ boundary checks (TORCH_CHECK_*) hold without the Python checks in front."""
    with pytest.raises(error, match=match):
        ops.sign_reduce(g)
    with pytest.raises(error, match=match):
        ops.sign_count_(g, _good_counts(), _good_nan())


@pytest.mark.parametrize("make", BAD_ACCUMULATORS)
def test_raw_ops_reject_bad_accumulators(ops, make):
    with pytest.raises(ValueError, match="counts|nan"):
        ops.sign_count_(torch.ones(3, 4), *make())


def test_raw_ops_reject_sparse(ops):
    g = torch.ones(3, 4).to_sparse()
    with pytest.raises((NotImplementedError, RuntimeError, TypeError)):
        ops.sign_reduce(g)


def test_cpu_backend_rejects_other_devices(monkeypatch):
    backend, _ = reducer("cpp-avx512" if "avx512" in _isas() else "cpp-scalar", monkeypatch)
    g = torch.ones(3, 4, device="meta")
    with pytest.raises(ValueError, match="CPU tensors"):
        backend.sign_reduce(g)
    with pytest.raises(ValueError, match="one device|CPU tensors"):
        backend.accumulate_(g, _good_counts(), _good_nan())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_devices_raise(ops):
    g = torch.ones(3, 4, device="cuda")
    with pytest.raises((RuntimeError, ValueError)):
        ops.sign_count_(g, _good_counts(), _good_nan())
    with pytest.raises(ValueError):
        registry.get("cpp").sign_reduce(g)


def test_triton_interpreter_off_rejects_cpu(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    from gradsign_fast.ops import triton_sign_reduce

    if not torch.version.cuda:
        pytest.skip("a CPU-only torch has no compiled Triton backend")
    backend = triton_sign_reduce.load()
    assert not backend.supports("cpu")
    with pytest.raises(ValueError, match="TRITON_INTERPRET"):
        backend.sign_reduce(torch.ones(2, 3))


def _isas() -> list[str]:
    cpp = registry.load("cpp")
    if cpp is None:
        pytest.skip("cpp extension not available")
    return cpp.supported_isas()
