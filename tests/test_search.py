"""RS, REA and the paper's G-RS / G-REA on a synthetic table whose synthetic score tracks accuracy."""

from __future__ import annotations

import math
import random
import re
import statistics

import pytest

from gradsign_fast.nas import Benchmark, all_arch_strings, compare, parse_arch, run_method, summary_table
from gradsign_fast.nas.search import mean_std, random_search, regularized_evolution

OP_VALUE = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 1.5, "nor_conv_1x1": 3.0, "nor_conv_3x3": 4.0}


@pytest.fixture(scope="module")
def table():
    """All 15,625 archs: accuracy = op values + noise; score = accuracy + more noise (rho ~0.8)."""
    rng = random.Random(42)
    accs, scores = {}, {}
    for arch in all_arch_strings():
        acc = 60 + sum(OP_VALUE[op] for op in parse_arch(arch)) + rng.gauss(0, 2)
        accs[arch], scores[arch] = acc, acc + rng.gauss(0, 3)
    return accs, scores


def test_guided_search_beats_plain_search_on_average(table):
    accs, scores = table
    bench = Benchmark(accs)
    results = compare(bench, 20, 30, scorer=scores.__getitem__)
    mean = {m: statistics.fmean(r.accuracy for r in runs) for m, runs in results.items()}
    assert mean["G-RS"] > mean["RS"] + 1 and mean["G-REA"] > mean["REA"] + 1
    for method, runs in results.items():
        assert all(r.trained == 20 and r.cost == 20 for r in runs), method
        assert all(r.scored == 0 for r in runs) == (not method.startswith("G-"))
    assert all(r.scored == 10 * 21 for r in results["G-RS"])  # M per step, the overrunning step too


def test_runs_are_seeded_and_reproducible(table):
    accs, scores = table
    bench = Benchmark(accs)
    for method in ("RS", "G-RS", "REA", "G-REA"):
        a = run_method(method, bench, 15, 3, scorer=scores.__getitem__)
        assert a == run_method(method, Benchmark(accs), 15, 3, scorer=scores.__getitem__)
    assert run_method("REA", bench, 15, 3) != run_method("REA", bench, 15, 4)


def test_budget_in_training_time(table):
    accs, _ = table
    cost = {a: 2.5 for a in accs}
    result = run_method("REA", Benchmark(accs, cost), 26, 0)
    assert result.trained == 10 and result.cost == 25.0  # the 11th would overrun 26
    with pytest.raises(ValueError, match="buys no training"):
        run_method("RS", Benchmark(accs, cost), 1, 0)


def test_partial_table_mutates_to_the_nearest_table_arch(table):
    accs, scores = table
    subset = dict(list(accs.items())[::37])
    bench = Benchmark(subset)
    rng = random.Random(0)
    parent = next(iter(subset))
    children = {bench.mutate(parent, rng) for _ in range(50)}
    assert children <= set(subset) and parent not in children
    result = run_method("G-REA", bench, 30, 0, scorer=scores.__getitem__)
    assert result.arch in subset


def test_errors_and_summary(table):
    accs, scores = table
    with pytest.raises(ValueError, match="needs GradSign scores"):
        run_method("G-RS", Benchmark(accs), 5, 0)
    with pytest.raises(ValueError, match="unknown search method"):
        run_method("BOHB", Benchmark(accs), 5, 0)
    results = compare(Benchmark(accs), 5, 3, methods=("RS", "G-RS"), scorer=scores.__getitem__)
    text = summary_table(results, {"acc": accs})
    assert text.splitlines()[0].startswith("| method | runs |") and "| G-RS | 3 |" in text and "±" in text
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))


class GuardedBenchmark(Benchmark):
    """A Benchmark that fails once it has trained 100,000 archs: a run that would never end fails instead."""

    def train(self, arch):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > 100_000:
            raise RuntimeError("runaway search: 100,000 trainings and counting")
        return super().train(arch)


@pytest.mark.parametrize("budget", [math.nan, math.inf, -math.inf, 0, -1.0])
def test_a_bad_budget_raises_instead_of_hanging(budget, table):
    accs, scores = table
    bench = GuardedBenchmark(accs)
    calls = [lambda: random_search(bench, budget, random.Random(0)),
             lambda: regularized_evolution(bench, budget, random.Random(0)),
             lambda: run_method("G-REA", bench, budget, 0, scorer=scores.__getitem__),
             lambda: compare(bench, budget, 2, methods=("RS", "REA"))]
    for call in calls:
        with pytest.raises(ValueError, match="a finite number > 0"):
            call()


def test_a_budget_worth_too_many_trainings_raises(table):
    accs, _ = table
    with pytest.raises(ValueError, match="buys up to .* trainings"):
        run_method("RS", GuardedBenchmark(accs), 1e12, 0)
    cost = {a: 1e-9 for a in accs}
    with pytest.raises(ValueError, match="trainings"):
        run_method("REA", GuardedBenchmark(accs, cost), 50, 0)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, 0.0, "ten"])
def test_costs_must_be_finite_and_positive(bad, table):
    accs, _ = table
    arch = next(iter(accs))
    with pytest.raises(ValueError, match="cost of arch .*" + re.escape(repr(bad))):
        Benchmark(accs, {**{a: 1.0 for a in accs}, arch: bad})
    with pytest.raises(ValueError, match="no cost for 1 arch"):
        Benchmark(accs, {a: 1.0 for a in list(accs)[1:]})
    with pytest.raises(ValueError, match="accuracy of arch"):
        Benchmark({**accs, arch: math.nan})


def test_rea_with_a_population_larger_than_the_budget_buys_ends(table):
    accs, scores = table
    for method in ("REA", "G-REA"):
        result = run_method(method, GuardedBenchmark(accs), 5, 0, population=50, scorer=scores.__getitem__)
        assert result.trained == 5 and result.cost == 5
    for option in ({"population": 0}, {"sample": 0}, {"m": 0}):
        with pytest.raises(ValueError, match=f"{next(iter(option))} must be"):
            run_method("G-REA", Benchmark(accs), 5, 0, scorer=scores.__getitem__, **option)
