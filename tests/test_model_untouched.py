"""score() leaves the caller's model exactly as it found it, whatever the engine or the outcome."""

import pytest
import torch
from torch import nn

import gradsign_fast
from model_zoo import CASES


def _state(model):
    return {
        "params": {n: (p.detach().clone(), p.requires_grad, p.grad, None if p.grad is None else p.grad.clone())
                   for n, p in model.named_parameters()},
        "buffers": {n: b.clone() for n, b in model.named_buffers()},
        "modes": [m.training for m in model.modules()],
        "attrs": [getattr(m, "track_running_stats", None) for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
    }


def _assert_same(before, model):
    after = _state(model)
    for name, (data, req, grad, grad_values) in before["params"].items():
        now = after["params"][name]
        assert torch.equal(now[0], data), name
        assert now[1] == req, name
        assert now[2] is grad, name
        assert (grad_values is None and now[3] is None) or torch.equal(now[3], grad_values), name
    assert before["buffers"].keys() == after["buffers"].keys()
    for name, b in before["buffers"].items():
        assert torch.equal(after["buffers"][name], b), name
    assert after["modes"] == before["modes"]
    assert after["attrs"] == before["attrs"]
    assert after["hooks"] == before["hooks"]


def _prepared(name):
    case = CASES[name](torch.float32)
    model = case.model
    params = list(model.parameters())
    params[0].grad = torch.ones_like(params[0])
    params[-1].requires_grad_(False)
    model.register_forward_hook(lambda *a: None)
    for i, m in enumerate(model.modules()):
        if i % 3 == 1:
            m.eval()
    return case


@pytest.mark.parametrize("engine", ["auto", "functorch", "loop"])
@pytest.mark.parametrize("name", ["conv_bn_net", "eval_bn_net", "attention", "nb201_benchmark"])
def test_model_state_is_untouched(name, engine):
    case = _prepared(name)
    before = _state(case.model)
    gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, engine=engine, n_inits=2, seed=0)
    _assert_same(before, case.model)


def test_reference_also_restores_the_model():
    case = _prepared("conv_bn_net")
    before = _state(case.model)
    gradsign_fast.reference.score(case.model, case.inputs, case.targets)
    _assert_same(before, case.model)


def test_model_is_restored_when_scoring_fails():
    case = _prepared("conv_bn_net")
    before = _state(case.model)
    calls = []

    def failing_loss(out, y):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("boom")
        return nn.functional.cross_entropy(out, y)

    with pytest.raises(RuntimeError, match="boom"):
        gradsign_fast.score(case.model, case.inputs, case.targets, failing_loss, engine="functorch")
    _assert_same(before, case.model)
