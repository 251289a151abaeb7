"""Search spaces as code: NAS-Bench-201 and user factories, build / sample / mutate."""

from __future__ import annotations

import collections
import random
import sys

import pytest
from shared_data import shared_file
from torch import nn

from gradsign_fast.nas import EDGES, NB201Network, parse_arch, resolve_space, sample_arch_strings
from gradsign_fast.nas.spaces import index_maps, load_factory, mutate_nb201

USER_SPACE = '''
from torch import nn

def build(arch, num_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, int(arch) * num_classes))

def no_classes(arch):
    return nn.Linear(4, int(arch))

def sample_arch(rng):
    return str(rng.randint(1, 50))

def mutate_arch(arch, rng):
    return str(int(arch) + rng.choice((-1, 1)))

def all_archs():
    return [str(i) for i in range(1, 4)]

not_callable = 3
'''


@pytest.fixture()
def user_space(tmp_path, monkeypatch):
    (tmp_path / "user_space.py").write_text(USER_SPACE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_space"


def test_nb201_space_builds_the_configured_model():
    space = resolve_space("nb201", variant="benchmark", channels=4, cells=1)
    arch = sample_arch_strings(1, 3)[0]
    model = space.build(arch, 100)
    assert isinstance(model, NB201Network) and model.training
    assert (model.variant, model.C, model.N, model.num_classes, model.arch) == ("benchmark", 4, 1, 100, arch)
    assert resolve_space("NAS-Bench-201").name == "nb201"
    with pytest.raises(ValueError, match="malformed NAS-Bench-201 arch"):
        space.build("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="variant"):
        resolve_space("nb201", variant="tiny")


def test_nb201_sampling_and_enumeration():
    space = resolve_space("nb201")
    assert space.sample_many(7, seed=2) == sample_arch_strings(7, 2)
    assert len(space.archs()) == 15625
    rng = random.Random(0)
    assert all(parse_arch(space.sample(rng)) for _ in range(20))


def test_nb201_mutation_changes_exactly_one_edge_uniformly():
    rng = random.Random(0)
    parent = sample_arch_strings(1, 0)[0]
    counts = collections.Counter(mutate_nb201(parent, rng) for _ in range(4800))
    assert len(counts) == len(EDGES) * 4  # every one-edge neighbour: 6 edges x 4 other ops
    for child in counts:
        assert sum(a != b for a, b in zip(parse_arch(parent), parse_arch(child))) == 1
    assert max(counts.values()) < 2 * min(counts.values())  # ~200 each


def test_user_factory_plugs_in_the_same_way(user_space):
    space = resolve_space(f"{user_space}:build")
    model = space.build("2", 5)
    assert isinstance(model, nn.Sequential) and model[1].out_features == 10  # num_classes passed through
    assert resolve_space(f"{user_space}:no_classes").build("3", 7).out_features == 3  # not passed
    assert space.sample_many(5, seed=1) == space.sample_many(5, seed=1)
    assert len(set(space.sample_many(5, seed=1))) == 5
    assert space.mutate("5", random.Random(0)) in ("4", "6")
    assert space.archs() == ["1", "2", "3"]


@pytest.mark.parametrize("name, match", [
    ("no_such_module_xyz:build", "cannot import"),
    ("user_space:missing", "no attribute"),
    ("user_space:not_callable", "not a callable"),
    ("nb999", "unknown search space"),
    (":build", "module:function"),
])
def test_bad_space_names_say_what_to_fix(name, match, user_space):
    with pytest.raises(ValueError, match=match):
        resolve_space(name)


def test_factory_must_return_a_module(tmp_path, monkeypatch):
    (tmp_path / "bad_space.py").write_text("def build(arch):\n    return 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="expected an nn.Module"):
        resolve_space("bad_space:build").build("x")
    with pytest.raises(ValueError, match="sample_arch"):
        resolve_space("bad_space:build").sample_many(2)


def test_benchmark_index_and_string_from_a_table():
    from gradsign_fast.nas import arch_strings_from_table

    path = shared_file("nb201/nats_bench_tss_test_acc_200ep.csv")
    to_index, from_index = index_maps(arch_strings_from_table(path))
    assert len(from_index) == 15625 and len(to_index) == 15625
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert to_index[arch] == 1 and from_index[1] == arch  # row 1 of the benchmark


def _local_factory_module(tmp_path, monkeypatch, name):
    """A factory module `name`.py in a fresh current directory (not otherwise on sys.path)."""
    source = "from torch import nn\n\ndef build(arch='1'):\n    return nn.Linear(2, int(arch))\n"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, name, raising=False)
    for entry in ("", "."):  # as when run as a console script: the cwd is not on sys.path
        while entry in sys.path:
            monkeypatch.setattr(sys, "path", [p for p in sys.path if p != entry])


@pytest.mark.parametrize("spec, error", [("my_local_mod:build", None), ("my_local_mod:missing", "no attribute"),
                                         ("my_local_mod_absent:build", "cannot import")])
def test_load_factory_leaves_sys_path_as_it_was(tmp_path, monkeypatch, spec, error):
    _local_factory_module(tmp_path, monkeypatch, "my_local_mod")
    monkeypatch.delitem(sys.modules, "my_local_mod_absent", raising=False)
    before = list(sys.path)
    if error is None:
        factory, module = load_factory(spec)
        assert factory("3").out_features == 3 and module.__file__ == str(tmp_path / "my_local_mod.py")
    else:
        with pytest.raises(ValueError, match=error):
            load_factory(spec)
    assert sys.path == before


def test_load_factory_keeps_a_cwd_entry_that_was_already_there(tmp_path, monkeypatch):
    _local_factory_module(tmp_path, monkeypatch, "my_local_mod")
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    before = list(sys.path)
    load_factory("my_local_mod:build")
    assert sys.path == before
