"""Sign-reduction ops: score = sum_k |sum_i sign(g[i, k])| over an (n, m) matrix, exact integers.

    sign_reduce(g, backend="auto") -> int      one shot, g: (n, m)
    ColumnSignCounts(m, ...).add(g_chunk) ...  the same over successive chunks
    backends() -> list[str]                    what runs in this process
This package is a leaf: it imports nothing of gradsign_fast outside it but errors and options.
"""

from __future__ import annotations

import importlib

import torch

from . import registry
from .column_counts import REDUCTIONS, ColumnSignCounts, check_reduction, reduce_counts
from .input_checks import FLOAT_DTYPES, check_matrix


def _module_loader(module: str):
    def load():
        return importlib.import_module(f"{__name__}.{module}").load()

    return load


registry.register("torch", lambda: importlib.import_module(f"{__name__}.torch_ref"))
registry.register("cpp", _module_loader("cpp"))
registry.register("triton", _module_loader("triton_sign_reduce"))
registry.register("cuda", _module_loader("cuda"))


def backends() -> list[str]:
    """Names of the sign-reduction backends that run in this process, on a device this machine has."""
    return registry.runnable()


def sign_reduce(g: torch.Tensor, *, backend: str = "auto") -> int:
    """sum_k |sum_i sign(g[i, k])| for g: (n, m), skipping columns that hold a NaN; a Python int."""
    check_matrix(g)
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string such as 'auto', 'torch' or 'cpp', got {backend!r}")
    return int(registry.resolve(backend, g.device).sign_reduce(g))


__all__ = ["FLOAT_DTYPES", "REDUCTIONS", "ColumnSignCounts", "backends", "check_reduction", "reduce_counts",
           "registry", "sign_reduce"]
