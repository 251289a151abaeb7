"""What the capability checks cost: score() as shipped vs score() with each check switched off.

    python benchmarks/check_overhead.py [--models mlp,cnn,nb201,resnet18] [--repeats 7] [--threads 2]

The batched engine is exact only if the model keeps the samples apart; three checks establish that
before any work (gradsign_fast.engines.separability, gradsign_fast.api):
    first_sample  api._check_first_sample: one sample forwarded alone (labels and loss checked)
    tracker       the batch tracker (a TorchDispatchMode following the batch dim through every aten op)
    probe         the value probe comparing row 0 with the sample alone (dropout-free models: free)
Each variant switches one check off by patching it for the timing only (never do this in real use:
the number may then be wrong). The table gives median seconds, interleaved round by round, and each
check's share of a score: (shipped - without) / shipped. The figures compare only on an idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_models import MODELS, workload  # noqa: E402

import gradsign_fast  # noqa: E402
from gradsign_fast import api  # noqa: E402
from gradsign_fast.engines import batched, separability  # noqa: E402


@contextlib.contextmanager
def _patched(obj: object, name: str, value: object) -> Iterator[None]:
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


@contextlib.contextmanager
def _no_tracker(job: object) -> Iterator[None]:
    yield None


VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    "shipped": contextlib.nullcontext,
    "without first_sample": lambda: _patched(api, "_check_first_sample", lambda job: None),
    "without tracker": lambda: _patched(batched, "tracked", _no_tracker),
    "without probe": lambda: _patched(separability.SeparabilityProbe, "check", lambda self, out, rec: None),
}


def measure(model_name: str, repeats: int, batch: int) -> dict[str, float]:
    model, x, y = workload(model_name, batch=batch)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for name, variant in VARIANTS.items():  # warm-up, and every variant computes the same number
        with variant():
            value = gradsign_fast.score(model, x, y)
        if name == "shipped":
            expected = value
        elif value != expected:
            raise SystemExit(f"{model_name}: {name} gives {value}, shipped {expected}")
    for _ in range(repeats):
        for name, variant in VARIANTS.items():
            with variant():
                start = time.perf_counter()
                gradsign_fast.score(model, x, y)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,nb201,resnet18")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {sorted(MODELS)}")
    print(f"{os.popen('uptime').read().strip()} | torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}, float32, median of {args.repeats}, wall clock\n")
    names = [n for n in VARIANTS if n != "shipped"]
    print("| model | shipped s | " + " | ".join(f"{n} s" for n in names) + " | " +
          " | ".join(f"{n.split()[1]} share" for n in names) + " |")
    print("|---|---:|" + "---:|" * (2 * len(names)))
    for m in models:
        t = measure(m, args.repeats, args.batch)
        shares = [(t["shipped"] - t[n]) / t["shipped"] for n in names]
        print(f"| {m} | {t['shipped']:.4g} | " + " | ".join(f"{t[n]:.4g}" for n in names) + " | " +
              " | ".join(f"{s:+.1%}" for s in shares) + " |", flush=True)


if __name__ == "__main__":
    main()
