"""NAS-Bench-201 architecture strings: strict parsing, formatting, enumeration, sampling.

A cell has 4 nodes; node j (1..3) sums one operation applied to each earlier node 0..j-1, so a cell
is 6 operations on the edges EDGES = (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2). The string
lists them node by node, edges in input order:

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
    e.g. |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

5 operations ** 6 edges = 15,625 cells, the whole benchmark.
"""

from __future__ import annotations

import itertools
import random
from typing import Sequence

# The benchmark's operation names, in its own order (xautodl's NAS_BENCH_201 list).
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) of the 6 edges, in the order the arch string lists them.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_ARCHS = len(NB201_OPS) ** len(EDGES)  # 15625

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def parse_arch(arch: str) -> tuple[str, ...]:
    """The 6 edge operations of `arch`, in EDGES order; ValueError saying what is wrong otherwise.

    Strict: exactly 3 '+'-separated nodes, each wrapped in '|', node j listing exactly j edges
    'op~k' with inputs k = 0..j-1 in order, op one of NB201_OPS, no whitespace.
    """
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a str like {_EXAMPLE!r}, got {type(arch).__name__}")

    def bad(why: str) -> ValueError:
        return ValueError(f"malformed NAS-Bench-201 arch string {arch!r}: {why}; expected e.g. {_EXAMPLE!r}")

    if arch != arch.strip() or any(c.isspace() for c in arch):
        raise bad("it contains whitespace (strip it first)")
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise bad(f"it has {len(nodes)} '+'-separated nodes, a cell has 3")
    ops: list[str] = []
    for j, node in enumerate(nodes, start=1):
        if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
            raise bad(f"node {j} ({node!r}) must start and end with '|'")
        edges = node[1:-1].split("|")
        if len(edges) != j:
            raise bad(f"node {j} has {len(edges)} edges, it needs exactly {j} (one from each of nodes 0..{j - 1})")
        for k, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep:
                raise bad(f"edge {edge!r} of node {j} is not 'op~input'")
            if op not in NB201_OPS:
                raise bad(f"unknown operation {op!r} in node {j}; known: {', '.join(NB201_OPS)}")
            if src != str(k):
                raise bad(f"edge {k} of node {j} reads input {src!r}, expected {k} (inputs 0..{j - 1} in order)")
            ops.append(op)
    return tuple(ops)


def format_arch(ops: Sequence[str]) -> str:
    """The arch string of 6 edge operations given in EDGES order (inverse of parse_arch)."""
    ops = tuple(ops)
    if len(ops) != len(EDGES) or any(op not in NB201_OPS for op in ops):
        raise ValueError(f"need {len(EDGES)} operations from {NB201_OPS}, got {ops!r}")
    nodes: list[list[str]] = [[], [], []]
    for op, (to, frm) in zip(ops, EDGES):
        nodes[to - 1].append(f"{op}~{frm}")
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def is_valid_arch(arch: object) -> bool:
    """True if parse_arch accepts `arch`."""
    try:
        parse_arch(arch)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def arch_from_index(i: int) -> str:
    """The i-th string of all_arch_strings() (0 <= i < 15625), without building the list."""
    if not 0 <= i < NUM_ARCHS:
        raise ValueError(f"index must be in [0, {NUM_ARCHS}), got {i}")
    digits = []
    for _ in EDGES:  # base-5 digits, last edge least significant
        i, d = divmod(i, len(NB201_OPS))
        digits.append(NB201_OPS[d])
    return format_arch(reversed(digits))


def all_arch_strings() -> list[str]:
    """All 15,625 cells, in OUR enumeration order, NOT the benchmark's index order.

    Order: itertools.product over the 6 edges in EDGES order, each edge's operation in NB201_OPS
    order, last edge (3<-2) varying fastest; so index 0 is all 'none' and index 1 differs only in
    edge 3<-2 ('skip_connect'). The benchmark numbers its architectures in its own order, which only
    its tables reveal: use nas.tables.arch_strings_from_table() for benchmark indices.
    """
    return [format_arch(ops) for ops in itertools.product(NB201_OPS, repeat=len(EDGES))]


def sample_arch_strings(k: int, seed: int = 0, *, population: Sequence[str] | None = None) -> list[str]:
    """`k` distinct arch strings drawn with random.Random(seed), without replacement.

    From all 15,625 cells (population=None), or from `population` (e.g. a table's strings).
    Same (k, seed, population) -> same list on every platform and Python >= 3.2.
    """
    size = NUM_ARCHS if population is None else len(population)
    if not isinstance(k, int) or not 0 <= k <= size:
        raise ValueError(f"k must be an int in [0, {size}], got {k!r}")
    picks = random.Random(seed).sample(range(size), k)
    if population is None:
        return [arch_from_index(i) for i in picks]
    return [population[i] for i in picks]

