"""pytest-benchmark: GradSign by each peer (benchmarks/peers.py) on the four models of
benchmarks/peer_models.py, one benchmark per (model, method), grouped by model.

    pytest benchmarks/bench_peers.py --benchmark-only --benchmark-group-by=group [--benchmark-json=out.json]

Before timing, each method runs once and its score is compared with gradsign_fast's (float32: 1e-3
relative). A peer that is not installed, cannot run the model (Opacus on BatchNorm) or computes another
number (BackPACK on BatchNorm: batch statistics) is skipped with the reason; a peer that should agree
and does not fails ("MISMATCH"). Environment knobs (small values make it a smoke test of seconds):

    GRADSIGN_BENCH_PEER_MODELS   comma-separated models (default cnn,mlp,nb201,resnet18)
    GRADSIGN_BENCH_PEER_METHODS  comma-separated methods (default: all of peers.METHODS)
    GRADSIGN_BENCH_PEER_BATCH    batch size (default 64)
    GRADSIGN_BENCH_PEER_ROUNDS   timed rounds per benchmark (default 3; the loop gets at most 2)
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_models  # noqa: E402
import peers  # noqa: E402

MODELS = os.environ.get("GRADSIGN_BENCH_PEER_MODELS", ",".join(peer_models.DEFAULT_MODELS)).split(",")
METHODS = os.environ.get("GRADSIGN_BENCH_PEER_METHODS", ",".join(peers.METHODS)).split(",")
BATCH = int(os.environ.get("GRADSIGN_BENCH_PEER_BATCH", "64"))
ROUNDS = int(os.environ.get("GRADSIGN_BENCH_PEER_ROUNDS", "3"))


@functools.lru_cache(maxsize=None)
def _workload(name: str):
    """(model, x: (BATCH, 3, S, S), y: (BATCH,)), built once per session; ModelUnavailable propagates."""
    return peer_models.workload(name, BATCH)


@functools.lru_cache(maxsize=None)
def _expected(name: str) -> float:
    return peers.gradsign_fast_score(*_workload(name))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model_name", MODELS)
def test_peer(benchmark, model_name: str, method: str):
    try:
        model, x, y = _workload(model_name)
    except peer_models.ModelUnavailable as exc:
        pytest.skip(f"{model_name}: {exc}")
    benchmark.group = f"{model_name} (batch {BATCH})"
    status, got = peers.evaluate(method, model, x, y, _expected(model_name))  # also the warm-up
    if status.startswith("MISMATCH"):
        pytest.fail(f"{method} on {model_name}: {status}")
    if status not in ("ok", "floor"):
        pytest.skip(f"{method} on {model_name}: {status}")
    benchmark.extra_info.update(model=model_name, method=method, batch=BATCH, score=got,
                                scored_weights=peer_models.scored_weight_count(model))
    rounds = min(ROUNDS, 2) if method == "authors_loop" else ROUNDS
    benchmark.pedantic(peers.METHODS[method], args=(model, x, y), rounds=rounds, iterations=1)
