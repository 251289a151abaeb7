"""An error raised by the user's own forward or loss surfaces once, as raised (type and message), and no
other engine runs the user's code again for it. Capability failures (CannotScoreExactly, torch.func's
refusals) still fall back, and say why on the returned sums."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import gradsign_fast


class Counting(nn.Module):
    """Counts forwards; raises from Python when it sees a sample whose first pixel exceeds `limit`."""

    def __init__(self, limit=None, error=RuntimeError):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 3)
        self.limit, self.error, self.forwards = limit, error, 0

    def forward(self, x):
        self.forwards += 1
        if self.limit is not None and bool((x[:, 0, 0, 0] > self.limit).any()):
            raise self.error("sample out of the range this model accepts")
        return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def _data(n=6):
    x = torch.zeros(n, 3, 5, 5, dtype=torch.float64) + torch.linspace(-1, 1, 75, dtype=torch.float64).view(3, 5, 5)
    x[:, 0, 0, 0] = torch.arange(n, dtype=torch.float64)  # sample i has first pixel i
    return x, torch.arange(n) % 3


@pytest.mark.parametrize("error", [RuntimeError, ValueError, KeyError])
def test_a_forward_error_on_a_later_sample_surfaces_as_raised(error):
    torch.manual_seed(0)
    model = Counting(limit=3.5, error=error).double()
    x, y = _data()
    with pytest.raises(error, match="sample out of the range") as info:
        gradsign_fast.score(model, x, y)
    assert type(info.value) is error
    assert model.forwards <= 3  # probe of sample 0, the engine's own sample-0 probe, one batched forward


def test_a_loss_error_surfaces_once_as_raised():
    torch.manual_seed(0)
    model = Counting().double()
    x, y = _data()
    calls = []

    def loss(out, target):
        calls.append(int(target))
        if int(target) == 2:
            raise RuntimeError("this loss cannot score class 2")
        return F.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="^this loss cannot score class 2$"):
        gradsign_fast.score(model, x, y, loss)
    assert calls.count(2) == 1  # no engine ran the failing loss a second time
    assert model.forwards <= 3


class ReadsABatchValue(nn.Module):
    """.item() of a value of the whole batch: the batched pass mixes samples, vmap refuses .item()."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.tanh(self.conv(x)).mean(dim=(2, 3))
        scale = 1.0 + 0.0 * float(h.detach().abs().max().item())
        return self.fc(h * scale)


def test_capability_failures_still_fall_back_and_say_why():
    torch.manual_seed(0)
    model = ReadsABatchValue().double()
    x, y = _data()
    sums = gradsign_fast.sign_sums(model, x, y, dropout=False)
    assert sums.engine == "loop"
    assert any("batched" in note and "mixes samples" in note for note in sums.notes)
    assert any("functorch" in note and "item" in note for note in sums.notes)
    assert sums.score() == gradsign_fast.reference.score(model, x, y, dropout=False)


def test_an_explicit_engine_that_cannot_score_raises_cannot_score_exactly():
    torch.manual_seed(0)
    model = ReadsABatchValue().double()
    x, y = _data()
    with pytest.raises(gradsign_fast.CannotScoreExactly, match="item"):
        gradsign_fast.sign_sums(model, x, y, engine="functorch")
    with pytest.raises(gradsign_fast.CannotScoreExactly, match="mixes samples"):
        gradsign_fast.sign_sums(model, x, y, engine="batched")


MIXING_FACTORY = """
import torch
from torch import nn

class Mixing(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(torch.cumsum(torch.tanh(self.conv(x)).mean(dim=(2, 3)), 0))

def build(arch=None, num_classes=10):
    return Mixing(num_classes)
"""


def test_cli_score_and_sweep_verbose_say_which_engine_and_why(tmp_path, monkeypatch, capsys):
    from gradsign_fast.cli import main

    (tmp_path / "mixing_space.py").write_text(MIXING_FACTORY)
    monkeypatch.chdir(tmp_path)
    assert main(["score", "mixing_space:build", "--batch-size", "4", "-v"]) == 0
    out = capsys.readouterr().out
    assert "engine functorch" in out and "mixes samples" in out and "cumsum" in out
    assert main(["sweep", str(tmp_path / "r.jsonl"), "--space", "mixing_space:build", "--arch", "a",
                 "--batch-size", "4", "--quiet", "-v"]) == 0
    err = capsys.readouterr().err
    assert "a: engine functorch" in err and "mixes samples" in err
