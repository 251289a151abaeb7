"""Models whose forward mixes samples along the batch must never be scored by the batched pass.

Each model mixes the samples of the run in a different way, several of them leaving the first and the
last rows exactly as they were (which a spot check of row 0 cannot see), one of them without changing
any value at all (only the gradients mix). engine="batched" must refuse each with CannotScoreExactly,
and engine="auto" must fall back and give the authors' number exactly (float64).
"""

import pytest
import torch
from torch import nn

import gradsign_fast
from gradsign_fast import CannotScoreExactly


def _cumsum(h):  # the example: a running sum along the batch (row 0 unchanged)
    return torch.cumsum(h, 0)


def _middle_rows(h):  # first and last rows untouched, the middle ones mixed with their neighbour
    return torch.cat([h[:1], h[1:-1] + 0.5 * h[2:], h[1:][-1:]])


def _gradient_only(h):  # no value changes at all: only the gradients flow across samples
    return h + (h - h.detach()).sum(0, keepdim=True)


def _pairs(h):  # rows 0 and n-1 kept, rows swapped pairwise in between
    n = h.shape[0]
    order = [0, *[i ^ 1 for i in range(1, n - 1)], *([n - 1] if n > 1 else [])]
    return h + 0.3 * h[order]


def _batch_gram(h):  # attention across the batch (each sample attends to every other one)
    flat = h.flatten(1)
    return (torch.softmax(flat @ flat.t(), dim=1) @ flat).view_as(h)


def _sorted(h):  # per-feature sort over the samples
    return torch.sort(h, dim=0).values


def _centered_zero(h):  # subtracts a batch mean that is exactly zero here
    return h + 0.0 * h.mean(0)


MIXINGS = {f.__name__.strip("_"): f for f in (_cumsum, _middle_rows, _gradient_only, _pairs, _batch_gram,
                                              _sorted, _centered_zero)}


class Mixer(nn.Module):
    def __init__(self, mix):
        super().__init__()
        self.mix = mix
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        return self.fc(self.mix(h).flatten(1))


def _case(name):
    torch.manual_seed(0)
    model = Mixer(MIXINGS[name]).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(6, 3, 5, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g)


@pytest.mark.parametrize("name", sorted(MIXINGS))
def test_batched_engine_refuses_a_model_that_mixes_samples(name):
    model, x, y = _case(name)
    with pytest.raises(CannotScoreExactly, match="mixes samples"):
        gradsign_fast.sign_sums(model, x, y, engine="batched", dropout=False)


@pytest.mark.parametrize("name", sorted(MIXINGS))
def test_auto_gives_the_loops_number_on_a_model_that_mixes_samples(name):
    model, x, y = _case(name)
    sums = gradsign_fast.sign_sums(model, x, y, dropout=False)
    assert sums.engine != "batched"
    assert any("mixes samples" in note for note in sums.notes)
    assert sums.score() == gradsign_fast.reference.score(model, x, y, dropout=False)


def test_per_sample_models_still_run_batched():
    torch.manual_seed(0)
    model = Mixer(lambda h: h * 2 + h.mean(dim=(1, 2, 3), keepdim=True)).double()  # mixes features, not samples
    x, y = torch.randn(6, 3, 5, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    sums = gradsign_fast.sign_sums(model, x, y, dropout=False)
    assert sums.engine == "batched" and not sums.notes
    assert sums.score() == gradsign_fast.reference.score(model, x, y, dropout=False)
