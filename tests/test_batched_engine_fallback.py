"""Where the batched engine cannot guarantee the loop's answer it must say so: applies() -> (False, why)
up front, or CannotScoreExactly at run time; score(engine='auto') then runs functorch, logs why, and still
matches the loop."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrizations

import gradsign_fast
from gradsign_fast import dispatch
from gradsign_fast import CannotScoreExactly
from gradsign_fast.engines import batched
from gradsign_fast.options import Options
from gradsign_fast.semantics import ScoringJob, select_weights
from model_zoo import CASES, relative_error


def _job(model, x, y, params=None):
    weights = select_weights(model, params)
    return ScoringJob(model, (x,), y, F.cross_entropy, weights, torch.device("cpu"), Options(dropout=False))


def _falls_back_and_auto_is_exact(model, x, y, *, params=None, match="", loss_fn=F.cross_entropy):
    with pytest.raises(CannotScoreExactly, match=match):
        gradsign_fast.score(model, x, y, loss_fn, engine="batched", params=params, dropout=False)
    job_notes = []
    import logging

    class Grab(logging.Handler):
        def emit(self, record):
            job_notes.append(record.getMessage())

    handler = Grab(level=logging.INFO)
    logger = logging.getLogger("gradsign_fast")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        got = gradsign_fast.score(model, x, y, loss_fn, params=params, dropout=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    expected = gradsign_fast.reference.score(model, x, y, loss_fn, params=params, dropout=False)
    assert got == expected
    if batched.applies(_job(model, x, y, params))[0]:  # chosen, then fell back at run time: logged
        assert any("batched engine cannot score" in note for note in job_notes)
    return job_notes


def _data(n=4, shape=(3, 6, 6), classes=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, *shape, generator=g).to(dtype), torch.randint(0, classes, (n,), generator=g)


def test_multihead_attention_out_proj_falls_back():
    case = CASES["attention"](torch.float64)
    with pytest.raises(CannotScoreExactly, match="out_proj.weight"):
        gradsign_fast.score(case.model, case.inputs, case.targets, engine="batched", dropout=False)
    notes = _falls_back_and_auto_is_exact(case.model, case.inputs, case.targets, match="out_proj")
    assert any("out_proj" in note for note in notes)


def test_in_proj_weight_is_not_a_conv_or_linear_weight():
    case = CASES["attention"](torch.float64)
    ok, why = batched.applies(_job(case.model, case.inputs, case.targets, params="all"))
    assert not ok and "in_proj_weight" in why


class FunctionalReuse(nn.Module):
    """fc.weight also used through F.linear without calling fc."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 4)

    def forward(self, x):
        h = torch.tanh(self.conv(x)).mean(dim=(2, 3))
        return F.linear(torch.relu(self.fc(h)), self.fc.weight)[:, :3]


def test_weight_used_functionally_falls_back():
    torch.manual_seed(0)
    _falls_back_and_auto_is_exact(FunctionalReuse().double(), *_data(), match="fc.weight")


class MixesSamples(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 3)

    def forward(self, x):
        h = self.conv(x)
        h = h - h.mean(dim=0, keepdim=True)  # batch-level statistics: not per sample
        return self.fc(torch.tanh(h).mean(dim=(2, 3)))


def test_model_mixing_samples_falls_back():
    torch.manual_seed(0)
    _falls_back_and_auto_is_exact(MixesSamples().double(), *_data(), match="mixes samples")


class SequenceFirst(nn.Module):
    """Linear on (T, n, d): dim 0 of the layer input is not the sample."""

    def __init__(self):
        super().__init__()
        self.proj, self.head = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):  # x: (n, T, 6)
        h = torch.tanh(self.proj(x.transpose(0, 1)))  # (T, n, 5)
        return self.head(h.mean(0))


def test_sequence_first_linear_falls_back():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (4,))
    _falls_back_and_auto_is_exact(SequenceFirst().double(), x, y, match="dim 0")


class OwnConv(nn.Conv2d):
    def forward(self, x):
        return super().forward(x) * 2


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: parametrizations.weight_norm(nn.Conv2d(3, 4, 3)), "parametrize"),
        (lambda: OwnConv(3, 4, 3), "overrides"),
    ],
    ids=["parametrized", "subclass_forward"],
)
def test_unsupported_modules_are_rejected_up_front(make, match):
    torch.manual_seed(0)
    model = nn.Sequential(make(), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).double()
    x, y = _data()
    ok, why = batched.applies(_job(model, x, y))
    assert not ok and match in why
    job = _job(model, x, y)
    assert dispatch.plan(job).chain == ("functorch", "loop") and any(match in note for note in job.notes)
    assert relative_error(gradsign_fast.score(model, x, y, dropout=False),
                          gradsign_fast.reference.score(model, x, y, dropout=False)) <= 1e-9


def test_batchnorm_parameters_are_not_supported():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 3)).double()
    ok, why = batched.applies(_job(model, *_data(), params="all"))
    assert not ok and "1.weight" in why


class ModifiesInputAfterCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 5), nn.Linear(5, 3)

    def forward(self, x):
        h = torch.tanh(self.fc1(x)).detach()  # fc2's input, changed in place after fc2 ran
        out = self.fc2(h)
        h.mul_(0.5)
        return out


def test_input_modified_in_place_after_the_call_is_detected():
    torch.manual_seed(0)
    x, y = torch.randn(4, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    with pytest.raises(CannotScoreExactly, match="modified in place"):
        gradsign_fast.score(ModifiesInputAfterCall().double(), x, y, engine="batched")


class WithDropout(nn.Module):
    def __init__(self, mix: bool):
        super().__init__()
        self.mix = mix
        self.conv, self.drop, self.fc = nn.Conv2d(3, 4, 3), nn.Dropout(0.3), nn.Linear(4, 3)

    def forward(self, x):
        h = self.drop(torch.tanh(self.conv(x)).mean(dim=(2, 3)))
        return self.fc(h - h.mean(0) if self.mix else h)


def test_active_dropout_runs_batched_and_mixing_is_still_detected(caplog):
    torch.manual_seed(0)
    x, y = _data()
    model = WithDropout(mix=False).double()
    with caplog.at_level("INFO", logger="gradsign_fast"):
        gradsign_fast.score(model, x, y)  # dropout active: random, but batched must not fall back
    assert not caplog.records
    assert _batched_equals_loop_without_dropout(model, x, y)
    with pytest.raises(CannotScoreExactly, match="mixes samples"):
        gradsign_fast.score(WithDropout(mix=True).double(), x, y, engine="batched")


def _batched_equals_loop_without_dropout(model, x, y):
    got = gradsign_fast.score(model, x, y, engine="batched", dropout=False)
    return got == gradsign_fast.reference.score(model, x, y, dropout=False)
