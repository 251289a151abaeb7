"""The peer benchmark (benchmarks/peers.py, peer_table.py, bench_peers.py) on tiny models.

Every installed peer must give gradsign_fast's number where it computes the loop's per-sample gradients
(float64: exactly; float32: 1e-3 relative); on a training-mode BatchNorm net Opacus cannot run and
BackPACK computes a different number. Peers not installed are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import peers  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
SCORING = ("authors_loop", "torch_func_recipe", "opacus", "backpack", "gradsign_fast")
PACKAGE = {"opacus": "opacus", "backpack": "backpack"}


def tiny_cnn() -> tuple[nn.Module, tuple[int, ...]]:
    """Two convs (one with an in-place ReLU), global average pool, Linear: x (n, 3, 8, 8) -> (n, 3)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 6, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)), (3, 8, 8)


def tiny_mlp() -> tuple[nn.Module, tuple[int, ...]]:
    """x (n, 3, 2, 2) -> flatten (n, 12) -> 8 -> (n, 3)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)), (3, 2, 2)


def tiny_bn() -> tuple[nn.Module, tuple[int, ...]]:
    """Conv, BatchNorm2d (training mode: batch statistics), ReLU, pool, Linear: x (n, 3, 8, 8) -> (n, 3)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)), (3, 8, 8)


def case(factory, dtype: torch.dtype, n: int = 4, seed: int = 0):
    """(model, x: (n, *shape), y: (n,)) seeded, in `dtype`."""
    torch.manual_seed(seed)
    model, shape = factory()
    model = model.to(dtype)
    return model, torch.randn(n, *shape, dtype=dtype), torch.randint(0, 3, (n,))


def needs(method: str) -> None:
    if method in PACKAGE and importlib.util.find_spec(PACKAGE[method]) is None:
        pytest.skip(f"{method} is not installed (pip install --no-deps '.[bench]' packages)")


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 0.0), (torch.float32, 1e-3)])
@pytest.mark.parametrize("factory", [tiny_cnn, tiny_mlp], ids=["cnn", "mlp"])
@pytest.mark.parametrize("method", SCORING)
def test_peer_gives_gradsign_fast_number(method, factory, dtype, rtol):
    needs(method)
    model, x, y = case(factory, dtype)
    expected = peers.gradsign_fast_score(model, x, y)
    got = peers.METHODS[method](model, x, y)
    assert peers.agrees(got, expected, rtol), f"{method}: {got} vs gradsign_fast {expected}"
    assert peers.evaluate(method, model, x, y, expected, rtol) == ("ok", got)


@pytest.mark.parametrize("method", ["authors_loop", "torch_func_recipe"])
def test_batchnorm_net_exact_methods_agree(method):
    model, x, y = case(tiny_bn, torch.float64, n=6)
    expected = peers.gradsign_fast_score(model, x, y)
    assert peers.evaluate(method, model, x, y, expected, rtol=0.0) == ("ok", expected)


def test_batchnorm_net_opacus_cannot_run():
    needs("opacus")
    model, x, y = case(tiny_bn, torch.float32, n=6)
    status, got = peers.evaluate("opacus", model, x, y, peers.gradsign_fast_score(model, x, y))
    assert status.startswith("cannot run: Opacus refuses") and "BatchNorm2d" in status and got is None
    assert not any(hasattr(p, "grad_sample") or hasattr(p, "_forward_counter") for p in model.parameters())


def test_batchnorm_net_backpack_computes_another_number():
    needs("backpack")
    model, x, y = case(tiny_bn, torch.float32, n=6)
    expected = peers.gradsign_fast_score(model, x, y)
    status, got = peers.evaluate("backpack", model, x, y, expected)
    assert status.startswith("computes a different number: ") and got != expected


def test_train_step_is_the_floor():
    model, x, y = case(tiny_cnn, torch.float32)
    assert peers.evaluate("train_step", model, x, y, 0.0) == ("floor", None)


@pytest.mark.parametrize("method", SCORING)
def test_peers_leave_the_model_as_it_was(method):
    """No hooks, per-sample attributes, grads, BackPACK flags left; in-place flags and weights unchanged."""
    needs(method)
    model, x, y = case(tiny_cnn, torch.float32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    peers.METHODS[method](model, x, y)
    for m in model.modules():
        assert not (m._forward_hooks or m._backward_hooks or m._forward_pre_hooks), m
        assert "_backpack_extend" not in m.__dict__ and not hasattr(m, "output")
    for p in model.parameters():
        assert p.grad is None and not any(hasattr(p, a) for a in ("grad_sample", "grad_batch", "_forward_counter"))
    assert model[1].inplace is True
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method, module", [("opacus", "opacus"), ("backpack", "backpack")])
def test_missing_peer_reports_not_installed(monkeypatch, method, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    model, x, y = case(tiny_mlp, torch.float32)
    status, got = peers.evaluate(method, model, x, y, 1.0)
    assert status.startswith("not installed: ") and got is None


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)


def test_peer_table_end_to_end(tmp_path):
    out = tmp_path / "peers.json"
    proc = _run(["benchmarks/peer_table.py", "--models", "mlp", "--batch", "4", "--repeats", "1",
                 "--threads", "1", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "load average" in proc.stdout and "| model | scored weights |" in proc.stdout
    assert "| mlp | 3675136 |" in proc.stdout and "MISMATCH" not in proc.stdout
    row = json.loads(out.read_text())["rows"][0]
    assert row["status"]["gradsign_fast"] == "ok" and row["status"]["train_step"] == "floor"
    assert row["status"]["authors_loop"] == "ok" and "gradsign_fast" in row["median_s"]
    assert row["gradsign_fast/train_step"] > 0 and row["fastest_peer/gradsign_fast"] > 0


def test_peer_table_rejects_unknown_names():
    proc = _run(["benchmarks/peer_table.py", "--models", "nope"])
    assert proc.returncode == 2 and "unknown model" in proc.stderr


def test_bench_peers_smoke():
    """The pytest-benchmark file on a batch of 2, each benchmark run once (--benchmark-disable)."""
    env = {"GRADSIGN_BENCH_PEER_MODELS": "mlp", "GRADSIGN_BENCH_PEER_BATCH": "2", "GRADSIGN_BENCH_PEER_ROUNDS": "1"}
    proc = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
                 "benchmarks/bench_peers.py"], env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "failed" not in proc.stdout
