"""The 'cpp' backend's fused per-layer op: per-sample weight gradients of a Conv2d (or a Linear on sequences)
reduced to column sign counts in one call, against per-sample gradients formed explicitly.

Geometry grid: every padding mode, 'same', stride, dilation, groups and depthwise, non-square kernels
and maps, batch 1 and odd sizes, a module called twice, Linear on (n, T, d). float64: counts equal
exactly; float32: equal wherever |G| is not within rounding of zero. Every instruction set gives the
same integers (the same fused multiply-adds in the same order). Bad input: a clear error, no crash.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gradsign_fast.engines.capture import CallRecorder
from gradsign_fast.engines.conv_rule import per_sample_weight_grads
from gradsign_fast.engines.layer_op import layer_op_args
from gradsign_fast.ops import registry

cpp = registry.load("cpp")
pytestmark = pytest.mark.skipif(cpp is None or not hasattr(cpp, "conv_weight_signs_"),
                                reason=f"cpp extension not available: {registry.reasons().get('cpp')}")

@pytest.fixture(params=["im2col", "channels_last"], autouse=True)
def path(request):
    """Runs every test through both ways the op reads the input (csrc/cpu/conv_signs_cpu.cpp)."""
    from gradsign_fast import _C

    old = _C._set_channels_last_min(10**9 if request.param == "im2col" else 1)
    yield request.param
    _C._set_channels_last_min(old)


CONVS = {
    "plain_3x3": dict(cin=3, cout=8, k=3, padding=1),
    "stride2_valid": dict(cin=4, cout=6, k=3, stride=2),
    "dilation2": dict(cin=4, cout=5, k=3, padding=2, dilation=2),
    "non_square": dict(cin=3, cout=7, k=(2, 3), stride=(2, 1), padding=(1, 0)),
    "groups2": dict(cin=6, cout=4, k=3, padding=1, groups=2),
    "depthwise": dict(cin=8, cout=8, k=3, padding=1, groups=8, bias=False),
    "pointwise": dict(cin=16, cout=70, k=1),
    "same_even": dict(cin=3, cout=4, k=4, padding="same"),
    "same_dilated": dict(cin=3, cout=4, k=3, padding="same", dilation=2),
    "reflect": dict(cin=3, cout=5, k=3, padding=1, padding_mode="reflect"),
    "replicate": dict(cin=3, cout=5, k=(3, 1), padding=(1, 0), padding_mode="replicate"),
    "circular": dict(cin=3, cout=5, k=3, padding=2, padding_mode="circular"),
    "many_columns": dict(cin=40, cout=9, k=3, padding=1),
    "wide_groups": dict(cin=140, cout=20, k=(3, 2), padding=(1, 0), groups=2, stride=(1, 2)),
}


def _conv(spec):
    spec = dict(spec)
    cin, cout, k = spec.pop("cin"), spec.pop("cout"), spec.pop("k")
    return nn.Conv2d(cin, cout, k, **spec)


def _calls(module, xs):
    with CallRecorder([module]) as rec:
        outs = [module(x) for x in xs]
    g = torch.Generator().manual_seed(7)
    return rec.calls[id(module)], [torch.randn(z.shape, generator=g, dtype=z.dtype) for z in outs]


def _reference(calls, grads):
    """counts (m,) int64 and nan (m,) bool from explicit float64 per-sample gradients, plus |G|."""
    g64 = per_sample_weight_grads(calls, [d.double() for d in grads], 0, calls[0].x.shape[0]) if \
        calls[0].x.dtype == torch.float64 else _float64_grads(calls, grads)
    return torch.sign(g64).sum(0).long(), torch.isnan(g64).any(0), g64.abs()


def _float64_grads(calls, grads):
    """Per-sample gradients of float32 calls, recomputed in float64 (the exact value to compare against)."""
    import copy

    module = copy.deepcopy(calls[0].module).double()
    xs = [c.x.detach().double() for c in calls]
    calls64, _ = _calls(module, xs)
    return per_sample_weight_grads(calls64, [d.double() for d in grads], 0, xs[0].shape[0])


def _fused(calls, grads, isa="auto", counts=None, nan=None):
    m = calls[0].module.weight.numel()
    counts = torch.zeros(m, dtype=torch.int64) if counts is None else counts
    nan = torch.zeros(m, dtype=torch.bool) if nan is None else nan
    args = layer_op_args(calls, grads, min_channels=1)
    assert args is not None
    cpp.conv_weight_signs_(*args, counts, nan, isa=isa)
    return counts, nan


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("n, hw", [(1, (5, 5)), (5, (7, 6)), (4, (9, 11))], ids=["n1", "n5", "n4"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_counts_match_explicit_per_sample_gradients(name, n, hw, dtype):
    torch.manual_seed(0)
    conv = _conv(CONVS[name]).to(dtype)
    x = torch.randn(n, conv.in_channels, *hw, dtype=dtype)
    calls, grads = _calls(conv, [x])
    counts, nan = _fused(calls, grads)
    want, want_nan, mag = _reference(calls, grads)
    assert torch.equal(nan, want_nan)
    if dtype == torch.float64:
        assert torch.equal(counts, want)
    else:  # a sign may flip only where some sample's |G| is within float32 rounding of zero
        scale = mag.amax().clamp_min(1e-30)
        clear = (mag > 1e-4 * scale).all(0)
        assert torch.equal(counts[clear], want[clear])


def test_a_module_called_twice_sums_both_uses_before_the_sign():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1).double()
    calls, grads = _calls(conv, [torch.randn(3, 3, 6, 6, dtype=torch.float64), torch.randn(3, 3, 4, 5, dtype=torch.float64)])
    counts, nan = _fused(calls, grads)
    want, want_nan, _ = _reference(calls, grads)
    assert torch.equal(counts, want) and torch.equal(nan, want_nan)


@pytest.mark.parametrize("shape", [(5, 7, 6), (3, 2, 4, 6)], ids=["n_T_d", "n_A_B_d"])
def test_linear_on_sequences(shape):
    torch.manual_seed(0)
    lin = nn.Linear(shape[-1], 9).double()
    calls, grads = _calls(lin, [torch.randn(*shape, dtype=torch.float64)])
    counts, nan = _fused(calls, grads)
    want, want_nan, _ = _reference(calls, grads)
    assert torch.equal(counts, want) and torch.equal(nan, want_nan)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_every_instruction_set_gives_the_same_integers(dtype):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 20, 3, padding=1, groups=2).to(dtype)
    calls, grads = _calls(conv, [torch.randn(7, 8, 9, 10, dtype=dtype)])
    results = [_fused(calls, grads, isa) for isa in cpp.supported_isas()]
    for counts, nan in results[1:]:
        assert torch.equal(counts, results[0][0]) and torch.equal(nan, results[0][1])


def test_nan_and_inf_mark_exactly_the_columns_they_reach():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    calls, grads = _calls(conv, [torch.randn(4, 2, 5, 5, dtype=torch.float64)])
    grads[0][1, 2, 3, 3] = float("nan")
    grads[0][2, 0, 0, 0] = float("inf")
    counts, nan = _fused(calls, grads)
    want, want_nan, _ = _reference(calls, grads)
    assert nan.any() and torch.equal(nan, want_nan)
    assert torch.equal(counts[~nan], want[~nan])


def test_accumulates_into_what_is_there():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3).double()
    calls, grads = _calls(conv, [torch.randn(3, 2, 5, 5, dtype=torch.float64)])
    once, _ = _fused(calls, grads)
    counts, _ = _fused(calls, grads, counts=once.clone())
    assert torch.equal(counts, 2 * once)


def _op(inputs, grads, geometry=None, groups=1, counts=None, nan=None):
    geometry = [3, 3, 1, 1, 1, 1, 1, 1] * len(inputs) if geometry is None else geometry
    m = D.shape[1] * X.shape[1] // groups * 9 if counts is None else counts.numel()
    counts = torch.zeros(m, dtype=torch.int64) if counts is None else counts
    nan = torch.zeros(m, dtype=torch.bool) if nan is None else nan
    torch.ops.gradsign_fast.conv_weight_signs_(inputs, grads, geometry, groups, counts, nan, "auto")


X, D = torch.randn(2, 4, 5, 5), torch.randn(2, 6, 5, 5)


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
    (lambda: _op([X], [D], counts=torch.zeros(5, dtype=torch.int64)), ValueError, "contiguous"),
    (lambda: _op([X], [D], counts=torch.zeros(216, dtype=torch.int32)), ValueError, "int64"),
], ids=["no_grads", "geometry", "fp16", "dtypes_differ", "3d", "samples_differ", "groups", "stride0", "pad<0",
        "counts_size", "counts_dtype"])
def test_bad_input_is_a_clear_error(case, error, match):
    with pytest.raises(error, match=match):
        case()
