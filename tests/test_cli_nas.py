"""The NAS subcommands: score, sweep, correlate, search, validate; help and exit codes."""

from __future__ import annotations

import csv
import json
import random
import sys

import pytest
from shared_data import shared_file

from gradsign_fast.cli import main
from gradsign_fast.nas import ResultsFile, sample_arch_strings

TINY = ["--batch-size", "4", "--channels", "4", "--cells", "1", "--threads", "1"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
FACTORY = "from torch import nn\n\ndef build(arch='4', num_classes=10):\n" \
          "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, int(arch)), nn.ReLU(), " \
          "nn.Linear(int(arch), num_classes))\n"


@pytest.fixture()
def factory(tmp_path, monkeypatch):
    (tmp_path / "cli_space.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_space:build"


def synthetic_table(path, archs, seed=0):
    """A CSV with arch_str, acc and a 'proxy' column that tracks acc."""
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["arch_str", "acc", "proxy"])
        for i, arch in enumerate(archs):
            writer.writerow([arch, 80 + i * 0.5 + rng.gauss(0, 1), i + rng.gauss(0, 50)])
    return path


@pytest.mark.parametrize("command", ["score", "sweep", "correlate", "search", "validate"])
def test_each_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"usage: gradsign-fast {command}" in capsys.readouterr().out


def test_score_an_arch_string_and_a_factory(factory, capsys):
    assert main(["score", ARCH, *TINY]) == 0
    out = capsys.readouterr().out
    value = float(out.splitlines()[-1].split("\t")[0])
    assert value > 0 and out.splitlines()[-1].endswith(ARCH) and "SYNTHETIC" in out
    assert main(["score", ARCH, *TINY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == value  # the same number as a sweep's record
    assert main(["score", factory, "8", *TINY]) == 0
    assert float(capsys.readouterr().out.splitlines()[-1].split("\t")[0]) > 0
    assert main(["score", factory, *TINY]) == 0  # factory() without an arch
    assert main(["score", "|bogus|", *TINY]) == 1
    assert "malformed NAS-Bench-201 arch" in capsys.readouterr().err
    assert main(["score", ARCH, "extra", *TINY]) == 1
    assert main(["score", "1", *TINY]) == 1 and "--table" in capsys.readouterr().err


def test_score_a_benchmark_index(capsys):
    table = shared_file("nb201/nats_bench_tss_test_acc_200ep.csv")
    assert main(["score", "1", "--table", str(table), *TINY]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert ARCH in line and line.endswith("index 1")  # row 1 of the benchmark
    assert main(["score", ARCH, "--table", str(table), *TINY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["index"] == 1


def test_sweep_is_resumable_and_takes_archs_from_many_sources(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(out), "--archs", "3", "--quiet", *TINY]) == 0
    assert "0 already done, 3 scored, 0 failed" in capsys.readouterr().out
    assert main(["sweep", str(out), "--archs", "3", "--quiet", *TINY]) == 0
    assert "3 already done, 0 scored" in capsys.readouterr().out
    assert [r["arch"] for r in ResultsFile(out).records()] == sample_arch_strings(3, 0)
    assert main(["sweep", str(out), "--archs", "4", "--reverse", "--quiet", *TINY]) == 0
    assert ResultsFile(out).records()[-1]["arch"] == sample_arch_strings(4, 0)[3]

    archs = sample_arch_strings(4, 1)
    (tmp_path / "archs.txt").write_text(f"# two archs\n{archs[0]}\n\n{archs[1]}  # trailing comment\n")
    assert main(["sweep", str(out), "--arch-file", str(tmp_path / "archs.txt"), "--quiet", *TINY]) == 0
    assert "0 already done, 2 scored" in capsys.readouterr().out
    table = synthetic_table(tmp_path / "t.csv", sample_arch_strings(5, 11))
    assert main(["sweep", str(out), "--from-table", str(table), "--archs", "3", "--sample-seed", "2",
                 "--shard", "0/3", *TINY]) == 0
    captured = capsys.readouterr()
    assert "# gradsign-fast sweep: 1 archs" in captured.out and "sweep [" in captured.err  # progress bar


def test_sweep_reports_failures_with_exit_3(tmp_path, factory, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(out), "--space", factory, "--arch", "4", "--arch", "not-a-number", "--quiet",
                 *TINY]) == 3
    captured = capsys.readouterr()
    assert "1 scored, 1 failed" in captured.out and "rerun the same command" in captured.err
    assert sum("error" in r for r in ResultsFile(out).records()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2", "--archs", "2"], "add --ray"),
    ([], "which archs?"),
    (["--all", "--arch", ARCH], "choose one source"),
    (["--archs", "2", "--where", "a=b"], "--where filters --from-table"),
    (["--archs", "2", "--shard", "2/2"], "I/N"),
])
def test_sweep_usage_errors_exit_2(argv, message, tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "r.jsonl"), *argv, *TINY]) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err


def test_sweep_with_ray_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["sweep", str(tmp_path / "r.jsonl"), "--ray", "--workers", "2", "--archs", "2", *TINY]) == 1
    err = capsys.readouterr().err
    assert "Ray" in err and "pip install" in err
    assert not (tmp_path / "r.jsonl").exists()


def test_correlate_prints_rank_correlations_and_a_plot(tmp_path, capsys):
    archs = sample_arch_strings(20, 3)
    results = ResultsFile(tmp_path / "r.jsonl")
    for i, arch in enumerate(archs):
        results.append({"key": arch, "arch": arch, "score": float(10 + i), "config": {}})
    table = synthetic_table(tmp_path / "t.csv", archs)
    argv = ["correlate", str(results.path), "--table", str(table), "--accuracy", "acc"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 20 and 0.5 < result["spearman"] <= 1 and 0.3 < result["kendall"] <= 1
    pytest.importorskip("matplotlib")
    assert main([*argv, "--plot", str(tmp_path / "fig.png")]) == 0
    out = capsys.readouterr().out
    assert "spearman" in out and "kendall" in out and (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["correlate", str(results.path), "--table", str(table)]) == 1  # no known accuracy column
    assert "--accuracy" in capsys.readouterr().err


def test_search_with_a_table_column_as_the_guide(tmp_path, capsys):
    archs = sample_arch_strings(300, 4)
    table = synthetic_table(tmp_path / "t.csv", archs)
    argv = ["search", "--table", str(table), "--accuracy", "acc", "--runs", "5", "--budget", "10", "--quiet"]
    assert main([*argv, "--score-column", "proxy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    methods = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and "±" in line]
    assert methods == ["RS", "G-RS", "REA", "G-REA"]
    assert main([*argv, "--methods", "RS,REA"]) == 0  # plain methods need no scores
    capsys.readouterr()
    assert main(argv) == 2 and "need scores" in capsys.readouterr().err
    assert main([*argv, "--score-column", "proxy", "--methods", "RS,BOHB"]) == 2


def test_search_scores_on_demand_into_the_results_file(tmp_path, capsys):
    archs = sample_arch_strings(12, 6)
    table = synthetic_table(tmp_path / "t.csv", archs)
    results = tmp_path / "r.jsonl"
    argv = ["search", "--table", str(table), "--accuracy", "acc", "--runs", "1", "--budget", "2",
            "--candidates", "2", "--methods", "G-RS", "--scores", str(results), "--quiet", *TINY]
    assert main(argv) == 0
    scored = len(ResultsFile(results).records())
    assert 1 <= scored <= 6 and "scored on demand" in capsys.readouterr().err
    assert main([*argv, "--scored-only"]) == 0  # the same search over the scored archs only
    assert len(ResultsFile(results).records()) == scored


def test_validate_prints_both_tables(tmp_path, capsys):
    naslib = shared_file("nb201/naslib_zc_nb201_subset_with_nats_test.csv")
    with naslib.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dataset"] == "cifar10"][:40]
    results = ResultsFile(tmp_path / "r.jsonl")
    for r in rows:  # a stand-in score: the published synflow with noise
        value = float(r["synflow_score"] or 0) + random.Random(r["arch_str"]).gauss(0, 5)
        results.append({"key": r["arch_str"], "arch": r["arch_str"], "score": value, "config": {}})
    assert main(["validate", str(results.path), "--data-dir", str(naslib.parents[1])]) == 0
    out = capsys.readouterr().out
    assert "valid_test_top1" in out and "| 40 |" in out and "**GradSign (this package)**" in out and "synflow" in out
