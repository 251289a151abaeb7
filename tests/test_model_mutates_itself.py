"""A forward that mutates the model (a counter, a running average, a parameter edited in place) must still
find the model as it was after score(), for every engine, and also when scoring raises."""

import pytest
import torch
from torch import nn

import gradsign_fast


class SelfMutating(nn.Module):
    """Updates a call counter and a running average buffer, and nudges a parameter in place."""

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.register_buffer("running", torch.zeros(4))
        self.fail_after = fail_after

    def forward(self, x):
        self.calls += 1
        h = torch.tanh(self.conv(x)).mean(dim=(2, 3))
        with torch.no_grad():
            self.running.mul_(0.9).add_(0.1 * h.detach().mean(0))
            self.fc.bias.add_(1e-3)
        if self.fail_after is not None and int(self.calls) > self.fail_after:
            raise ValueError("the model refuses to run again")
        return self.fc(h)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(before, model):
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 3, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (5,), generator=g)


@pytest.mark.parametrize("engine", ["auto", "batched", "functorch", "loop"])
def test_parameters_and_buffers_are_restored_after_a_mutating_forward(engine):
    torch.manual_seed(0)
    model = SelfMutating().double()
    before = _snapshot(model)
    x, y = _data()
    try:
        gradsign_fast.score(model, x, y, engine=engine)
    except gradsign_fast.CannotScoreExactly:
        pass  # an explicit engine may refuse this model; the model must still be as it was
    _assert_unchanged(before, model)


@pytest.mark.parametrize("engine", ["auto", "functorch", "loop"])
def test_parameters_and_buffers_are_restored_when_scoring_raises(engine):
    torch.manual_seed(0)
    model = SelfMutating(fail_after=1).double()
    before = _snapshot(model)
    x, y = _data()
    with pytest.raises((ValueError, gradsign_fast.CannotScoreExactly)) as info:
        gradsign_fast.score(model, x, y, engine=engine)
    if engine != "functorch":  # functorch refuses the in-place buffer update before the model raises
        assert info.match("refuses to run again")
    _assert_unchanged(before, model)
