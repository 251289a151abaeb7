"""Rank correlation of a results file with an accuracy table, the scatter plot, and the arch-table reader."""

from __future__ import annotations

import csv

import pytest

from gradsign_fast.nas import ResultsFile, correlate, load_scores, load_table, sample_arch_strings, scatter_plot
from gradsign_fast.nas.tables import arch_strings_from_table, table_archs, table_columns

ARCHS = sample_arch_strings(6, seed=9)


def write_table(path, rows, fields=("arch_str", "dataset", "acc")):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        writer.writerows(rows)
    return path


def write_results(path, scores, **config):
    results = ResultsFile(path)
    for arch, value in scores.items():
        results.append({"key": arch, "arch": arch, "score": value, "config": {"seed": 0, "device": "cpu", **config}})
    return path


def test_known_rank_correlations():
    accs = dict(zip(ARCHS[:5], [5, 6, 7, 8, 7]))
    scores = dict(zip(ARCHS[:5], [1, 2, 3, 4, 5]))
    c = correlate(scores, accs)
    assert c.n == 5 and c.spearman == pytest.approx(0.8207826816681233)  # scipy's documented example
    assert c.kendall == pytest.approx(0.7378647873726218)
    assert correlate(scores, {a: -v for a, v in scores.items()}).spearman == pytest.approx(-1.0)
    assert correlate(scores, {a: v ** 3 for a, v in scores.items()}).kendall == pytest.approx(1.0)


def test_join_drops_unknown_and_nonfinite():
    scores = {**dict(zip(ARCHS[:4], [1.0, 2.0, 3.0, 4.0])), ARCHS[4]: float("nan"), "not-in-table": 9.0}
    accs = dict(zip(ARCHS[:5], [1, 2, 3, 4, 5]))
    c = correlate(scores, accs)
    assert (c.n, c.scores_only, c.nonfinite, c.spearman) == (4, 1, 1, pytest.approx(1.0))
    with pytest.raises(ValueError, match="at least 3"):
        correlate(dict(zip(ARCHS[:2], [1, 2])), accs)


def test_table_filters_duplicates_and_bad_cells(tmp_path):
    path = write_table(tmp_path / "t.csv", [(ARCHS[0], "cifar10", 90), (ARCHS[0], "cifar100", 70),
                                            (ARCHS[1], "cifar10", ""), (ARCHS[2], "cifar10", 80)])
    with pytest.raises(ValueError, match="dataset=cifar10"):
        load_table(path, "acc")
    assert load_table(path, "acc", where={"dataset": "cifar100"}) == {ARCHS[0]: 70.0}
    with pytest.raises(ValueError, match="not a number"):
        load_table(path, "acc", where={"dataset": "cifar10"})
    assert load_table(path, "acc", where={"dataset": "cifar10"}, skip_empty=True) == {ARCHS[0]: 90.0, ARCHS[2]: 80.0}
    with pytest.raises(ValueError, match="choose the accuracy column"):
        load_table(path, "accuracy")


def test_results_skip_errors_and_refuse_mixed_experiments(tmp_path):
    path = write_results(tmp_path / "r.jsonl", dict(zip(ARCHS[:3], [1.0, 2.0, 3.0])))
    ResultsFile(path).append({"key": "x", "arch": ARCHS[3], "error": "ValueError: boom"})
    assert load_scores(path) == dict(zip(ARCHS[:3], [1.0, 2.0, 3.0]))
    write_results(path, {ARCHS[4]: 5.0}, device="cuda")  # another device: the same experiment
    assert len(load_scores(path)) == 4
    write_results(path, {ARCHS[5]: 6.0}, seed=1)
    with pytest.raises(ValueError, match="mixes 2 experiments"):
        load_scores(path)
    assert load_scores(path, select={"seed": 1}) == {ARCHS[5]: 6.0}
    with pytest.raises(FileNotFoundError, match="sweep"):
        load_scores(tmp_path / "missing.jsonl")


def test_scatter_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    scores = dict(zip(ARCHS, [10.0, 100.0, 1000.0, 0.0, 5.0, 50.0]))
    accs = dict(zip(ARCHS, [80, 85, 93, 10, 70, 82]))
    out = scatter_plot(scores, accs, tmp_path / "plots" / "fig2.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000


def test_table_values_can_be_required_finite_or_positive(tmp_path):
    path = write_table(tmp_path / "t.csv", [(ARCHS[0], "cifar10", 90), (ARCHS[1], "cifar10", "nan"),
                                            (ARCHS[2], "cifar100", -3)])
    assert load_table(path, "acc", where={"dataset": "cifar100"}, require="finite") == {ARCHS[2]: -3.0}
    with pytest.raises(ValueError, match=rf"data row 1 \(arch .*\): acc='nan'; expected a finite number"):
        load_table(path, "acc", where={"dataset": "cifar10"}, require="finite")
    with pytest.raises(ValueError, match=r"data row 2 .*acc='-3'; expected a finite number > 0"):
        load_table(path, "acc", where={"dataset": "cifar100"}, require="positive")
    with pytest.raises(ValueError, match="require must be one of"):
        load_table(path, "acc", require="sane")


def test_one_reader_for_every_arch_table(tmp_path):
    """sweep --from-table, benchmark indices and load_table read tables the same way."""
    path = write_table(tmp_path / "t.csv", [(ARCHS[0], "cifar10", 90), (ARCHS[1], "cifar100", 70),
                                            (ARCHS[0], "cifar100", 71), (ARCHS[2], "cifar10", 80)])
    assert table_columns(path) == ["arch_str", "dataset", "acc"]
    assert table_archs(path) == ARCHS[:3]  # row order, each once
    assert arch_strings_from_table(path) == [ARCHS[0], ARCHS[1], ARCHS[0], ARCHS[2]]  # row i = index i
    assert table_archs(path, where=[("dataset", "cifar100")]) == [ARCHS[1], ARCHS[0]]
    with pytest.raises(ValueError, match="no rows match"):
        table_archs(path, where=[("dataset", "cifar10"), ("dataset", "cifar100")])  # every pair must match
    with pytest.raises(ValueError, match=r"t.csv has no column\(s\) \['split'\] to select rows by"):
        table_archs(path, where={"split": "x"})
    with pytest.raises(ValueError, match=r"t.csv has no column\(s\) \['split'\] to select rows by"):
        load_table(path, "acc", where={"split": "x"})
    with pytest.raises(FileNotFoundError, match="no arch table at"):
        table_archs(tmp_path / "missing.csv")
    plain = write_table(tmp_path / "plain.csv", [(ARCHS[3], 1.5)], fields=("arch", "acc"))
    assert table_archs(plain) == arch_strings_from_table(plain) == [ARCHS[3]]
    assert load_table(plain, "acc") == {ARCHS[3]: 1.5}


def test_duplicate_rows_can_be_averaged_per_arch(tmp_path, capsys):
    """NASLib's NB101 file lists a cell once per training seed: duplicates="mean" averages its rows."""
    from gradsign_fast.cli import main

    rows = [(ARCHS[0], "a", 90), (ARCHS[0], "b", 91), (ARCHS[0], "c", 95), (ARCHS[1], "a", 80),
            (ARCHS[2], "a", 85), (ARCHS[3], "a", 70)]
    path = write_table(tmp_path / "t.csv", rows)
    with pytest.raises(ValueError, match="appears more than once"):
        load_table(path, "acc")
    assert load_table(path, "acc", duplicates="mean") == {ARCHS[0]: 92.0, ARCHS[1]: 80.0, ARCHS[2]: 85.0,
                                                          ARCHS[3]: 70.0}
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load_table(path, "acc", duplicates="first")
    results = write_results(tmp_path / "r.jsonl", dict(zip(ARCHS[:4], [4.0, 2.0, 3.0, 1.0])))
    assert main(["correlate", str(results), "--table", str(path), "--accuracy", "acc"]) == 1
    assert "appears more than once" in capsys.readouterr().err
    assert main(["correlate", str(results), "--table", str(path), "--accuracy", "acc", "--duplicates", "mean",
                 "--json"]) == 0
    assert '"spearman": 1.0' in capsys.readouterr().out
