"""Search spaces as code: resolve_space(name) -> Space, with build(arch), and sample/mutate for search.

    resolve_space("nb201", variant="zero_cost", channels=16, cells=5)   NAS-Bench-201 from arch strings
    resolve_space("my_pkg.models:build")                                any factory arch -> nn.Module

A user factory `module:function` is imported and plugged in the same way:

    def build(arch: str, num_classes: int = 10) -> nn.Module   # num_classes passed only if accepted
    # optional, module-level, for `search` and `sweep --archs K` / `--all`:
    def sample_arch(rng: random.Random) -> str
    def mutate_arch(arch: str, rng: random.Random) -> str
    def all_archs() -> list[str]

The module is imported from sys.path (the current directory is added first, so a `my_space.py`
beside the command works). An arch string is opaque to everything but the space.
"""

from __future__ import annotations

import re

import importlib
import inspect
import random
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

from torch import nn

from .nb201 import build_nb201
from .nb201_arch import EDGES, NB201_OPS, NUM_ARCHS, all_arch_strings, arch_from_index, format_arch, parse_arch

NB201_NAMES = ("nb201", "nas-bench-201", "nats-tss")


@dataclass(frozen=True)
class Space:
    """A search space. build(arch, num_classes) -> a freshly initialized nn.Module (train mode).

    check(arch) raises ValueError on a string the space does not know; sample(rng) -> arch,
    mutate(arch, rng) -> a neighbour arch, archs() -> every arch (finite spaces); None when the
    space does not offer it (search/--all then say so).
    """

    name: str
    build_fn: Callable[[str, int], nn.Module]
    check: Callable[[str], object] = lambda arch: None
    sample: Callable[[random.Random], str] | None = None
    mutate: Callable[[str, random.Random], str] | None = None
    archs: Callable[[], list[str]] | None = None

    def build(self, arch: str | None, num_classes: int = 10) -> nn.Module:
        """The model of `arch` with a `num_classes`-way head, in train mode (init from the global RNG).

        arch None: a factory space calls factory() without an arch; NAS-Bench-201 refuses it."""
        self.check(arch)
        model = self.build_fn(arch, num_classes)
        if not isinstance(model, nn.Module):
            raise TypeError(f"space {self.name!r} built a {type(model).__name__} for {arch!r}, expected an nn.Module")
        return model.train()

    def sample_many(self, k: int, seed: int = 0) -> list[str]:
        """k distinct archs from random.Random(seed) (NB201: the same list as sample_arch_strings)."""
        if self.name in NB201_NAMES:
            from .nb201_arch import sample_arch_strings

            return sample_arch_strings(k, seed)
        if self.sample is None:
            raise ValueError(f"space {self.name!r} has no sample_arch(rng); give archs explicitly (--arch-file)")
        rng, seen, out = random.Random(seed), set(), []
        for _ in range(100 * k + 100):
            if len(out) == k:
                break
            arch = self.sample(rng)
            if arch not in seen:
                seen.add(arch)
                out.append(arch)
        if len(out) < k:
            raise ValueError(f"space {self.name!r}: sample_arch gave only {len(out)} distinct archs, {k} asked for")
        return out


def sample_nb201(rng: random.Random) -> str:
    """A uniform random NAS-Bench-201 cell."""
    return arch_from_index(rng.randrange(NUM_ARCHS))


def mutate_nb201(arch: str, rng: random.Random) -> str:
    """Change one edge's operation: a uniform edge, a uniform op different from its current one."""
    ops = list(parse_arch(arch))
    edge = rng.randrange(len(EDGES))
    ops[edge] = rng.choice([op for op in NB201_OPS if op != ops[edge]])
    return format_arch(ops)


def nb201_space(variant: str = "zero_cost", channels: int = 16, cells: int = 5) -> Space:
    """NAS-Bench-201: 'zero_cost' (the authors' scored model) or 'benchmark' (TinyNetwork), C, N."""
    from .nb201_ops import check_variant

    check_variant(variant)

    def build(arch: str, num_classes: int) -> nn.Module:
        return build_nb201(arch, variant=variant, C=channels, N=cells, num_classes=num_classes)

    return Space("nb201", build, parse_arch, sample_nb201, mutate_nb201, all_arch_strings)


NB101_NAMES = ("nb101", "nas-bench-101")


def nb101_space(channels: int = 128, cells: int = 3) -> Space:
    """NAS-Bench-101 (nas.nb101): stem channels C (128) and cells per stack N (3), 3 stacks.

    Sampling and mutation follow the benchmark's examples (nas.nb101_arch); no archs(): the 423,624
    unique cells need the benchmark's own file to enumerate (sweep them from a table instead)."""
    from .nb101 import build_nb101
    from .nb101_arch import mutate_arch, parse_arch, sample_arch

    def build(arch: str, num_classes: int) -> nn.Module:
        return build_nb101(arch, channels=channels, cells=cells, num_classes=num_classes)

    return Space("nb101", build, parse_arch, sample_arch, mutate_arch, None)


DARTS_NAMES = ("darts", "nb301", "nas-bench-301")
NDS_NAMES = ("nds", "nds-imagenet", "nds-cifar")


def darts_space(channels: int = 32, cells: int = 8) -> Space:
    """The DARTS space (nas.darts): NB301 arch strings -> the DARTS CIFAR network, C channels, `cells` cells.

    Defaults: NASLib's zero-cost scoring network (C=32, 8 cells); NB301 sampling and mutation; no archs()."""
    from .darts import build_darts
    from .darts_genotype import mutate_arch, parse_arch, sample_arch

    def build(arch: str, num_classes: int) -> nn.Module:
        return build_darts(arch, channels=channels, cells=cells, num_classes=num_classes)

    return Space("darts", build, parse_arch, sample_arch, mutate_arch, None)


def nds_space(name: str = "nds") -> Space:
    """NDS records (nas.nds): 'nds'/'nds-imagenet' -> NetworkImageNet, 'nds-cifar' -> NetworkCIFAR, at the
    record's width and depth. No sampling, mutation or archs(): sweep the NDS table."""
    from .nds import build_nds, parse_arch

    variant = "cifar" if name.lower() == "nds-cifar" else "imagenet"

    def build(arch: str, num_classes: int) -> nn.Module:
        return build_nds(arch, variant=variant, num_classes=num_classes)

    return Space(name.lower(), build, parse_arch, None, None, None)


def load_factory(spec: str) -> tuple[Callable[..., nn.Module], object]:
    """'package.module:function' -> (function, module); clear errors for each way it can be wrong.

    The current directory is put first on sys.path (like `python -m`) only while the module is
    imported, and that entry is removed again (also when the import fails): sys.path ends as it began.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"a model factory is given as 'module:function' (e.g. my_models:build), got {spec!r}")
    add_cwd = "" not in sys.path and "." not in sys.path
    if add_cwd:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for factory {spec!r}: {exc} "
                         "(is it on PYTHONPATH or in the current directory?)") from None
    finally:
        if add_cwd and "" in sys.path:
            sys.path.remove("")  # the first "", ours unless the module put another before it
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (factory {spec!r})")
    if not callable(factory):
        raise ValueError(f"{spec!r} is a {type(factory).__name__}, not a callable factory")
    return factory, module


def call_factory(factory: Callable[..., nn.Module], arch: str | None, num_classes: int) -> nn.Module:
    """factory(arch) or factory() when arch is None; num_classes= is passed if the signature takes it."""
    try:
        params = inspect.signature(factory).parameters
        takes_classes = "num_classes" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):
        takes_classes = False
    kwargs = {"num_classes": num_classes} if takes_classes else {}
    return factory(**kwargs) if arch is None else factory(arch, **kwargs)


def factory_space(spec: str) -> Space:
    """A Space over a user factory 'module:function' (see the module docstring for the protocol)."""
    factory, module = load_factory(spec)

    def build(arch: str | None, num_classes: int) -> nn.Module:
        return call_factory(factory, arch, num_classes)

    def check(arch: str | None) -> None:
        if arch is not None and not isinstance(arch, str):
            raise TypeError(f"an arch is a str (or None: factory() without one), got {type(arch).__name__}")

    return Space(spec, build, check, getattr(module, "sample_arch", None), getattr(module, "mutate_arch", None),
                 getattr(module, "all_archs", None))


_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def is_factory_spec(text: str) -> bool:
    """Whether `text` names a factory 'module.path:function' (an NDS arch's JSON, which has colons too, does not)."""
    return bool(_FACTORY.fullmatch(text))


def resolve_space(name: str, *, variant: str = "zero_cost", channels: int = 16, cells: int = 5) -> Space:
    """'nb201' (aliases: nas-bench-201, nats-tss) or a factory 'module:function'.

    variant/channels/cells configure NAS-Bench-201 and are ignored by a factory.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a space is 'nb201' or 'module:function', got {name!r}")
    if name.lower() in NB201_NAMES:
        return nb201_space(variant, channels, cells)
    if name.lower() in NB101_NAMES:
        return nb101_space(channels, cells)
    if name.lower() in DARTS_NAMES:  # nas.darts: NB301 arch strings; SweepConfig's default size 32, 8
        return darts_space(channels, cells)
    if name.lower() in NDS_NAMES:  # nas.nds: width and depth come from the arch string
        return nds_space(name)
    if is_factory_spec(name):
        return factory_space(name)
    raise ValueError(f"unknown search space {name!r}: use 'nb201' or a factory 'module:function'")


def arch_from_table(text: str, csv_path: str | None) -> tuple[str, int | None]:
    """(arch, benchmark index): `text` is an arch string, or a row index of the table `csv_path`
    (NB201 tables: row i = benchmark index i); the index is looked up when a table is given."""
    from .tables import arch_strings_from_table

    if csv_path is None:
        if text.isdigit():
            raise ValueError(f"{text!r} looks like a benchmark index: give the table that numbers the archs "
                             "(--table shared/data/nb201/nats_bench_tss_test_acc_200ep.csv)")
        return text, None
    to_index, from_index = index_maps(arch_strings_from_table(csv_path))
    if text.isdigit():
        if int(text) >= len(from_index):
            raise ValueError(f"index {text} is past the {len(from_index)} rows of {csv_path}")
        return from_index[int(text)], int(text)
    return text, to_index.get(text)


def index_maps(table_archs: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """(arch -> benchmark index, index -> arch) from a table's strings in row order (first row wins)."""
    to_index: dict[str, int] = {}
    for i, arch in enumerate(table_archs):
        to_index.setdefault(arch, i)
    return to_index, list(table_archs)
