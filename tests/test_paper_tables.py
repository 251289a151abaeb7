"""benchmarks/paper_tables.py: the summary across spaces, NASLib's proxies beside GradSign, the plots."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from gradsign_fast.nas import sample_arch_strings
from gradsign_fast.nas.tables import load_table, table_archs
from bench_scripts import import_benchmark
from shared_data import shared_file

paper_tables = import_benchmark("paper_tables")


def _snapshot(path: Path, scores: dict[str, float], seconds: list[float] | None = None, **config) -> None:
    records = [{"key": a, "arch": a, "score": s, "config": {"batch_size": 64, "seed": 0, **config}}
               for a, s in scores.items()]
    for record, sec in zip(records, seconds or []):
        record["seconds"] = sec
    lines = [json.dumps(r) for r in records]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def test_summary_rows_proxies_and_plots(tmp_path, capsys):
    nats = shared_file(paper_tables.NATS)
    data = nats.parents[1]
    darts = shared_file(paper_tables.DARTS)
    nb101 = shared_file(paper_tables.NB101_NASLIB)
    results = tmp_path / "results"
    results.mkdir()
    c10 = load_table(nats, "CIFAR10TestAccuracy200Epochs")
    archs = sample_arch_strings(40, seed=2)
    # rho = 1; seconds 1..40: median 20.5 s, 820 s = 0.23 CPU-h
    _snapshot(results / "nb201_cifar10.jsonl.gz", {a: c10[a] for a in archs}, [float(i) for i in range(1, 41)],
              data="x/cifar10.npz")
    rng = random.Random(0)
    _snapshot(results / "darts_nb301.jsonl.gz", {a: rng.random() for a in table_archs(darts)[:30]})
    cells = table_archs(nb101)[:25]
    accs = load_table(nb101, "val_acc", duplicates="mean")
    _snapshot(results / "nb101_naslib500.jsonl.gz", {a: -accs[a] for a in cells})  # rho = -1
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    assert paper_tables.main(["--results", str(results), "--data", str(data), "--plots", str(plots),
                              "--proxies"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "`nb201_cifar10.jsonl.gz`" in line)
    assert "| 40 | 1.000 | 1.000 | 20.50 | 0.23 | ρ 0.765 (Table 3) |" in row and "64 real cifar10.npz (cifar10)" in row
    darts_row = next(line for line in out.splitlines() if "`darts_nb301.jsonl.gz`" in line)
    assert "| 30 |" in darts_row and "| - | - | τ 0.54 (Table 4, NDS-DARTS) |" in darts_row  # no seconds recorded
    assert "`nb101_cifar10.jsonl.gz` (not run yet)" in out and "τ 0.24 (Table 4, CIFAR-10 nets)" in out
    assert "| **GradSign (this package)** | 25 | -1.000 | -1.000 |" in out  # NB101 file, repeats averaged
    assert "| synflow | 25 |" in out and "| nwot | 30 |" in out
    assert sorted(p.name for p in plots.iterdir()) == ["darts_nb301.png", "nb201_cifar10.png"]
