"""What decides a sweep's score of an arch, and the stable key its record is found by.

    config = SweepConfig(channels=16, data="cifar10_train_first1000_convnetjs.npz")
    config.key(arch)          # '<arch>#<16 hex>', the same in every process and on every machine
    SweepConfig.from_dict(config.to_dict()) == config

The key schema is frozen: results files written by earlier sweeps are resumed by it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_SCHEMA = "gradsign-sweep-v1"
# Fields that say where and how the score is computed but cannot change the number (up to float32
# summation order, ~1e-5 relative): not in key(), and records differing only there are one experiment.
RUNTIME_FIELDS = ("device", "engine", "backend")


@dataclass(frozen=True)
class SweepConfig:
    """Everything that decides an arch's GradSign score in a sweep (plus where it runs).

    space: 'nb201' or a factory 'module:function' (see nas.spaces); variant/channels/cells: NB201's
    model ('zero_cost' is the authors' scored model). num_classes None: 10 for synthetic data, else
    the smallest of 10/100 covering the labels. data: an image file (CIFAR python batch or .npz) or
    None for the seeded synthetic batch; images data_offset .. data_offset+batch_size-1.
    seed: seeds the synthetic batch and every model's init (which then depends only on (seed, arch)).
    """

    space: str = "nb201"
    variant: str = "zero_cost"
    channels: int = 16
    cells: int = 5
    num_classes: int | None = None
    batch_size: int = 64
    data: str | None = None
    data_offset: int = 0
    seed: int = 0
    n_inits: int = 1
    device: str = "cpu"
    engine: str = "auto"
    backend: str = "auto"
    dtype: str = "float32"
    reduction: str = "sum"

    def key(self, arch: str) -> str:
        """'<arch>#<16 hex>': stable across processes and machines for the same score inputs.

        The digest covers the arch and every field that changes the number: space, variant, channels,
        cells, num_classes, batch_size, data (by CONTENT: sha256 of the file, so a moved or copied
        file keeps its keys), data_offset, seed, n_inits, dtype, reduction. Not device, engine or
        backend: they compute the same number (float32 may flip ~1e-5 relative), so a sweep can
        resume on other hardware. Not the package version either.
        """
        fields = {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}
        fields["data"] = None if self.data is None else file_digest(self.data)
        blob = json.dumps({"schema": KEY_SCHEMA, "arch": arch, **fields}, sort_keys=True, separators=(",", ":"))
        return f"{arch}#{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepConfig":
        """The inverse of to_dict(); unknown fields raise (they would silently change nothing)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown SweepConfig field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


@functools.lru_cache(maxsize=16)
def _digest_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (cached per process by path, size and mtime)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"sweep data file {p} not found (SweepConfig.data must name an image file)")
    st = p.stat()
    return _digest_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)
