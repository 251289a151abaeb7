"""GradSign in NASLib's zero-cost registry, against NASLib's own source as far as it imports here.

NASLib is not installable here; ../shared/thirdparty/naslib-excerpt holds its ZeroCost predictor
(naslib/predictors/zerocost.py), find_measures (predictive.py) and measure registry (measures/). Only
the NASLib modules the excerpt lacks are stubbed (tests/thirdparty_code.NASLIB_STUBS): the measures
grad_norm, snip, grasp, fisher, jacov, plain, epe_nas, zen, l2_norm and nwot (load_all() imports them;
each registers only itself), measures.model_stats (used for 'flops'/'params' only) and
naslib.predictors.predictor (ZeroCost's base class). Registry, find_measures and ZeroCost run unchanged.
Skips when the excerpt is absent.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import gradsign_fast
from gradsign_fast.integrations import naslib as gradsign_naslib
from gradsign_fast.nas import build_nb201
from thirdparty_code import use_naslib_excerpt

pytestmark = pytest.mark.usefixtures("one_thread")
ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def naslib():
    use_naslib_excerpt()
    from naslib.predictors import zerocost
    from naslib.predictors.utils.pruners import measures, predictive

    gradsign_naslib.register()
    return {"measures": measures, "predictive": predictive, "ZeroCost": zerocost.ZeroCost}


def _model(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    model = build_nb201(ARCH, variant="authors_all_ops", C=4, N=1).to(dtype)
    model.get_loss_fn = lambda: F.cross_entropy  # what ZeroCost.query asks of a NASLib graph, with num_classes
    return model


def _batch(dtype=torch.float64, seed=1, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g).to(dtype), torch.randint(0, 10, (n,), generator=g)


def _find(naslib, model, x, y, name="gradsign_fast"):
    return naslib["predictive"].find_measures(model, [(x, y)], ("random", 1, 10), torch.device("cpu"),
                                              F.cross_entropy, measure_names=[name])


def test_registered_beside_naslibs_own_measures(naslib):
    measures = naslib["measures"]
    assert gradsign_naslib.register() == "gradsign_fast"  # again: a no-op
    assert measures.available_measures.count("gradsign_fast") == 1 and "synflow" in measures.available_measures
    with pytest.raises(ValueError, match="by another measure"):
        gradsign_naslib.register("synflow")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_find_measures_reports_the_score(naslib, dtype):
    model, (x, y) = _model(dtype), _batch(dtype)
    found = _find(naslib, model, x, y)
    assert isinstance(found, float) and found == gradsign_fast.score(model, x, y) > 0
    if dtype == torch.float64:
        assert found == gradsign_fast.reference.score(model, x, y)  # the authors' loop


def test_find_measures_scores_a_copy_in_the_nets_own_mode_then_sets_train(naslib):
    # no get_prunable_copy: NASLib's copynet deep-copies the net as it is (unlike zero-cost-nas' NB nets)
    model, (x, y) = _model(), _batch()
    model.eval()
    in_eval = gradsign_fast.score(model, x, y)
    assert _find(naslib, model, x, y) == in_eval
    assert model.training and gradsign_fast.score(model, x, y) != in_eval


def test_the_mean_variant_under_its_own_name(naslib):
    model, (x, y) = _model(seed=2), _batch(seed=3)
    assert gradsign_naslib.register("gradsign_fast_mean", reduction="mean") == "gradsign_fast_mean"
    assert _find(naslib, model, x, y, "gradsign_fast_mean") == gradsign_fast.score(model, x, y, reduction="mean")


def test_zero_cost_predictor_finds_it(naslib):
    model, (x, y) = _model(seed=4), _batch(seed=5)
    predictor = naslib["ZeroCost"](method_type="gradsign_fast")
    predictor.device = torch.device("cpu")  # it picks cuda:0 where there is one; compare on the CPU
    assert predictor.query(model, dataloader=[(x, y)]) == gradsign_fast.score(model, x, y) > 0
