"""DARTS genotypes and the NAS-Bench-301 arch string (NASLib's compact tuple encoding).

A DARTS cell has 2 input nodes (0: the cell before the previous one, 1: the previous cell) and k
intermediate nodes; node 2+j is the sum of two edges (op, input), input < 2+j. The cell's output
concatenates the nodes in `concat` along channels. A network uses one normal and one reduce cell:

    Genotype(normal=(("sep_conv_3x3", 0), ("skip_connect", 1), ...), normal_concat=(2, 3, 4, 5),
             reduce=(...), reduce_concat=(2, 3, 4, 5))

The NAS-Bench-301 space (DARTS' search space, what ../shared/data/darts/ holds) has 4 intermediate
nodes, concat (2, 3, 4, 5), and 7 ops (NB301_OPS; no 'none'). Its arch string is NASLib's compact
encoding written exactly as Python prints it, the `arch` column of the NB301 table:

    "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), ...]]"

two cells (normal, reduce), each 8 pairs (input_node, op_index) with op_index into NB301_OPS
(NASLib's convert_compact_to_genotype order). Pairs 2j and 2j+1 feed node 2+j: their inputs are
distinct and in 0..j+1. The pair order is kept as given (it decides the module order, hence the
init draws), so the string round-trips: format_arch(parse_arch(s)) == s.

NASLib's build_darts_net.parse_arch_to_darts reads op indices with a leading 'none' (0 = none,
1 = max_pool_3x3, ...): that is one off for this encoding. The table's `params` column matches
convert_compact_to_genotype's order on all 725 archs and not the other, so that is the one used here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

NB301_OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                              "dil_conv_3x3", "dil_conv_5x5")
NB301_NODES = 4  # intermediate nodes per cell
NB301_CONCAT = (2, 3, 4, 5)

Edge = tuple[str, int]  # (op name, input node)

_PAIR = r"\((\d+), (\d+)\)"
_CELL = r"\[" + ", ".join([_PAIR] * (2 * NB301_NODES)) + r"\]"
_ARCH_RE = re.compile(r"\[" + _CELL + ", " + _CELL + r"\]")
FORMAT_HELP = ("a DARTS arch is NASLib's compact encoding as Python prints it: "
               "'[[(0, 0), (1, 5), ...8 pairs...], [...8 pairs...]]', each pair (input_node, op_index), "
               f"op_index into {list(NB301_OPS)}")


@dataclass(frozen=True)
class Genotype:
    """A DARTS-style genotype: per cell type, edges (op, input node) two per intermediate node, and
    the nodes concatenated into the cell's output."""

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def cell(self, reduction: bool) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        """(edges, concat) of the reduce cell if `reduction`, else of the normal cell."""
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)


Compact = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def parse_compact(arch: str) -> Compact:
    """The NB301 arch string -> ((normal pairs), (reduce pairs)), each pair (input, op_index); checked."""
    if not isinstance(arch, str):
        raise TypeError(f"a DARTS arch is a str, got {type(arch).__name__}")
    match = _ARCH_RE.fullmatch(arch)
    if match is None:
        raise ValueError(f"not a DARTS arch string: {arch[:120]!r}; {FORMAT_HELP}")
    numbers = [int(v) for v in match.groups()]
    pairs = [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2)]
    cells = (tuple(pairs[:8]), tuple(pairs[8:]))
    for name, cell in zip(("normal", "reduce"), cells):
        _check_cell(arch, name, cell)
    return cells


def _check_cell(arch: str, name: str, cell: tuple[tuple[int, int], ...]) -> None:
    for e, (node_in, op) in enumerate(cell):
        node = e // 2
        if op >= len(NB301_OPS):
            raise ValueError(f"DARTS arch {arch[:120]!r}: {name} cell pair {e} has op_index {op}; "
                             f"op_index is 0..{len(NB301_OPS) - 1} ({', '.join(NB301_OPS)})")
        if node_in > node + 1:
            raise ValueError(f"DARTS arch {arch[:120]!r}: {name} cell pair {e} feeds node {node + 2} from node "
                             f"{node_in}; node {node + 2} takes inputs 0..{node + 1} only")
    for node in range(NB301_NODES):
        if cell[2 * node][0] == cell[2 * node + 1][0]:
            raise ValueError(f"DARTS arch {arch[:120]!r}: {name} cell pairs {2 * node} and {2 * node + 1} both "
                             f"take node {cell[2 * node][0]}; the two inputs of a node are distinct")


def format_compact(cells: Compact) -> str:
    """((normal pairs), (reduce pairs)) -> the NB301 arch string (checked)."""
    text = str([[tuple(int(v) for v in pair) for pair in cell] for cell in cells])
    parse_compact(text)
    return text


def parse_arch(arch: str) -> Genotype:
    """The NB301 arch string -> its Genotype (convert_compact_to_genotype's op order)."""
    normal, reduce = parse_compact(arch)
    return Genotype(normal=tuple((NB301_OPS[op], i) for i, op in normal), normal_concat=NB301_CONCAT,
                    reduce=tuple((NB301_OPS[op], i) for i, op in reduce), reduce_concat=NB301_CONCAT)


def format_arch(genotype: Genotype) -> str:
    """A Genotype of the NB301 space -> its arch string; other genotypes raise ValueError."""
    if genotype.normal_concat != NB301_CONCAT or genotype.reduce_concat != NB301_CONCAT:
        raise ValueError(f"an NB301 genotype concatenates nodes {NB301_CONCAT}, got {genotype.normal_concat} "
                         f"and {genotype.reduce_concat}")
    cells = []
    for edges in (genotype.normal, genotype.reduce):
        unknown = [op for op, _ in edges if op not in NB301_OPS]
        if unknown or len(edges) != 2 * NB301_NODES:
            raise ValueError(f"an NB301 cell has {2 * NB301_NODES} edges with ops among {NB301_OPS}; got {edges}")
        cells.append(tuple((i, NB301_OPS.index(op)) for op, i in edges))
    return format_compact((cells[0], cells[1]))


def sample_arch(rng: random.Random) -> str:
    """A uniform NB301 arch: per node two distinct inputs among the earlier nodes, each a uniform op."""
    cells = []
    for _ in range(2):
        pairs = []
        for node in range(NB301_NODES):
            for node_in in rng.sample(range(node + 2), 2):
                pairs.append((node_in, rng.randrange(len(NB301_OPS))))
        cells.append(tuple(pairs))
    return format_compact((cells[0], cells[1]))


def mutate_arch(arch: str, rng: random.Random) -> str:
    """A neighbour: one pair of one cell changes its op (to another op) or its input (to another
    earlier node the sibling edge does not use), half the time each when both are possible."""
    cells = [list(cell) for cell in parse_compact(arch)]
    c, e = rng.randrange(2), rng.randrange(2 * NB301_NODES)
    node_in, op = cells[c][e]
    sibling_in = cells[c][e ^ 1][0]
    inputs = [i for i in range(e // 2 + 2) if i not in (node_in, sibling_in)]
    if inputs and rng.random() < 0.5:
        cells[c][e] = (rng.choice(inputs), op)
    else:
        cells[c][e] = (node_in, rng.choice([o for o in range(len(NB301_OPS)) if o != op]))
    return format_compact((tuple(cells[0]), tuple(cells[1])))
