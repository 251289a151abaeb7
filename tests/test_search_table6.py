"""The paper's Table 6 searches: REINFORCE / G-REINFORCE, Hyperband / G-HB, simulated time budgets.

Synthetic tables over all 15,625 NB201 cells (accuracy = op values + noise, cost grows with the
convolutions), a Benchmark subclass that logs every training the searches ask for, and the real
nb201_multifidelity.csv when it is there.
"""

from __future__ import annotations

import csv
import math
import random
import statistics
from pathlib import Path

import pytest
import torch
from bench_scripts import import_benchmark, random_scores_file
from shared_data import shared_file

from gradsign_fast.cli import main
from gradsign_fast.nas import all_arch_strings, parse_arch
from gradsign_fast.nas.multifidelity import load_nb201_fidelities, training_cost
from gradsign_fast.nas.search import Benchmark, run_method
from gradsign_fast.nas.search_hyperband import brackets
from gradsign_fast.nas.search_reinforce import MovingAverage, Policy, actions_of

OP_VALUE = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 1.5, "nor_conv_1x1": 3.0, "nor_conv_3x3": 4.0}
NEW = ("REINFORCE", "G-REINFORCE", "HB", "G-HB")


class Logged(Benchmark):
    """A Benchmark that appends (tag, arch, cost) to `log` for every training asked of it, in order;
    several may share one log (fidelities of one run)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.log: list[tuple[int, str, float]] = []
        self.tag = 0

    def train(self, arch):
        acc, cost = super().train(arch)
        self.log.append((self.tag, arch, cost))
        return acc, cost


def share_log(*benches: Logged) -> list[tuple[int, str, float]]:
    for tag, bench in enumerate(benches):
        bench.log, bench.tag = benches[0].log, tag
    return benches[0].log


@pytest.fixture(scope="module")
def table():
    """arch -> (12-epoch-like noisy accuracy, final accuracy, cost per epoch); score tracks final accuracy."""
    rng = random.Random(7)
    rows, scores = {}, {}
    for arch in all_arch_strings():
        ops = parse_arch(arch)
        final = 60 + sum(OP_VALUE[op] for op in ops) + rng.gauss(0, 1)
        rows[arch] = (final + rng.gauss(0, 2), final, 1 + sum(op.startswith("nor_conv") for op in ops))
        scores[arch] = final + rng.gauss(0, 2)
    return rows, scores


def fidelities(rows, *, cost=True):
    low = Logged({a: r[0] for a, r in rows.items()}, {a: 12 * r[2] for a, r in rows.items()} if cost else None)
    high = Logged({a: r[1] for a, r in rows.items()}, {a: 200 * r[2] for a, r in rows.items()} if cost else None)
    share_log(low, high)
    return low, high


@pytest.mark.parametrize("method", NEW)
def test_budget_is_respected_and_spent(table, method):
    rows, scores = table
    low, high = fidelities(rows)
    budget = 3000.0
    r = run_method(method, low, budget, 1, scorer=scores.__getitem__, fidelities=[low, high])
    calls = low.log
    assert r.trained >= 1 and len(calls) == r.trained + 1  # it stops at the first training it cannot pay for
    assert math.isclose(sum(c for _, _, c in calls[:-1]), r.cost, rel_tol=1e-12) and r.cost <= budget
    assert r.cost + calls[-1][2] > budget
    times = [t for t, _ in r.trace]
    assert times == sorted(times) and times[-1] <= budget and r.trace[-1][1] == r.arch
    if method.endswith("HB"):
        assert {tag for tag, _, _ in calls} == {0, 1}  # both fidelities were trained
    else:
        assert {tag for tag, _, _ in calls} == {0}  # the others train at 12 epochs only, as the authors


@pytest.mark.parametrize("method", NEW)
def test_budget_counts_trainings_without_a_cost_model(table, method):
    rows, scores = table
    low, high = fidelities(rows, cost=False)
    r = run_method(method, low, 25, 2, scorer=scores.__getitem__, fidelities=[low, high])
    assert r.trained == 25 and r.cost == 25 and len(low.log) == 26


@pytest.mark.parametrize("method", NEW)
def test_runs_are_seeded_and_reproducible(table, method):
    rows, scores = table
    runs = []
    for seed in (3, 3, 4):
        low, high = fidelities(rows)
        runs.append(run_method(method, low, 2000, seed, scorer=scores.__getitem__, fidelities=[low, high]))
        runs[-1] = (runs[-1], runs[-1].trace, low.log)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_policy_step_moves_probability_toward_rewarded_actions_as_torch_adam():
    rng = random.Random(0)
    policy = Policy(rng, learning_rate=0.5)
    theta = torch.tensor(policy.theta, dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([theta], lr=0.5)
    for actions, advantage in [((3, 1, 0, 4, 2, 3), 1.5), ((0, 0, 1, 1, 2, 2), -0.7), ((4, 3, 2, 1, 0, 4), 2.0)]:
        fresh = Policy(random.Random(1))  # one step from a fresh optimizer (later ones carry momentum)
        before = fresh.probs()
        fresh.step(actions, advantage)
        after = fresh.probs()
        for e, a in enumerate(actions):  # the taken op gains probability iff the advantage is positive
            assert (after[e][a] > before[e][a]) == (advantage > 0), (e, a, advantage)
        policy.step(actions, advantage)
        loss = -torch.log_softmax(theta, dim=-1)[range(6), list(actions)].sum() * advantage
        adam.zero_grad()
        loss.backward()
        adam.step()
        assert torch.allclose(theta.detach(), torch.tensor(policy.theta, dtype=torch.float64), rtol=0, atol=1e-12)
    unchanged = [row[:] for row in policy.theta]
    fresh = Policy(random.Random(0))
    fresh.step((1,) * 6, 0.0)  # no advantage: no move
    assert fresh.theta == Policy(random.Random(0)).theta and unchanged == policy.theta


def test_moving_average_is_bias_corrected():
    ema = MovingAverage(0.9)
    ema.update(80.0)
    assert ema.value() == pytest.approx(80.0)  # the first reward is its own baseline: no update on step 1
    ema.update(90.0)
    assert ema.value() == pytest.approx((0.9 * 0.1 * 80 + 0.1 * 90) / (0.9 * 0.1 + 0.1))


def test_reinforce_learns_the_rewarded_op(table):
    """Reward = number of nor_conv_3x3 edges: late trainings use it far more often than early ones."""
    accs = {a: float(parse_arch(a).count("nor_conv_3x3")) for a in all_arch_strings()}
    early, late = [], []
    for seed in range(5):
        bench = Logged(accs)
        run_method("REINFORCE", bench, 60, seed)
        ops = [parse_arch(a).count("nor_conv_3x3") for _, a, _ in bench.log]
        early += ops[:10]
        late += ops[-10:]
    assert statistics.fmean(early) < 2 and statistics.fmean(late) > 3  # uniform: 1.2; flipped sign: -> 0


def test_hyperband_brackets_are_hpbandsters():
    assert brackets(2, 3) == [[(0, 3), (1, 1)], [(1, 2)]]
    assert brackets(3, 3) == [[(0, 9), (1, 3), (2, 1)], [(1, 3), (2, 1)], [(2, 3)]]
    assert brackets(1, 3) == [[(0, 1)]]
    with pytest.raises(ValueError, match="eta"):
        brackets(2, 1)


def test_hyperband_promotes_the_most_accurate_of_each_rung(table):
    rows, _ = table
    fids = [Logged({a: r[k] for a, r in rows.items()}) for k in (0, 0, 1)]  # three rungs, unit cost
    log = share_log(*fids)
    r = run_method("HB", fids[0], 60, 5, fidelities=fids, eta=3)
    assert [tag for tag, _, _ in log[:20]] == [0] * 9 + [1] * 3 + [2] + [1] * 3 + [2] + [2] * 3  # 9-3-1, 3-1, 3
    assert len(log) == 61 and [t for t, _, _ in log[:60]] == [t for t, _, _ in log[:20]] * 3
    for cycle in range(3):
        c = [a for _, a, _ in log[20 * cycle:20 * cycle + 20]]
        best3 = sorted(c[:9], key=lambda a: -fids[0].accs[a])[:3]
        assert sorted(c[9:12]) == sorted(best3)  # the 3 most accurate of 9 at rung 0 go up
        assert c[12] == max(best3, key=lambda a: fids[1].accs[a])  # and the best of those at rung 1
        assert c[16] == max(c[13:16], key=lambda a: fids[1].accs[a])
    top = [a for tag, a, _ in log[:60] if tag == 2]
    assert r.arch == max(top, key=lambda a: fids[2].accs[a])  # the incumbent: best at the top rung


def _chunks(calls, m):
    return [calls[i:i + m] for i in range(0, len(calls), m)]


@pytest.mark.parametrize("method", ["G-REINFORCE", "G-HB"])
def test_guided_methods_train_the_best_scored_candidate(table, method):
    rows, scores = table
    calls: list[str] = []

    def scorer(arch):
        calls.append(arch)
        return scores[arch]

    low, high = fidelities(rows, cost=False)
    r = run_method(method, low, 30, 0, scorer=scorer, fidelities=[low, high], m=10)
    assert r.scored == len(calls) and len(calls) % 10 == 0
    picks = [max(chunk, key=scores.__getitem__) for chunk in _chunks(calls, 10)]
    first_rung = [a for tag, a, _ in low.log if tag == 0]
    if method == "G-REINFORCE":
        assert first_rung == picks[: len(first_rung)]
        for chunk in _chunks(calls, 10):  # mutations of one sampled arch: any two differ in <= 2 edges
            assert all(sum(x != y for x, y in zip(parse_arch(chunk[0]), parse_arch(c))) <= 2 for c in chunk)
    else:
        assert set(first_rung) <= set(picks) and all(len(set(c)) == 10 for c in _chunks(calls, 10))


@pytest.mark.parametrize("base", ["REINFORCE", "HB"])
def test_scores_steer_the_guided_variant(table, base):
    """A score equal to the final accuracy beats the plain method; the inverted score loses to it."""
    rows, _ = table
    good = {a: r[1] for a, r in rows.items()}
    bad = {a: -v for a, v in good.items()}
    final = {}
    for name, scorer in (("plain", None), ("good", good.__getitem__), ("bad", bad.__getitem__)):
        method = base if scorer is None else f"G-{base}"
        accs = []
        for seed in range(20):
            low, high = fidelities(rows)
            accs.append(rows[run_method(method, low, 4000, seed, scorer=scorer, fidelities=[low, high]).arch][1])
        final[name] = statistics.fmean(accs)
    assert final["good"] > final["plain"] + 1 > final["bad"] + 2


def test_hb_needs_fidelities(table):
    rows, _ = table
    with pytest.raises(ValueError, match="fidelities"):
        run_method("HB", Benchmark({a: r[0] for a, r in rows.items()}), 10, 0)
    low, high = fidelities(rows)
    with pytest.raises(ValueError, match="same archs"):
        run_method("HB", low, 10, 0, fidelities=[low, Benchmark(dict(list(high.accs.items())[:10]))])


def test_reinforce_needs_nb201_archs():
    with pytest.raises(ValueError, match="NAS-Bench-201"):
        run_method("REINFORCE", Benchmark({"a": 1.0, "b": 2.0}), 5, 0)
    assert actions_of(all_arch_strings()[1]) == (0, 0, 0, 0, 0, 1)


# --- the cost model and its table ---

COLUMNS = ["arch_index", "arch_str", "c10_test_12ep_s111", "c10v_valid_200ep_mean", "c10v_train_sec_per_epoch",
           "c10v_valid_sec_per_eval"]


def write_multifidelity(path: Path, archs, seed=0):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i, a in enumerate(archs):
            w.writerow([i, a, round(rng.uniform(50, 90), 2), round(rng.uniform(80, 92), 2),
                        round(rng.uniform(5, 12), 3), round(rng.uniform(2, 4), 3)])


def test_load_fidelities_applies_the_cost_model(tmp_path):
    archs = all_arch_strings()[:40]
    path = tmp_path / "mf.csv"
    write_multifidelity(path, archs)
    rows = list(csv.DictReader(open(path)))
    f = load_nb201_fidelities(path, archs=archs[:30])
    assert f.low.archs == archs[:30] and f.high.archs == archs[:30]
    row = rows[3]
    spe, vse = float(row["c10v_train_sec_per_epoch"]), float(row["c10v_valid_sec_per_eval"])
    assert f.low.train(archs[3]) == (float(row["c10_test_12ep_s111"]), 12 * spe + vse)
    assert f.high.train(archs[3]) == (float(row["c10v_valid_200ep_mean"]), 200 * spe + vse)
    assert training_cost(spe, vse, 12) == 12 * spe + vse
    unit = load_nb201_fidelities(path, unit_cost=True)
    assert unit.low.train(archs[0])[1] == 1.0 and unit.high.train(archs[0])[1] == 1.0
    with pytest.raises(ValueError, match="not in"):
        load_nb201_fidelities(path, archs=[all_arch_strings()[100]])


def test_the_real_cost_model_prices_a_12_epoch_training_near_100_seconds():
    path = shared_file("nb201/nb201_multifidelity.csv")
    f = load_nb201_fidelities(path)
    assert len(f.low.archs) == 15625
    costs = sorted(f.low.cost.values())
    assert 30 < costs[0] and 60 < costs[len(costs) // 2] < 200
    arch = f.low.archs[0]
    assert f.high.cost[arch] > 15 * f.low.cost[arch]


def test_cli_searches_on_simulated_time(tmp_path, capsys):
    archs = all_arch_strings()
    mf = tmp_path / "mf.csv"
    write_multifidelity(mf, archs)
    report = tmp_path / "report.csv"
    with open(report, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "final", "score"])
        for i, a in enumerate(archs):
            w.writerow([a, 80 + (i % 97) / 10, i % 89])
    base = ["search", "--table", str(report), "--report", "final", "--multifidelity", str(mf), "--runs", "2",
            "--quiet", "--score-column", "score"]
    assert main([*base, "--budget-seconds", "3000"]) == 0
    out = capsys.readouterr().out
    assert "simulated training seconds" in out
    for method in ("| RS |", "| G-REINFORCE |", "| HB |", "| G-HB |"):
        assert method in out
    assert main([*base, "--budget", "7", "--methods", "HB,REINFORCE"]) == 0
    assert "| HB | 2 | 7.0 |" in capsys.readouterr().out
    for bad in (["--budget", "7", "--budget-seconds", "9"], ["--accuracy", "final"]):
        assert main([*base, *bad]) == 2
    assert main(["search", "--table", str(report), "--accuracy", "final", "--methods", "HB", "--quiet"]) == 2
    assert "HB/G-HB need two training lengths" in capsys.readouterr().err


def test_table6_script_runs_on_a_small_scored_sample(tmp_path, capsys):
    data = shared_file("nb201/nb201_multifidelity.csv").parents[1]
    shared_file("nb201/nats_bench_tss_test_acc_200ep.csv")
    scores = random_scores_file(tmp_path / "scores.jsonl", 3000, seed=1)
    table6 = import_benchmark("table6")
    plot = tmp_path / "t6.png"
    assert table6.main([str(scores), "--data", str(data), "--runs", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "a scored sample of 3,000" in out and "| G-HB | 3 |" in out and "CIFAR-100" in out
    pytest.importorskip("matplotlib")
    assert plot.stat().st_size > 1000
