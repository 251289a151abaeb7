"""GradSign as a zero-cost-nas measure, against the authors' own code (../shared/thirdparty; skips when absent).

find_measures(net, loader, ("random", 1, 10), cpu, loss_fn, ["gradsign_fast", "grad_conflict"]) on
their NB201 (nasbench2.get_model_from_arch_str) and NB101 (nasbench1.Network) networks: the two
numbers are equal exactly, in float64. The NB201 variant "authors_all_ops" is their model (same
parameters in the same order for the same seed), and reduction="sum"/"mean" equal their nansum
(naswot-code/gradsign.py, grad_conflict) and nanmean (zero-cost-nas-code/gradsign.py) loops on it.

Sizes: their NB201 copy is rebuilt at 16 channels whatever the net's (get_prunable_copy does not pass
them on), so the NB201 nets scored through find_measures are full size, on 16x16 images, batch 4; at
8x8 the last stage's 2x2 maps give mathematically-zero gradients (~1e-35) whose signs no two
summation orders need agree on. Where no copy is made, the NB201 models have 4 channels.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gradsign_fast
from gradsign_fast.integrations import pruner_registry, zero_cost_nas
from gradsign_fast.nas import build_nb201
from thirdparty_code import authors_function, use_zero_cost_nas

pytestmark = pytest.mark.usefixtures("one_thread")

NB201_ARCHS = [
    "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
]
_I, _O, _C3, _C1, _MP = "input", "output", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# (adjacency, ops); none feeds a lone vertex's ReLU output into their in-place `outputs +=` (their
# Cell then fails its own backward)
NB101_SPECS = [
    ([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [_I, _C3, _C1, _MP, _O]),
    ([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [_I, _C1, _C3, _MP, _O]),
    ([[0, 1, 1, 1, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]], [_I, _C3, _MP, _C1, _C3, _C1, _O]),
]


@contextlib.contextmanager
def default_dtype(dtype):
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


@pytest.fixture(scope="module")
def foresight():
    use_zero_cost_nas()
    from foresight.models import nasbench1, nasbench1_spec, nasbench2
    from foresight.pruners import measures, predictive

    zero_cost_nas.register()
    return {"nasbench1": nasbench1, "spec": nasbench1_spec.ModelSpec, "nasbench2": nasbench2,
            "measures": measures, "predictive": predictive}


def _batch(seed, n=4, hw=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, hw, hw, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def _find(foresight, net, x, y, names):
    with default_dtype(torch.float64):  # their get_prunable_copy rebuilds the net in the default dtype
        return foresight["predictive"].find_measures(net, [(x, y)], ("random", 1, 10), torch.device("cpu"),
                                                     loss_fn=F.cross_entropy, measure_names=names)


@pytest.mark.parametrize("arch", NB201_ARCHS)
def test_find_measures_equals_grad_conflict_on_their_nb201(foresight, arch):
    with default_dtype(torch.float64):
        torch.manual_seed(0)
        net = foresight["nasbench2"].get_model_from_arch_str(arch, 10)
    x, y = _batch(1)
    found = _find(foresight, net, x, y, ["gradsign_fast", "grad_conflict"])
    assert isinstance(found["gradsign_fast"], float)
    assert found["gradsign_fast"] == found["grad_conflict"] > 0


@pytest.mark.parametrize("spec", range(len(NB101_SPECS)))
def test_find_measures_equals_grad_conflict_on_their_nb101(foresight, spec):
    net = _nb101(foresight, spec, seed=spec)
    x, y = _batch(2 + spec)
    found = _find(foresight, net, x, y, ["gradsign_fast", "grad_conflict"])
    assert found["gradsign_fast"] == found["grad_conflict"] > 0


def _nb101(foresight, spec, seed):
    matrix, ops = NB101_SPECS[spec]
    with default_dtype(torch.float64):
        torch.manual_seed(seed)
        return foresight["nasbench1"].Network(foresight["spec"](np.array(matrix), ops), stem_out=16, num_stacks=2,
                                              num_mods=1, num_classes=10)


def test_the_measure_returns_what_find_measures_sums(foresight):
    # a list holding one 0-d float64 tensor; find_measures' split_data (after a CUDA OOM) only chunks
    net = _nb101(foresight, 2, seed=0)
    with default_dtype(torch.float64):
        x, y = _batch(3)
        value = foresight["measures"].calc_measure("gradsign_fast", net, "cpu", x, y, loss_fn=F.cross_entropy)
        halves = foresight["measures"].calc_measure("gradsign_fast", net, "cpu", x, y, loss_fn=F.cross_entropy,
                                                    split_data=2)
    assert isinstance(value, list) and len(value) == 1
    assert value[0].dtype == torch.float64 and value[0].dim() == 0
    assert torch.equal(value[0], halves[0])


def test_find_measures_scores_a_train_mode_copy_and_leaves_the_net_in_train_mode(foresight):
    net = _nb101(foresight, 0, seed=4)
    x, y = _batch(4)
    net.eval()
    in_eval = gradsign_fast.score(net, x, y)  # BatchNorm with its running statistics
    found = _find(foresight, net, x, y, ["gradsign_fast"])["gradsign_fast"]
    assert net.training  # find_measures switched the caller's net to train
    assert found == gradsign_fast.score(net, x, y) != in_eval


def test_register_is_idempotent_and_refuses_a_clash(foresight):
    measures = foresight["measures"]
    assert zero_cost_nas.register() == "gradsign_fast" == zero_cost_nas.register()
    assert measures.available_measures.count("gradsign_fast") == 1
    with pytest.raises(ValueError, match="another name"):
        zero_cost_nas.register(reduction="mean")  # the name holds the measure with other options
    with pytest.raises(ValueError, match="taken .* by another measure"):
        zero_cost_nas.register("grad_conflict")
    with pytest.raises(TypeError, match="unknown option"):
        zero_cost_nas.register("gradsign_fast_bad", n_inits=3)
    with pytest.raises(ValueError, match="reduction"):
        zero_cost_nas.register("gradsign_fast_bad", reduction="max")
    assert "gradsign_fast_bad" not in measures.available_measures


def test_registering_needs_the_registry_and_says_how():
    with pytest.raises(ImportError, match="put it on the path"):
        pruner_registry.import_registry("gradsign_no_such_registry.measures", "put it on the path")
    with pytest.raises(TypeError, match="not a zero-cost measure registry"):
        pruner_registry.register_in(math)


# ---------------------------------------------------------------- the authors' NB201 model, all ops

@pytest.mark.parametrize("arch", NB201_ARCHS[:2])
def test_authors_all_ops_variant_is_their_model_and_both_reductions_equal_their_loops(foresight, arch):
    # nansum: naswot-code/gradsign.py (as grad_conflict); nanmean: zero-cost-nas-code/gradsign.py
    nansum = authors_function("naswot-code/gradsign.py", "get_grad_conflict", "get_flattened_metric")
    nanmean = authors_function("zero-cost-nas-code/gradsign.py", "get_grad_conflict", "get_flattened_metric")
    with default_dtype(torch.float64):
        torch.manual_seed(5)
        theirs = foresight["nasbench2"].get_model_from_arch_str(arch, 10, init_channels=4)
        torch.manual_seed(5)
        ours = build_nb201(arch, variant="authors_all_ops", C=4)
    pairs = list(zip(theirs.parameters(), ours.parameters(), strict=True))
    assert all(a.shape == b.shape and torch.equal(a, b) for a, b in pairs)
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)
    assert [repr(m) for m in theirs.modules() if isinstance(m, kinds)] == \
           [repr(m) for m in ours.modules() if isinstance(m, kinds)]
    x, y = _batch(6)
    assert torch.equal(theirs(x), ours(x))
    assert gradsign_fast.score(ours, x, y) == nansum(theirs, x, y, F.cross_entropy) > 0
    assert gradsign_fast.score(ours, x, y, reduction="mean") == nanmean(theirs, x, y, F.cross_entropy)


def test_unused_candidates_count_in_the_mean_only():
    arch = NB201_ARCHS[0]
    models = {}
    for variant in ("zero_cost", "authors_all_ops"):
        torch.manual_seed(0)
        models[variant] = build_nb201(arch, variant=variant, C=4, N=1).double()
    x, y = _batch(9)
    sums = {v: gradsign_fast.sign_sums(m, x, y) for v, m in models.items()}
    assert sums["zero_cost"].score() == sums["authors_all_ops"].score() > 0
    cell = models["authors_all_ops"].cells[0]
    assert len(cell.options) == 6 * 5 and [type(cell.edge_op(e)).__name__ for e in range(6)][1] == "Zero"
    for variant, s in sums.items():  # nanmean over every scored weight, unused candidates included
        assert s.score("mean") == s.score() / s.num_weights
    assert sums["authors_all_ops"].num_weights > sums["zero_cost"].num_weights
