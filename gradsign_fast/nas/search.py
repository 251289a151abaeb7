"""GradSign-assisted search (the paper's G-RS and G-REA) against plain RS and REA, on a benchmark table.

An accuracy table stands in for training: `train(arch)` looks the accuracy up and costs 1 unit (or
the table's time column). The budget counts those units, as the authors' scripts count simulated
training time (xautodl's RANDOM.py / R_EA.py, which their autodl/ folder modifies):

    RS     repeat: sample 1 arch, train it                                           (Bergstra & Bengio)
    G-RS   repeat: sample M archs, score them with GradSign, train only the best-scored one
    REA    population P of trained random archs; repeat: tournament of S (with replacement) from
           P, parent = most accurate, child = mutate(parent), train it, add it, drop the OLDEST
                                                                                     (Real et al. 2019)
    G-REA  as REA, but M mutations of the parent are scored and only the best-scored child is trained

This is what the authors' code does (M = 10 there; scoring is not charged to the budget).
REINFORCE / G-REINFORCE (search_reinforce.py) and Hyperband / G-HB (search_hyperband.py, on several
training lengths: multifidelity.py) complete the paper's Table 6; run_method dispatches to all eight. A run
returns the arch with the best accuracy seen during the search (the `search` column: what training
would tell), and reports that arch's other columns (e.g. final test accuracy).

Search spaces: the table's archs. When they are not the whole space (e.g. the archs a sweep scored),
mutation picks uniformly among the table's archs nearest to the parent (fewest edges changed, >= 1);
over a complete NB201 table that is exactly the usual one-edge mutation (uniform over 24 neighbours).

Every run ends: accuracies must be finite, costs finite and > 0, the budget finite and > 0, and it
may buy at most MAX_TRAININGS trainings of the cheapest arch; anything else raises ValueError.
"""

from __future__ import annotations

import collections
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .nb201_arch import NB201_OPS, NUM_ARCHS, parse_arch
from .search_hyperband import hyperband
from .search_reinforce import reinforce
from .spaces import mutate_nb201

METHODS = ("RS", "G-RS", "REA", "G-REA", "REINFORCE", "G-REINFORCE", "HB", "G-HB")
CLASSIC_METHODS = METHODS[:4]  # need one fidelity and no options: the CLI's default without --multifidelity
MAX_TRAININGS = 1_000_000  # per run: a bigger budget is a mistake (or a run that would take forever)


@dataclass
class Benchmark:
    """The table a search runs on. accs: arch -> accuracy used during search; cost: arch -> units."""

    accs: Mapping[str, float]
    cost: Mapping[str, float] | None = None
    archs: list[str] = field(init=False)
    min_cost: float = field(init=False)  # the cheapest arch's cost: bounds the trainings a budget buys
    _neighbours: dict[str, list[str]] = field(init=False, default_factory=dict)
    _codes: object = field(init=False, default=None, repr=False)  # (N, 6) op indices, built on first need

    def __post_init__(self) -> None:
        if not self.accs:
            raise ValueError("a search needs a non-empty accuracy table")
        self.archs = list(self.accs)
        for arch in self.archs:
            _check_number(self.accs[arch], f"accuracy of arch {arch}", "a finite number", positive=False)
        self.min_cost = 1.0 if self.cost is None else self._check_costs(self.cost)
        self._full = len(self.archs) == NUM_ARCHS and _all_nb201(self.archs)

    def _check_costs(self, cost: Mapping[str, float]) -> float:
        """The cheapest cost; ValueError unless every arch has a finite cost > 0 (a cost <= 0 would let
        a run train forever)."""
        missing = [a for a in self.archs if a not in cost]
        if missing:
            raise ValueError(f"no cost for {len(missing)} arch(s) of the accuracy table, e.g. {missing[0]}")
        return min(_check_number(cost[a], f"cost of arch {a}", "a finite number > 0", positive=True)
                   for a in self.archs)

    def train(self, arch: str) -> tuple[float, float]:
        """(accuracy, cost) of `arch`: the table lookup standing in for training."""
        return float(self.accs[arch]), 1.0 if self.cost is None else float(self.cost[arch])

    def sample(self, rng: random.Random) -> str:
        return self.archs[rng.randrange(len(self.archs))]

    def mutate(self, arch: str, rng: random.Random) -> str:
        """One-edge mutation (complete NB201 table), else a random nearest table arch (see module doc)."""
        if self._full:
            return mutate_nb201(arch, rng)
        near = self._neighbours.get(arch)
        if near is None:
            if self._codes is None:
                self._codes = _op_codes(self.archs)
            near = self._neighbours[arch] = _nearest(arch, self.archs, self._codes)
        return near[rng.randrange(len(near))]


def _check_number(value, what: str, wanted: str, *, positive: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{what} is {value!r}; expected {wanted}")
    return number


def check_budget(budget: float, bench: Benchmark) -> float:
    """The budget as a float; ValueError unless it is finite, > 0 and buys at most MAX_TRAININGS
    trainings of the cheapest arch (so that every run ends, and soon)."""
    if isinstance(budget, bool):
        budget = math.nan
    number = _check_number(budget, "the search budget", "a finite number > 0", positive=True)
    if number / bench.min_cost > MAX_TRAININGS:
        raise ValueError(f"the search budget {number:g} buys up to {number / bench.min_cost:.3g} trainings of the "
                         f"cheapest arch (cost {bench.min_cost:g}); at most {MAX_TRAININGS:,} per run: lower it")
    return number


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _all_nb201(archs: Sequence[str]) -> bool:
    try:
        return all(parse_arch(a) for a in archs[:50])
    except (TypeError, ValueError):
        return False


def _op_codes(archs: Sequence[str]):
    """(N, 6) int8 numpy array: the NB201_OPS index of each arch's edge operations."""
    import numpy as np

    index = {op: i for i, op in enumerate(NB201_OPS)}
    return np.array([[index[op] for op in parse_arch(a)] for a in archs], dtype=np.int8).reshape(len(archs), -1)


def _nearest(arch: str, archs: Sequence[str], codes) -> list[str]:
    """The archs at the smallest Hamming distance >= 1 (over NB201 edges) from `arch`, in table order;
    codes = _op_codes(archs)."""
    import numpy as np

    index = {op: i for i, op in enumerate(NB201_OPS)}
    distance = (codes != np.array([index[op] for op in parse_arch(arch)], dtype=np.int8)).sum(axis=1)
    distance[distance == 0] = codes.shape[1] + 1
    best = int(distance.min()) if len(distance) else codes.shape[1] + 1
    if best > codes.shape[1]:
        raise ValueError(f"the table has no arch other than {arch}: nothing to mutate to")
    return [archs[i] for i in np.flatnonzero(distance == best)]


@dataclass(frozen=True)
class RunResult:
    """One search run: the arch it returns, its search accuracy, how many archs it trained and scored."""

    method: str
    seed: int
    arch: str
    accuracy: float
    trained: int
    scored: int
    cost: float
    # (budget spent, arch the run would return if it stopped there), each time that arch changes
    trace: tuple[tuple[float, str], ...] = field(default=(), compare=False, repr=False)


class _Tracker:
    """Budget and bookkeeping of one run; train() returns None once the budget is exhausted."""

    def __init__(self, bench: Benchmark, budget: float, scorer: Callable[[str], float] | None):
        self.bench, self.budget, self.scorer = bench, check_budget(budget, bench), scorer
        self.spent, self.trained, self.scored = 0.0, 0, 0
        self.best: tuple[float, str] | None = None
        self.trace: list[tuple[float, str]] = []
        self.level = 0

    def train(self, arch: str, bench: Benchmark | None = None, level: int = 0) -> float | None:
        """Train on self.bench, or on `bench` (fidelity `level`: the best arch is the most accurate at
        the highest level trained, as Hyperband's incumbent)."""
        acc, cost = (bench or self.bench).train(arch)
        if self.spent + cost > self.budget:  # as the authors: the arch that overruns is not counted
            return None
        self.spent += cost
        self.trained += 1
        if self.best is None or (level, acc) > (self.level, self.best[0]):
            self.best, self.level = (acc, arch), level
            self.trace.append((self.spent, arch))
        return acc

    def best_scored(self, candidates: list[str]) -> str:
        """argmax of the GradSign score over candidates (first wins ties, like np.argmax)."""
        scores = [self.scorer(a) for a in candidates]  # type: ignore[misc]
        self.scored += len(candidates)
        return candidates[max(range(len(scores)), key=lambda i: (_finite(scores[i]), -i))]

    def result(self, method: str, seed: int) -> RunResult:
        if self.best is None:
            raise ValueError(f"budget {self.budget} buys no training at all; raise it")
        return RunResult(method, seed, self.best[1], self.best[0], self.trained, self.scored, self.spent,
                         tuple(self.trace))


def _finite(x: float) -> float:
    return x if x == x and x not in (float("inf"), float("-inf")) else float("-inf")


def random_search(bench: Benchmark, budget: float, rng: random.Random, *,
                  scorer: Callable[[str], float] | None = None, m: int = 10, seed: int = 0) -> RunResult:
    """RS, or G-RS when a scorer is given: each step trains the best-scored of m random archs."""
    _check_count("m", m)
    t = _Tracker(bench, budget, scorer)
    while True:
        arch = bench.sample(rng) if scorer is None else t.best_scored([bench.sample(rng) for _ in range(m)])
        if t.train(arch) is None:
            break
    return t.result("RS" if scorer is None else "G-RS", seed)


def regularized_evolution(bench: Benchmark, budget: float, rng: random.Random, *, population: int = 10,
                          sample: int = 3, scorer: Callable[[str], float] | None = None, m: int = 10,
                          seed: int = 0) -> RunResult:
    """REA, or G-REA when a scorer is given: each cycle trains the best-scored of m mutations of the parent.

    A population larger than what the budget buys is fine: the run ends when the budget does."""
    for name, value in (("population", population), ("sample", sample), ("m", m)):
        _check_count(name, value)
    t = _Tracker(bench, budget, scorer)
    pop: collections.deque[tuple[str, float]] = collections.deque()
    method = "REA" if scorer is None else "G-REA"
    while len(pop) < population:
        arch = bench.sample(rng)
        acc = t.train(arch)
        if acc is None:
            return t.result(method, seed)
        pop.append((arch, acc))
    while True:
        tournament = [pop[rng.randrange(len(pop))] for _ in range(sample)]
        parent = max(tournament, key=lambda p: p[1])[0]
        if scorer is None:
            child = bench.mutate(parent, rng)
        else:
            child = t.best_scored([bench.mutate(parent, rng) for _ in range(m)])
        acc = t.train(child)
        if acc is None:
            break
        pop.append((child, acc))
        pop.popleft()
    return t.result(method, seed)


def run_method(method: str, bench: Benchmark, budget: float, seed: int, *,
               scorer: Callable[[str], float] | None = None, m: int = 10, population: int = 10,
               sample: int = 3, fidelities: Sequence[Benchmark] | None = None, eta: int = 3,
               learning_rate: float = 0.5, ema_momentum: float = 0.9) -> RunResult:
    """One seeded run of a METHODS entry (the G- methods need a scorer).

    RS / REA / REINFORCE train on `bench`; HB / G-HB on `fidelities` (low -> high training length,
    see search_hyperband), which they need. REINFORCE options: learning_rate, ema_momentum."""
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; known: {METHODS}")
    guided = method.startswith("G-")
    if guided and scorer is None:
        raise ValueError(f"{method} needs GradSign scores (a scorer / a results file)")
    rng = random.Random(f"{method.removeprefix('G-')}:{seed}")  # RS and G-RS share a seed stream
    kwargs = dict(scorer=scorer if guided else None, m=m, seed=seed)
    base = method.removeprefix("G-")
    if base == "RS":
        return random_search(bench, budget, rng, **kwargs)
    if base == "REA":
        return regularized_evolution(bench, budget, rng, population=population, sample=sample, **kwargs)
    _check_count("m", m)
    if base == "REINFORCE":
        t = _Tracker(bench, budget, kwargs["scorer"])
        reinforce(t, rng, m=m, learning_rate=learning_rate, ema_momentum=ema_momentum)
        return t.result(method, seed)
    if fidelities is None:
        raise ValueError(f"{method} needs fidelities (benchmarks of the same archs, low -> high training "
                         "length), e.g. multifidelity.load_nb201_fidelities(csv).ladder")
    fids = check_fidelities(fidelities)
    t = _Tracker(min(fids, key=lambda f: f.min_cost), budget, kwargs["scorer"])  # the budget vs the cheapest
    hyperband(t, fids, rng, eta=eta, m=m)
    return t.result(method, seed)


def check_fidelities(fidelities: Sequence[Benchmark]) -> list[Benchmark]:
    """Hyperband's fidelities as a list; ValueError unless they are Benchmarks of the same archs."""
    fids = list(fidelities)
    if not fids or not all(isinstance(f, Benchmark) for f in fids):
        raise ValueError("fidelities must be a non-empty sequence of search.Benchmark, shortest training first")
    for k, f in enumerate(fids[1:], start=1):
        if f.accs.keys() != fids[0].accs.keys():
            raise ValueError(f"fidelity {k} has other archs than fidelity 0: every fidelity needs the same archs")
    return fids


def compare(bench: Benchmark, budget: float, runs: int, *, methods: Sequence[str] = CLASSIC_METHODS,
            scorer: Callable[[str], float] | None = None, first_seed: int = 0,
            progress: Callable[[], None] | None = None, **options) -> dict[str, list[RunResult]]:
    """`runs` seeded runs (seeds first_seed ..) of each method: method -> its RunResults in seed order."""
    check_budget(budget, bench)  # before any run
    _check_count("runs", runs)
    out: dict[str, list[RunResult]] = {}
    for method in methods:
        out[method] = []
        for seed in range(first_seed, first_seed + runs):
            out[method].append(run_method(method, bench, budget, seed, scorer=scorer, **options))
            if progress is not None:
                progress()
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (statistics.stdev, as the authors report; 0 for one value)."""
    import statistics

    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary_table(results: Mapping[str, list[RunResult]], reports: Mapping[str, Mapping[str, float]]) -> str:
    """A markdown table like the paper's Table 6: per method, mean +- std of each report column
    (looked up for the arch each run returned), plus archs trained and scored per run."""
    columns = list(reports)
    lines = ["| method | runs | trained / run | scored / run | " + " | ".join(columns) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(columns)]
    for method, runs in results.items():
        cells = []
        for column in columns:
            mean, std = mean_std([reports[column][r.arch] for r in runs])
            cells.append(f"{mean:.2f} ± {std:.2f}")
        trained = sum(r.trained for r in runs) / len(runs)
        scored = sum(r.scored for r in runs) / len(runs)
        lines.append(f"| {method} | {len(runs)} | {trained:.1f} | {scored:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
