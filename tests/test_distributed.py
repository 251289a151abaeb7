"""Data-parallel scoring under torchrun (gloo, several CPU processes): the same score as one process,
and loud, identical errors on every rank (never a silent wrong number, never a hang)."""

import json
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

import gradsign_fast
from model_zoo import CASES

HERE = Path(__file__).parent
JOB_TIMEOUT_S = 180  # a hung job fails its test instead of blocking CI

needs_distributed = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")


def torchrun_command() -> list[str]:
    """The torchrun next to this Python, else the same launcher as `python -m torch.distributed.run`."""
    script = Path(sysconfig.get_path("scripts")) / "torchrun"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def run_job(args: list[str], timeout: float = JOB_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Runs `torchrun ARGS` with the tests on PYTHONPATH; kills the whole process group on timeout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen(torchrun_command() + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun {' '.join(args)} hung for {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_failure_scenario(tmp_path: Path, scenario: str) -> list[dict]:
    """Both ranks' case results of tests/distributed_failures_worker.py SCENARIO."""
    proc = run_job(["--standalone", "--nproc_per_node=2", str(HERE / "distributed_failures_worker.py"), scenario,
                    str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@needs_distributed
@pytest.mark.parametrize("world_size", [2, 3])
def test_torchrun_gloo_matches_one_process(tmp_path, world_size):
    out = tmp_path / "scores.json"
    proc = run_job(["--standalone", f"--nproc_per_node={world_size}", str(HERE / "distributed_worker.py"), str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results.pop("mismatch_detected") is True
    for name, got in results.items():
        case = CASES[name](torch.float64)
        assert got["sum"] == gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn)
        assert got["mean"] == gradsign_fast.score(case.model, case.inputs, case.targets, case.loss_fn, reduction="mean")
        assert got["local_n"] < case.inputs.shape[0]


@needs_distributed
def test_readme_command_prints_one_line_per_arch():
    from gradsign_fast.data import synthetic_batch
    from gradsign_fast.nas import build_nb201, is_valid_arch

    proc = run_job(["--standalone", "--nproc_per_node", "2", "-m", "gradsign_fast.cli.distributed", "--archs", "2",
                    "--batch-size", "4", "--channels", "2", "--cells", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout
    x, y = synthetic_batch(4, seed=0)
    for line in lines:
        value, arch, note = line.split("\t")
        assert is_valid_arch(arch) and note == "(world size 2, batch 4)"
        torch.manual_seed(0)
        assert float(value) == round(gradsign_fast.score(build_nb201(arch, C=2, N=1), x, y), 1)


@pytest.mark.parametrize("argv, env, expected", [
    (["--archs", "0"], {"WORLD_SIZE": "2"}, "--archs"),
    (["--archs", "15626"], {"WORLD_SIZE": "2"}, "15625"),
    (["--batch-size", "0"], {"WORLD_SIZE": "2"}, "--batch-size"),
    (["--batch-size", "1"], {"WORLD_SIZE": "2"}, "world size 2"),
    (["--channels", "0"], {"WORLD_SIZE": "2"}, "--channels"),
    (["--cells", "-1"], {"WORLD_SIZE": "2"}, "--cells"),
    (["--data", "no/such/file.npz"], {"WORLD_SIZE": "2"}, "no/such/file.npz"),
    ([], {}, "torchrun"),
])
def test_entry_point_rejects_bad_numbers_before_starting(monkeypatch, capsys, argv, env, expected):
    from gradsign_fast.cli import distributed as entry_point

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        entry_point.main(argv)
    assert info.value.code == 2
    assert expected in capsys.readouterr().err


@needs_distributed
def test_ranks_holding_different_values_raise_on_every_rank(tmp_path):
    ranks = run_failure_scenario(tmp_path, "values")
    for got in ranks:
        cases = list(got.values())
        assert "value" in cases[0] and "value" in cases[-1]  # identical models still score, before and after
        expected = [
            "ranks hold different values of 0.weight",  # score(), seeded by rank
            "ranks hold different values of 0.weight",  # all_reduce_sign_sums(model=...), seeded by rank
            "ranks hold different values of 1.running_mean",  # a buffer
            "ranks hold different values of 2.weight",  # two entries swapped: same sum, other values
            "rank 0 scores 0.weight (4,) where rank 1 scores 1.weight (4,)",  # same totals
            "rank 0 holds 2.weight (2, 3) torch.float64 where rank 1 holds 2.weight (3, 3) torch.float64",
        ]
        for case, message in zip(cases[1:-1], expected):
            assert case.get("error") == "ValueError" and message in case["message"], case
    assert [c["value"] for c in ranks[0].values() if "value" in c] == [c["value"] for c in ranks[1].values() if "value" in c]


@needs_distributed
def test_batch_smaller_than_world_size_is_one_clear_error_on_every_rank(tmp_path):
    ranks = run_failure_scenario(tmp_path, "batch_of_one")
    for got in ranks:
        failed, after = got.values()
        assert failed.get("error") == "ValueError", failed
        assert "the batch of 1 samples is split over 2 ranks: rank 1 has no sample" in failed["message"]
        assert "at least 2 samples" in failed["message"]
        assert "value" in after, after
    assert ranks[0]["0_batch_of_one"]["message"] == ranks[1]["0_batch_of_one"]["message"]


@needs_distributed
def test_a_rank_failing_makes_every_rank_raise_promptly(tmp_path):
    rank0, rank1 = run_failure_scenario(tmp_path, "loss_raises")
    own, other = rank1["0_loss_raises_on_rank_1"], rank0["0_loss_raises_on_rank_1"]
    assert own.get("error") == "ValueError" and "boom" in own["message"], own
    assert other.get("error") == "RuntimeError", other
    assert "rank 1" in other["message"] and "ValueError" in other["message"] and "boom" in other["message"]
    assert other["seconds"] < 20, other  # not a collective timeout
    assert rank0["1_identical"] == rank1["1_identical"] and "value" in rank0["1_identical"]  # still in step


def test_the_api_module_is_no_entry_point():
    """gradsign_fast.distributed is the API; its torchrun entry point is gradsign_fast.cli.distributed."""
    import gradsign_fast.distributed as gd

    assert not hasattr(gd, "main") and not hasattr(gd, "_parse_args")
    assert "-m gradsign_fast.cli.distributed" in gd.__doc__


def test_score_outside_a_process_group_is_a_clear_error():
    import gradsign_fast.distributed as gd

    case = CASES["sequence_linear"](torch.float64)
    if torch.distributed.is_initialized():
        pytest.skip("a process group is already initialized")
    with pytest.raises(RuntimeError, match="init_process_group"):
        gd.score(case.model, case.inputs, case.targets)
