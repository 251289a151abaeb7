"""gradsign_fast.info(): what was built, what loads in this process, and why anything does not."""

from __future__ import annotations

import platform

import torch

from .ops import registry


def info() -> dict:
    """A plain dict: versions, available backends, and the reason each unavailable backend is missing."""
    from . import __version__

    return {
        "gradsign_fast": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "backends": registry.available(),
        "unavailable": registry.reasons(),
    }
