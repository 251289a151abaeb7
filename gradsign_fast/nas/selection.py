"""Architecture selection without training (the paper's Table 5): the best-scored of N random archs.

    picks = best_of_n(scores, n=100, runs=500, seed=0)    # one arch per run
    oracle = best_of_n(accuracy, n=100, runs=500, seed=0) # the same draws, ranked by accuracy itself

Each run draws N archs uniformly WITH replacement from the scored archs (as the authors'
`grad_search.py`: `np.random.randint(0, len(space), N)`) and returns the draw with the highest score,
NaN scores ignored and ties going to the earliest draw (np.nanargmax). A run whose N scores are all
NaN returns None. Runs are seeded from (seed, run index), so the same seed gives the same draws
whatever `scores` holds: a score table and an accuracy table over the same archs (same order) make
the same draws, which is what `oracle` compares against.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np


def draws(archs: list[str], n: int, runs: int, seed: int) -> np.ndarray:
    """(runs, n) int64 indices into archs: run r draws from np.random.default_rng((seed, r))."""
    if not archs:
        raise ValueError("selection needs at least one scored arch")
    if n < 1 or runs < 1:
        raise ValueError(f"N and runs must be >= 1, got N={n}, runs={runs}")
    return np.stack([np.random.default_rng((seed, r)).integers(0, len(archs), n) for r in range(runs)])


def best_of_n(scores: Mapping[str, float], *, n: int, runs: int, seed: int = 0,
              archs: list[str] | None = None) -> list[str | None]:
    """Per run the arch with the highest score among N uniform draws (module docstring).

    archs: the population drawn from, in a fixed order (default: the scores' keys, sorted); every
    arch of it must have a score (NaN allowed).
    """
    population = sorted(scores) if archs is None else list(archs)
    missing = [a for a in population if a not in scores]
    if missing:
        raise ValueError(f"{len(missing)} archs of the population have no score, e.g. {missing[0]!r}")
    values = np.array([float(scores[a]) for a in population], dtype=np.float64)
    picks: list[str | None] = []
    for row in draws(population, n, runs, seed):
        drawn = values[row]
        if np.all(np.isnan(drawn)):
            picks.append(None)
            continue
        picks.append(population[int(row[int(np.nanargmax(drawn))])])
    return picks


def finite_mean_std(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std, count) of the finite values (std 0 for one value; NaN mean for none)."""
    kept = [v for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return math.nan, math.nan, 0
    arr = np.array(kept, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(kept) > 1 else 0.0, len(kept)
