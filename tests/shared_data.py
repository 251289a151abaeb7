"""Where the shared test data lives (../shared/data beside the clone), for every test file to reuse.

    from shared_data import shared_data_dir, shared_file
    path = shared_file("nb201/naswot_arch_score_acc_nb201_cifar10.csv")   # pytest.skip if absent

GRADSIGN_SHARED_DATA, when set, names the directory instead (set it to an empty or missing path
to force the skips). The data is never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_VAR = "GRADSIGN_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The shared data directory (holding nb201/ and cifar/), or None when it is not there."""
    override = os.environ.get(ENV_VAR)
    if override is not None:
        candidate = Path(override) if override.strip() else None
    else:
        candidate = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return candidate if candidate is not None and candidate.is_dir() else None


def shared_file(relative: str, *, skip: bool = True) -> Path | None:
    """shared_data_dir() / relative if that file exists; otherwise pytest.skip (or None if skip=False)."""
    root = shared_data_dir()
    path = None if root is None else root / relative
    if path is not None and path.is_file():
        return path
    if skip:
        pytest.skip(f"shared data file {relative!r} not found (set {ENV_VAR} to the shared/data directory)")
    return None
