"""The NDS spaces: records -> networks, against the data file's parameter counts and NDS's pycls builder.

pycls (../shared/thirdparty/naswot-pycls-nds) imports `yacs` and `simplejson`, not installed here.
When they are missing, this file puts two minimal stand-ins in sys.modules while pycls is imported:
`yacs.config.CfgNode` as a dict with attribute access and a no-op register_deprecated_key (pycls
only assigns and reads config values at import and build time) and an empty `simplejson` (used only by pycls's log-writing functions, never
called here). Real modules are used when installed. Skips when the data or pycls is absent.
"""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import gradsign_fast
from gradsign_fast.nas.nds import build_nds, format_arch, nds_arch_from_row, parse_arch
from gradsign_fast.nas.spaces import resolve_space
from gradsign_fast.nas.tables import arch_strings_from_table, load_table
from shared_data import shared_file

PYCLS = Path(__file__).resolve().parents[2] / "shared" / "thirdparty" / "naswot-pycls-nds"
TABLE = "nds/nds_imagenet_subsets.csv"
SPACES = ("DARTS_in", "ENAS_in", "PNAS_in", "NASNet_in", "Amoeba_in")
pytestmark = pytest.mark.usefixtures("one_thread")


def _rows() -> list[dict[str, str]]:
    with shared_file(TABLE).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _first_of_each_space(rows):
    return [next(r for r in rows if r["space"] == s) for s in SPACES]


def _smallest_of_each_space(rows):
    """Per main space, its record with the fewest parameters (width 32, depth 6 in every space)."""
    return [min((r for r in rows if r["space"] == s), key=lambda r: int(r["params"])) for s in SPACES]


class _CfgNode(dict):
    """Stand-in for yacs.config.CfgNode: a dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def register_deprecated_key(self, key):  # called at import; the stand-in has nothing to deprecate
        pass


@pytest.fixture(scope="module")
def pycls_nas():
    """NDS's pycls.models.nas.nas module (with the stand-ins above when yacs/simplejson are missing)."""
    if not (PYCLS / "pycls" / "models" / "nas" / "nas.py").is_file():
        pytest.skip("NDS pycls builder not found beside the repository (../shared/thirdparty/naswot-pycls-nds)")
    added = {}
    try:
        import yacs.config  # noqa: F401
    except ImportError:
        yacs = types.ModuleType("yacs")
        yacs.config = types.ModuleType("yacs.config")
        yacs.config.CfgNode = _CfgNode
        added.update({"yacs": yacs, "yacs.config": yacs.config})
    try:
        import simplejson  # noqa: F401
    except ImportError:
        added["simplejson"] = types.ModuleType("simplejson")
    before = set(sys.modules)
    sys.modules.update(added)
    sys.path.insert(0, str(PYCLS))
    try:
        from pycls.models.nas import nas
        yield nas
    finally:
        sys.path.remove(str(PYCLS))
        for name in set(sys.modules) - before:
            if name == "pycls" or name.startswith("pycls.") or name in added:
                del sys.modules[name]


def _theirs(nas, row, num_classes, variant="imagenet"):
    g = json.loads(row["genotype_json"])
    genotype = nas.Genotype(normal=[tuple(e) for e in g["normal"]], normal_concat=g["normal_concat"],
                            reduce=[tuple(e) for e in g["reduce"]], reduce_concat=g["reduce_concat"])
    ctor = nas.NetworkImageNet if variant == "imagenet" else nas.NetworkCIFAR
    net = ctor(int(row["width"]), num_classes, int(row["depth"]), False, genotype)
    net.drop_path_prob = 0.0
    return net.train()


def _arch(row) -> str:
    return nds_arch_from_row(row["genotype_json"], row["width"], row["depth"])


# ------------------------------------------------------------------ arch strings and tables

def test_every_record_round_trips_and_tables_give_its_string():
    rows = _rows()
    path = shared_file(TABLE)
    archs = arch_strings_from_table(path)
    assert archs == [_arch(r) for r in rows]
    for arch in archs[:50] + archs[-50:]:
        genotype, width, depth = parse_arch(arch)
        assert format_arch(genotype, width, depth) == arch
    accs = load_table(path, "final_test_acc", where={"space": "Amoeba_in"})
    assert len(accs) == sum(r["space"] == "Amoeba_in" for r in rows)


GOOD = ('{"width":16,"depth":5,"genotype":{"normal":[["sep_conv_3x3",0],["none",1],["max_pool_5x5",0],'
        '["conv_7x1_1x7",2]],"normal_concat":[2,3],"reduce":[["skip_connect",0],["dil_sep_conv_3x3",1],'
        '["avg_pool_3x3",2],["conv_1x1",0]],"reduce_concat":[3]}}')


@pytest.mark.parametrize("bad, why", [
    ("17", "not an NDS arch string"),
    ("{not json", "not an NDS arch string"),
    (GOOD.replace('"width":16,', '"width": 16,'), "canonical form"),
    (GOOD.replace('{"width":16,"depth":5,', '{"depth":5,"width":16,'), "not an NDS arch string"),
    (GOOD.replace('"width":16', '"width":15'), "width must be even"),
    (GOOD.replace("sep_conv_3x3", "sep_conv_9x9"), "unknown op"),
    (GOOD.replace('["conv_7x1_1x7",2]', '["conv_7x1_1x7",3]'), "earlier node"),
    (GOOD.replace('"reduce_concat":[3]', '"reduce_concat":[4]'), "reduce_concat"),
])
def test_bad_arch_strings_say_what_is_wrong(bad, why):
    with pytest.raises(ValueError, match=why):
        parse_arch(bad)


def test_spaces_are_registered():
    for name, stem in (("nds", "imagenet"), ("nds-imagenet", "imagenet"), ("nds-cifar", "cifar")):
        space = resolve_space(name)
        net = space.build(GOOD, num_classes=3)
        assert net.stem_kind == stem and (net.C, net.layers, net.num_classes) == (16, 5, 3)
        assert space.sample is None and space.archs is None
    with pytest.raises(ValueError, match="H, W >= 33"):
        build_nds(GOOD, num_classes=3)(torch.randn(2, 3, 32, 32))
    assert build_nds(GOOD, variant="cifar", num_classes=3)(torch.randn(2, 3, 9, 9)).shape == (2, 3)


# ------------------------------------------------------------------ against the data file and pycls

def test_parameter_counts_equal_the_data_file():
    """NetworkImageNet with 1000 classes, one record of each main space plus the largest DARTS one."""
    rows = _rows()
    picked = _first_of_each_space(rows) + [max(rows, key=lambda r: int(r["params"]))]
    for row in picked:
        net = build_nds(_arch(row), num_classes=1000)
        assert sum(p.numel() for p in net.parameters()) == int(row["params"]), row["space"]


def _load_by_order(ours: nn.Module, theirs: nn.Module) -> None:
    mine, other = ours.state_dict(), theirs.state_dict()
    assert len(mine) == len(other)
    for (k, v), (k2, v2) in zip(mine.items(), other.items()):
        assert v.shape == v2.shape, (k, k2)
    ours.load_state_dict(dict(zip(mine, other.values())))


@pytest.mark.parametrize("variant, size", [("imagenet", 64), ("cifar", 16)])
def test_float64_gradsign_equals_pycls_network(pycls_nas, variant, size):
    """The smallest record of each main space at its own width and depth; 2 images (64x64 ImageNet,
    16x16 CIFAR), so CI stays fast."""
    for k, row in enumerate(_smallest_of_each_space(_rows())):
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            theirs = _theirs(pycls_nas, row, 5, variant)
            ours = build_nds(_arch(row), variant=variant, num_classes=5)
        finally:
            torch.set_default_dtype(old)
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
        _load_by_order(ours, theirs)
        x = torch.randn(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        y = torch.tensor([1, 4])
        assert torch.equal(ours(x), theirs(x)), row["space"]
        reference = gradsign_fast.reference.score(theirs, x, y)
        assert gradsign_fast.reference.score(ours, x, y) == reference > 0, row["space"]
