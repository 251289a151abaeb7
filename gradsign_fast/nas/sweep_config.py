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
# Fields added after the schema was frozen, with their defaults: left out of to_dict() (so of key()
# and of every record's config) while at the default, so every config that does not use them keeps
# the key, and the record config, it had before they existed.
LATE_FIELDS: dict[str, Any] = {"dataset": "cifar10", "image_size": None}
# Model size (channels, cells) of a space when the config leaves it None; every other space (NB201,
# factories, which ignore it) (16, 5), the NB201 benchmark's and the size every earlier config holds.
SPACE_SIZES: dict[str, tuple[int, int]] = {"nb101": (128, 3), "nas-bench-101": (128, 3),
                                             # darts: NASLib's scoring net (nas.darts)
                                             "darts": (32, 8), "nb301": (32, 8), "nas-bench-301": (32, 8)}
DEFAULT_SIZE = (16, 5)
# Fields that say where and how the score is computed but cannot change the number (up to float32
# summation order, ~1e-5 relative): not in key(), and records differing only there are one experiment.
RUNTIME_FIELDS = ("device", "engine", "backend")


@dataclass(frozen=True)
class SweepConfig:
    """Everything that decides an arch's GradSign score in a sweep (plus where it runs).

    space: 'nb201', 'nb101' or a factory 'module:function' (see nas.spaces); variant: NB201's model
    ('zero_cost' is the authors' scored model); channels/cells: the space's model size, None = the
    space's default (SPACE_SIZES: nb101 128 stem channels, 3 cells per stack; else 16, 5 = NB201's
    C and N). num_classes None: the dataset's classes; for cifar10 10 on synthetic data, else the
    smallest of 10/100 covering the labels. data: an image file (CIFAR python batch or .npz) or
    None for the seeded synthetic batch; images data_offset .. data_offset+batch_size-1.
    seed: seeds the synthetic batch and every model's init (which then depends only on (seed, arch)).
    dataset: cifar10, cifar100 or ImageNet16-120: the classes and input size (nas.datasets says which
    inputs stand in for each). image_size: None = the dataset's input size; else every image is
    image_size x image_size (nas.datasets.resize_batch: for networks such as NDS's ImageNet ones).
    """

    space: str = "nb201"
    variant: str = "zero_cost"
    channels: int | None = None
    cells: int | None = None
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
    dataset: str = "cifar10"
    image_size: int | None = None

    def __post_init__(self) -> None:
        """Fills channels/cells from the space's size; checks the dataset and its classes."""
        from .datasets import get_dataset

        size = SPACE_SIZES.get(str(self.space).lower(), DEFAULT_SIZE)
        for name, default in zip(("channels", "cells"), size):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        classes = get_dataset(self.dataset).classes
        if self.dataset != LATE_FIELDS["dataset"] and self.num_classes not in (None, classes):
            raise ValueError(f"num_classes {self.num_classes} contradicts dataset {self.dataset} ({classes} classes)")

    def key(self, arch: str) -> str:
        """'<arch>#<16 hex>': stable across processes and machines for the same score inputs.

        The digest covers the arch and every field that changes the number: space, variant, channels,
        cells, num_classes, batch_size, data (by CONTENT: sha256 of the file, so a moved or copied
        file keeps its keys), data_offset, seed, n_inits, dtype, reduction, and dataset when it is not
        cifar10 (LATE_FIELDS: so older keys stay as they were). Not device, engine or
        backend: they compute the same number (float32 may flip ~1e-5 relative), so a sweep can
        resume on other hardware. Not the package version either.
        """
        fields = {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}
        fields["data"] = None if self.data is None else file_digest(self.data)
        blob = json.dumps({"schema": KEY_SCHEMA, "arch": arch, **fields}, sort_keys=True, separators=(",", ":"))
        return f"{arch}#{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (a LATE_FIELDS field only when it is not at its default)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if LATE_FIELDS.get(k, object()) != v}

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
