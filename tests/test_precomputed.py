"""The shipped precomputed NB201 CIFAR-10 table: its header, its loader's checks and errors, its export
from a results file, search over it, and a re-score of random rows with the recorded config."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import os
import random
from pathlib import Path

import pytest
import torch

from gradsign_fast.cli import main
from gradsign_fast.nas import NUM_ARCHS, ResultsFile, SweepConfig, parse_arch, precomputed, sample_arch_strings
from gradsign_fast.nas import claims
from gradsign_fast.nas.precomputed import available, load_precomputed, parse_spec, write_precomputed
from gradsign_fast.nas.scoring import score_arch
from gradsign_fast.nas.tables import arch_strings_from_table
from shared_data import shared_file

ROOT = Path(__file__).resolve().parents[1]
NATS = "nb201/nats_bench_tss_test_acc_200ep.csv"
RESCORE_ROWS = 2  # full-size NB201 at batch 64: ~1.5 s each on one idle core
SEED = int(os.environ.get("GRADSIGN_PRECOMPUTED_SEED", "20220125"))  # which rows are re-scored


def _export_module():
    spec = importlib.util.spec_from_file_location("export_precomputed", ROOT / "scripts" / "export_precomputed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_table_and_its_header():
    assert ("nb201", "cifar10") in available()
    table = precomputed("nb201", "cifar10")
    meta = table.meta
    assert len(table) == meta["archs"] == len(table.rows) > 0 and table.total == meta["total"] == NUM_ARCHS
    assert table.complete == meta["complete"] == (len(table) == NUM_ARCHS)
    assert "gradsign_fast sweep" in meta["command"] and "--threads 1" in meta["command"] and meta["threads"] == 1
    config = table.config
    assert (config.space, config.variant, config.channels, config.cells) == ("nb201", "zero_cost", 16, 5)
    assert (config.batch_size, config.seed, config.dtype, meta["batch_size"], meta["seed"]) == (64, 0, "float32", 64, 0)
    assert meta["data"]["file"] == "cifar10_train_first1000_convnetjs.npz" and meta["data"]["images"] == "0..63"
    assert len(meta["data"]["sha256"]) == 64 and meta["version"] and meta["torch"] and meta["machine"]
    indices = [i for i, _, _ in table.rows]
    assert indices == sorted(set(indices)) and 0 <= indices[0] and indices[-1] < NUM_ARCHS
    for index, arch, score in table.rows[:: max(1, len(table) // 50)]:
        parse_arch(arch)
        assert table[arch] == score and table.index_of(arch) == index and math.isfinite(score)
    if not table.complete:  # a missing arch is an error that says the table is partial, never a number
        missing = next(a for a in sample_arch_strings(200, seed=1) if a not in table)
        with pytest.raises(KeyError, match="partial"):
            table[missing]
    assert "PARTIAL" in table.describe() or table.complete


def test_shipped_table_is_in_benchmark_order():
    order = arch_strings_from_table(shared_file(NATS))
    table = precomputed("nb201", "cifar10")
    assert all(order[index] == arch for index, arch, _ in table.rows)


def test_random_rows_rescore_within_1e3():
    """A few random rows scored again with the header's config (float32, its thread count): within 1e-3
    relative (kernel changes may flip a few signs); the data file must be the one the header names."""
    table = precomputed("nb201", "cifar10")
    meta = table.meta
    data = shared_file(f"cifar/{meta['data']['file']}")
    assert hashlib.sha256(data.read_bytes()).hexdigest() == meta["data"]["sha256"]
    config = SweepConfig.from_dict({**meta["config"], "data": str(data)})
    threads = torch.get_num_threads()
    torch.set_num_threads(meta["threads"])
    try:
        for index, arch, score in random.Random(SEED).sample(table.rows, RESCORE_ROWS):
            again = score_arch(arch, config)["score"]
            assert abs(again - score) <= 1e-3 * abs(score), (index, arch, score, again)
    finally:
        torch.set_num_threads(threads)


def test_unknown_space_or_dataset_names_what_exists():
    with pytest.raises(ValueError, match=r"space 'nb101'; available: .*nb201/cifar10"):
        precomputed("nb101", "cifar10")
    with pytest.raises(ValueError, match="nb201 has: cifar10"):
        precomputed("nb201", "cifar1000")
    assert parse_spec("precomputed:nb201/cifar10") == ("nb201", "cifar10") == parse_spec("nb201/cifar10")
    for bad in ("precomputed:nb201", "precomputed:/cifar10", "precomputed:a/b/c"):
        with pytest.raises(ValueError, match="SPACE/DATASET"):
            parse_spec(bad)


def _results(tmp_path: Path, archs: list[str]) -> Path:
    """A results file: finished records, a claim, an error record and a torn last line."""
    path = tmp_path / "r.jsonl"
    results = ResultsFile(path)
    config = SweepConfig(channels=2, cells=1, batch_size=4).to_dict()
    for n, arch in enumerate(archs[:3]):
        results.append({"key": f"{arch}#k", "arch": arch, "score": 1000.5 + n, "config": config, "host": "h",
                        "pid": 7, "time": 1.8e9, "version": "0.1.0", "torch": "2.x", "engine": "batched"})
    results.append(claims.claim_record(f"{archs[3]}#k", archs[3]))
    results.append({"key": f"{archs[4]}#k", "arch": archs[4], "error": "E: boom", "config": config})
    with path.open("ab") as fh:
        fh.write(b'{"key": "torn')
    return path


def test_export_then_load(tmp_path):
    export = _export_module()
    order = sample_arch_strings(6, seed=4)
    table = tmp_path / "t.csv"
    table.write_text("acc,ArchitectureString\n" + "".join(f"{i},{a}\n" for i, a in enumerate(order)))
    path = _results(tmp_path, order)
    gz = tmp_path / "r.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for source in (path, gz):
        out = tmp_path / f"{source.name}.csv.gz"
        assert export.main([str(source), "--table", str(table), "--out", str(out), "--threads", "1",
                            "--code", "abc123"]) == 0
        loaded = load_precomputed(out)
        assert loaded.rows == [(i, order[i], 1000.5 + i) for i in range(3)]  # claims, errors, torn line ignored
        assert not loaded.complete and loaded.total == 6 and loaded.meta["archs"] == 3
        assert loaded.meta["code"] == "abc123" and loaded.meta["runs"]["h:7"]["records"] == 3
        assert order[3] not in loaded and loaded.config == SweepConfig(channels=2, cells=1, batch_size=4)
    results = ResultsFile(path)
    results.append({"key": "x#k", "arch": order[5], "score": 1.0, "config": {"seed": 9}})
    with pytest.raises(SystemExit, match="mix 2 experiments"):
        export.main([str(path), "--table", str(table), "--out", str(tmp_path / "x.csv.gz")])
    table.write_text("acc,ArchitectureString\n" + "".join(f"{i},{a}\n" for i, a in enumerate(order[1:])))
    with pytest.raises(SystemExit, match="not in"):
        export.main([str(gz), "--table", str(table), "--out", str(tmp_path / "y.csv.gz")])


def test_loader_refuses_inconsistent_tables(tmp_path):
    meta = {"space": "s", "dataset": "d", "total": 3, "command": "c", "config": {}}
    rows = [(0, "a", 1.0), (2, "b", 2.0)]
    good = write_precomputed(tmp_path / "good.csv.gz", rows, meta)
    assert load_precomputed(good).rows == rows and not load_precomputed(good).complete
    text = gzip.decompress(good.read_bytes()).decode()

    def bad(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_bytes(gzip.compress(body.encode()))
        return path

    with pytest.raises(ValueError, match="header says 2 of 3 archs, the table has 1"):
        load_precomputed(bad("short.csv.gz", text.rsplit("b,", 1)[0].rsplit("\n", 1)[0] + "\n"))
    with pytest.raises(ValueError, match="repeats"):
        load_precomputed(bad("dup.csv.gz", text.replace("2,b,", "0,b,")))
    with pytest.raises(ValueError, match="not a precomputed GradSign table"):
        load_precomputed(bad("other.csv.gz", "index,arch,score\n"))
    with pytest.raises(ValueError, match="complete=True"):
        load_precomputed(bad("liar.csv.gz", text.replace("# complete: false", "# complete: true")))
    with pytest.raises(FileNotFoundError, match="no precomputed table"):
        load_precomputed(tmp_path / "missing.csv.gz")
    with pytest.raises(ValueError, match="meta lacks"):
        write_precomputed(tmp_path / "x.csv.gz", rows, {"space": "s"})


def test_search_over_the_precomputed_table(capsys):
    nats = str(shared_file(NATS))
    table = precomputed("nb201", "cifar10")
    argv = ["search", "--table", nats, "--accuracy", "CIFAR10TestAccuracy200Epochs", "--scores",
            "precomputed:nb201/cifar10", "--runs", "2", "--budget", "5", "--methods", "G-RS,G-REA", "--quiet"]
    if table.complete:
        assert main(argv) == 0
        assert f"{NUM_ARCHS} archs" in capsys.readouterr().out
    else:
        assert main(argv) == 1 and "add --scored-only" in capsys.readouterr().err
    assert main([*argv, "--scored-only"]) == 0
    out = capsys.readouterr().out
    assert f"{len(table)} archs" in out and "G-REA" in out
