"""Data-parallel scoring under torchrun (gloo, several CPU processes): the same score as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gradsign_fast
from model_zoo import CASES

HERE = Path(__file__).parent


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
@pytest.mark.parametrize("world_size", [2, 3])
def test_torchrun_gloo_matches_one_process(tmp_path, world_size):
    out = tmp_path / "scores.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world_size}",
           str(HERE / "distributed_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results.pop("mismatch_detected") is True
    for name, got in results.items():
        case = CASES[name](torch.float64)
        assert got["sum"] == gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn)
        assert got["mean"] == gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, reduction="mean")
        assert got["local_n"] < case.inputs.shape[0]


def test_score_outside_a_process_group_is_a_clear_error():
    import gradsign_fast.distributed as gd

    case = CASES["sequence_linear"](torch.float64)
    if torch.distributed.is_initialized():
        pytest.skip("a process group is already initialized")
    with pytest.raises(RuntimeError, match="init_process_group"):
        gd.score(case.model, case.inputs, case.targets)
