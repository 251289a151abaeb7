"""gradsign_fast.info(): what was built, what loads in this process, and why anything does not.

The build writes gradsign_fast/_build_info.json (setup.py): per extension ('cpp', 'cuda') whether it
was built and, if not, why. info() adds what runs here: loadable backends, the CPU instruction set,
and the reasons of the others. It stays cheap and never initialises CUDA unless asked (cuda=True)
or CUDA is already initialised.
"""

from __future__ import annotations

import json
import os
import platform
from functools import lru_cache

import torch

from .ops import registry

_BUILD_INFO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_build_info.json")


@lru_cache(maxsize=1)
def build_record() -> dict:
    """The record setup.py wrote at build time, or {} when the package was never built here."""
    try:
        with open(_BUILD_INFO) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def build_reason(part: str) -> str:
    """One line on how the extension `part` ('cpp' or 'cuda') was built, or why it was not."""
    record = build_record()
    if not record:
        return "no build record: run `pip install --no-build-isolation -e .` to compile the extensions"
    entry = record.get(part, {})
    if entry.get("built"):
        return f"built against torch {record.get('torch', '?')}"
    return f"not built: {entry.get('reason') or 'unknown reason'}"


def _cpu_isa() -> dict:
    forced = os.environ.get("GRADSIGN_CPU_ISA", "") or None
    if registry.load("cpp") is None:
        return {"active": None, "supported": [], "forced": forced}
    from .ops import cpp

    try:
        active = cpp.active_isa()
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
    from . import __version__

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
