"""Bad settings give an error that names what to fix, whatever the engine."""

import pytest
import torch
from torch import nn

import gradsign_fast


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3)), torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])


@pytest.mark.parametrize("value", ["garbage", "nan", "inf", "-inf", "0", "-5", "1e400"])
@pytest.mark.parametrize("engine", ["auto", "batched", "functorch", "loop"])
def test_a_bad_memory_budget_names_the_variable(monkeypatch, value, engine):
    monkeypatch.setenv("GRADSIGN_MEMORY_BUDGET_MB", value)
    model, x, y = _tiny()
    with pytest.raises(ValueError, match="GRADSIGN_MEMORY_BUDGET_MB must be a positive, finite number"):
        gradsign_fast.score(model, x, y, engine=engine)


def test_a_good_memory_budget_still_works(monkeypatch):
    monkeypatch.setenv("GRADSIGN_MEMORY_BUDGET_MB", "0.5")
    model, x, y = _tiny()
    assert gradsign_fast.score(model, x, y) == gradsign_fast.reference.score(model, x, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="lists GPU backends where a GPU is present")
def test_without_a_gpu_a_bad_backend_lists_only_backends_that_run_here():
    model, x, y = _tiny()
    with pytest.raises(ValueError, match="available here") as info:
        gradsign_fast.score(model, x, y, backend="no_such_backend")
    listed = str(info.value).split("available here:")[1]
    assert "'torch'" in listed
    assert "'cuda'" not in listed and "'triton'" not in listed
    assert "cuda" not in gradsign_fast.backends() and "triton" not in gradsign_fast.backends()
