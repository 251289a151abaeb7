"""Sign-reduction ops: score = sum_k |sum_i sign(g[i, k])| over an (n, m) matrix, exact integers.

    sign_reduce(g, backend="auto") -> int      one shot, g: (n, m)
    SignAccumulator(m).add(g_chunk) ...        the same over successive row chunks
    backends() -> list[str]                    what runs in this process
"""

from __future__ import annotations

import importlib

import torch

from . import registry
from .accumulator import REDUCTIONS, SignAccumulator, reduce_counts
from .validate import check_matrix


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
    from ..dispatch import choose_backend

    check_matrix(g)
    return int(choose_backend(backend, g.device).sign_reduce(g))


__all__ = ["REDUCTIONS", "SignAccumulator", "backends", "reduce_counts", "registry", "sign_reduce"]
