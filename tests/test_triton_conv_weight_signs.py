"""The 'triton' backend's per-layer op conv_weight_signs_ (ops/triton_conv_signs.py, implicit im2col), run
by Triton's interpreter on CPU tensors, against per-sample gradients formed explicitly (conv_rule.py).

Math checked: counts[k] += sum_s sign(G_s[k]), nan[k] |= any_s isnan(G_s[k]), G_s the weight's per-sample
gradient summed over the weight's calls. Grid: stride, dilation, zero padding incl. asymmetric 'same',
pre-padded reflect, groups and depthwise, non-square kernels and maps, batch 1 and odd sizes, a module
called twice (the partial-sum buffer, also over several chunks of samples), Linear on (n, T, d), sample
slices that meet in atomics, a NaN input; float64: counts bit-exact, float32: exact wherever no sample's
|G| is within rounding of zero. Then score() with backend='triton' equals the authors' loop in float64.
TRITON_INTERPRET=1 must be set before triton is imported, so test_interpreted_cases_pass runs this file
in a child pytest with it set; there the other tests run, here they skip. On a CUDA machine the compiled
kernel runs the same grid (plus layers large enough for the GPU tile sizes and sample slices) and the
engine on the GPU equals the loop in float64. Bad input: clear errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("triton")
ROOT = Path(__file__).resolve().parents[1]
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
interpreted = pytest.mark.skipif(not INTERPRETED, reason="runs in the TRITON_INTERPRET=1 child process")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CONVS = {
    "plain_3x3": dict(cin=3, cout=8, k=3, padding=1),
    "stride2_valid": dict(cin=4, cout=6, k=3, stride=2),
    "dilation2": dict(cin=4, cout=5, k=3, padding=2, dilation=2),
    "non_square": dict(cin=3, cout=7, k=(2, 3), stride=(2, 1), padding=(1, 0)),
    "groups2": dict(cin=6, cout=4, k=3, padding=1, groups=2),
    "depthwise": dict(cin=5, cout=5, k=3, padding=1, groups=5, bias=False),
    "pointwise": dict(cin=16, cout=20, k=1),
    "same_even": dict(cin=3, cout=4, k=4, padding="same"),
    "same_dilated": dict(cin=3, cout=4, k=(3, 2), padding="same", dilation=2),
    "reflect": dict(cin=3, cout=5, k=3, padding=1, padding_mode="reflect"),
    "wide": dict(cin=40, cout=35, k=(3, 2), padding=(1, 0), stride=(1, 2)),
}


def _conv(spec):
    spec = dict(spec)
    cin, cout, k = spec.pop("cin"), spec.pop("cout"), spec.pop("k")
    return nn.Conv2d(cin, cout, k, **spec)


def _calls(module, xs):
    from gradsign_fast.engines.capture import CallRecorder

    with CallRecorder([module]) as rec:
        outs = [module(x) for x in xs]
    g = torch.Generator().manual_seed(7)
    return rec.calls[id(module)], [torch.randn(z.shape, generator=g, dtype=z.dtype).to(z.device) for z in outs]


def _reference(calls, grads):
    """(counts, nan, |G|) from explicit per-sample gradients in float64 (a float32 layer recomputed in float64)."""
    import copy

    from gradsign_fast.engines.conv_rule import per_sample_weight_grads

    if calls[0].x.dtype != torch.float64:
        module = copy.deepcopy(calls[0].module).double()
        calls, _ = _calls(module, [c.x.detach().double() for c in calls])
    g64 = per_sample_weight_grads(calls, [d.double() for d in grads], 0, calls[0].x.shape[0])
    return torch.sign(g64).sum(0).long(), torch.isnan(g64).any(0), g64.abs()


def _fused(calls, grads, counts=None, nan=None, **kwargs):
    from gradsign_fast.engines.layer_op import layer_op_args
    from gradsign_fast.ops import registry, triton_conv_signs

    m = calls[0].module.weight.numel()
    counts = torch.zeros(m, dtype=torch.int64) if counts is None else counts
    nan = torch.zeros(m, dtype=torch.bool) if nan is None else nan
    args = layer_op_args(calls, grads, min_channels=1)
    assert args is not None
    if kwargs:
        triton_conv_signs.conv_weight_signs_(*args, counts, nan, interpret=True, **kwargs)
    else:
        registry.get("triton").conv_weight_signs_(*args, counts, nan, isa="auto")
    return counts, nan


def _assert_matches(calls, grads, counts, nan):
    want, want_nan, mag = _reference(calls, grads)
    assert torch.equal(nan, want_nan)
    if calls[0].x.dtype == torch.float64:
        assert torch.equal(counts, want), (counts - want).abs().max()
    else:  # a sign may flip only where some sample's |G| is within float32 rounding of zero
        clear = (mag > 1e-4 * mag.amax().clamp_min(1e-30)).all(0) & ~want_nan
        assert torch.equal(counts[clear], want[clear])


def test_interpreted_cases_pass():
    if INTERPRETED:
        pytest.skip("this is the interpreted child process")
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    tail = (out.stdout + out.stderr)[-3000:]
    assert out.returncode == 0, tail
    assert " passed" in out.stdout and " failed" not in out.stdout and "skipped" in out.stdout, tail


@interpreted
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("n, hw", [(1, (5, 5)), (3, (7, 6))], ids=["n1", "n3"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_counts_match_explicit_per_sample_gradients(name, n, hw, dtype):
    torch.manual_seed(0)
    conv = _conv(CONVS[name]).to(dtype)
    calls, grads = _calls(conv, [torch.randn(n, conv.in_channels, *hw, dtype=dtype)])
    counts, nan = _fused(calls, grads)
    _assert_matches(calls, grads, counts, nan)


@interpreted
@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["one_chunk", "chunk_per_sample"])
def test_a_module_called_twice_sums_both_uses_before_the_sign(chunk_bytes, monkeypatch):
    from gradsign_fast.ops import triton_conv_signs

    if chunk_bytes is not None:
        monkeypatch.setattr(triton_conv_signs, "_PARTIAL_BYTES", chunk_bytes)
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=(1, 2)).double()
    xs = [torch.randn(3, 3, 6, 6, dtype=torch.float64), torch.randn(3, 3, 4, 5, dtype=torch.float64),
          torch.randn(3, 3, 5, 3, dtype=torch.float64)]
    calls, grads = _calls(conv, xs)
    counts, nan = _fused(calls, grads)
    _assert_matches(calls, grads, counts, nan)


@interpreted
def test_linear_on_sequences():
    torch.manual_seed(0)
    lin = nn.Linear(6, 9).double()
    calls, grads = _calls(lin, [torch.randn(5, 7, 6, dtype=torch.float64)])
    counts, nan = _fused(calls, grads)
    _assert_matches(calls, grads, counts, nan)


@interpreted
@pytest.mark.parametrize("per", [1, 2], ids=["one_sample", "two_samples"])
def test_sample_slices_meet_in_the_counts(per):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 18, 3, padding=1, groups=2).double()
    calls, grads = _calls(conv, [torch.randn(5, 4, 5, 4, dtype=torch.float64)])
    counts, nan = _fused(calls, grads, samples_per_program=per)
    _assert_matches(calls, grads, counts, nan)


@interpreted
def test_nan_marks_exactly_the_columns_it_reaches_and_counts_accumulate():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    x[1, 0, 2, 2] = float("nan")
    calls, grads = _calls(conv, [x])
    grads[0][2, 1, 0, 0] = float("inf")
    counts, nan = _fused(calls, grads)
    want, want_nan, _ = _reference(calls, grads)
    assert nan.any() and not nan.all() and torch.equal(nan, want_nan)
    assert torch.equal(counts[~nan], want[~nan])
    again, nan2 = _fused(calls, grads, counts=counts.clone(), nan=nan.clone())
    assert torch.equal(again[~nan], 2 * want[~nan]) and torch.equal(nan2, want_nan)


@interpreted
def test_score_with_the_triton_backend_equals_the_loop_in_float64(monkeypatch):
    import gradsign_fast
    from gradsign_fast.ops import registry

    backend = registry.get("triton")
    used = []
    op = backend.conv_weight_signs_
    monkeypatch.setattr(backend, "conv_weight_signs_", lambda *a, **k: (used.append(1), op(*a, **k))[1], raising=False)
    torch.manual_seed(0)
    shared = nn.Conv2d(32, 32, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), shared, nn.ReLU(), shared,
                          nn.Conv2d(32, 34, (3, 2), stride=2, padding="valid"), nn.Flatten(), nn.Linear(34 * 2 * 2, 3)).double()
    x, y = torch.randn(3, 3, 6, 5, dtype=torch.float64), torch.tensor([0, 1, 2])
    got = gradsign_fast.score(model, x, y, engine="batched", backend="triton")
    assert used, "the per-layer op was not used"
    assert got == gradsign_fast.reference.score(model, x, y)


X, D = torch.randn(2, 4, 5, 5), torch.randn(2, 6, 5, 5)


def _op(inputs, grads, geometry=None, groups=1, counts=None, nan=None):
    from gradsign_fast.ops import triton_conv_signs

    geometry = [3, 3, 1, 1, 1, 1, 1, 1] * len(inputs) if geometry is None else geometry
    m = 6 * 4 // groups * 9 if counts is None else counts.numel()
    counts = torch.zeros(m, dtype=torch.int64) if counts is None else counts
    nan = torch.zeros(m, dtype=torch.bool) if nan is None else nan
    triton_conv_signs.check_layer(inputs, grads, geometry, groups, counts, nan)


@pytest.mark.parametrize("case, error, match", [
    (lambda: _op([X], []), ValueError, "as many inputs as grads"),
    (lambda: _op([X], [D], geometry=[3, 3]), ValueError, "8 ints per call"),
    (lambda: _op([X.half()], [D.half()]), TypeError, "float32 or float64"),
    (lambda: _op([X], [D.double()]), TypeError, "must be"),
    (lambda: _op([X[0]], [D[0]]), ValueError, "4-D"),
    (lambda: _op([X], [D[:1]]), ValueError, "same samples"),
    (lambda: _op([X], [D], groups=3), ValueError, "groups do not divide"),
    (lambda: _op([X], [D], geometry=[3, 3, 0, 1, 1, 1, 1, 1]), ValueError, ">= 1"),
    (lambda: _op([X], [D], geometry=[3, 3, 1, 1, 1, 1, -1, 1]), ValueError, ">= 0"),
    (lambda: _op([X, X], [D, D], geometry=[3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1]), ValueError, "kernel size"),
    (lambda: _op([X], [D], counts=torch.zeros(5, dtype=torch.int64)), ValueError, "contiguous"),
    (lambda: _op([X], [D], counts=torch.zeros(216, dtype=torch.int32)), ValueError, "int64"),
], ids=["no_grads", "geometry", "fp16", "dtypes_differ", "3d", "samples_differ", "groups", "stride0", "pad<0",
        "kernel_sizes_differ", "counts_size", "counts_dtype"])
def test_bad_input_is_a_clear_error(case, error, match):
    with pytest.raises(error, match=match):
        case()


def test_the_backend_refuses_cpu_tensors_unless_interpreted():
    from gradsign_fast.ops.triton_sign_reduce import TritonSignReduce

    if INTERPRETED:
        pytest.skip("interpreted: CPU tensors are allowed")
    backend = TritonSignReduce(interpret=False)
    with pytest.raises(ValueError, match="CUDA tensors"):
        backend.conv_weight_signs_([X], [D], [3, 3, 1, 1, 1, 1, 1, 1], 1, torch.zeros(216, dtype=torch.int64),
                                   torch.zeros(216, dtype=torch.bool))


def _cuda_backend():
    from gradsign_fast.ops import registry

    backend = registry.load("triton")
    if backend is None or not backend.supports("cuda"):
        pytest.skip(f"the 'triton' backend does not run on CUDA here: {registry.reasons().get('triton')}")
    return backend


GPU_CONVS = {**CONVS, "resnet_like": dict(cin=64, cout=64, k=3, padding=1), "strided_wide": dict(cin=48, cout=80, k=3,
             stride=2, padding=1), "grouped_wide": dict(cin=64, cout=96, k=(1, 3), padding=(0, 1), groups=4)}


@CUDA
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", sorted(GPU_CONVS))
def test_compiled_kernel_on_cuda_matches_explicit_per_sample_gradients(name, dtype):
    from gradsign_fast.engines.layer_op import layer_op_args

    backend = _cuda_backend()
    torch.manual_seed(0)
    conv = _conv(GPU_CONVS[name]).to("cuda", dtype)
    calls, grads = _calls(conv, [torch.randn(9, conv.in_channels, 15, 13, dtype=dtype, device="cuda")])
    m = conv.weight.numel()
    counts = torch.zeros(m, dtype=torch.int64, device="cuda")
    nan = torch.zeros(m, dtype=torch.bool, device="cuda")
    backend.conv_weight_signs_(*layer_op_args(calls, grads, min_channels=1), counts, nan)
    _assert_matches(calls, grads, counts, nan)


@CUDA
def test_score_on_cuda_with_the_triton_backend_equals_the_loop_in_float64():
    import gradsign_fast

    _cuda_backend()
    torch.manual_seed(0)
    shared = nn.Conv2d(16, 16, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), shared, nn.ReLU(), shared,
                          nn.Conv2d(16, 40, 3, stride=2, groups=8), nn.Flatten(), nn.Linear(40 * 3 * 3, 5))
    model = model.to("cuda", torch.float64)
    x = torch.randn(12, 3, 8, 8, dtype=torch.float64, device="cuda")
    y = torch.randint(0, 5, (12,), device="cuda")
    assert gradsign_fast.score(model, x, y, engine="batched", backend="triton") == gradsign_fast.reference.score(model, x, y)
