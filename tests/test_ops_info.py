"""gradsign_fast.info() says what was built and what runs, stays cheap, and never initialises CUDA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gradsign_fast
from gradsign_fast.ops import registry

PACKAGE = Path(gradsign_fast.__file__).resolve().parent


def test_info_fields():
    report = gradsign_fast.info()
    for key in ("gradsign_fast", "torch", "backends", "unavailable", "build", "cpu_isa", "threads", "cuda"):
        assert key in report
    assert "torch" in report["backends"]
    assert set(report["build"]) == {"cpp", "cuda"}
    for name, why in report["unavailable"].items():
        assert name not in report["backends"] and why
    json.dumps(report)  # plain data


def test_build_record_matches_what_loads():
    record = gradsign_fast.info()["build_record"]
    if not record:
        pytest.skip("no build record: extensions were never built in this tree")
    if record["cpp"]["built"]:
        assert "cpp" in registry.available(), registry.reasons()
    else:
        assert record["cpp"]["reason"]
        assert "not built" in registry.reasons()["cpp"]
    if not record["cuda"]["built"]:
        assert record["cuda"]["reason"]


def test_loaded_cuda_backend_does_not_claim_cpu():
    backend = registry.load("cuda")
    if backend is None:
        pytest.skip(f"cuda backend not available: {registry.reasons().get('cuda')}")
    assert not backend.supports("cpu") and backend.supports("cuda")


def test_info_and_loading_do_not_initialise_cuda():
    script = (
        "import torch, gradsign_fast\n"
        "gradsign_fast.info(); gradsign_fast.ops.backends()\n"
        "gradsign_fast.ops.sign_reduce(torch.ones(3, 4))\n"
        "assert not torch.cuda.is_initialized()\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "clean" in out.stdout, out.stderr[-2000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_info_cuda_true_lists_devices():
    assert gradsign_fast.info(cuda=True)["cuda"]["devices"]
