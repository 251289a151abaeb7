"""Sweeps: stable keys, resume after SIGKILL without losing or redoing work, error records, batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gradsign_fast.data import batch_from_loader, images_from_arrays, resolve_batch
from gradsign_fast.nas import ResultsFile, SweepConfig, pending, sample_arch_strings, score_arch, sweep
from gradsign_fast.nas.scoring import build_model
from gradsign_fast.nas.sweep import CachedScorer, done_keys

ROOT = Path(__file__).resolve().parents[1]
TINY = SweepConfig(channels=4, cells=1, batch_size=4)
ARCHS = sample_arch_strings(3, seed=5)

FACTORY = '''
import time
from torch import nn

def build(arch, num_classes=10):
    if arch.startswith("bad"):
        raise ValueError(f"cannot build {arch}")
    time.sleep(float(__import__("os").environ.get("SLOW_FACTORY", "0")))
    width = int(arch.removeprefix("w"))
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, num_classes))
'''


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def factory(tmp_path, monkeypatch):
    """A user space 'tiny_space:build' on sys.path (arch 'w<width>'; 'bad...' raises)."""
    (tmp_path / "tiny_space.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return SweepConfig(space="tiny_space:build", batch_size=4)


def test_config_round_trip_and_unknown_fields():
    config = SweepConfig(channels=4, n_inits=2, data=None)
    assert SweepConfig.from_dict(config.to_dict()) == config
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown SweepConfig field"):
        SweepConfig.from_dict({**config.to_dict(), "chanels": 8})


def test_keys_cover_what_changes_the_score_and_nothing_else(tmp_path):
    arch = ARCHS[0]
    key = TINY.key(arch)
    assert key.startswith(arch + "#") and key == SweepConfig(**TINY.to_dict()).key(arch)
    for field, value in [("device", "cuda"), ("engine", "loop"), ("backend", "cpp")]:
        assert SweepConfig(**{**TINY.to_dict(), field: value}).key(arch) == key
    for field, value in [("seed", 1), ("batch_size", 8), ("variant", "benchmark"), ("channels", 8), ("cells", 2),
                         ("n_inits", 2), ("dtype", "float64"), ("reduction", "mean"), ("num_classes", 100),
                         ("data_offset", 3), ("space", "m:f")]:
        assert SweepConfig(**{**TINY.to_dict(), field: value}).key(arch) != key, field
    assert TINY.key(ARCHS[1]) != key
    # data is keyed by content: a copy elsewhere has the same keys, other bytes do not
    a, b, c = tmp_path / "a.npz", tmp_path / "sub" / "b.npz", tmp_path / "c.npz"
    b.parent.mkdir()
    x = np.zeros((4, 32, 32, 3), np.uint8)
    np.savez(a, x=x, y=np.zeros(4, np.int64))
    b.write_bytes(a.read_bytes())
    np.savez(c, x=x + 1, y=np.zeros(4, np.int64))
    keys = [SweepConfig(data=str(p)).key(arch) for p in (a, b, c)]
    assert keys[0] == keys[1] != keys[2]
    with pytest.raises(FileNotFoundError, match="sweep data file"):
        SweepConfig(data=str(tmp_path / "missing.npz")).key(arch)


def test_init_depends_only_on_seed_and_arch():
    state = torch.random.get_rng_state()
    a = build_model(ARCHS[0], TINY, 10).state_dict()
    torch.manual_seed(999)  # the global RNG must not matter
    b = build_model(ARCHS[0], TINY, 10).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    build_model(ARCHS[0], TINY, 10)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_score_arch_record():
    record = score_arch(ARCHS[0], TINY)
    assert record["key"] == TINY.key(ARCHS[0]) and record["arch"] == ARCHS[0]
    assert record["score"] > 0 and record["seconds"] >= 0 and record["params"] > 0
    assert record["config"] == TINY.to_dict() and record["pid"] == os.getpid()
    assert {"version", "host", "torch", "time", "num_classes"} <= set(record)
    assert score_arch(ARCHS[0], TINY)["score"] == record["score"]  # deterministic


def test_score_arch_without_an_arch_calls_the_factory_bare(tmp_path, monkeypatch):
    """`gradsign-fast score MOD:FN` without an arch: factory() is scored the same way as any arch."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "bare_space.py").write_text("from torch import nn\n\ndef build(num_classes=10):\n"
                                            "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, num_classes))\n")
    config = SweepConfig(space="bare_space:build", batch_size=4)
    record = score_arch(None, config)
    assert record["arch"] is None and "key" not in record and record["score"] > 0 and record["params"] > 0
    assert score_arch(None, config)["score"] == record["score"]  # seeded like any arch
    with pytest.raises(TypeError, match="arch must be a str"):
        score_arch(None, TINY)  # NB201 needs an arch


def test_pending_keeps_order_drops_duplicates_and_finished(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    a, b, c = ARCHS
    assert pending([a, b, a, c, b], results, TINY) == [a, b, c]
    results.append({"key": TINY.key(b), "arch": b, "score": 1.0})
    results.append({"key": TINY.key(c), "arch": c, "error": "ValueError: boom"})  # failed: still pending
    assert pending([a, b, c], results, TINY) == [a, c]
    assert pending([a, b, c], results, SweepConfig(channels=4, cells=1, batch_size=4, seed=1)) == [a, b, c]


def test_sweep_resumes_and_records_errors(tmp_path, factory):
    path = tmp_path / "r.jsonl"
    archs = ["w2", "bad1", "w3", "w2"]
    summary = sweep(archs, path, factory, progress=False)
    assert (summary["total"], summary["done"], summary["failed"], summary["skipped"]) == (3, 2, 1, 0)
    records = ResultsFile(path).records()
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and errors[0]["arch"] == "bad1" and "cannot build bad1" in errors[0]["error"]
    assert "score" not in errors[0] and "traceback" in errors[0]
    again = sweep(archs, path, factory, progress=False)  # done archs skipped, the failed one retried
    assert (again["done"], again["failed"], again["skipped"]) == (0, 1, 2)
    assert len(done_keys(ResultsFile(path))) == 2


def test_sigkill_mid_sweep_loses_nothing_and_redoes_nothing(tmp_path, factory):
    """A child process sweeps and is SIGKILLed mid-way; resuming here finishes exactly the rest.
    The child also writes a key it computed: keys must be the same in another process."""
    path = tmp_path / "r.jsonl"
    archs = [f"w{i}" for i in range(2, 14)]
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        from pathlib import Path
        from gradsign_fast.nas import SweepConfig, sweep
        Path({str(tmp_path / "key.txt")!r}).write_text(SweepConfig(channels=4, cells=1, batch_size=4).key({ARCHS[0]!r}))
        sweep({archs!r}, {str(path)!r}, SweepConfig(space="tiny_space:build", batch_size=4), progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLOW_FACTORY": "0.2", "OMP_NUM_THREADS": "1",
           "PYTHONHASHSEED": "123"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(ResultsFile(path).records()) < 3:
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    before = ResultsFile(path).records()
    assert 3 <= len(before) < len(archs)
    assert (tmp_path / "key.txt").read_text() == TINY.key(ARCHS[0])
    with path.open("ab") as fh:  # and a torn line, as a writer killed inside write() leaves
        fh.write(b'{"key": "w13#tor')
    summary = sweep(archs, path, factory, progress=False)
    assert summary["skipped"] == len(before) and summary["done"] == len(archs) - len(before)
    after = ResultsFile(path).records()
    assert after[: len(before)] == before  # nothing lost
    keys = [r["key"] for r in after]
    assert len(keys) == len(set(keys)) == len(archs)  # nothing redone, nothing missing
    assert path.read_bytes().endswith(b"\n")


def test_cached_scorer_reads_then_computes_and_appends(tmp_path, factory):
    path = tmp_path / "r.jsonl"
    ResultsFile(path).append({"key": factory.key("w2"), "arch": "w2", "score": 123.0})
    scorer = CachedScorer(path, factory)
    assert scorer("w2") == 123.0 and scorer.computed == 0
    value = scorer("w3")
    assert scorer.computed == 1 and scorer("w3") == value
    assert CachedScorer(path, factory, compute=False)("w3") == value
    with pytest.raises(KeyError, match="no GradSign score"):
        CachedScorer(path, factory, compute=False)("w4")


def test_batches_from_arrays_loaders_and_files(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    x, y = images_from_arrays(pixels, np.arange(6))
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.savez(tmp_path / "a.npz", x=pixels, y=np.arange(6))
    x2, _, k, text = resolve_batch(tmp_path / "a.npz", 6)
    assert torch.equal(x, x2) and k == 10 and "real images" in text
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        images_from_arrays(pixels, np.arange(5))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    lx, ly = batch_from_loader(loader, 5)
    assert torch.equal(lx, x[:5]) and torch.equal(ly, y[:5])
    assert batch_from_loader([{"image": x, "label": y}], 2)[0].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="only 6 samples"):
        batch_from_loader(loader, 7)
    with pytest.raises(ValueError, match="pairs"):
        batch_from_loader([x], 2)


def test_sweeps_sharing_a_file_skip_what_the_other_finished(tmp_path, factory, monkeypatch):
    sweep_module = sys.modules["gradsign_fast.nas.sweep"]  # the package exports the function `sweep`
    path = tmp_path / "r.jsonl"
    real = sweep_module.score_arch

    def score_while_another_sweep_finishes_w5(arch, config):
        if arch == "w2":
            ResultsFile(path).append(real("w5", config))  # another process, walking the list backward
        return real(arch, config)

    monkeypatch.setattr(sweep_module, "score_arch", score_while_another_sweep_finishes_w5)
    summary = sweep(["w2", "w3", "w4", "w5", "w6"], path, factory, progress=False)
    assert (summary["done"], summary["skipped"]) == (4, 1)
    keys = [r["key"] for r in ResultsFile(path).records()]
    assert len(keys) == len(set(keys)) == 5
