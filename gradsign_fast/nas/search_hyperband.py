"""Hyperband and the paper's G-HB over several training lengths (hpbandster's HyperBand iteration
schedule, which xautodl's BOHB.py drives on NAS-Bench-201, with the GradSign authors' G-HB change).

Fidelities F_0 < ... < F_{K-1}: benchmarks of the same archs trained longer and longer (here the
12- and 200-epoch NAS-Bench-201 trainings of multifidelity.py). s_max = K - 1. Iteration i = 0, 1, ..
runs one successive-halving bracket with s = s_max - (i mod (s_max + 1)):

    n_0 = floor((s_max + 1) / (s + 1)) * eta**s         configurations sampled
    n_j = max(floor(n_0 * eta**-j), 1),  j = 0..s        trained at fidelity F_{K-1-s+j}

Rung j trains its n_j configs at its fidelity, each charged that fidelity's full cost (a longer
schedule does not resume a shorter one), and the n_{j+1} most accurate go up (ties: the earlier
sampled). Sampling a config:

    HB:   uniform over the table's archs                                (Hyperband, Li et al. 2018)
    G-HB: the best-scored of M archs drawn uniformly without replacement: the authors' G-HB (their
          hpbandster BOHB config generator discards its own proposal and returns this one)

The run stops at the first training the budget cannot pay for (the authors' worker answers every
later job with a dummy loss, which counts for nothing). It returns hpbandster's incumbent: the most
accurate arch among those trained at the highest fidelity; hpbandster looks at the top fidelity
only and has no answer when none reached it, this falls back to the highest fidelity reached.

Not as the authors ran it: (1) BOHB's KDE model is not reimplemented, so plain HB samples uniformly
(with `--random_fraction 0.0` their plain BOHB proposes from the KDE once a budget holds 7 results);
G-HB is unaffected, as it ignores the proposal. (2) Their BOHB.py worker answers every budget
hpbandster asks for with the 12-epoch lookup and cost; here the top rung is a 200-epoch training.
(3) eta = 3 over 12..200 epochs gives hpbandster rungs of 22.2, 66.7 and 200 epochs, which the
offline data lacks: the rungs here are the fidelities given (12 and 200 epochs: s_max = 1).
"""

from __future__ import annotations

import random
from typing import Sequence


def brackets(n_fidelities: int, eta: int) -> list[list[tuple[int, int]]]:
    """The s_max + 1 brackets in the order iterations run them: per bracket, (fidelity index, configs)
    for each rung. E.g. brackets(2, 3) == [[(0, 3), (1, 1)], [(1, 2)]]."""
    for name, value, least in (("the number of fidelities", n_fidelities, 1), ("eta", eta, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    s_max = n_fidelities - 1
    out = []
    for s in range(s_max, -1, -1):
        n0 = ((s_max + 1) // (s + 1)) * eta ** s
        out.append([(n_fidelities - 1 - s + j, max(n0 // eta ** j, 1)) for j in range(s + 1)])
    return out


def hyperband(tracker, fidelities: Sequence, rng: random.Random, *, eta: int = 3, m: int = 10) -> None:
    """Runs HB, or G-HB when tracker.scorer is set (see module doc), until tracker.train refuses.

    tracker: search._Tracker (budget, bookkeeping, incumbent = most accurate at the highest fidelity
    trained); fidelities: search.Benchmarks of the same archs, shortest training first."""
    plan = brackets(len(fidelities), eta)
    space = fidelities[0].archs

    def propose() -> str:
        if tracker.scorer is None:
            return space[rng.randrange(len(space))]
        return tracker.best_scored([space[i] for i in rng.sample(range(len(space)), min(m, len(space)))])

    iteration = 0
    while True:
        rungs = plan[iteration % len(plan)]
        configs = [propose() for _ in range(rungs[0][1])]
        for j, (level, _) in enumerate(rungs):
            accs = []
            for arch in configs:
                acc = tracker.train(arch, fidelities[level], level)
                if acc is None:
                    return
                accs.append(acc)
            if j + 1 < len(rungs):
                keep = sorted(range(len(configs)), key=lambda i: (-accs[i], i))[:rungs[j + 1][1]]
                configs = [configs[i] for i in sorted(keep)]
        iteration += 1
