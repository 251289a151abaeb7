"""Sweep throughput: the in-process sweep vs `sweep --jobs N`, each run as a user runs it (a fresh
`python -m gradsign_fast sweep` process, a fresh results file), printed as a markdown table.

    python benchmarks/sweep_jobs.py                                  # 40 archs, C=4, N=1, batch 16
    python benchmarks/sweep_jobs.py --archs 40 --jobs 1,2,4 --repeats 2

"sweep s" is the time the sweep reports (for --jobs it includes starting the worker processes, each
importing torch); "command s" the whole command (interpreter start and imports too); archs/min is
from "sweep s"; "steady archs/min" counts only the records after the first, from the records' own
times (what a long sweep gets once its workers run). Every run uses 1 torch thread per process
(--threads 1) and scores the same seeded archs. The 1-minute load average before each run is printed beside it: on a shared machine the
figures are contended, and say so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def steady_rate(path: Path) -> float:
    """Finished records per minute between the first and the last one (their "time" fields)."""
    times = sorted(float(r["time"]) for r in map(json.loads, path.read_text().splitlines()) if "score" in r)
    return 60 * (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else math.nan


def run_once(jobs: int | None, args: argparse.Namespace, workdir: Path) -> tuple[float, float, float, float]:
    """(sweep seconds, command seconds, 1-min load before, steady archs/min) of one sweep into a fresh file."""
    path = workdir / f"r_{jobs}_{time.monotonic_ns()}.jsonl"
    argv = [sys.executable, "-m", "gradsign_fast", "sweep", str(path), "--archs", str(args.archs),
            "--channels", str(args.channels), "--cells", str(args.cells), "--batch-size", str(args.batch_size),
            "--seed", str(args.seed), "--threads", "1", "--quiet"]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    command = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    match = re.search(r"(\d+) scored, (\d+) failed, in ([0-9.]+) s", result.stdout)
    if match is None or int(match.group(1)) != args.archs:
        raise SystemExit(f"unexpected sweep output:\n{result.stdout}")
    return float(match.group(3)), command, load, steady_rate(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--archs", type=int, default=40)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (the best is shown)")
    args = parser.parse_args(argv)
    methods: list[int | None] = [None, *(int(j) for j in args.jobs.split(","))]
    print(f"# {args.archs} NB201 zero_cost archs, C={args.channels}, N={args.cells}, batch {args.batch_size}, "
          f"CPU, 1 torch thread per process; {os.cpu_count()} logical CPUs; best of {args.repeats}")
    print("| method | workers | sweep s | archs/min | steady archs/min | command s | load (1 min) before |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in methods:
            runs = [run_once(jobs, args, Path(tmp)) for _ in range(args.repeats)]
            sweep_s, command_s, load, steady = min(runs)
            name = "in-process sweep" if jobs is None else "--jobs"
            print(f"| {name} | {jobs or 1} | {sweep_s:.1f} | {60 * args.archs / sweep_s:.1f} | {steady:.1f} "
                  f"| {command_s:.1f} | {load:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
