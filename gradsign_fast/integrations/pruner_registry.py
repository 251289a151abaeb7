"""GradSign as a measure of the zero-cost pruner registry SamsungLabs wrote (zero-cost-nas, NASLib).

Both the GradSign authors' fork of zero-cost-nas (`foresight.pruners.measures`) and NASLib
(`naslib.predictors.utils.pruners.measures`) keep the same registry:

    measure(name, bn=True, copy_net=True, **impl_args)(func)    registers func under `name`
                                                                 (KeyError if `name` is taken)
    calc_measure(name, net, device, inputs, targets, loss_fn=..., split_data=k)
        = func(net.get_prunable_copy(bn=bn).to(device), inputs, targets,
               loss_fn=..., split_data=k, **impl_args)

and their find_measures() reports, for every measure it does not special-case,
sum_j torch.sum(value[j]).item(): a measure returns a list of tensors (a bare float fails there with
"object of type 'float' has no len()"). This one returns

    gradsign_measure(net, inputs: (n, ...), targets: (n, ...), loss_fn, split_data=1, **options)
        -> [torch.tensor(gradsign_fast.score(net, inputs, targets, loss_fn, **options), dtype=float64)]

so find_measures reports exactly score() (a float64 0-d tensor holds every score exactly: a "sum"
score is an integer below 2**53). `options` are score()'s keyword arguments OPTION_NAMES, fixed at
registration. split_data=k (find_measures raises it after a CUDA out-of-memory error) becomes
chunk_size=ceil(n / k) unless a chunk_size option is set; chunking never changes the score.

register_in(measures_module, name, options) is idempotent: registering `name` again with the same
options does nothing; with other options, or over a measure that is not this one, it raises a
ValueError that says to pick another name.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any, Callable

import torch
from torch.nn import functional as F

from ..api import score
from ..ops import check_reduction
from ..options import ENGINES

MEASURE_NAME = "gradsign_fast"
OPTION_NAMES = ("reduction", "params", "engine", "backend", "chunk_size", "dropout")
_TAG = "__gradsign_fast_options__"  # set on the registry's wrapper of gradsign_measure


def gradsign_measure(net: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     loss_fn: Callable[..., torch.Tensor] = F.cross_entropy, split_data: int = 1,
                     **options: Any) -> list[torch.Tensor]:
    """[0-d float64 tensor]: GradSign of `net` (the registry's copy) on inputs (n, ...) / targets (n, ...)."""
    if options.get("chunk_size") is None and isinstance(split_data, int) and split_data > 1:
        options["chunk_size"] = max(1, math.ceil(inputs.shape[0] / split_data))
    value = score(net, inputs, targets, loss_fn, **options)
    return [torch.tensor(value, dtype=torch.float64)]


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The registration's score() options, checked now rather than at the first find_measures()."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for the gradsign_fast measure; it takes score()'s "
                        f"{', '.join(OPTION_NAMES)}")
    if "reduction" in options:
        check_reduction(options["reduction"])
    if "engine" in options and options["engine"] not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {options['engine']!r}")
    return dict(options)


def register_in(measures: ModuleType, name: str = MEASURE_NAME, options: dict[str, Any] | None = None) -> str:
    """Registers gradsign_measure as `name` in a zero-cost registry module (its @measure, bn=True); returns name.

    Idempotent for the same name and options; a ValueError if `name` holds another measure or this one
    with other options.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a measure name is a non-empty string, got {name!r}")
    options = check_options(options or {})
    impls = getattr(measures, "_measure_impls", None)
    if not isinstance(impls, dict) or not callable(getattr(measures, "measure", None)):
        raise TypeError(f"{getattr(measures, '__name__', measures)!r} is not a zero-cost measure registry "
                        "(expected a module with measure() and _measure_impls, like foresight.pruners.measures)")
    existing = impls.get(name)
    if existing is not None:
        registered = getattr(existing, _TAG, None)
        if registered is None:
            raise ValueError(f"the measure name {name!r} is already taken in {measures.__name__} by another "
                             "measure: register gradsign_fast under another name (register(name=...))")
        if registered != options:
            raise ValueError(f"{name!r} is already registered in {measures.__name__} with options {registered}; "
                             f"to score with {options} too, register it under another name (register(name=...))")
        return name
    measures.measure(name, bn=True, **options)(gradsign_measure)
    setattr(impls[name], _TAG, options)
    return name


def import_registry(module: str, what: str) -> ModuleType:
    """Imports a registry module, or raises an ImportError that says how to make `what` importable."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"cannot import {module} ({exc}): {what}") from exc
