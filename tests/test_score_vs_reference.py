"""score() against the authors' per-sample loop (gradsign_fast.reference) on the model zoo.

float64: exactly equal; float32: within 1e-3 relative. Every engine that can run on CPU is checked.
"""

import pytest
import torch

import gradsign_fast
from model_zoo import CASES, relative_error

ENGINES = ["auto", "functorch", "loop"]




@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_matches_loop_exactly(name, engine):
    case = CASES[name](torch.float64)
    expected = gradsign_fast.reference.score(case.model, case.inputs, case.targets, case.loss_fn, dropout=False)
    got = gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, engine=engine, dropout=False)
    if case.exact_fp64:
        assert got == expected
    else:
        assert relative_error(got, expected) <= 1e-3


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_within_tolerance(name):
    case = CASES[name](torch.float32)
    expected = gradsign_fast.reference.score(case.model, case.inputs, case.targets, case.loss_fn, dropout=False)
    got = gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, dropout=False)
    assert relative_error(got, expected) <= 1e-3


@pytest.mark.parametrize("name", ["conv_bn_net", "sequence_linear", "tied_parameters"])
def test_mean_reduction_matches_loop(name):
    case = CASES[name](torch.float64)
    expected = gradsign_fast.reference.score(case.model, case.inputs, case.targets, case.loss_fn, reduction="mean")
    got = gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, reduction="mean")
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("params", ["all", lambda name, module, p: name.endswith("bias")])
def test_params_selection_matches_loop(params):
    # (a conv bias right before a per-sample BatchNorm has a mathematically zero gradient that comes
    # out as +-1e-17 in either order of operations, so "all" is checked on a BatchNorm-free model)
    case = CASES["sequence_linear"](torch.float64)
    expected = gradsign_fast.reference.score(case.model, case.inputs, case.targets, params=params)
    assert gradsign_fast.score(case.model, case.inputs, case.targets, params=params) == expected


@pytest.mark.parametrize("chunk_size", [1, 2, 5])
def test_chunking_does_not_change_the_score(chunk_size):
    case = CASES["conv_bn_net"](torch.float64)
    whole = gradsign_fast.score(case.model, case.inputs, case.targets)
    assert gradsign_fast.score(case.model, case.inputs, case.targets, chunk_size=chunk_size) == whole
