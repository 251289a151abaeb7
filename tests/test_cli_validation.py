"""Every number the command line takes is checked before any work starts (issue "Trust first").

A bad option must be an argparse-style usage error (exit 2, "usage:" and what is expected), never a
hang, a job that eats the machine, or an obscure runtime error. Bad table values (a cost <= 0, a
non-finite accuracy) are runtime errors (exit 1) naming the column, the row/arch and the value.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradsign_fast import cli
from gradsign_fast.cli import main
from gradsign_fast.nas import ResultsFile, sample_arch_strings
from gradsign_fast.nas import search as nas_search

ROOT = Path(__file__).resolve().parents[1]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = ["--batch-size", "4", "--channels", "2", "--cells", "1", "--threads", "1"]
ARCHS = sample_arch_strings(20, 5)
SEARCH = ["search", "--table", "t.csv", "--accuracy", "acc"]
SWEEP = ["sweep", "r.jsonl", "--archs", "2"]


@pytest.fixture()
def no_job(monkeypatch):
    """Every subcommand's run replaced by a stub: checking options never starts a job (on code that lets
    a bad option through, main returns 0 here instead of hanging or allocating a huge model)."""
    started = []
    for name, (help_text, add_arguments, _) in list(cli.SUBCOMMANDS.items()):
        monkeypatch.setitem(cli.SUBCOMMANDS, name,
                            (help_text, add_arguments, lambda args, name=name: started.append(name) or 0))
    return started


@pytest.fixture()
def runaway_guard(monkeypatch):
    """Benchmark.train fails after 100,000 calls: a search that would never end fails instead."""
    train, calls = nas_search.Benchmark.train, []

    def guarded(self, arch):
        calls.append(1)
        if len(calls) > 100_000:
            raise RuntimeError("runaway search: 100,000 trainings and counting")
        return train(self, arch)

    monkeypatch.setattr(nas_search.Benchmark, "train", guarded)


def write_table(path, *, acc=None, cost=None):
    """arch_str, acc, secs, test for ARCHS; acc/cost: {row: cell} overrides."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["arch_str", "acc", "secs", "test"])
        for i, arch in enumerate(ARCHS):
            writer.writerow([arch, (acc or {}).get(i, 80 + i), (cost or {}).get(i, 10 + i), 70 + i])
    return path


@pytest.mark.parametrize("argv, expected", [
    (["--archs", "15626"], "from 1 to 15625"),
    (["--batch-size", "100000"], "from 1 to 65536"),
    (["--data-offset", "10000000000"], "image index from 0 to"),
    (["--num-classes", "1"], "from 2 to"),
    (["--inits", "100000"], "from 1 to 1000"),
    (["--threads", "100000"], "from 1 to 1024"),
    (["--channels", "100000"], "from 1 to 1024"),
    (["--cells", "1000"], "from 1 to 100"),
    (["--seed", "-1"], "0 <= S < 2**64"),
    (["--seed", "18446744073709551616"], "0 <= S < 2**64"),
    (["--device", "meta"], "meta tensors hold no values"),
    (["--device", "mps"], "use cpu or cuda"),
    ([*SEARCH, "--budget", "nan"], "a finite number > 0"),
    ([*SEARCH, "--budget", "inf"], "a finite number > 0"),
    ([*SEARCH, "--budget", "0"], "a finite number > 0"),
    ([*SEARCH, "--budget", "-3"], "a finite number > 0"),
    ([*SEARCH, "--runs", "1000000"], "from 1 to 100000"),
    ([*SEARCH, "--first-seed", "-1"], "0 <= S < 2**64"),
    ([*SEARCH, "--candidates", "100000"], "from 1 to 10000"),
    ([*SEARCH, "--population", "1000000"], "from 1 to 100000"),
    ([*SEARCH, "--sample-size", "1000000"], "from 1 to 100000"),
    ([*SEARCH, "--seed", "99999999999999999999999"], "0 <= S < 2**64"),
    ([*SWEEP, "--workers", "100000"], "from 1 to 10000"),
    ([*SWEEP, "--max-retries", "1000"], "from 0 to 100"),
    ([*SWEEP, "--sample-seed", "-1"], "0 <= S < 2**64"),
    ([*SWEEP, "--sample-seed", "18446744073709551616"], "0 <= S < 2**64"),
    (["sweep", "r.jsonl", "--archs", "100000000"], "from 1 to 10000000"),
    ([*SWEEP, "--resources-per-worker", "[1, 2]"], "a JSON object"),
    ([*SWEEP, "--resources-per-worker", '{"num_cpus": 1'], "a JSON object"),
    (["score", ARCH, "--seed", "-5"], "0 <= S < 2**64"),
    (["--seed", "18446744073709551615", "--inits", "2"], "seeds must stay below 2**64"),
])
def test_out_of_range_options_are_usage_errors(argv, expected, no_job, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: gradsign-fast" in err and expected in err, err
    assert "expected" in err or "--inits" in err
    assert no_job == []


def test_seed_beyond_64_bits_and_device_meta_are_usage_errors(capsys):
    assert main(["score", ARCH, *TINY, "--seed", "99999999999999999999999"]) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "--seed" in err and "2**64" in err
    assert main(["--archs", "1", *TINY, "--device", "meta", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "meta tensors hold no values" in err and "cpu or cuda" in err


def test_search_budget_nan_ends_with_a_usage_error(tmp_path):
    """The reported hang: `search --budget nan` looped forever (here it would time out)."""
    table = write_table(tmp_path / "t.csv")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "gradsign_fast", "search", "--table", str(table), "--accuracy", "acc",
                           "--methods", "RS", "--runs", "1", "--budget", "nan", "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--budget" in done.stderr and "finite" in done.stderr, done.stderr


@pytest.mark.parametrize("bad", ["-5", "nan", "0", "inf", ""])
def test_search_cost_column_must_be_finite_and_positive(bad, tmp_path, runaway_guard, capsys):
    table = write_table(tmp_path / "t.csv", cost={3: bad})
    argv = ["search", "--table", str(table), "--accuracy", "acc", "--time-column", "secs", "--budget", "100",
            "--methods", "RS,REA", "--runs", "2", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "secs" in err and ARCHS[3] in err and f"{bad!r}" in err and "data row 3" in err, err


@pytest.mark.parametrize("column, option", [("acc", []), ("test", ["--report", "test"])])
def test_search_accuracy_and_report_columns_must_be_finite(column, option, tmp_path, runaway_guard, capsys):
    table = write_table(tmp_path / "t.csv")
    rows = list(csv.reader(table.open()))
    rows[5][rows[0].index(column)] = "nan"
    with table.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    argv = ["search", "--table", str(table), "--accuracy", "acc", *option, "--budget", "5", "--methods", "RS",
            "--runs", "2", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert column in err and "'nan'" in err and ARCHS[4] in err and "finite" in err, err


def test_correlate_prints_the_correlations_before_saying_the_plot_needs_matplotlib(tmp_path, monkeypatch, capsys):
    results = ResultsFile(tmp_path / "r.jsonl")
    for i, arch in enumerate(ARCHS):
        results.append({"key": arch, "arch": arch, "score": float(10 + i), "config": {}})
    table = write_table(tmp_path / "t.csv")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    fig = tmp_path / "fig.png"
    argv = ["correlate", str(results.path), "--table", str(table), "--accuracy", "acc", "--plot", str(fig)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "spearman  1.0000" in captured.out and "kendall" in captured.out
    assert "matplotlib" in captured.err and "pip install" in captured.err and not fig.exists()
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == len(ARCHS) and "matplotlib" in captured.err
