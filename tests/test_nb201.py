"""NAS-Bench-201: arch strings (strict parser, enumeration, sampling, tables) and the two model variants."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import gradsign_fast
from gradsign_fast.nas import (
    EDGES,
    NB201_OPS,
    NUM_ARCHS,
    NB201Cell,
    all_arch_strings,
    arch_from_index,
    arch_strings_from_table,
    build_nb201,
    count_parameters,
    format_arch,
    is_valid_arch,
    parse_arch,
    sample_arch_strings,
)
from shared_data import shared_file

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
EXAMPLE_OPS = ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- arch strings
def test_parse_and_format_round_trip():
    assert parse_arch(EXAMPLE) == EXAMPLE_OPS
    assert format_arch(EXAMPLE_OPS) == EXAMPLE
    assert len(EDGES) == 6 and NB201_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "nodes"),
        (EXAMPLE + " ", "whitespace"),
        (" " + EXAMPLE, "whitespace"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "2 '+'-separated nodes"),
        (EXAMPLE + "+|none~0|", "4 '+'-separated nodes"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end"),
        ("|nor_conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation"),
        ("|NONE~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 0"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "expected 0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs exactly 2"),
        ("|none~0|+|none~0|none~1|none~1|+|none~0|none~1|none~2|", "needs exactly 2"),
        ("|none-0|+|none~0|none~1|+|none~0|none~1|none~2|", "not 'op~input'"),
        ("|none~00|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 0"),
        ("||+|none~0|none~1|+|none~0|none~1|none~2|", "not 'op~input'"),
    ],
)
def test_parser_rejects_malformed_strings(bad, why):
    with pytest.raises(ValueError, match="malformed NAS-Bench-201 arch string") as info:
        parse_arch(bad)
    assert why in str(info.value)
    assert not is_valid_arch(bad)


def test_parser_rejects_non_strings():
    with pytest.raises(TypeError, match="must be a str"):
        parse_arch(EXAMPLE_OPS)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        format_arch(EXAMPLE_OPS[:5])


def test_all_arch_strings_enumerates_every_cell_once():
    archs = all_arch_strings()
    assert len(archs) == NUM_ARCHS == 15625 and len(set(archs)) == 15625
    assert archs[0] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert archs[1] == "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert archs[-1] == format_arch(["avg_pool_3x3"] * 6)
    for i in (0, 1, 4, 5, 1234, 15624):
        assert arch_from_index(i) == archs[i]
    assert all(format_arch(parse_arch(a)) == a for a in archs)
    with pytest.raises(ValueError):
        arch_from_index(15625)


def test_sample_is_seeded_and_without_replacement():
    a, b = sample_arch_strings(50, 3), sample_arch_strings(50, 3)
    assert a == b and len(set(a)) == 50 and all(is_valid_arch(s) for s in a)
    assert sample_arch_strings(50, 4) != a
    assert sample_arch_strings(0, 0) == []
    population = all_arch_strings()[:7]
    assert sorted(sample_arch_strings(7, 1, population=population)) == sorted(population)
    for k in (-1, 15626, 2.0):
        with pytest.raises(ValueError):
            sample_arch_strings(k, 0)  # type: ignore[arg-type]


def test_table_order_from_shared_csvs():
    nats = arch_strings_from_table(shared_file("nb201/nats_bench_tss_test_acc_200ep.csv"))
    naswot = arch_strings_from_table(shared_file("nb201/naswot_arch_score_acc_nb201_cifar10.csv"))
    assert nats == naswot  # both tables follow the benchmark's index order
    assert len(nats) == 15625 and set(nats) == set(all_arch_strings())
    assert nats[1] == EXAMPLE


def test_table_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        arch_strings_from_table(tmp_path / "missing.csv")
    no_column = tmp_path / "no_column.csv"
    no_column.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no arch-string column"):
        arch_strings_from_table(no_column)
    bad_row = tmp_path / "bad_row.csv"
    bad_row.write_text(f"arch_str,x\n{EXAMPLE},1\n|none~0|,2\n")
    with pytest.raises(ValueError, match="data row 1"):
        arch_strings_from_table(bad_row)
    good = tmp_path / "good.csv"
    good.write_text(f"cellstr\n{EXAMPLE}\n{EXAMPLE}\n")
    assert arch_strings_from_table(good) == [EXAMPLE, EXAMPLE]


# ---------------------------------------------------------------- models
def _cell_modules(model, kind):
    return [m for cell in model.cells if isinstance(cell, NB201Cell) for m in cell.modules() if isinstance(m, kind)]


def _outer_modules(model, kind):
    inside = {id(m) for cell in model.cells if isinstance(cell, NB201Cell) for m in cell.modules()}
    return [m for m in model.modules() if isinstance(m, kind) and id(m) not in inside]


def test_zero_cost_variant_cells_have_bias_and_plain_batchnorm():
    model = build_nb201(EXAMPLE, variant="zero_cost", C=4, N=2)
    convs, bns = _cell_modules(model, nn.Conv2d), _cell_modules(model, nn.BatchNorm2d)
    assert len(convs) == len(bns) == 3 * 2 * 3  # 3 conv edges x 2 cells x 3 stages
    assert all(c.bias is not None for c in convs)
    assert all(not bn.affine and not bn.track_running_stats and bn.running_mean is None for bn in bns)
    outer_bns = _outer_modules(model, nn.BatchNorm2d)  # stem, 2 x (conv_a, conv_b), lastact
    assert len(outer_bns) == 6 and all(bn.affine and bn.track_running_stats for bn in outer_bns)
    assert all(c.bias is None for c in _outer_modules(model, nn.Conv2d))


def test_benchmark_variant_cells_have_affine_batchnorm_and_no_bias():
    model = build_nb201(EXAMPLE, variant="benchmark", C=4, N=2)
    assert all(c.bias is None for c in _cell_modules(model, nn.Conv2d))
    assert all(bn.affine and bn.track_running_stats for bn in _cell_modules(model, nn.BatchNorm2d))
    keys = set(model.state_dict())  # TinyNetwork's keys, so benchmark weights load
    assert {"stem.0.weight", "cells.0.layers.0.op.1.weight", "cells.2.conv_a.op.1.weight",
            "cells.2.downsample.1.weight", "lastact.0.weight", "classifier.weight"} <= keys


def test_variants_differ_only_in_cell_conv_bias_and_bn_affine():
    bench, zero = build_nb201(EXAMPLE, variant="benchmark"), build_nb201(EXAMPLE, variant="zero_cost")
    # per cell conv: + C_out bias in zero_cost, - 2 C_out affine BN parameters
    delta = sum(c.out_channels for c in _cell_modules(bench, nn.Conv2d))
    assert count_parameters(zero) == count_parameters(bench) - delta


def test_benchmark_parameter_counts_match_the_table():
    path = shared_file("nb201/naswot_arch_score_acc_nb201_cifar10.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    picks = [0, 1] + [int(i) for i in torch.randint(0, len(rows), (6,), generator=torch.Generator().manual_seed(0))]
    for i in picks:
        model = build_nb201(rows[i]["cellstr"], variant="benchmark", num_classes=10)
        assert math.isclose(count_parameters(model) / 1e6, float(rows[i]["params"]), abs_tol=5e-7), rows[i]["cellstr"]


@pytest.mark.parametrize("variant", ["zero_cost", "benchmark"])
def test_forward_shapes(variant):
    model = build_nb201(EXAMPLE, variant=variant, C=4, N=1, num_classes=7)
    assert model.training
    x = torch.randn(3, 3, 32, 32)
    assert model(x).shape == (3, 7) and model.features(x).shape == (3, 16)
    imagenet16 = build_nb201(EXAMPLE, variant=variant, C=4, N=1, num_classes=120)
    assert imagenet16(torch.randn(2, 3, 16, 16)).shape == (2, 120)
    F.cross_entropy(model(x), torch.tensor([0, 1, 6])).backward()  # loss_fn(model(x), y) works


def test_zero_cost_init_does_not_depend_on_other_edges():
    # the zero_cost variant replays the authors' creation of all 5 candidates per edge, so the weight
    # drawn for one edge does not depend on the ops chosen elsewhere; the benchmark variant's does.
    a = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    b = "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    for variant, same in (("zero_cost", True), ("benchmark", False)):
        models = []
        for arch in (a, b):
            torch.manual_seed(0)
            models.append(build_nb201(arch, variant=variant, C=4, N=1))
        assert torch.equal(models[0].classifier.weight, models[1].classifier.weight) is same


def test_build_errors():
    with pytest.raises(ValueError, match="variant"):
        build_nb201(EXAMPLE, variant="nasbench")
    with pytest.raises(ValueError, match="C must be"):
        build_nb201(EXAMPLE, C=0)
    with pytest.raises(ValueError, match="malformed"):
        build_nb201("|none~0|")


def test_score_of_a_small_network_matches_the_reference_loop():
    torch.manual_seed(0)
    model = build_nb201(EXAMPLE, C=2, N=1).double()
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 3])
    fast = gradsign_fast.score(model, x, y, engine="functorch")
    assert fast == gradsign_fast.reference.score(model, x, y) and fast > 0
