"""Search spaces for NAS experiments with GradSign.

    build_nb201(arch, variant="zero_cost")    a NAS-Bench-201 network; forward returns logits
    parse_arch / format_arch                  strict arch-string <-> 6 edge operations
    all_arch_strings(), sample_arch_strings() the 15,625 cells (our order), a seeded sample
    arch_strings_from_table(csv)              the benchmark's order, from its accuracy tables
"""

from __future__ import annotations

from .nb201 import NB201Cell, NB201Network, build_nb201, count_parameters
from .nb201_arch import (
    EDGES,
    NB201_OPS,
    NUM_ARCHS,
    all_arch_strings,
    arch_from_index,
    arch_strings_from_table,
    format_arch,
    is_valid_arch,
    parse_arch,
    sample_arch_strings,
)
from .nb201_ops import VARIANTS

__all__ = [
    "EDGES",
    "NB201Cell",
    "NB201Network",
    "NB201_OPS",
    "NUM_ARCHS",
    "VARIANTS",
    "all_arch_strings",
    "arch_from_index",
    "arch_strings_from_table",
    "build_nb201",
    "count_parameters",
    "format_arch",
    "is_valid_arch",
    "parse_arch",
    "sample_arch_strings",
]
