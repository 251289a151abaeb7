"""The rules of what is scored and how: selection, frozen/unused/reused/tied weights, NaN columns,
shards, inits, dropout, targets=None, no_grad."""

import pytest
import torch
from torch import nn

import gradsign_fast
from model_zoo import CASES


def test_default_scores_conv2d_and_linear_weights_in_module_order():
    case = CASES["conv_bn_net"](torch.float64)
    sums = gradsign_fast.sign_sums(case.model, case.inputs, case.targets)
    expected = [f"{i}.weight" for i, m in enumerate(case.model) if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert sums.names == expected
    assert sums.n_samples == 6
    assert [c.numel() for c in sums.counts] == [case.model[int(n.split(".")[0])].weight.numel() for n in expected]


def test_subclasses_count_and_other_layers_do_not():
    class MyLinear(nn.Linear):
        pass

    model = nn.Sequential(nn.Conv1d(2, 2, 1), nn.Flatten(), MyLinear(6, 4), nn.LayerNorm(4))
    sums = gradsign_fast.sign_sums(model, torch.randn(3, 2, 3), torch.tensor([0, 1, 2]))
    assert sums.names == ["2.weight"]


def test_frozen_and_unused_weights_count_zero():
    case = CASES["frozen_and_unused"](torch.float64)
    sums = gradsign_fast.sign_sums(case.model, case.inputs, case.targets)
    by_name = dict(zip(sums.names, sums.counts))
    assert not by_name["parts.conv.weight"].any()
    assert not by_name["parts.unused.weight"].any()
    assert by_name["parts.fc.weight"].abs().sum() > 0


def test_tied_parameter_counts_twice_and_reused_module_once():
    tied = CASES["tied_parameters"](torch.float64)
    sums = gradsign_fast.sign_sums(tied.model, tied.inputs, tied.targets)
    assert sums.names == ["a.weight", "b.weight", "head.weight"]
    assert torch.equal(sums.counts[0], sums.counts[1])
    reused = CASES["reused_modules"](torch.float64)
    assert gradsign_fast.sign_sums(reused.model, reused.inputs, reused.targets).names == ["conv.weight", "fc.weight", "head.weight"]


class NaNGradientInRow0(torch.autograd.Function):
    """Identity forward; backward puts NaN into feature 0 of the incoming gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        g[..., 0] = float("nan")
        return g


class NaNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(NaNGradientInRow0.apply(self.fc1(x)))


@pytest.mark.parametrize("engine", ["auto", "functorch", "loop"])
def test_columns_holding_nan_count_zero_like_numpy(engine):
    torch.manual_seed(0)
    model, x, y = NaNNet().double(), torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    sums = gradsign_fast.sign_sums(model, x, y, engine=engine)
    assert sums.nan[0].reshape(3, 4)[0].all() and not sums.nan[0].reshape(3, 4)[1:].any()
    assert not sums.nan[1].any()
    expected = gradsign_fast.reference.score(model, x, y)
    assert gradsign_fast.score(model, x, y, engine=engine) == expected
    assert gradsign_fast.score(model, x, y, engine=engine, reduction="mean") == pytest.approx(
        gradsign_fast.reference.score(model, x, y, reduction="mean"), rel=1e-12
    )


def test_shards_add_up_to_the_whole_batch():
    case = CASES["conv_bn_net"](torch.float64)
    whole = gradsign_fast.sign_sums(case.model, case.inputs, case.targets)
    a = gradsign_fast.sign_sums(case.model, case.inputs[:2], case.targets[:2])
    b = gradsign_fast.sign_sums(case.model, case.inputs[2:], case.targets[2:])
    total = a + b
    assert total.n_samples == whole.n_samples
    assert all(torch.equal(x, y) for x, y in zip(total.counts, whole.counts))
    assert total.score() == whole.score() == gradsign_fast.score(case.model, case.inputs, case.targets)


def test_n_inits_is_seeded_and_leaves_global_rng_alone():
    case = CASES["sequence_linear"](torch.float64)
    rng = torch.get_rng_state()
    first = gradsign_fast.score(case.model, case.inputs, case.targets, n_inits=3, seed=7)
    assert torch.equal(torch.get_rng_state(), rng)
    assert gradsign_fast.score(case.model, case.inputs, case.targets, n_inits=3, seed=7) == first
    assert gradsign_fast.score(case.model, case.inputs, case.targets, n_inits=3, seed=8) != first
    single = gradsign_fast.score(case.model, case.inputs, case.targets)
    assert single == gradsign_fast.reference.score(case.model, case.inputs, case.targets)
    assert first != single


def test_n_inits_averages_fresh_draws():
    case = CASES["sequence_linear"](torch.float64)
    two = gradsign_fast.score(case.model, case.inputs, case.targets, n_inits=2, seed=3)
    import copy

    replica = copy.deepcopy(case.model)
    torch.manual_seed(3 + 1)
    with torch.no_grad():
        for m in replica.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    second = gradsign_fast.reference.score(replica, case.inputs, case.targets)
    first = gradsign_fast.reference.score(case.model, case.inputs, case.targets)
    assert two == (first + second) / 2


def test_dropout_false_is_deterministic_and_matches_the_loop_without_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).double()
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randint(0, 3, (8,))
    off = gradsign_fast.score(model, x, y, dropout=False)
    assert off == gradsign_fast.reference.score(model, x, y, dropout=False)
    assert model[2].training
    on = [gradsign_fast.score(model, x, y, seed=s) for s in range(4)]
    assert on[0] == gradsign_fast.score(model, x, y, seed=0)
    assert len(set(on + [off])) > 1


def test_targets_none_uses_the_loss_of_the_output_alone():
    case = CASES["sequence_linear"](torch.float64)

    def loss_fn(output):
        return output.pow(2).sum()

    expected = gradsign_fast.reference.score(case.model, case.inputs, None, loss_fn)
    assert gradsign_fast.score(case.model, case.inputs, None, loss_fn) == expected


def test_works_under_no_grad_and_with_model_in_eval_mode():
    case = CASES["conv_bn_net"](torch.float64)
    expected = gradsign_fast.score(case.model, case.inputs, case.targets)
    with torch.no_grad():
        assert gradsign_fast.score(case.model, case.inputs, case.targets) == expected
    case.model.eval()
    eval_expected = gradsign_fast.reference.score(case.model, case.inputs, case.targets)
    assert gradsign_fast.score(case.model, case.inputs, case.targets) == eval_expected


def test_non_contiguous_inputs():
    case = CASES["conv_bn_net"](torch.float64)
    x = case.inputs.transpose(2, 3).contiguous().transpose(2, 3)
    assert not x.is_contiguous()
    assert gradsign_fast.score(case.model, x, case.targets) == gradsign_fast.reference.score(case.model, case.inputs, case.targets)


def test_every_backend_gives_the_same_score():
    case = CASES["conv_bn_net"](torch.float32)
    scores = {b: gradsign_fast.score(case.model, case.inputs, case.targets, backend=b) for b in gradsign_fast.backends()
              if gradsign_fast.ops.registry.load(b).supports(torch.device("cpu"))}
    assert "torch" in scores and len(set(scores.values())) == 1
