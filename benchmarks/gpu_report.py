"""GPU readiness in one command: build, GPU tests, kernel bandwidth and engine tables -> one markdown report.

    python benchmarks/gpu_report.py [--out gpu_report.md] [--models nb201,resnet18] [--batch 64]
                                    [--repeats 3] [--skip-build] [--total-budget 450]
    python benchmarks/gpu_report.py --cpu-dry-run --out /tmp/r.md --models nb201 --batch 4   # no GPU

Stages, each a child process with its own time box (a stage that fails or runs out of time is reported
in the markdown, never fatal; what it finished before is kept):
  1. build   `python setup.py build_ext --inplace` against the torch found here (gradsign_fast._C and,
             with nvcc, _C_cuda; MAX_JOBS = the CPU count; no network, no pip)
  2. tests   pytest on the test files with a needs-CUDA skip marker, plus the Triton AOT test (the
             interpreter round of test_triton_conv_weight_signs is deselected: CPU work)
  3. kernels sign_reduce of the 'cuda' and 'triton' backends against x.sum() (the memory-read floor):
             GB/s = bytes of g / median seconds, and their ratio to x.sum(); (64, 4M) fp32 and more
  4. engines NB201 and torchvision resnet18 at batch 64 on the GPU: gradsign_fast (backend auto, and
             forced 'cuda'), the authors' loop, the torch.func recipe, a training step; Opacus and
             BackPACK where installed (benchmarks/peers.py, peer_models.py, peer_table.py); the goal
             is gradsign_fast >= 30x faster than the loop and >= 3x faster than torch.func
The stage budgets add up to --total-budget seconds (default 450, under 8 minutes with start-up).
Without CUDA it says so and exits 2; --cpu-dry-run runs stages 3-4 on the CPU with tiny sizes (the
'cpp' and 'torch' backends) so tests/test_gpu_report.py keeps the script working on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
GOALS = {"authors_loop": 30.0, "torch_func_recipe": 3.0}  # peer seconds / gradsign_fast seconds, at least
STAGES = ("build", "tests", "kernels", "engines")
SHARES = {"build": 0.40, "tests": 0.25, "kernels": 0.10, "engines": 0.25}  # of --total-budget
GIB = 1 << 30
# (rows, columns, dtype) of the bandwidth table; the dry run divides the columns by 1024
SHAPES = ((64, 4 << 20, "float32"), (64, 4 << 20, "bfloat16"), (4096, 64 << 10, "float32"), (64, 2 << 20, "float64"))


# ------------------------------------------------------------------------------------------------ stages
def stage_kernels(args: argparse.Namespace, out: Path) -> None:
    """Bandwidth rows -> out (JSON), rewritten after every row so a time-out keeps what finished."""
    import torch

    sys.path.insert(0, str(ROOT))
    from gradsign_fast.ops import registry, torch_ref

    device = "cpu" if args.cpu_dry_run else "cuda"
    if args.cpu_dry_run:
        torch.set_num_threads(1)  # tiny sizes: threads only wait for each other on a busy machine
    names = ("cpp", "torch") if args.cpu_dry_run else ("cuda", "triton")
    sync = (lambda: None) if device == "cpu" else torch.cuda.synchronize
    rows: list[dict] = []
    for n, m, dtype_name in SHAPES:
        m = m // 1024 if args.cpu_dry_run else m
        dtype = getattr(torch, dtype_name)
        g = torch.randn(n, m, device=device, dtype=torch.float32).to(dtype)
        g[0, :: max(1, m // 7)] = 0.0
        expected = torch_ref.sign_reduce(g)
        nbytes = g.numel() * g.element_size()
        floor = _median_seconds(lambda: g.sum(), sync, args.repeats_kernel)
        row = {"shape": [n, m], "dtype": dtype_name, "bytes": nbytes, "sum_s": floor, "sum_gbps": nbytes / floor / 1e9,
               "backends": {}}
        for name in names:
            backend = registry.load(name)
            if backend is None or not backend.supports(device):
                row["backends"][name] = {"status": f"unavailable: {registry.reasons().get(name, 'does not run on ' + device)}"}
                continue
            try:
                start = time.perf_counter()
                got = backend.sign_reduce(g)  # the first call also compiles (Triton)
                first = time.perf_counter() - start
                seconds = _median_seconds(lambda: backend.sign_reduce(g), sync, args.repeats_kernel)
            except Exception as exc:  # noqa: BLE001 - a failing backend is a row, not the end of the stage
                row["backends"][name] = {"status": f"failed: {type(exc).__name__}: {exc}"[:300]}
                continue
            row["backends"][name] = {"status": "ok" if got == expected else f"MISMATCH: {got} vs {expected}",
                                     "seconds": seconds, "gbps": nbytes / seconds / 1e9,
                                     "vs_sum": seconds / floor, "first_call_s": first}
        rows.append(row)
        out.write_text(json.dumps({"device": device, "rows": rows}))
        del g


def _median_seconds(fn, sync, repeats: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stage_engines(args: argparse.Namespace, out: Path) -> None:
    """Engine rows (peer_table.measure's layout, on the GPU) -> out (JSON), rewritten after every model."""
    import torch

    sys.path[:0] = [str(ROOT), str(BENCH)]
    import gradsign_fast
    import peer_models
    import peer_table
    import peers

    device = "cpu" if args.cpu_dry_run else "cuda"
    if args.cpu_dry_run:
        torch.set_num_threads(1)
    # gradsign_fast with the 'cuda' backend forced (where it was built): the CUDA C++ reduction and the
    # tile path instead of the Triton kernels
    from gradsign_fast.ops import registry

    peers.METHODS["gradsign_fast[cuda]"] = lambda m, x, y: gradsign_fast.score(m, x, y, backend="cuda")
    forced = ["gradsign_fast[cuda]"] if device == "cuda" and "cuda" in registry.runnable() else []
    methods = ["gradsign_fast", *forced, "authors_loop", "torch_func_recipe", "opacus", "backpack", "train_step"]

    def clock() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    rows: list[dict] = []
    for name in args.models.split(","):
        row: dict = {"model": name, "batch": args.batch}
        try:
            model, x, y = peer_models.workload(name, args.batch)
        except peer_models.ModelUnavailable as exc:
            row["status"] = {m: f"model unavailable: {exc}" for m in methods}
            rows.append(row)
            continue
        model, x, y = model.to(device), x.to(device), y.to(device)
        row["scored_weights"] = peer_models.scored_weight_count(model)
        try:
            row["gradsign_fast_score"], row["status"], row["score"] = peer_table.statuses(model, x, y, methods)
            timed = [m for m in methods if row["status"][m] in peer_table.TIMED]
            row["median_s"] = peer_table.time_methods(model, x, y, timed, args.repeats, clock) if timed else {}
            row.update(peer_table.ratios(row["median_s"]))
        except Exception as exc:  # noqa: BLE001 - one model's failure is its row, the next model still runs
            failed = f"failed: {type(exc).__name__}: {exc}"[:300]
            prior = row.get("status", {})
            row["status"] = {m: prior[m] if prior.get(m, "ok") not in peer_table.TIMED else failed for m in methods}
            row["median_s"] = {}
        rows.append(row)
        out.write_text(json.dumps({"device": device, "methods": methods, "rows": rows}))
        del model, x, y


# ------------------------------------------------------------------------------------------------ runner
def run_child(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Runs cmd in ROOT with a time box -> {rc, seconds, timed_out, tail} (tail: last 4000 characters)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(1.0, timeout))
        rc, text, timed_out = proc.returncode, proc.stdout + proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        text = _text(exc.stdout) + _text(exc.stderr)
        rc, timed_out = None, True
    return {"rc": rc, "seconds": round(time.perf_counter() - start, 1), "timed_out": timed_out, "tail": text[-4000:]}


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
    return env


def run_build(timeout: float) -> dict:
    result = run_child([sys.executable, "setup.py", "build_ext", "--inplace"], timeout, child_env())
    record = ROOT / "gradsign_fast" / "_build_info.json"
    result["record"] = json.loads(record.read_text()) if record.exists() else None
    return result


def gpu_test_files() -> list[str]:
    """Test files with a needs-CUDA skip marker (`skipif(not torch.cuda.is_available()`), plus the AOT test."""
    marker = re.compile(r"skipif\(\s*not\s+torch\.cuda\.is_available\(\)")
    found = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py") if marker.search(p.read_text()))
    aot = "tests/test_triton_aot.py"
    return found + ([aot] if (ROOT / aot).exists() and aot not in found else [])


def run_tests(timeout: float) -> dict:
    files = gpu_test_files()
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-k", "not interpreted_cases", *files]
    result = run_child(cmd, timeout, child_env())
    result["files"] = files
    summary = [ln for ln in result["tail"].splitlines() if re.search(r"\b(passed|failed|error|skipped)\b", ln)]
    result["summary"] = summary[-1].strip("= ") if summary else "no summary (see the output)"
    return result


def run_stage(name: str, args: argparse.Namespace, timeout: float) -> dict:
    """Stage `name` of this script in a child process; its JSON (complete or partial) under "data"."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--stage-out", str(out),
               "--models", args.models, "--batch", str(args.batch), "--repeats", str(args.repeats),
               "--repeats-kernel", str(args.repeats_kernel), *(["--cpu-dry-run"] if args.cpu_dry_run else [])]
        result = run_child(cmd, timeout, child_env())
        result["data"] = json.loads(out.read_text()) if out.exists() else None
    return result


def machine(dry_run: bool) -> dict:
    import torch

    info: dict = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
                  "cpus": os.cpu_count(), "load": _load(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "commit": _git_commit()}
    try:
        import triton

        info["triton"] = triton.__version__
    except Exception as exc:  # noqa: BLE001
        info["triton"] = f"not importable ({type(exc).__name__}: {exc})"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{props.name}, sm_{props.major}{props.minor}, {props.total_memory / GIB:.0f} GiB, " \
                      f"{props.multi_processor_count} SMs, {torch.cuda.device_count()} device(s)"
    else:
        info["gpu"] = "none (CPU dry run)" if dry_run else "none"
    return info


def _load() -> str:
    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ------------------------------------------------------------------------------------------------ report
def _status_line(result: dict) -> str:
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"
    if result["timed_out"]:
        return f"TIMED OUT after {result['seconds']} s (time box)"
    return f"{'ok' if result['rc'] == 0 else 'FAILED (exit ' + str(result['rc']) + ')'} in {result['seconds']} s"


def _tail_block(result: dict, lines: int = 25) -> list[str]:
    tail = "\n".join(result.get("tail", "").splitlines()[-lines:])
    return ["<details><summary>output (last lines)</summary>", "", "```", tail, "```", "</details>", ""] if tail else []


def kernels_section(result: dict) -> list[str]:
    lines = ["## 3. Kernel bandwidth: sign_reduce vs x.sum()", "", f"Stage: {_status_line(result)}", ""]
    data = result.get("data")
    if data and data["rows"]:
        names = list(dict.fromkeys(b for row in data["rows"] for b in row["backends"]))
        lines += [f"Device: {data['device']}. GB/s = bytes of g / median seconds; ratio = seconds / x.sum() seconds "
                  "(1.0 = as fast as reading g once).", "",
                  "| shape | dtype | MB | x.sum() GB/s | " + " | ".join(f"{b} GB/s | {b} / x.sum()" for b in names) + " |",
                  "|---|---|---:|---:|" + "---:|---:|" * len(names)]
        for row in data["rows"]:
            cells = [f"{row['shape'][0]} x {row['shape'][1]}", row["dtype"], f"{row['bytes'] / 1e6:.3g}",
                     f"{row['sum_gbps']:.3g}"]
            for b in names:
                r = row["backends"].get(b, {"status": "-"})
                if "gbps" in r:
                    flag = "" if r["status"] == "ok" else f" ({r['status']})"
                    cells += [f"{r['gbps']:.3g}{flag}", f"{r['vs_sum']:.2f}"]
                else:
                    cells += [r["status"].replace("|", "/"), "-"]
            lines.append("| " + " | ".join(cells) + " |")
        firsts = {b: r["first_call_s"] for row in data["rows"][:1] for b, r in row["backends"].items() if "first_call_s" in r}
        if firsts:
            lines += ["", "First call (includes any JIT compile, e.g. Triton's): " + ", ".join(f"{b} {s:.2f} s" for b, s in firsts.items())]
        lines.append("")
    if result.get("rc") != 0 or not data:
        lines += _tail_block(result)
    return lines


def engines_section(result: dict, batch: int) -> list[str]:
    sys.path.insert(0, str(BENCH))
    import peer_table

    lines = ["## 4. Engines: gradsign_fast vs the authors' loop and the torch.func recipe", "",
             f"Stage: {_status_line(result)}", ""]
    data = result.get("data")
    if data and data["rows"]:
        lines += [f"Device: {data['device']}, batch {batch}, float32, median seconds; a method is timed only if "
                  "its score equals gradsign_fast's (1e-3 relative).", "", peer_table.markdown(data["rows"], data["methods"]),
                  "", "Goal: gradsign_fast at least 30x faster than the authors' loop and 3x faster than the torch.func "
                  "recipe.", "", "| model | peer | peer / gradsign_fast | goal | met |", "|---|---|---:|---:|---|"]
        for row in data["rows"]:
            medians = row.get("median_s", {})
            for peer, goal in GOALS.items():
                if "gradsign_fast" in medians and peer in medians:
                    ratio = medians[peer] / medians["gradsign_fast"]
                    lines.append(f"| {row['model']} | {peer} | {ratio:.1f}x | {goal:.0f}x | {'yes' if ratio >= goal else 'NO'} |")
                else:
                    why = row.get("status", {}).get(peer) or row.get("status", {}).get("gradsign_fast", "not timed")
                    lines.append(f"| {row['model']} | {peer} | - | {goal:.0f}x | not measured: {why} |")
        lines.append("")
    if result.get("rc") != 0 or not data:
        lines += _tail_block(result)
    return lines


def markdown(info: dict, results: dict, args: argparse.Namespace, total_s: float) -> str:
    title = "GPU report" + (" (CPU DRY RUN: no GPU figures)" if args.cpu_dry_run else "")
    lines = [f"# gradsign_fast {title}", "", f"`python benchmarks/gpu_report.py {' '.join(args.argv)}`, "
             f"{total_s:.0f} s in all.", "", "## Machine", "",
             *(f"- {k}: {v}" for k, v in info.items()), ""]
    build = results["build"]
    lines += ["## 1. Build", "", f"Stage: {_status_line(build)}", ""]
    if build.get("record"):
        lines += ["```json", json.dumps(build["record"], indent=1, sort_keys=True), "```", ""]
    if not build.get("skipped") and build.get("rc") != 0:
        lines += _tail_block(build)
    tests = results["tests"]
    lines += ["## 2. GPU tests", "", f"Stage: {_status_line(tests)}", ""]
    if not tests.get("skipped"):
        lines += [f"Files: {', '.join(tests['files'])}", "", f"Result: {tests['summary']}", ""]
        lines += _tail_block(tests, 40 if tests.get("rc") != 0 else 12)
    lines += kernels_section(results["kernels"])
    lines += engines_section(results["engines"], args.batch)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpu_report.md", help="the markdown report (default gpu_report.md)")
    parser.add_argument("--models", default="nb201,resnet18", help="peer_models names for the engine table")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per engine method (median)")
    parser.add_argument("--repeats-kernel", type=int, default=20, help="timed calls per kernel (median)")
    parser.add_argument("--total-budget", type=float, default=450.0, help="seconds for all stages together")
    parser.add_argument("--skip-build", action="store_true", help="use the extension already built")
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="no GPU: tiny stages 3-4 on the CPU (cpp / torch backends), no build, no tests")
    parser.add_argument("--stage", choices=("kernels", "engines"), help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage:
        {"kernels": stage_kernels, "engines": stage_engines}[args.stage](args, Path(args.stage_out))
        return 0
    import torch

    if not torch.cuda.is_available() and not args.cpu_dry_run:
        print(f"gpu_report: no CUDA device is visible (torch {torch.__version__}, CUDA build: "
              f"{torch.version.cuda or 'no'}); nothing to measure. Run it on a GPU machine, or pass "
              "--cpu-dry-run to check the report itself on the CPU.", file=sys.stderr)
        return 2
    start = time.perf_counter()
    info = machine(args.cpu_dry_run)
    results: dict = {}

    def budget(stage: str) -> float:  # the stage's share, plus what earlier stages left unused
        used = time.perf_counter() - start
        planned = sum(SHARES[s] for s in STAGES[: STAGES.index(stage) + 1]) * args.total_budget
        return max(5.0, planned - used)

    for stage in STAGES:
        print(f"gpu_report: {stage} (time box {budget(stage):.0f} s)", file=sys.stderr, flush=True)
        if stage == "build":
            results[stage] = {"skipped": "--cpu-dry-run" if args.cpu_dry_run else "--skip-build"} \
                if args.cpu_dry_run or args.skip_build else run_build(budget(stage))
        elif stage == "tests":
            results[stage] = {"skipped": "--cpu-dry-run"} if args.cpu_dry_run else run_tests(budget(stage))
        else:
            results[stage] = run_stage(stage, args, budget(stage))
        print(f"gpu_report: {stage}: {_status_line(results[stage])}", file=sys.stderr, flush=True)
    info["gradsign_fast backends"] = _backends()
    Path(args.out).write_text(markdown(info, results, args, time.perf_counter() - start))
    print(f"gpu_report: wrote {args.out}", file=sys.stderr)
    return 0


def _backends() -> str:
    """gradsign_fast.info()'s backends, from a fresh process (this one predates the build)."""
    code = "import gradsign_fast, json; i = gradsign_fast.info(); print(json.dumps({k: i[k] for k in ('backends', 'unavailable')}))"
    result = run_child([sys.executable, "-c", code], 60, child_env())
    return result["tail"].strip().splitlines()[-1] if result["rc"] == 0 and result["tail"].strip() else "unavailable"


if __name__ == "__main__":
    sys.exit(main())
