"""Helpers for the tests of benchmarks/*.py scripts: import one, and write a results file of random scores.

    table5 = import_benchmark("table5")
    random_scores_file(tmp_path / "scores.jsonl", 2000, seed=1)   # 2000 random NB201 archs, random scores
"""

from __future__ import annotations

import importlib
import json
import random
import sys
from pathlib import Path

from gradsign_fast.nas import all_arch_strings

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_benchmark(name: str):
    """The module benchmarks/<name>.py (the folder on sys.path only while importing)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def random_scores_file(path: Path, archs: int, *, seed: int) -> Path:
    """A JSONL results file of `archs` seeded-random NB201 archs with uniform random scores."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for a in rng.sample(all_arch_strings(), archs):
            f.write(json.dumps({"arch": a, "key": a, "score": rng.random(), "config": {"seed": 0}}) + "\n")
    return path
