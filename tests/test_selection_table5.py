"""Selection without training (nas.selection, benchmarks/table5.py): best of N uniform draws."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from gradsign_fast.nas.selection import best_of_n, draws, finite_mean_std
from bench_scripts import import_benchmark, random_scores_file
from shared_data import shared_file

ARCHS = [f"a{i:03d}" for i in range(50)]


def test_each_run_returns_the_best_scored_of_its_draws():
    rng = random.Random(0)
    scores = {a: rng.random() for a in ARCHS}
    picks = best_of_n(scores, n=7, runs=40, seed=3, archs=ARCHS)
    for row, pick in zip(draws(ARCHS, 7, 40, 3), picks):
        drawn = [ARCHS[i] for i in row]
        assert pick == max(drawn, key=scores.__getitem__)
    assert len(set(picks)) > 5  # different runs draw differently


def test_draws_are_with_replacement_and_the_same_for_any_score_table():
    rows = draws(ARCHS, 200, 3, seed=1)
    assert rows.shape == (3, 200) and all(len(set(r)) < 200 for r in rows)  # 200 draws of 50: repeats
    a = best_of_n({x: i for i, x in enumerate(ARCHS)}, n=5, runs=20, seed=9, archs=ARCHS)
    b = best_of_n({x: -i for i, x in enumerate(ARCHS)}, n=5, runs=20, seed=9, archs=ARCHS)
    for row, hi, lo in zip(draws(ARCHS, 5, 20, 9), a, b):
        assert hi == ARCHS[max(row)] and lo == ARCHS[min(row)]  # same draws, opposite orders


def test_nan_scores_are_skipped_ties_go_to_the_first_draw_and_all_nan_is_none():
    scores = {a: math.nan for a in ARCHS}
    assert best_of_n(scores, n=3, runs=4, archs=ARCHS) == [None] * 4
    scores[ARCHS[0]] = 1.0
    picks = best_of_n(scores, n=60, runs=5, archs=ARCHS)
    for row, pick in zip(draws(ARCHS, 60, 5, 0), picks):
        assert pick == (ARCHS[0] if 0 in row else None)
    tied = {a: 1.0 for a in ARCHS}
    for row, pick in zip(draws(ARCHS, 4, 10, 2), best_of_n(tied, n=4, runs=10, seed=2, archs=ARCHS)):
        assert pick == ARCHS[row[0]]


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="1 archs of the population have no score"):
        best_of_n({"a": 1.0}, n=1, runs=1, archs=["a", "b"])
    with pytest.raises(ValueError, match="N and runs must be >= 1"):
        best_of_n({"a": 1.0}, n=0, runs=1)
    with pytest.raises(ValueError, match="at least one scored arch"):
        best_of_n({}, n=1, runs=1)


def test_finite_mean_std():
    assert finite_mean_std([1.0, None, math.nan, 3.0]) == (2.0, float(np.std([1, 3], ddof=1)), 2)
    assert finite_mean_std([5.0]) == (5.0, 0.0, 1)
    mean, std, count = finite_mean_std([None])
    assert math.isnan(mean) and count == 0


def test_table5_script_on_a_small_scored_sample(tmp_path, capsys):
    data = shared_file("nb201/nats_bench_tss_test_acc_200ep.csv").parents[1]
    scores = random_scores_file(tmp_path / "scores.jsonl", 2000, seed=1)
    table5 = import_benchmark("table5")
    assert table5.main([str(scores), "--data", str(data), "--runs", "20", "--n", "10", "--n", "100"]) == 0
    out = capsys.readouterr().out
    assert "a scored sample of 2,000" in out and "| Random | 1 | 20 |" in out
    assert "| GradSign | 100 | 20 |" in out and "| oracle (CIFAR-10 test acc.) | 10 | 20 |" in out
    assert "93.31 ± 0.47" in out  # the paper's cell beside GradSign N=100
    oracle = [line for line in out.splitlines() if line.startswith("| oracle")]
    means = [float(line.split("|")[4].split("±")[0]) for line in oracle]
    assert means[1] >= means[0]  # the oracle of 100 draws beats that of 10 on CIFAR-10
