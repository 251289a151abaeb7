"""The batched engine against the authors' loop (gradsign_fast.reference) on the model zoo and on every
Conv2d / Linear configuration: float64 exactly equal, float32 within 1e-3 relative."""

import functools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import gradsign_fast
from gradsign_fast.engines import layer_sums
from model_zoo import CASES, relative_error

FALLS_BACK = {"attention"}  # nn.MultiheadAttention uses out_proj.weight without calling out_proj




def _reference(model, inputs, targets, loss_fn=F.cross_entropy, **kw):
    return gradsign_fast.reference.score(model, inputs, targets, loss_fn, dropout=False, **kw)


def _batched(model, inputs, targets, loss_fn=F.cross_entropy, **kw):
    return gradsign_fast.score(model, inputs, targets, loss_fn, engine="batched", dropout=False, **kw)


@pytest.fixture(autouse=True)
def _verify_against_autograd(monkeypatch):
    monkeypatch.setenv("GRADSIGN_VERIFY", "1")


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", sorted(set(CASES) - FALLS_BACK))
def test_zoo_matches_loop(name, dtype, backend):
    case = CASES[name](dtype)
    expected = _reference(case.model, case.inputs, case.targets, case.loss_fn)
    got = _batched(case.model, case.inputs, case.targets, case.loss_fn, backend=backend)
    if dtype == torch.float64 and case.exact_fp64:
        assert got == expected
    else:
        assert relative_error(got, expected) <= 1e-3


def _conv_net(make_conv, hw=(7, 9), n=5, dtype=torch.float64):
    torch.manual_seed(0)
    conv = make_conv()
    head = nn.Linear(conv.out_channels * 4, 3)
    model = nn.Sequential(conv, nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), head).to(dtype)
    x = torch.randn(n, conv.in_channels, *hw, generator=torch.Generator().manual_seed(1)).to(dtype)
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(2))
    return model, x, y


CONVS = {
    "plain": lambda: nn.Conv2d(3, 4, 3),
    "stride_pad": lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1),
    "non_square": lambda: nn.Conv2d(3, 4, (2, 5), stride=(1, 2), padding=(1, 2)),
    "dilation": lambda: nn.Conv2d(3, 4, 3, dilation=(2, 1), padding=2),
    "groups": lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1),
    "depthwise": lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1),
    "depthwise_multiplier": lambda: nn.Conv2d(4, 8, (3, 2), groups=4),
    "reflect": lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
    "replicate": lambda: nn.Conv2d(3, 4, (3, 5), padding=(1, 2), padding_mode="replicate", stride=2),
    "circular": lambda: nn.Conv2d(3, 4, 3, padding=2, padding_mode="circular", dilation=2),
    "same_even": lambda: nn.Conv2d(3, 4, (4, 2), padding="same"),
    "same_dilated_reflect": lambda: nn.Conv2d(3, 4, 3, padding="same", dilation=2, padding_mode="reflect"),
    "valid": lambda: nn.Conv2d(3, 4, 2, padding="valid", stride=(2, 1)),
    "pointwise": lambda: nn.Conv2d(3, 4, 1),
    "pointwise_strided": lambda: nn.Conv2d(3, 4, 1, stride=2, bias=False),
}


@pytest.fixture(params=["fused_cpp", "bmm_tiles", "grouped_conv"])
def conv_strategy(request, monkeypatch):
    """Forces each way of forming per-sample conv gradients: the 'cpp' backend's fused per-layer op, or
    (with the 'torch' backend) either tile path of conv_rule.py, with small tiles."""
    from gradsign_fast.engines import conv_rule

    if request.param == "fused_cpp":
        if "cpp" not in gradsign_fast.backends():
            pytest.skip("the cpp extension is not built here")
        monkeypatch.setenv("GRADSIGN_BACKEND", "cpp")
        return request.param
    monkeypatch.setenv("GRADSIGN_BACKEND", "torch")
    monkeypatch.setattr(conv_rule, "_BMM_MAX_POSITIONS", 10**9 if request.param == "bmm_tiles" else 0)
    monkeypatch.setattr(conv_rule, "_TILE_ELEMENTS", 64)
    return request.param


@functools.lru_cache(maxsize=None)
def _conv_expected(name, params):
    model, x, y = _conv_net(CONVS[name])
    return _reference(model, x, y, params=params)


@pytest.mark.parametrize("params", [None, "all"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_configurations_fp64_exact(name, params, conv_strategy):
    model, x, y = _conv_net(CONVS[name])
    assert _batched(model, x, y, params=params) == _conv_expected(name, params)


def test_conv_configuration_fp32_channels_last():
    model, x, y = _conv_net(lambda: nn.Conv2d(3, 6, 3, groups=3, padding=1), dtype=torch.float32)
    model = model.to(memory_format=torch.channels_last)
    x = x.to(memory_format=torch.channels_last)
    assert relative_error(_batched(model, x, y), _reference(model, x, y)) <= 1e-3


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(5, 7), nn.Linear(7, 7), nn.Linear(7, 3)

    def forward(self, x):  # x: (n, A, B, 5): Linear with two leading dims, b called twice
        h = self.b(torch.tanh(self.b(torch.relu(self.a(x)))))
        return self.head(h.mean(dim=(1, 2)))


def test_linear_with_leading_dims_and_reuse():
    torch.manual_seed(0)
    model = Seq().double()
    x = torch.randn(4, 2, 3, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    assert _batched(model, x, y, params="all") == _reference(model, x, y, params="all")


class SequenceBatchNorm(nn.Module):
    """BatchNorm1d in training mode on (n, C, L): normalized per sample, as the loop's batch of one."""

    def __init__(self):
        super().__init__()
        self.inp, self.bn, self.out = nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Linear(6, 3)

    def forward(self, x):  # x: (n, L, 5)
        h = self.bn(self.inp(x).transpose(1, 2))  # (n, 6, L)
        return self.out(torch.relu(h).mean(-1))


def test_batchnorm1d_on_sequences_per_sample():
    torch.manual_seed(0)
    model = SequenceBatchNorm().double()
    x, y = torch.randn(5, 7, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    running = model.bn.running_mean.clone()
    assert _batched(model, x, y) == _reference(model, x, y)
    assert torch.equal(model.bn.running_mean, running)


class SharedConv(nn.Module):
    """One weight Parameter used by two Conv2d modules with different strides and groups layouts."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.c2 = nn.Conv2d(4, 4, 3, stride=2, groups=2)
        self.c2.weight = self.c1.weight
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.tanh(self.c2(torch.relu(self.c1(x)))).mean(dim=(2, 3)))


def test_weight_shared_by_two_convs(conv_strategy):
    torch.manual_seed(0)
    model = SharedConv().double()
    x = torch.randn(5, 4, 7, 7, dtype=torch.float64)
    y = torch.randint(0, 2, (5,))
    assert _batched(model, x, y) == _reference(model, x, y)


@pytest.mark.parametrize("dtype, scale", [(torch.float32, 1e-44), (torch.float16, 1e-6)], ids=["fp32", "fp16"])
def test_linear_factorization_handles_underflow_exactly(dtype, scale, monkeypatch):
    # tiny inputs: the loop's d * a underflows to 0 for some products, where sign(D)^T sign(A) would
    # say +-1; the range check must send this layer to the per-sample path
    calls = []
    rule = layer_sums.factorized_sign_counts
    monkeypatch.setattr(layer_sums, "factorized_sign_counts", lambda d, a: calls.append(rule(d, a)) or calls[-1])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4)).to(dtype)
    x = (torch.randn(8, 6) * scale).to(dtype)
    y = torch.randint(0, 4, (8,))
    assert _batched(model, x, y) == _reference(model, x, y)
    assert calls == [None]  # the factorization was tried and refused


def test_linear_factorization_is_used_where_exact(monkeypatch):
    calls = []
    rule = layer_sums.factorized_sign_counts
    monkeypatch.setattr(layer_sums, "factorized_sign_counts", lambda d, a: calls.append(rule(d, a)) or calls[-1])
    case = CASES["mse_regression"](torch.float64)
    args = (case.model, case.inputs, case.targets, case.loss_fn)
    assert _batched(*args) == _reference(*args)
    assert len(calls) == 2 and all(c is not None for c in calls)


def test_linear_factorization_range_check():
    from gradsign_fast.engines.linear_rule import factorized_sign_counts, products_keep_sign

    d, a = torch.randn(5, 3), torch.randn(5, 4)
    expected = torch.sign(torch.einsum("io,ik->iok", d, a)).sum(0).reshape(-1).long()
    assert torch.equal(factorized_sign_counts(d, a), expected)
    tiny = torch.full((2, 2), 1e-4, dtype=torch.float16)
    assert not products_keep_sign(tiny, tiny)
    assert not products_keep_sign(torch.full((2, 2), 1e30), torch.full((2, 2), 1e30))
    assert not products_keep_sign(torch.tensor([[float("inf")]]), torch.tensor([[0.0]]))
    assert products_keep_sign(torch.zeros(2, 2), torch.randn(2, 2))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_runs_close_to_loop(dtype):
    model, x, y = _conv_net(lambda: nn.Conv2d(3, 4, 3, padding=1), dtype=dtype)
    assert relative_error(_batched(model, x, y), _reference(model, x, y)) <= 0.05


@pytest.mark.parametrize("chunk_size", [1, 2, 5])
def test_chunking_and_budget_do_not_change_the_score(chunk_size, monkeypatch, conv_strategy):
    case = CASES["conv_bn_net"](torch.float64)
    whole = _batched(case.model, case.inputs, case.targets)
    assert _batched(case.model, case.inputs, case.targets, chunk_size=chunk_size) == whole
    monkeypatch.setenv("GRADSIGN_MEMORY_BUDGET_MB", "0.001")
    assert _batched(case.model, case.inputs, case.targets) == whole


def test_auto_uses_the_batched_engine(caplog):
    case = CASES["conv_bn_net"](torch.float32)
    job_args = (case.model, case.inputs, case.targets)
    with caplog.at_level("INFO", logger="gradsign_fast"):
        sums = gradsign_fast.sign_sums(*job_args)
    assert not caplog.records
    assert sums.score() == _batched(*job_args)


def test_model_left_untouched():
    case = CASES["conv_bn_net"](torch.float64)
    model = case.model
    for p in model.parameters():
        p.grad = torch.full_like(p, 3.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    _batched(model, case.inputs, case.targets)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(p.grad, torch.full_like(p, 3.0)) for p in model.parameters())
    assert all("forward" not in m.__dict__ for m in model.modules())
