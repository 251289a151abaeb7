"""What the build compiled: setup.py writes gradsign_fast/_build_info.json, per extension ('cpp', 'cuda')
whether it was built and, if not, why. Read by the backends' loaders and by gradsign_fast.info()."""

from __future__ import annotations

import json
import os
from functools import lru_cache

_BUILD_INFO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_build_info.json")


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
