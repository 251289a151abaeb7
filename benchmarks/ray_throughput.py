"""Sweep throughput: archs per minute of the in-process sweep and of ray_sweep with 1, 2, ... workers.

    python benchmarks/ray_throughput.py [--archs 16] [--workers 1,2] [--batch-size 64] [--threads 1]

A fixed seeded sample of NAS-Bench-201 archs (zero-cost variant, C=16, N=5, synthetic batch) is swept
into a fresh results file by each method, round after round (--repeats), and the median wall time is
reported. Ray runs on one local runtime started once with max(--workers) CPUs; its start and the
workers' first task (importing torch) are timed apart and excluded from the rates, which are steady
state. Each Ray worker runs torch on 1 thread (its CPU slot); the in-process sweep uses --threads
(default 1: on a shared machine torch's default threads can be many times slower). Every run must
record every arch, with the in-process scores (checked; float32 may differ ~1e-5 across thread counts).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gradsign_fast.nas import ResultsFile, SweepConfig, sample_arch_strings, sweep  # noqa: E402


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _scores(path: Path) -> dict[str, float]:
    return {r["key"]: r["score"] for r in ResultsFile(path).records() if "score" in r}


def _check(name: str, path: Path, reference: dict[str, float] | None, count: int) -> float:
    """Every arch recorded once; returns the largest relative score difference to the reference."""
    scores = _scores(path)
    if len(scores) != count:
        raise SystemExit(f"{name}: {len(scores)} of {count} archs recorded")
    if reference is None:
        return 0.0
    if scores.keys() != reference.keys():
        raise SystemExit(f"{name}: other keys than the in-process sweep")
    return max(abs(scores[k] - v) / max(abs(v), 1e-12) for k, v in reference.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=16, help="archs in the fixed sample (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="sample, batch and init seed (default 0)")
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray worker counts (default 1,2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the in-process sweep (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds; the median is reported (default 1)")
    args = parser.parse_args(argv)
    import ray
    import torch

    workers = sorted({int(w) for w in args.workers.split(",")})
    archs = sample_arch_strings(args.archs, seed=args.seed)
    config = SweepConfig(batch_size=args.batch_size, channels=args.channels, cells=args.cells, seed=args.seed)
    print(f"# {_cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"torch {torch.__version__}, ray {ray.__version__}")
    print(f"# {len(archs)} NB201 {config.variant} archs (sample seed {args.seed}), C={config.channels}, "
          f"N={config.cells}, batch {config.batch_size} (synthetic), device {config.device}")

    from gradsign_fast.nas.ray_sweep import ray_sweep

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=max(workers), include_dashboard=False, object_store_memory=128 * 2**20)
    startup = time.perf_counter() - t0
    times: dict[str, list[float]] = {}
    worst = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warm = sample_arch_strings(max(workers), seed=args.seed + 1)
            t0 = time.perf_counter()
            ray_sweep(warm, Path(tmp) / "warm.jsonl", config, workers=max(workers), progress=False)
            warmup = time.perf_counter() - t0
            print(f"# ray: local runtime started in {startup:.1f} s; first {len(warm)} tasks (worker start, "
                  f"import torch) {warmup:.1f} s; both excluded below", flush=True)
            previous = torch.get_num_threads()
            for r in range(args.repeats):
                torch.set_num_threads(args.threads)
                path = Path(tmp) / f"inproc-{r}.jsonl"
                t0 = time.perf_counter()
                sweep(archs, path, config, progress=False)
                times.setdefault("in-process", []).append(time.perf_counter() - t0)
                torch.set_num_threads(previous)
                reference = _scores(path)
                _check("in-process", path, None, len(archs))
                for w in workers:
                    path = Path(tmp) / f"ray{w}-{r}.jsonl"
                    t0 = time.perf_counter()
                    summary = ray_sweep(archs, path, config, workers=w, progress=False)
                    times.setdefault(f"ray {w}", []).append(time.perf_counter() - t0)
                    if summary["failed"]:
                        raise SystemExit(f"ray {w}: {summary}")
                    worst = max(worst, _check(f"ray {w}", path, reference, len(archs)))
                print(f"# round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    finally:
        ray.shutdown()
    print(f"# scores: every run recorded all {len(archs)} archs; largest relative difference to the "
          f"in-process sweep {worst:.1e}; load average {os.getloadavg()[0]:.1f} at the end")
    base = statistics.median(times["in-process"])
    print(f"{'method':<12} {'workers':>7} {'threads':>7} {'seconds':>8} {'archs/min':>9} {'vs in-process':>13}")
    for name, values in times.items():
        seconds = statistics.median(values)
        count = "-" if name == "in-process" else name.split()[1]
        threads = args.threads if name == "in-process" else 1
        print(f"{name.split()[0]:<12} {count:>7} {threads:>7} {seconds:>8.1f} {60 * len(archs) / seconds:>9.1f} "
              f"{base / seconds:>12.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
