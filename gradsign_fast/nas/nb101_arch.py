"""NAS-Bench-101 cells as strings: strict parsing and formatting, pruning, sampling, mutation.

A cell is a DAG of n vertices (2 <= n <= 7): vertex 0 is the input, vertex n-1 the output, each
vertex in between one operation (OPS). Its adjacency matrix A (n x n, A[i][j] = 1 for an edge i -> j)
is strictly upper triangular. The arch string is the two columns of ../shared/data/nb101/*.csv joined
by '|' (so every field is '|'-separated):

    <adjacency: the n*n bits of A, row-major>|input|<op of vertex 1>|...|<op of vertex n-2>|output
    e.g. 0111000001000100010000000100000001000000010000000|input|maxpool3x3|conv1x1-bn-relu|maxpool3x3|
         conv3x3-bn-relu|conv1x1-bn-relu|output                          (one string, no line break)

Strict: a string is accepted only if it is a cell of the benchmark as it stores cells: PRUNED (every
vertex on a path from input to output), at most 9 edges, at most 7 vertices. prune(matrix, ops) turns
any upper-triangular graph into that form (or None when input does not reach output), as the
benchmark's ModelSpec does. Isomorphic cells have different strings; the benchmark (423,624 unique
cells) stores one per class, and this module does not canonicalize, so the space is not enumerated.

Sampling and mutation follow NAS-Bench-101's own random search / regularized evolution examples:
sample_arch draws a 7x7 upper-triangular matrix of fair coin flips and uniform interior ops and keeps
the first draw that is valid after pruning; mutate_arch flips each of the 21 possible edges with
probability 1/7 and changes each of the 5 interior ops with probability 1/5 (to a different op), on the
cell embedded in 7 vertices, until the pruned result is valid and differs from the parent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # the benchmark's order
INPUT, OUTPUT = "input", "output"
MAX_VERTICES, MAX_EDGES = 7, 9

_EXAMPLE = ("0111000001000100010000000100000001000000010000000|input|maxpool3x3|conv1x1-bn-relu|maxpool3x3|"
            "conv3x3-bn-relu|conv1x1-bn-relu|output")

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Cell:
    """A checked NAS-Bench-101 cell: matrix (n x n tuple of 0/1 rows), ops (n names, input ... output)."""

    matrix: Matrix
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def __str__(self) -> str:
        return format_arch(self.matrix, self.ops)


def parse_arch(arch: str) -> Cell:
    """The Cell of an arch string; ValueError saying what is wrong otherwise (see the module docstring)."""
    matrix, ops = _split(arch)
    try:
        check_cell(matrix, ops)
    except ValueError as exc:
        raise _bad(arch, str(exc)) from None
    return Cell(matrix, ops)


def _split(arch: str) -> tuple[Matrix, tuple[str, ...]]:
    """(matrix, ops) of an arch string, checked for form only (bits, a square matrix for the ops)."""
    if not isinstance(arch, str):
        raise TypeError(f"an NB101 arch is a str like {_EXAMPLE!r}, got {type(arch).__name__}")
    if any(c.isspace() for c in arch):
        raise _bad(arch, "it contains whitespace")
    adjacency, *ops = arch.split("|")
    n = len(ops)
    if set(adjacency) - {"0", "1"} or not adjacency:
        raise _bad(arch, f"the first field {adjacency[:60]!r} must be the adjacency bits (0/1), row-major")
    if len(adjacency) != n * n:
        raise _bad(arch, f"{n} ops need an adjacency of {n}x{n} = {n * n} bits, got {len(adjacency)}")
    return tuple(tuple(int(b) for b in adjacency[i * n:(i + 1) * n]) for i in range(n)), tuple(ops)


def format_arch(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """The arch string of a cell (checked first: ValueError if it is not a valid pruned cell)."""
    matrix = tuple(tuple(int(v) for v in row) for row in matrix)
    check_cell(matrix, ops)
    return "|".join(["".join(str(v) for row in matrix for v in row), *ops])


def arch_from_row(adjacency: str, ops: str) -> str:
    """The arch string of a row of ../shared/data/nb101/*.csv (columns `adjacency`, `ops`), pruned.

    The 2,500-cell file stores pruned cells; the 500-cell NASLib file stores the benchmark's original
    7-vertex matrices (up to 12 edges, dangling vertices included; their nb101_hash is that of the
    pruned cell), so rows are pruned before they are checked.
    """
    matrix, names = _split(f"{adjacency}|{ops}")
    upper = all(not matrix[i][j] for i in range(len(matrix)) for j in range(i + 1))
    pruned = prune(matrix, names) if upper else None
    return format_arch(*pruned) if pruned is not None else format_arch(matrix, names)  # raises, saying why


def check_cell(matrix: Matrix, ops: Sequence[str]) -> None:
    """ValueError unless (matrix, ops) is a valid pruned cell: sizes, labels, DAG, connectivity, edges."""
    n = len(ops)
    if not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"a cell has 2 to {MAX_VERTICES} vertices, got {n}")
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError(f"the adjacency matrix must be {n}x{n} for {n} ops")
    if any(v not in (0, 1) for row in matrix for v in row):
        raise ValueError("adjacency entries must be 0 or 1")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"ops must start with {INPUT!r} and end with {OUTPUT!r}, got {ops[0]!r} ... {ops[-1]!r}")
    for v, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise ValueError(f"unknown op {op!r} at vertex {v}; interior ops are {', '.join(OPS)}")
    below = [(i, j) for i in range(n) for j in range(i + 1) if matrix[i][j]]
    if below:
        raise ValueError(f"the matrix is not strictly upper triangular: edge {below[0][0]}->{below[0][1]} "
                         "(edges go from a lower to a higher vertex)")
    edges = sum(map(sum, matrix))
    if edges > MAX_EDGES:
        raise ValueError(f"{edges} edges; NAS-Bench-101 cells have at most {MAX_EDGES}")
    useful = _reachable(matrix, 0, forward=True) & _reachable(matrix, n - 1, forward=False)
    if n - 1 not in useful:
        raise ValueError("the input does not reach the output (disconnected cell)")
    dangling = sorted(set(range(n)) - useful)
    if dangling:
        raise ValueError(f"vertex {dangling[0]} is not on a path from input to output (disconnected); "
                         "prune the cell first (gradsign_fast.nas.nb101_arch.prune)")


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]] | None:
    """Drop every vertex not on an input->output path (the benchmark's pruning); None if input does
    not reach output. The matrix must be square and upper triangular; labels are kept as given."""
    n = len(matrix)
    useful = _reachable(matrix, 0, forward=True) & _reachable(matrix, n - 1, forward=False)
    if n - 1 not in useful:
        return None
    keep = sorted(useful)
    return tuple(tuple(int(matrix[i][j]) for j in keep) for i in keep), tuple(ops[i] for i in keep)


def _reachable(matrix: Sequence[Sequence[int]], start: int, *, forward: bool) -> set[int]:
    """Vertices reachable from `start` along edges (forward) or against them (backward), start included."""
    n, seen, stack = len(matrix), {start}, [start]
    while stack:
        v = stack.pop()
        for w in range(n):
            edge = matrix[v][w] if forward else matrix[w][v]
            if edge and w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def _valid_pruned(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str | None:
    """The arch string of the pruned (matrix, ops) if it is a valid cell, else None."""
    pruned = prune(matrix, ops)
    if pruned is None or sum(map(sum, pruned[0])) > MAX_EDGES:
        return None
    return format_arch(*pruned)


def sample_arch(rng: random.Random) -> str:
    """A random valid cell, NAS-Bench-101's way: fair coin per upper-triangular entry of a 7x7 matrix,
    uniform interior ops, redrawn until valid after pruning (<= 9 edges)."""
    n = MAX_VERTICES
    while True:
        matrix = [[int(j > i and rng.random() < 0.5) for j in range(n)] for i in range(n)]
        ops = [INPUT, *(rng.choice(OPS) for _ in range(n - 2)), OUTPUT]
        arch = _valid_pruned(matrix, ops)
        if arch is not None:
            return arch


def mutate_arch(arch: str, rng: random.Random) -> str:
    """A valid neighbour of `arch` (never `arch` itself), NAS-Bench-101's evolution mutation at rate 1.

    The cell is first embedded in 7 vertices (missing vertices isolated, before the output, with
    uniform ops); then each of the 21 upper-triangular entries flips with probability 1/7 and each of
    the 5 interior ops changes (to another op) with probability 1/5; redrawn until valid and new.
    """
    cell = parse_arch(arch)
    n, extra = cell.num_vertices, MAX_VERTICES - cell.num_vertices
    for _ in range(10_000):
        ops = [*cell.ops[:-1], *(rng.choice(OPS) for _ in range(extra)), OUTPUT]
        matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for i in range(n):
            for j in range(n):  # vertex n-1 (the output) moves to 6
                matrix[i if i < n - 1 else MAX_VERTICES - 1][j if j < n - 1 else MAX_VERTICES - 1] = cell.matrix[i][j]
        for i in range(MAX_VERTICES):
            for j in range(i + 1, MAX_VERTICES):
                if rng.random() < 1 / MAX_VERTICES:
                    matrix[i][j] ^= 1
        for v in range(1, MAX_VERTICES - 1):
            if rng.random() < 1 / (MAX_VERTICES - 2):
                ops[v] = rng.choice([op for op in OPS if op != ops[v]])
        child = _valid_pruned(matrix, ops)
        if child is not None and child != arch:
            return child
    raise RuntimeError(f"no valid mutation of {arch!r} found in 10,000 draws")  # never seen in practice


def _bad(arch: str, why: str) -> ValueError:
    shown = arch if len(arch) <= 160 else arch[:157] + "..."
    return ValueError(f"malformed NAS-Bench-101 arch string {shown!r}: {why}; expected "
                      f"'<n*n adjacency bits>|input|<op>|...|output', e.g. {_EXAMPLE!r}")
