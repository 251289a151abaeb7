"""The Triton kernel, run by Triton's interpreter on CPU tensors, in a process started with TRITON_INTERPRET=1.

Triton decides interpretation when it is first imported (and when triton.jit decorates), so the
'triton-interpret' cases of the other test_ops_* files run in a child pytest with the variable set
from the start; in this (parent) process they skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") == "1", reason="this is the interpreted child process already"
)


def _child(args: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_interpreted_cases_pass():
    files = ["tests/test_ops_backends_agree.py", "tests/test_ops_accumulate.py", "tests/test_ops_bad_inputs.py"]
    out = _child([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "triton-interpret", *files])
    tail = (out.stdout + out.stderr)[-3000:]
    assert out.returncode == 0, tail
    assert " passed" in out.stdout and " failed" not in out.stdout, tail


def test_registry_and_accumulator_use_the_interpreter():
    script = """
import torch
from gradsign_fast import ops
from gradsign_fast.ops import torch_ref
g = torch.randn(37, 211, dtype=torch.float64)
g[3, 5] = float("nan"); g[:, 7] = 0.0; g[4, 9] = -0.0
backend = ops.registry.get("triton")
assert backend.interpret and backend.supports("cpu"), backend
assert ops.sign_reduce(g, backend="triton") == torch_ref.sign_reduce(g)
acc = ops.ColumnSignCounts(211, backend="triton")
acc.add(g[:20]); acc.add(g[20:])
assert acc.result() == torch_ref.sign_reduce(g)
print("ok")
"""
    out = _child([sys.executable, "-c", script], timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_interpret_set_after_import_is_refused(monkeypatch):
    pytest.importorskip("triton")
    import triton.language  # noqa: F401  (imported without TRITON_INTERPRET: compiled mode)

    from gradsign_fast.ops import triton_sign_reduce

    if triton_sign_reduce._language_interpreted():
        pytest.skip("triton was imported interpreted in this process")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(ImportError, match="before the first import of triton"):
        triton_sign_reduce.load()
