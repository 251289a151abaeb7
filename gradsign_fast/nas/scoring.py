"""Score one architecture under a SweepConfig: build it, seed it, score it, time it, describe it.

    record = score_arch(arch, config)      # what sweep, ray_sweep and `gradsign-fast rank/score` all call
    load_config_batch(config)              # (x, y, num_classes, description), loaded once per process
    build_model(arch, config, num_classes) # the seeded model alone (global RNG untouched)

A record: {"key", "arch", "score", "seconds", "params", "num_classes", "config", "version", "torch",
"host", "pid", "time", "engine"} and "notes" when an engine fell back. arch None builds a factory
space's model without an arch (factory()); its record has no "key" (nothing looks it up).
"""

from __future__ import annotations

import functools
import os
import socket
import time
from typing import Any

from .sweep_config import SweepConfig


@functools.lru_cache(maxsize=4)
def _batch(data: str | None, n: int, offset: int, seed: int, num_classes: int | None, dtype: str, device: str,
           dataset: str = "cifar10", image_size: int | None = None):
    import torch

    from .datasets import dataset_batch

    x, y, k, text = dataset_batch(dataset, data, n, offset=offset, seed=seed, num_classes=num_classes,
                                  image_size=image_size)
    return x.to(device=device, dtype=getattr(torch, dtype)), y.to(device), k, text


def load_config_batch(config: SweepConfig):
    """(x, y, num_classes, description) of a config, loaded once per process (cached); the inputs of
    config.dataset as nas.datasets defines them."""
    return _batch(config.data, config.batch_size, config.data_offset, config.seed, config.num_classes,
                  config.dtype, config.device, config.dataset, config.image_size)


def build_model(arch: str | None, config: SweepConfig, num_classes: int):
    """The config's model of `arch`, initialized from torch.manual_seed(config.seed) (global RNG restored).

    arch None: a factory space's model built without an arch; a space that needs one says so.
    """
    import torch

    from .spaces import resolve_space

    space = resolve_space(config.space, variant=config.variant, channels=config.channels, cells=config.cells)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = space.build(arch, num_classes)
    return model.to(device=config.device, dtype=getattr(torch, config.dtype)).train()


def provenance() -> dict[str, Any]:
    """Who computed a record, where and when: package and torch versions, host, pid, time."""
    import torch

    from .._version import __version__

    return {"version": __version__, "torch": torch.__version__, "host": socket.gethostname(),
            "pid": os.getpid(), "time": time.time()}


def score_arch(arch: str | None, config: SweepConfig) -> dict[str, Any]:
    """Builds, seeds, scores and times one arch; returns its record (see the module docstring).

    Raises on failure (sweep turns that into an error record). "seconds" times the scoring only,
    not the batch loading or the model building.
    """
    x, y, num_classes, _ = load_config_batch(config)
    model = build_model(arch, config, num_classes)
    value, seconds, draws = _timed_score(model, x, y, config)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    notes = list(dict.fromkeys(note for d in draws for note in d.notes))
    key = {} if arch is None else {"key": config.key(arch)}
    return {**key, "arch": arch, "score": value, "seconds": seconds, "params": params, "num_classes": num_classes,
            "config": config.to_dict(), **provenance(), "engine": ",".join(dict.fromkeys(d.engine for d in draws)),
            **({"notes": notes} if notes else {})}


def _timed_score(model, x, y, config: SweepConfig) -> tuple[float, float, list]:
    """(GradSign score averaged over config.n_inits draws, seconds it took, the draws)."""
    from ..api import score_draws

    t0 = time.perf_counter()
    draws = score_draws(model, x, y, n_inits=config.n_inits, seed=config.seed, engine=config.engine,
                        backend=config.backend)
    value = float(sum(d.score(config.reduction) for d in draws) / len(draws))
    return value, time.perf_counter() - t0, draws


def describe_engines(record: dict[str, Any]) -> str:
    """'<arch>: engine <name>' plus one indented line per fallback note of a record."""
    lines = [f"{record.get('arch') or 'model'}: engine {record.get('engine', '?')}"]
    lines += [f"    {note}" for note in record.get("notes", [])]
    return "\n".join(lines)
