"""The Ray sweep: same scores as the in-process sweep, resumable, and a worker SIGKILLed mid-task loses
nothing finished while its arch is retried and recorded once. One local 2-CPU Ray cluster serves the
module (~10 s to start); a subprocess checks that ray_sweep starts and stops a cluster of its own."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from gradsign_fast.nas import SweepConfig, build_nb201, sample_arch_strings, sweep
from gradsign_fast.nas.results import ResultsFile

HERE = Path(__file__).resolve().parent
CONFIG = SweepConfig(channels=4, cells=1, batch_size=4, seed=0)  # tiny: a task takes well under a second
ARCHS = sample_arch_strings(7, seed=11)
KILL_ARCH = ARCHS[-1]  # only the kill test scores it
# The kill test's space: kill_once_space below, imported by the Ray workers from this file.
KILL_CONFIG = SweepConfig(space=f"{Path(__file__).stem}:kill_once_space", batch_size=4, seed=0)
# JSON {"arch", "marker", "results"} for kill_once_space; the cluster fixture sets it before Ray starts.
KILL_ONCE_ENV = "TEST_RAY_SWEEP_KILL_ONCE"


def kill_once_space(arch: str, num_classes: int = 10):
    """The kill test's factory space: CONFIG's NB201 model of `arch`. The first build of the arch named
    in $TEST_RAY_SWEEP_KILL_ONCE (while its marker file does not exist) creates the marker, writes half a
    record into the results file under the file's lock and SIGKILLs its own process, a Ray worker."""
    spec = json.loads(os.environ.get(KILL_ONCE_ENV) or "null")
    if spec is not None and arch == spec["arch"]:
        _die_mid_write_once(spec)
    return build_nb201(arch, C=CONFIG.channels, N=CONFIG.cells, num_classes=num_classes)


def _die_mid_write_once(spec: dict) -> None:
    try:
        os.close(os.open(spec["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # killed once already: this is the retry
    line = json.dumps({"key": KILL_CONFIG.key(spec["arch"]), "arch": spec["arch"], "score": 1.0}).encode()
    with ResultsFile(spec["results"])._locked(os.O_RDWR | os.O_APPEND | os.O_CREAT) as fd:  # die holding the lock
        os.write(fd, line[: len(line) // 2])
        os.kill(os.getpid(), signal.SIGKILL)


def _scores(path):
    records = ResultsFile(path).records()
    keys = [r["key"] for r in records if "score" in r]
    assert len(keys) == len(set(keys)), "an arch was recorded twice"
    return {r["key"]: r["score"] for r in records if "score" in r}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The in-process reference sweep on 1 thread, as each Ray worker runs (on a busy 2-core machine
    torch's default 2 threads can be 10x slower on these tiny models)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray runtime (2 CPUs) whose workers can import this file and carry the kill-once spec:
    yields (marker, results), the marker kill_once_space creates and the results file it tears."""
    ray = pytest.importorskip("ray")
    tmp = tmp_path_factory.mktemp("ray")
    kill = types.SimpleNamespace(marker=tmp / "killed-once", results=tmp / "killed.jsonl")
    env = {KILL_ONCE_ENV: json.dumps({"arch": KILL_ARCH, "marker": str(kill.marker), "results": str(kill.results)}),
           "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the workers inherit the environment Ray starts with
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20)
        yield kill
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_missing_ray_says_how_to_install_it(monkeypatch, tmp_path):
    from gradsign_fast.nas import ray_sweep

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match="pip install ray"):
        ray_sweep.ray_sweep(ARCHS[:1], tmp_path / "r.jsonl", CONFIG, workers=1)


def test_append_if_absent_records_a_key_once(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    assert results.append_if_absent({"key": "a", "error": "oom"})
    done = lambda r: "error" not in r  # noqa: E731
    assert results.append_if_absent({"key": "a", "score": 1.0}, match=done)  # an error record does not block
    assert not results.append_if_absent({"key": "a", "score": 2.0}, match=done)
    assert results.append_if_absent({"key": "a|b", "score": 3.0})  # a key that contains another is distinct
    with open(results.path, "ab") as f:
        f.write(b'{"key":"c","score":')  # torn: not a record, cut before the next append
    assert not results.contains("c") and results.append_if_absent({"key": "c", "score": 4.0})
    rows = [(r["key"], r.get("score")) for r in results.records()]
    assert rows == [("a", None), ("a", 1.0), ("a|b", 3.0), ("c", 4.0)]


def test_ray_sweep_equals_the_in_process_sweep(cluster, tmp_path):
    from gradsign_fast.nas.ray_sweep import ray_sweep

    archs = ARCHS[:6]
    local = sweep(archs, tmp_path / "local.jsonl", CONFIG, progress=False)
    remote = ray_sweep(archs, tmp_path / "ray.jsonl", CONFIG, workers=2, progress=False)
    assert local["done"] == remote["done"] == 6 and remote["failed"] == 0 and remote["retried"] == 0
    assert _scores(tmp_path / "ray.jsonl") == _scores(tmp_path / "local.jsonl")
    assert {r["pid"] for r in ResultsFile(tmp_path / "ray.jsonl").records()} - {os.getpid()}, "scored in workers"


def test_ray_sweep_resumes_and_reports_failures(cluster, tmp_path):
    from gradsign_fast.nas.ray_sweep import ray_sweep

    path = tmp_path / "r.jsonl"
    first = ray_sweep(ARCHS[:3], path, CONFIG, workers=2, progress=False)
    assert (first["done"], first["skipped"]) == (3, 0)
    before = path.read_bytes()
    second = ray_sweep([*ARCHS[:6], "not-an-arch"], path, CONFIG, workers=2, progress=False)
    assert (second["total"], second["skipped"], second["done"], second["failed"]) == (7, 3, 3, 1)
    assert path.read_bytes().startswith(before), "finished records are never rewritten"
    assert len(_scores(path)) == 6
    errors = [r for r in ResultsFile(path).records() if "error" in r]
    assert [r["arch"] for r in errors] == ["not-an-arch"] and "ValueError" in errors[0]["error"]


def test_a_gpu_sweep_on_a_cluster_without_gpus_is_an_error_not_a_hang(cluster, tmp_path):
    from gradsign_fast.nas.ray_sweep import ray_sweep, worker_resources

    config = SweepConfig(**{**CONFIG.to_dict(), "device": "cuda"})
    assert worker_resources(config) == {"num_cpus": 1, "num_gpus": 1}
    assert worker_resources(config, {"num_gpus": 0.25}) == {"num_cpus": 1, "num_gpus": 0.25}
    with pytest.raises(RuntimeError, match="1 GPU per worker but the cluster has 0"):
        ray_sweep(ARCHS[:1], tmp_path / "r.jsonl", config, workers=1, progress=False)


def test_a_worker_killed_mid_task_is_retried_and_loses_nothing(cluster, tmp_path):
    from gradsign_fast.nas.ray_sweep import ray_sweep

    path = cluster.results  # the file kill_once_space tears
    ResultsFile(path).append({"key": "earlier", "score": 1.0})
    archs = [*ARCHS[:3], KILL_ARCH]
    summary = ray_sweep(archs, path, KILL_CONFIG, workers=2, max_retries=2, progress=False)
    assert cluster.marker.exists(), "the test's space killed a worker"
    assert (summary["done"], summary["failed"], summary["retried"]) == (4, 0, 1)
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines), "the torn half-record was cut"
    scores = _scores(path)
    assert set(scores) == {"earlier", *(KILL_CONFIG.key(a) for a in archs)}
    killed = [r for r in ResultsFile(path).records() if r.get("arch") == KILL_ARCH]
    assert len(killed) == 1 and killed[0]["attempt"] == 2
    reference = sweep([KILL_ARCH], tmp_path / "local.jsonl", KILL_CONFIG, progress=False)  # marker set: no kill
    assert reference["done"] == 1
    assert _scores(tmp_path / "local.jsonl")[KILL_CONFIG.key(KILL_ARCH)] == killed[0]["score"]


def test_ray_sweep_starts_and_stops_its_own_cluster(tmp_path):
    pytest.importorskip("ray")
    script = textwrap.dedent(
        f"""
        import ray
        from gradsign_fast.nas.ray_sweep import ray_sweep
        from gradsign_fast.nas import SweepConfig
        summary = ray_sweep({ARCHS[:2]!r}, {str(tmp_path / "r.jsonl")!r}, SweepConfig(**{CONFIG.to_dict()!r}),
                            workers=2, progress=False)
        assert summary["done"] == 2, summary
        assert not ray.is_initialized(), "the cluster it started is shut down"
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_scores(tmp_path / "r.jsonl")) == 2
