"""The DARTS (NAS-Bench-301) space: arch strings, sampling/mutation, and the network against NASLib's.

The oracle is NASLib's build_darts_net.NetworkCIFAR with convert_compact_to_genotype (files of the
excerpt in ../shared/thirdparty/naslib-excerpt, imported by path: they need only torch, nothing is
stubbed); tests that need it or the NB301 table skip when absent.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import random
from pathlib import Path

import pytest
import torch
from torch import nn

import gradsign_fast
from gradsign_fast.nas.darts import build_darts
from gradsign_fast.nas.darts_genotype import (NB301_OPS, format_arch, mutate_arch, parse_arch, parse_compact,
                                              sample_arch)
from gradsign_fast.nas.spaces import resolve_space
from gradsign_fast.nas.tables import arch_strings_from_table, table_archs
from shared_data import shared_file

NASLIB = Path(__file__).resolve().parents[2] / "shared" / "thirdparty" / "naslib-excerpt" / "naslib"
TABLE = "darts/naslib_zc_nb301_725.csv"
ROWS = (0, 1, 2, 100, 724)  # table rows checked against NASLib
pytestmark = pytest.mark.usefixtures("one_thread")


def _naslib():
    """(build_darts_net module, conversions module) of the NASLib excerpt, or skip."""
    paths = [NASLIB / "predictors/utils/models/build_darts_net.py", NASLIB / "search_spaces/nasbench301/conversions.py"]
    if not all(p.is_file() for p in paths):
        pytest.skip("NASLib excerpt not found beside the repository (../shared/thirdparty/naslib-excerpt)")
    mods = []
    for name, path in zip(("naslib_build_darts_net", "naslib_nb301_conversions"), paths):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


def _rows() -> list[dict[str, str]]:
    with shared_file(TABLE).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _theirs(arch: str, C: int, layers: int) -> nn.Module:
    net_mod, conv = _naslib()
    genotype = conv.convert_compact_to_genotype(ast.literal_eval(arch))
    return net_mod.NetworkCIFAR({"genotype": genotype, "C": C, "layers": layers, "num_classes": 10,
                                 "auxiliary": False}).train()


def _load_by_order(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy theirs' state dict into ours entry by entry (same creation order, same shapes)."""
    mine, other = ours.state_dict(), theirs.state_dict()
    assert len(mine) == len(other)
    for (k, v), (k2, v2) in zip(mine.items(), other.items()):
        assert v.shape == v2.shape, (k, k2)
    ours.load_state_dict(dict(zip(mine, other.values())))


# ------------------------------------------------------------------ arch strings

def test_every_table_arch_round_trips_and_the_table_feeds_the_space():
    rows = _rows()
    for row in rows:
        assert format_arch(parse_arch(row["arch"])) == row["arch"]
    path = shared_file(TABLE)
    assert table_archs(path) == [r["arch"] for r in rows]
    assert arch_strings_from_table(path) == [r["arch"] for r in rows]


def test_genotype_uses_naslib_compact_op_order():
    g = parse_arch("[[(0, 0), (1, 6), (0, 1), (2, 2), (1, 3), (3, 4), (4, 5), (0, 2)], "
                   "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]")
    assert g.normal[:2] == (("max_pool_3x3", 0), ("dil_conv_5x5", 1))
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert {op for op, _ in g.normal} <= set(NB301_OPS)


GOOD = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], " \
       "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"


@pytest.mark.parametrize("bad, why", [
    ("", "not a DARTS arch string"),
    (GOOD.replace(", ", ","), "not a DARTS arch string"),          # not as Python prints it
    (GOOD[:-2] + "]", "not a DARTS arch string"),
    (GOOD.replace("(3, 6)", "(3, 7)"), "op_index 7"),
    (GOOD.replace("(1, 5)", "(2, 5)", 1), "node 2 takes inputs 0..1"),
    (GOOD.replace("(0, 1), (1, 3)", "(0, 1), (4, 3)", 1), "node 4 takes inputs 0..3"),
    (GOOD.replace("(1, 5)", "(0, 5)", 1), "distinct"),
])
def test_bad_arch_strings_say_what_is_wrong(bad, why):
    with pytest.raises(ValueError, match=why):
        parse_compact(bad)


def test_non_string_arch_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        parse_arch([[(0, 0)]])


def test_sampling_is_seeded_valid_and_varied():
    archs = [sample_arch(random.Random(s)) for s in range(50)]
    assert archs == [sample_arch(random.Random(s)) for s in range(50)]
    assert len(set(archs)) == 50
    for arch in archs:
        assert format_arch(parse_arch(arch)) == arch
    ops = {op for arch in archs for op, _ in parse_arch(arch).normal}
    assert ops == set(NB301_OPS)


def test_mutation_changes_exactly_one_field_of_one_pair():
    rng = random.Random(1)
    kinds = set()
    for _ in range(200):
        arch = sample_arch(rng)
        child = mutate_arch(arch, rng)
        a, b = parse_compact(arch), parse_compact(child)
        diffs = [(c, e) for c in range(2) for e in range(8) if a[c][e] != b[c][e]]
        assert len(diffs) == 1
        (c, e), = diffs
        kinds.add("op" if a[c][e][0] == b[c][e][0] else "input")
        assert (a[c][e][0] == b[c][e][0]) != (a[c][e][1] == b[c][e][1])
    assert kinds == {"op", "input"}


def test_space_is_registered_with_the_naslib_defaults():
    from gradsign_fast.nas.sweep_config import SweepConfig

    config = SweepConfig(space="darts")  # what --space darts gets without --channels/--cells
    space = resolve_space(config.space, channels=config.channels, cells=config.cells)
    net = space.build(GOOD)
    assert (net.C, net.layers) == (32, 8) and net.training
    assert space.sample is not None and space.mutate is not None and space.archs is None
    with pytest.raises(ValueError, match="not a DARTS arch string"):
        space.build("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")


# ------------------------------------------------------------------ the network against NASLib's

def test_parameter_counts_equal_naslib_network_at_the_defaults():
    rows = _rows()
    for i in ROWS:
        arch = rows[i]["arch"]
        ours, theirs = build_darts(arch), _theirs(arch, 32, 8)
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_table_params_column_is_the_count_without_edge_op_batchnorm_affines():
    """NASLib's `params` column = the network's parameters less the affine BNs inside the edge ops."""
    rows = _rows()
    for i in ROWS:
        net = build_darts(rows[i]["arch"])
        in_ops = sum(p.numel() for cell in net.cells for m in cell.ops.modules() if isinstance(m, nn.BatchNorm2d)
                     for p in m.parameters())
        total = sum(p.numel() for p in net.parameters())
        assert total - in_ops == round(float(rows[i]["params"]) * 1e6)


@pytest.mark.parametrize("row", ROWS[:3])
def test_float64_gradsign_equals_naslib_network(row):
    """Small sizes (C=4, 5 cells, 3 images of 8x8) so it stays fast; their weights loaded into ours."""
    arch = _rows()[row]["arch"]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(row)
        theirs = _theirs(arch, 4, 5)
        ours = build_darts(arch, channels=4, cells=5)
    finally:
        torch.set_default_dtype(old)
    _load_by_order(ours, theirs)
    gen = torch.Generator().manual_seed(row)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=gen)
    y = torch.tensor([0, 1, 2])
    assert torch.equal(ours(x), theirs(x))
    reference = gradsign_fast.reference.score(theirs, x, y)
    assert gradsign_fast.reference.score(ours, x, y) == reference > 0
    assert gradsign_fast.score(ours, x, y) == gradsign_fast.score(theirs, x, y)


def test_network_shapes_and_errors():
    net = build_darts(GOOD, channels=4, cells=5, num_classes=7)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    with pytest.raises(ValueError, match="H, W >= 5"):
        net(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(n, 3, H, W\)"):
        net(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match="channels|C must"):
        build_darts(GOOD, channels=0)
