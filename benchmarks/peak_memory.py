"""Peak memory of score() on a model with 16.8M scored weights at batch 64, each engine in a fresh process.

    python benchmarks/peak_memory.py [--engines auto,functorch] [--batch 64]

The full per-sample gradient matrix would be 64 x 16.8M float32 = 4.3 GB; the target for score() is a
peak RSS growth under 1 GB (GRADSIGN_MEMORY_BUDGET_MB bounds the engines' chunks, default 1024).
Each measurement runs in its own subprocess: RSS before the call (model, batch and imports loaded,
one tiny warm-up call done), and the high-water mark (ru_maxrss) after it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
import torch
sys.path.insert(0, {here!r})
from engine_table import conv_heavy
import gradsign_fast

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20

torch.manual_seed(0)
model = conv_heavy()
g = torch.Generator().manual_seed(0)
x, y = torch.randn({batch}, 3, 32, 32, generator=g), torch.randint(0, 10, ({batch},), generator=g)
gradsign_fast.score(model, x[:2], y[:2], engine={engine!r})  # imports, kernels, allocator warm
before = rss_mb()
start = time.perf_counter()
value = gradsign_fast.score(model, x, y, engine={engine!r})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
scored = sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
print(json.dumps(dict(engine={engine!r}, score=value, seconds=seconds, rss_before_mb=before, peak_mb=peak,
                      growth_mb=peak - before, scored_weights=scored, full_matrix_mb={batch} * scored * 4 / 2**20)))
"""


def measure(engine: str, batch: int) -> dict:
    code = CHILD.format(here=str(HERE), batch=batch, engine=engine)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="auto,functorch")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    for engine in args.engines.split(","):
        r = measure(engine, args.batch)
        verdict = "OK" if r["growth_mb"] < 1024 else "OVER 1 GB"
        print(f"engine={engine:9s} scored={r['scored_weights'] / 1e6:.1f}M batch={args.batch} "
              f"peak RSS growth={r['growth_mb']:.0f} MB ({verdict}; full matrix {r['full_matrix_mb']:.0f} MB) "
              f"rss_before={r['rss_before_mb']:.0f} MB time={r['seconds']:.2f}s score={r['score']:.0f}", flush=True)


if __name__ == "__main__":
    main()
