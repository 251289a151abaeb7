"""`sweep --jobs N`: N local worker processes (one torch thread each) sharing one results file.

    local_sweep(archs, "/tmp/nb201.jsonl", SweepConfig(), jobs=4)   # sweep() on 4 processes
    claimed_sweep(archs, path, config)                             # one worker's loop, in this process

Each worker walks the whole pending list (worker i starting at i/N of it, so they rarely meet) and,
for each arch, asks ResultsFile.claim under the file's lock: finished -> skip; held by a live owner
(nas.claims) -> set aside; else its claim record is appended and it scores the arch, appending the
result with append_if_absent (or an error record). The same loop splits the work with any other
`--jobs` sweep on the same file, on this machine or another (a shared filesystem with flock).
Set-aside archs are looked at again until they are finished, failed, or their claim is free (its
process died or the claim is stale): then the worker claims and scores them. So a worker that is
SIGKILLed costs only its current arch, which a surviving worker redoes; its half-written line (if
any) is cut by the next append. Claims held on another host are not waited for (only age frees them):
the run ends with them left, and says so.

Counts in the summary are read back from the file: "done" and "failed" are the records this run's
workers wrote (by pid), "left" the pending archs still not finished at the end.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any, Iterable

from . import claims
from .progress import Progress
from .results import ResultsFile
from .sweep import DoneTail, error_record, is_done, pending
from .sweep_config import SweepConfig

POLL_SECONDS = 0.5  # how often a worker looks again at archs held by others, and the parent at workers


def claimed_sweep(archs: Iterable[str], results_path: str | os.PathLike, config: SweepConfig, *,
                  stale_after: float = claims.DEFAULT_STALE_AFTER, poll: float = POLL_SECONDS) -> dict[str, int]:
    """One worker: scores every arch of `archs` it can claim, in order; returns its counts
    {"done", "failed", "skipped" (finished by others), "held" (left held on another host)}."""
    from .scoring import score_arch

    results = ResultsFile(results_path)
    counts = {"done": 0, "failed": 0, "skipped": 0, "held": 0}

    def held(record: dict[str, Any]) -> bool:
        return claims.is_held(record, stale_after=stale_after)

    def attempt(arch: str) -> dict[str, Any] | None:
        """Claims and scores `arch`; returns the holder's record when it is held, else None."""
        key = config.key(arch)
        state, last = results.claim(key, claims.claim_record(key, arch), done=is_done, key_of=claims.last_key,
                                    held=held)
        if state == "done":
            counts["skipped"] += 1
            return None
        if state == "held":
            return last
        try:
            record = score_arch(arch, config)
        except Exception as exc:  # one bad arch must not stop a long sweep
            results.append({**error_record(arch, config, exc), "start": claims.process_start(os.getpid())})
            counts["failed"] += 1
            return None
        if results.append_if_absent(record, match=is_done):
            counts["done"] += 1
        else:
            counts["skipped"] += 1  # a recovered claim whose owner was alive after all
        return None

    waiting = [arch for arch in archs if attempt(arch) is not None]
    while waiting:
        still = []
        for arch in waiting:
            holder = attempt(arch)
            if holder is None:
                continue
            if "error" in holder or not claims.is_local(holder):
                counts["held"] += "error" not in holder  # failed by a live sibling: not ours to retry now
                continue
            still.append(arch)  # a live local process is scoring it: wait for its result or its death
        waiting = still
        if waiting:
            time.sleep(poll)
    return counts


def _worker(archs: list[str], results_path: str, config: dict[str, Any], threads: int, stale_after: float) -> None:
    """A spawned worker process: `threads` torch threads, then claimed_sweep."""
    import torch

    torch.set_num_threads(threads)
    claimed_sweep(archs, results_path, SweepConfig.from_dict(config), stale_after=stale_after)


def local_sweep(archs: Iterable[str], results_path: str | os.PathLike, config: SweepConfig, *, jobs: int,
                threads: int = 1, stale_after: float = claims.DEFAULT_STALE_AFTER,
                progress: bool = True) -> dict[str, Any]:
    """Scores every pending arch with `jobs` worker processes (spawned; `threads` torch threads each).

    Returns sweep()'s summary {"total", "skipped", "done", "failed", "seconds", "results"} plus
    "left" (pending archs not finished at the end: failed, held on another host, or all workers
    died), "jobs" and "lost_workers" (workers that exited abnormally, e.g. killed).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    archs = list(dict.fromkeys(archs))
    results = ResultsFile(results_path)
    tail = DoneTail(results.path)
    todo = pending(archs, results, config)
    summary: dict[str, Any] = {"total": len(archs), "skipped": len(archs) - len(todo), "done": 0, "failed": 0,
                               "left": 0, "seconds": 0.0, "results": str(results.path), "jobs": jobs,
                               "lost_workers": 0}
    if not todo:
        return summary
    results.repair()  # a torn tail is cut (and an unwritable file named) before any worker starts
    start = time.perf_counter()
    pids = _run_workers(todo, results.path, config, jobs, threads, stale_after, tail, progress, summary)
    summary["seconds"] = time.perf_counter() - start
    _count(summary, results, config, todo, pids)
    return summary


def _run_workers(todo: list[str], path: Path, config: SweepConfig, jobs: int, threads: int, stale_after: float,
                 tail: DoneTail, progress: bool, summary: dict[str, Any]) -> set[int]:
    """Starts min(jobs, len(todo)) workers and waits for them, updating the progress bar from the
    file; returns their pids. Interrupted (Ctrl-C, an error), it terminates them first."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
    n = min(jobs, len(todo))
    procs = []
    for i in range(n):
        cut = i * len(todo) // n
        procs.append(context.Process(target=_worker, name=f"gradsign-sweep-{i}", daemon=True,
                                     args=(todo[cut:] + todo[:cut], str(path), config.to_dict(), threads,
                                           stale_after)))
    todo_keys = {config.key(a) for a in todo}
    bar = Progress(len(todo), f"sweep x{n}", enabled=progress)
    try:
        for proc in procs:
            proc.start()
        while any(p.is_alive() for p in procs):  # is_alive() reaps a dead worker at once: no zombie
            for key in tail.poll() & todo_keys:
                bar.update(note=key.split("#", 1)[0])
            time.sleep(POLL_SECONDS)
        for key in tail.poll() & todo_keys:
            bar.update(note=key.split("#", 1)[0])
    except BaseException:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(10)
        raise
    finally:
        bar.close()
    summary["lost_workers"] = sum(p.exitcode != 0 for p in procs)
    return {p.pid for p in procs}


def _count(summary: dict[str, Any], results: ResultsFile, config: SweepConfig, todo: list[str],
           pids: set[int]) -> None:
    """Fills done / failed / left / skipped from the file: records of `todo` keys written by `pids` here."""
    host = claims.owner()["host"]
    todo_keys = {config.key(a) for a in todo}
    finished, done, failed = set(), 0, 0
    for r in results.records():
        if r.get("key") not in todo_keys:
            continue
        ours = r.get("host") == host and r.get("pid") in pids
        if is_done(r):
            finished.add(r["key"])
            done += ours
        elif "error" in r:
            failed += ours
    summary["done"], summary["failed"] = done, failed
    summary["left"] = len(todo_keys - finished)
    summary["skipped"] += len(finished) - done  # finished by another sweep meanwhile
