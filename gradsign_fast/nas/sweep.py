"""Score many architectures into a crash-safe, resumable results file.

    config = SweepConfig(data="cifar10_train_first1000_convnetjs.npz")
    sweep(archs, "/tmp/nb201.jsonl", config)      # appends one JSON record per arch, resumable
    pending(archs, ResultsFile(path), config)     # what is left to do
    CachedScorer(path, config)(arch)              # a score from the file, computed and appended on a miss

Each arch is scored by scoring.score_arch (its record is described there). A failed arch gets
{"key", "arch", "error", ...} without "score": it is not done, so the next run of the same sweep
retries it (a failure may be transient: out of memory, a killed worker); `sweep` reports the
failed count and never stops on one arch, but a record it cannot write (a full disk, a read-only
file) stops it with an OSError naming the file.
The file is the ResultsFile (append-only JSONL, fsync'ed, torn-line repair, several writers), so a
sweep killed at any point (SIGKILL included) loses at most the arch being scored, and a finished
record is appended only if no finished record of its key is in the file yet (sweeps sharing a file
record each arch once). SweepConfig and its keys live in sweep_config.
sweep() and CachedScorer call this module's name `score_arch` (tests replace it to interleave sweeps).
nas.jobs.local_sweep(..., jobs=N) is the same sweep on N local worker processes: they split the work
with claim records (nas.claims), which every reader here ignores (a claim has no "key" and no "score").
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

from .progress import Progress
from .results import ResultsFile
from .scoring import describe_engines, provenance, score_arch
from .sweep_config import SweepConfig


def error_record(arch: str, config: SweepConfig, exc: BaseException) -> dict[str, Any]:
    """The record of a failed arch: no "score"; "error" holds 'Type: message', "traceback" the last lines."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-2000:]
    return {"key": config.key(arch), "arch": arch, "error": f"{type(exc).__name__}: {exc}", "traceback": tb,
            "config": config.to_dict(), **provenance()}


def is_done(record: dict[str, Any]) -> bool:
    """A finished record: it has a key and a score and no error."""
    return "key" in record and "score" in record and "error" not in record


def done_keys(results: ResultsFile) -> set[str]:
    """Keys of the finished (non-error) records."""
    return {r["key"] for r in results.records() if is_done(r)}


def pending(archs: Iterable[str], results: ResultsFile, config: SweepConfig) -> list[str]:
    """The archs whose key has no finished record in `results`, in order, without duplicates."""
    done = done_keys(results)
    out, seen = [], set()
    for arch in archs:
        key = config.key(arch)
        if key not in done and key not in seen:
            seen.add(key)
            out.append(arch)
    return out


class DoneTail:
    """Keys of finished records appended to a results file since the last poll(), reading only new bytes.

    A torn last line is left for the next poll; a file that shrank (torn-line repair) is re-read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def poll(self) -> set[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return set()
        if size < self.offset:
            self.offset = 0
        if size == self.offset:
            return set()
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return set()
        self.offset += end + 1
        keys = set()
        for line in data[:end].split(b"\n"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and is_done(record):
                keys.add(record["key"])
        return keys


def sweep(archs: Iterable[str], results_path: str | os.PathLike, config: SweepConfig, *,
          progress: bool = True, verbose: bool = False) -> dict[str, Any]:
    """Scores every pending arch, appending each record as soon as it is done; returns a summary.

    Summary: {"total": distinct archs asked, "skipped": already done, "done": scored now,
    "failed": error records written now, "seconds": wall time, "results": path}.
    Resumable: run it again with the same archs and config and only unfinished archs are scored.
    Several sweeps may share one file (e.g. one walking the list forward, one backward): before each
    arch, the records others appended since are read, and archs finished there are skipped; an arch
    another sweep finished while this one scored it is not recorded again (counted as skipped).
    The file is opened for writing only to append: with nothing left to do, a read-only file is fine.
    verbose: one line per scored arch on stderr with the engine that scored it and why others could not.
    """
    archs = list(dict.fromkeys(archs))
    results = ResultsFile(results_path)
    others = DoneTail(results.path)  # records other processes append from now on
    todo = pending(archs, results, config)
    if todo:
        results.repair()  # a torn tail is cut now (and an unwritable file named) before any scoring
    summary = {"total": len(archs), "skipped": len(archs) - len(todo), "done": 0, "failed": 0,
               "seconds": 0.0, "results": str(results.path)}
    start = time.perf_counter()
    bar = Progress(len(todo), "sweep", enabled=progress)
    try:
        finished_elsewhere: set[str] = set()
        for arch in todo:
            finished_elsewhere |= others.poll()
            if config.key(arch) in finished_elsewhere:  # another sweep on this file did it meanwhile
                summary["skipped"] += 1
                bar.update(note=f"done elsewhere  {arch}")
                continue
            try:
                record = score_arch(arch, config)
            except Exception as exc:  # one bad arch must not stop a long sweep
                results.append(error_record(arch, config, exc))
                summary["failed"] += 1
                bar.update(note=f"FAILED {arch}: {type(exc).__name__}")
                continue
            if not results.append_if_absent(record, match=is_done):  # another sweep recorded it meanwhile
                summary["skipped"] += 1
                bar.update(note=f"done elsewhere  {arch}")
                continue
            summary["done"] += 1
            bar.update(note=f"{record['score']:.6g}  {arch}")
            if verbose:
                print(describe_engines(record), file=sys.stderr, flush=True)
    finally:
        bar.close()
        summary["seconds"] = time.perf_counter() - start
    return summary


class CachedScorer:
    """scorer(arch) -> GradSign score of `arch` under `config`, read from a results file.

    A miss is computed with score_arch and appended to the file (compute=True), so later searches
    reuse it; with compute=False a miss raises KeyError naming the sweep command that fills the file.
    `computed` counts the archs scored by this process.
    """

    def __init__(self, results_path: str | os.PathLike, config: SweepConfig, *, compute: bool = True):
        self.results = ResultsFile(results_path)
        self.config, self.compute, self.computed = config, compute, 0
        self._scores = {r["key"]: float(r["score"]) for r in self.results.records() if is_done(r)}

    def __len__(self) -> int:
        return len(self._scores)

    def __call__(self, arch: str) -> float:
        key = self.config.key(arch)
        if key in self._scores:
            return self._scores[key]
        if not self.compute:
            raise KeyError(f"no GradSign score for {arch} in {self.results.path} under this config; score the "
                           "space first (`gradsign-fast sweep ... --all`) or allow on-demand scoring")
        record = score_arch(arch, self.config)
        self.results.append_if_absent(record, match=is_done)  # once, if another process scored it too
        self.computed += 1
        self._scores[key] = float(record["score"])
        return self._scores[key]
