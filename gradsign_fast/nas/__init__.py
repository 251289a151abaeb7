"""Search spaces for NAS experiments with GradSign.

    build_nb201(arch, variant="zero_cost")    a NAS-Bench-201 network; forward returns logits
    build_nb101(arch)                         a NAS-Bench-101 network ('<adjacency bits>|input|<op>|...|output')
    parse_arch / format_arch                  strict arch-string <-> 6 edge operations
    all_arch_strings(), sample_arch_strings() the 15,625 cells (our order), a seeded sample
    arch_strings_from_table(csv), load_table  arch tables (CSV): the benchmark's order, a column's numbers
    resolve_space(name) -> Space              'nb201' or a factory 'module:function'; build/sample/mutate
    score_arch(arch, config)                  build, seed, score and time one arch -> its record
    SweepConfig, pending, sweep               score many archs into a resumable ResultsFile (JSONL)
    local_sweep(archs, path, config, jobs=N)  the same on N local worker processes (claims split the work)
    precomputed("nb201", "cifar10")           the shipped scores: arch -> score, header, .complete
    load_scores, correlate                    Spearman / Kendall of scores vs accuracy; scatter_plot
    Benchmark, run_method, compare            RS, REA and the paper's G-RS / G-REA on an accuracy table
    validation_tables.report(results)         the README's NAS-Bench-201 validation tables
"""

from __future__ import annotations

from .nb101 import NB101Network, build_nb101
from .nb201 import NB201Cell, NB201Network, build_nb201, count_parameters
from .nb201_arch import (
    EDGES,
    NB201_OPS,
    NUM_ARCHS,
    all_arch_strings,
    arch_from_index,
    format_arch,
    is_valid_arch,
    parse_arch,
    sample_arch_strings,
)
from .nb201_ops import VARIANTS
from .correlate import Correlation, correlate, load_scores, scatter_plot
from .results import ResultsFile
from .scoring import score_arch
from .search import METHODS, Benchmark, RunResult, compare, run_method, summary_table
from .spaces import Space, resolve_space
from .sweep import CachedScorer, pending, sweep
from .jobs import local_sweep
from .precomputed import PrecomputedScores, precomputed
from .sweep_config import SweepConfig
from .tables import arch_strings_from_table, load_table

__all__ = [
    "Benchmark",
    "CachedScorer",
    "Correlation",
    "METHODS",
    "ResultsFile",
    "RunResult",
    "Space",
    "SweepConfig",
    "compare",
    "correlate",
    "load_scores",
    "load_table",
    "pending",
    "PrecomputedScores",
    "local_sweep",
    "precomputed",
    "resolve_space",
    "run_method",
    "scatter_plot",
    "score_arch",
    "summary_table",
    "sweep",
    "EDGES",
    "NB101Network",
    "NB201Cell",
    "NB201Network",
    "NB201_OPS",
    "NUM_ARCHS",
    "VARIANTS",
    "all_arch_strings",
    "arch_from_index",
    "arch_strings_from_table",
    "build_nb101",
    "build_nb201",
    "count_parameters",
    "format_arch",
    "is_valid_arch",
    "parse_arch",
    "sample_arch_strings",
]
