"""gradsign_fast.info(): what was built, what loads in this process, and why anything does not.

The build writes gradsign_fast/_build_info.json (setup.py): per extension ('cpp', 'cuda') whether it
was built and, if not, why. info() adds what runs here: loadable backends, the CPU instruction set,
and the reasons of the others. It stays cheap and never initialises CUDA unless asked (cuda=True)
or CUDA is already initialised.
"""

from __future__ import annotations

import platform

import torch

from . import options
from ._version import __version__
from .ops import registry
from .ops.build_record import build_reason, build_record


def _cpu_isa() -> dict:
    try:
        forced = options.cpu_isa()
    except ValueError as exc:  # GRADSIGN_CPU_ISA is not an ISA name at all
        return {"active": f"error: {exc}", "supported": [], "forced": None}
    forced = None if forced == "auto" else forced
    if registry.load("cpp") is None:
        return {"active": None, "supported": [], "forced": forced}
    from .ops import cpp

    try:
        active = cpp.active_isa(forced or "auto")
    except (RuntimeError, ValueError) as exc:  # GRADSIGN_CPU_ISA names an ISA this CPU lacks
        active = f"error: {exc}"
    return {"active": active, "supported": cpp.supported_isas(), "forced": forced}


def _cuda(check: bool) -> dict:
    out = {"torch_cuda": torch.version.cuda}
    if check or torch.cuda.is_initialized():
        out["available"] = torch.cuda.is_available()
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        out["available"] = "not checked (CUDA not initialised; call info(cuda=True))"
    return out


def info(cuda: bool = False) -> dict:
    """A plain dict: versions, backends that load here, why the others do not, build and CPU ISA.

    cuda=True also queries the GPUs (this initialises CUDA).
    """
    record = build_record()
    return {
        "gradsign_fast": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "backends": registry.runnable(),
        "unavailable": registry.reasons(),
        "build": {part: build_reason(part) for part in ("cpp", "cuda")},
        "build_record": record,
        "cpu_isa": _cpu_isa(),
        "threads": torch.get_num_threads(),
        "cuda": _cuda(cuda),
    }
