"""The GRADSIGN_* environment variables that change how a score is computed, read and checked in one place."""

from __future__ import annotations

import math
import os

DEFAULT_MEMORY_BUDGET_MB = 1024.0
MEMORY_BUDGET_VAR = "GRADSIGN_MEMORY_BUDGET_MB"


def memory_budget_bytes() -> int:
    """GRADSIGN_MEMORY_BUDGET_MB (default 1024) in bytes: the per-sample gradient chunk budget.

    Anything but a finite positive number of megabytes is a ValueError that names the variable."""
    text = os.environ.get(MEMORY_BUDGET_VAR, "").strip()
    if not text:
        return int(DEFAULT_MEMORY_BUDGET_MB * 2**20)
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not math.isfinite(mb) or mb <= 0 or mb * 2**20 >= 2**63:
        raise ValueError(f"{MEMORY_BUDGET_VAR} must be a positive, finite number of megabytes (e.g. 1024), "
                         f"got {text!r}; unset it for the default {DEFAULT_MEMORY_BUDGET_MB:g}")
    return max(1, int(mb * 2**20))
