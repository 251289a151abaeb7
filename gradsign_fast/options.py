"""How a score is computed: one frozen Options, built once per call from the keyword arguments and the
GRADSIGN_* environment. The only module that reads a GRADSIGN_* variable.

Public variables (documented in the README):
    GRADSIGN_ENGINE, GRADSIGN_BACKEND   replace engine="auto" / backend="auto"
    GRADSIGN_MEMORY_BUDGET_MB           per-sample gradient chunk budget (default 1024)
    GRADSIGN_CPU_ISA                    the 'cpp' backend's instruction set: auto | scalar | avx2 | avx512
    GRADSIGN_ALLOW_TF32=1               keep TF32 on inside score() on a GPU (it moves signs)
    GRADSIGN_VERIFY=1                   the batched engine cross-checks its per-layer sums with autograd
    GRADSIGN_DEBUG=1                    the command line shows tracebacks
    GRADSIGN_PROGRESS_SECONDS           seconds between progress lines in logs (default 30)
    GRADSIGN_SHARED_DATA                the shared data directory (validation tables, tests)
Build switches (GRADSIGN_SKIP_CPP_BUILD, ...) are read by setup.py at build time only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

ENGINES = ("auto", "batched", "functorch", "loop")
CPU_ISAS = ("auto", "scalar", "avx2", "avx512")
REDUCTIONS = ("sum", "mean")
DEFAULT_MEMORY_BUDGET_MB = 1024.0


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _env(name) == "1"


def memory_budget_bytes() -> int:
    """GRADSIGN_MEMORY_BUDGET_MB (default 1024) in bytes; anything but a finite positive number of
    megabytes is a ValueError that names the variable."""
    text = _env("GRADSIGN_MEMORY_BUDGET_MB")
    if not text:
        return int(DEFAULT_MEMORY_BUDGET_MB * 2**20)
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not math.isfinite(mb) or mb <= 0 or mb * 2**20 >= 2**63:
        raise ValueError(f"GRADSIGN_MEMORY_BUDGET_MB must be a positive, finite number of megabytes (e.g. 1024), "
                         f"got {text!r}; unset it for the default {DEFAULT_MEMORY_BUDGET_MB:g}")
    return max(1, int(mb * 2**20))


def cpu_isa() -> str:
    """GRADSIGN_CPU_ISA, checked: 'auto' (unset) or an instruction set the 'cpp' backend is asked to run."""
    isa = _env("GRADSIGN_CPU_ISA") or "auto"
    if isa not in CPU_ISAS:
        raise ValueError(f"GRADSIGN_CPU_ISA must be auto, scalar, avx2 or avx512, got {isa!r}")
    return isa


def engine_name(requested: object) -> str:
    """The engine name: `requested`, or GRADSIGN_ENGINE where it is 'auto'."""
    if not isinstance(requested, str) or requested not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {requested!r}")
    name = requested if requested != "auto" else (_env("GRADSIGN_ENGINE") or "auto")
    if name not in ENGINES:
        raise ValueError(f"GRADSIGN_ENGINE must be one of {ENGINES}, got {name!r}")
    return name


def backend_name(requested: object) -> str:
    """The backend name: `requested`, or GRADSIGN_BACKEND where it is 'auto' (checked by the registry)."""
    if not isinstance(requested, str):
        raise TypeError(f"backend must be a string such as 'auto', 'torch' or 'cpp', got {requested!r}")
    return requested if requested != "auto" else (_env("GRADSIGN_BACKEND") or "auto")


def progress_seconds() -> float:
    """GRADSIGN_PROGRESS_SECONDS: seconds between progress lines when stderr is not a terminal (30)."""
    text = _env("GRADSIGN_PROGRESS_SECONDS")
    try:
        value = float(text) if text else 30.0
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"GRADSIGN_PROGRESS_SECONDS must be a number of seconds >= 0, got {text!r}")
    return value


def shared_data_override() -> Path | None:
    """GRADSIGN_SHARED_DATA as a path, or None when unset or empty (callers then look beside the repository)."""
    value = _env("GRADSIGN_SHARED_DATA")
    return Path(value) if value else None


def debug() -> bool:
    """GRADSIGN_DEBUG=1: the command line re-raises errors with their traceback."""
    return bool(_env("GRADSIGN_DEBUG")) and _env("GRADSIGN_DEBUG") != "0"


@dataclass(frozen=True)
class Options:
    """Everything that decides how (not what) a score is computed, resolved once per call.

    engine / backend: names with the environment applied ('auto' still means: dispatch decides);
    chunk_size: samples per chunk (None: from memory_budget); dropout: keep nn.Dropout active;
    memory_budget: bytes for per-sample gradient chunks; cpu_isa: handed to the 'cpp' kernels;
    allow_tf32: keep TF32 on a GPU; verify: cross-check the batched engine against autograd.
    """

    engine: str = "auto"
    backend: str = "auto"
    chunk_size: int | None = None
    dropout: bool = True
    memory_budget: int = int(DEFAULT_MEMORY_BUDGET_MB * 2**20)
    cpu_isa: str = "auto"
    allow_tf32: bool = False
    verify: bool = False

    @classmethod
    def from_call(cls, *, engine: object = "auto", backend: object = "auto", chunk_size: object = None,
                  dropout: object = True) -> Options:
        """Checks the keyword arguments of a score() call and reads the environment, once."""
        if chunk_size is not None and (not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        if not isinstance(dropout, bool):
            raise TypeError(f"dropout must be True or False, got {dropout!r}")
        return cls(engine=engine_name(engine), backend=backend_name(backend), chunk_size=chunk_size,
                   dropout=dropout, memory_budget=memory_budget_bytes(), cpu_isa=cpu_isa(),
                   allow_tf32=_flag("GRADSIGN_ALLOW_TF32"), verify=_flag("GRADSIGN_VERIFY"))
