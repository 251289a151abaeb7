"""Bad input gets a clear exception that says what to fix, never a crash or a silent number."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import gradsign_fast


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


X = torch.randn(4, 3, 6, 6)
Y = torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: gradsign_fast.score("not a model", X, Y), TypeError, "nn.Module"),
        (lambda: gradsign_fast.score(_net(), X.numpy(), Y), TypeError, "torch.Tensor"),
        (lambda: gradsign_fast.score(_net(), [1.0, 2.0], Y), TypeError, "torch.Tensor"),
        (lambda: gradsign_fast.score(_net(), X, Y.numpy()), TypeError, "targets"),
        (lambda: gradsign_fast.score(_net(), X, Y[:3]), ValueError, "batch-size mismatch"),
        (lambda: gradsign_fast.score(_net(), X[:0], Y[:0]), ValueError, "empty"),
        (lambda: gradsign_fast.score(nn.Sequential(nn.BatchNorm2d(3)), X, Y), ValueError, "nothing to score"),
        (lambda: gradsign_fast.score(_net(), X, Y, params=lambda *a: False), ValueError, "nothing to score"),
        (lambda: gradsign_fast.score(_net(), torch.where(X > 2, float("nan"), X), Y), ValueError, "NaN or infinite"),
        (lambda: gradsign_fast.score(_net(), X.clone().fill_(float("inf")), Y), ValueError, "NaN or infinite"),
        (lambda: gradsign_fast.score(_net(), X, torch.tensor([0, 1, 2, 5])), ValueError, "labels must lie in [0, 5)"),
        (lambda: gradsign_fast.score(_net(), X, torch.tensor([0, -3, 2, 1])), ValueError, "labels must lie"),
        (lambda: gradsign_fast.score(_net(), X, Y, lambda out, y: out), ValueError, "scalar"),
        (lambda: gradsign_fast.score(_net(), X, Y, lambda out, y: 1.0), TypeError, "must return a tensor"),
        (lambda: gradsign_fast.score(_net(), X, Y, loss_fn="ce"), TypeError, "callable"),
        (lambda: gradsign_fast.score(_net().to("meta"), X, Y), ValueError, "move them to one device"),
        (lambda: gradsign_fast.score(_net(), X, Y, reduction="max"), ValueError, "reduction"),
        (lambda: gradsign_fast.score(_net(), X, Y, n_inits=0), ValueError, "n_inits"),
        (lambda: gradsign_fast.score(_net(), X, Y, chunk_size=0), ValueError, "chunk_size"),
        (lambda: gradsign_fast.score(_net(), X, Y, seed=1.5), TypeError, "seed"),
        (lambda: gradsign_fast.score(_net(), X, Y, dropout="yes"), TypeError, "dropout"),
        (lambda: gradsign_fast.score(_net(), X, Y, engine="fastest"), ValueError, "engine"),
        (lambda: gradsign_fast.score(_net(), X, Y, backend="nope"), ValueError, "available here"),
        (lambda: gradsign_fast.score(_net(), X, Y, params="weights"), ValueError, "params"),
        (lambda: gradsign_fast.score(_net(), X, Y, params=3), TypeError, "params"),
        (lambda: gradsign_fast.score(_net(), X, Y, unknown=1), TypeError, "unknown"),
        (lambda: gradsign_fast.score(_net(), torch.tensor(1.0), Y), ValueError, "batch dimension"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)


def test_batchnorm_with_one_value_per_channel_is_explained():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    with pytest.raises(ValueError, match="single value per channel"):
        gradsign_fast.score(model, torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1]))
    model.eval()
    assert gradsign_fast.score(model, torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1])) > 0


def test_inference_mode_is_refused():
    with torch.inference_mode(), pytest.raises((ValueError, RuntimeError), match="inference_mode"):
        gradsign_fast.score(_net(), X, Y)


def test_explicit_backend_that_cannot_run_lists_the_available_ones():
    missing = [b for b in gradsign_fast.ops.registry.registered() if b not in gradsign_fast.backends()]
    if not missing:
        pytest.skip("every backend loads here")
    with pytest.raises(ValueError, match=r"available here: \["):
        gradsign_fast.score(_net(), X, Y, backend=missing[0])


def test_ignored_labels_are_not_out_of_range():
    y = torch.tensor([0, -100, 2, 3])
    assert np.isfinite(gradsign_fast.score(_net(), X, y, F.cross_entropy))


def test_sign_reduce_rejects_bad_matrices():
    with pytest.raises(ValueError, match="2-D"):
        gradsign_fast.ops.sign_reduce(torch.zeros(3))
    with pytest.raises(TypeError, match="float"):
        gradsign_fast.ops.sign_reduce(torch.zeros(3, 2, dtype=torch.int32))
    with pytest.raises(TypeError, match="torch.Tensor"):
        gradsign_fast.ops.sign_reduce(np.zeros((3, 2)))
