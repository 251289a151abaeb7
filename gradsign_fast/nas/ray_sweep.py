"""The sweep fanned out to Ray workers (a CPU slot or a GPU each), into the same crash-safe results file.

    ray_sweep(archs, "/shared/nb201.jsonl", SweepConfig(), workers=8)               # local cluster
    ray_sweep(archs, path, SweepConfig(device="cuda"), workers=4, address="auto")   # existing cluster
    gradsign-fast sweep --ray --workers 8 ...                                       # the same from the CLI

One Ray task per arch: it scores the arch with scoring.score_arch and appends the record itself
(ResultsFile: O_APPEND under flock, fsync), so an arch is durable the moment it is done. Ray does the
scheduling and the retries: a worker that dies mid-task (SIGKILL, OOM killer, a lost node) has its
task re-run up to `max_retries` times; the task first looks for its key in the file and appends with
ResultsFile.append_if_absent, so an arch is recorded once however often it runs, and a torn line left
by a killed writer is cut by the next append. An exception inside score_arch is not retried (it would
fail again): it becomes an error record, as in sweep(), and the next run of the sweep retries it.
Every worker must see `results_path` (one machine, or a shared filesystem with working flock).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Iterable

from .progress import Progress
from .results import ResultsFile
from .scoring import score_arch
from .sweep import done_keys, error_record, is_done, pending
from .sweep_config import SweepConfig

log = logging.getLogger("gradsign_fast")


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ModuleNotFoundError("the Ray sweep needs Ray: pip install ray  (or: pip install 'gradsign-fast[ray]')",
                                  name="ray") from exc
    return ray


def worker_resources(config: SweepConfig, resources_per_worker: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ray options of one task: one GPU (and one CPU) for a CUDA device, else one CPU; the caller's
    dict (num_cpus, num_gpus, memory, resources, accelerator_type, ...) overrides these defaults."""
    default: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1} if config.device.startswith("cuda") else {"num_cpus": 1}
    return {**default, **(resources_per_worker or {})}


def ray_sweep(archs: Iterable[str], results_path: str | os.PathLike, config: SweepConfig, *, workers: int,
              resources_per_worker: dict[str, Any] | None = None, max_retries: int = 3,
              address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Scores every pending arch on `workers` Ray workers at once; returns sweep()'s summary plus
    "retried" (archs whose task ran more than once) and "workers".

    If this process is already connected to Ray (ray.init), that runtime is used and left as it is.
    Else address None starts a local runtime (num_cpus = workers x the task's CPUs; GPUs detected by
    Ray) and shuts it down at the end; address "auto" or "ray://host:10001" (default: $RAY_ADDRESS, as
    Ray's own tools read it) joins that cluster and disconnects at the end (the cluster keeps running).
    Counts are read back from the results file at the end: "done" = pending archs now finished.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    ray = _import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    archs = list(dict.fromkeys(archs))
    results = ResultsFile(results_path)
    results.repair()
    todo = pending(archs, results, config)
    summary: dict[str, Any] = {"total": len(archs), "skipped": len(archs) - len(todo), "done": 0, "failed": 0,
                               "retried": 0, "seconds": 0.0, "results": str(results.path), "workers": workers}
    if not todo:
        return summary
    options = worker_resources(config, resources_per_worker)
    start = time.perf_counter()
    connected = _connect(ray, address, workers, options)
    bar = Progress(len(todo), "ray sweep", enabled=progress)
    try:
        _check_feasible(ray, options, joined=address is not None)
        attempts = attempt_log(ray).remote()
        task = ray.remote(score_and_record).options(max_retries=max_retries, retry_exceptions=False, **options)
        threads = max(1, int(options.get("num_cpus", 1)))
        queue, running = list(reversed(todo)), {}
        while queue or running:
            while queue and len(running) < workers:  # bounded in flight: `workers` tasks at a time
                arch = queue.pop()
                running[task.remote(arch, config, str(results.path), threads, attempts)] = arch
            ready, _ = ray.wait(list(running), num_returns=1)
            arch = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
                note = f"{outcome['score']:.6g}  {arch}" if "score" in outcome else f"{outcome['status']}  {arch}"
            except ray.exceptions.RayError as exc:  # the worker died more than max_retries times
                results.append(error_record(arch, config, exc))
                note = f"FAILED {arch}: {type(exc).__name__}"
            bar.update(note=note)
        summary["retried"] = ray.get(attempts.retried.remote())
    finally:
        bar.close()
        if connected:
            ray.shutdown()  # stops a local runtime started here; only disconnects from a joined cluster
        summary["seconds"] = time.perf_counter() - start
    finished = done_keys(results)
    summary["done"] = sum(config.key(arch) in finished for arch in todo)
    summary["failed"] = len(todo) - summary["done"]
    return summary


def _connect(ray, address: str | None, workers: int, options: dict[str, Any]) -> bool:
    """Connects to Ray; True if this call connected (then the caller calls ray.shutdown() at the end).

    address None starts a new local runtime even if a `ray start` cluster runs here: joining one takes
    address="auto"."""
    if ray.is_initialized():
        return False
    if address is not None:
        ray.init(address=address)
        return True
    cpus = max(1, int(round(workers * float(options.get("num_cpus", 1)))))
    # The sweep moves arch strings and small dicts: a small object store is plenty.
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, object_store_memory=128 * 2**20)
    return True


def _check_feasible(ray, options: dict[str, Any], *, joined: bool) -> None:
    """A task that needs more CPUs/GPUs than the cluster has would wait forever: an error, or only a
    warning when `address` was given (a cluster joined by address may be autoscaling)."""
    have = ray.cluster_resources()
    short = [f"{need:g} {name} per worker but the cluster has {have.get(name, 0):g}"
             for option, name in (("num_cpus", "CPU"), ("num_gpus", "GPU"))
             if (need := float(options.get(option) or 0)) > have.get(name, 0)]
    if not short:
        return
    text = "ray_sweep: " + "; ".join(short) + " (device cuda asks one GPU per worker; see resources_per_worker)"
    if not joined:
        raise RuntimeError(text)
    log.warning("%s: tasks wait until such a node joins", text)


def attempt_log(ray):
    """A Ray actor class (num_cpus=0) counting the attempts of each key: how retries are seen from outside.

    Defined inside a function so that Ray ships it by value: its process does not import torch."""

    class AttemptLog:
        def __init__(self):
            self.counts: dict[str, int] = {}

        def start(self, key: str) -> int:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

        def retried(self) -> int:
            return sum(n > 1 for n in self.counts.values())

    return ray.remote(num_cpus=0)(AttemptLog)


def score_and_record(arch: str, config: SweepConfig, results_path: str, threads: int, attempts) -> dict[str, Any]:
    """One Ray task: score `arch` and append its record (once) to the results file; returns a small outcome."""
    import ray
    import torch

    key = config.key(arch)
    attempt = ray.get(attempts.start.remote(key))
    results = ResultsFile(results_path)
    if results.contains(key, match=is_done):  # a retry of a task whose record was already written
        return {"status": "present", "attempt": attempt}
    torch.set_num_threads(threads)
    try:
        record = score_arch(arch, _on_assigned_gpu(config, ray))
    except Exception as exc:  # deterministic: an error record, as sweep() writes, not a Ray retry
        results.append(error_record(arch, config, exc))
        return {"status": "failed", "attempt": attempt, "error": f"{type(exc).__name__}: {exc}"}
    record["attempt"] = attempt
    written = results.append_if_absent(record, match=is_done)
    return {"status": "done" if written else "present", "attempt": attempt, "score": record["score"]}


def _on_assigned_gpu(config: SweepConfig, ray) -> SweepConfig:
    """On a CUDA config, the task's GPU: Ray sets CUDA_VISIBLE_DEVICES to it, so it is cuda:0 here."""
    if config.device.startswith("cuda") and ray.get_gpu_ids():
        return dataclasses.replace(config, device="cuda:0")
    return config

