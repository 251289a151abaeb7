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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_report_engines import engines_section, stage_engines  # noqa: E402
from gpu_report_kernels import kernels_section, stage_kernels  # noqa: E402
from gpu_report_runner import (child_env, gpu_test_files, machine, run_build, run_child, run_tests,  # noqa: E402,F401
                               status_line, tail_block)

STAGES = ("build", "tests", "kernels", "engines")
SHARES = {"build": 0.40, "tests": 0.25, "kernels": 0.10, "engines": 0.25}  # of --total-budget


# ------------------------------------------------------------------------------------------------ stages
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


def markdown(info: dict, results: dict, args: argparse.Namespace, total_s: float) -> str:
    title = "GPU report" + (" (CPU DRY RUN: no GPU figures)" if args.cpu_dry_run else "")
    lines = [f"# gradsign_fast {title}", "", f"`python benchmarks/gpu_report.py {' '.join(args.argv)}`, "
             f"{total_s:.0f} s in all.", "", "## Machine", "",
             *(f"- {k}: {v}" for k, v in info.items()), ""]
    build = results["build"]
    lines += ["## 1. Build", "", f"Stage: {status_line(build)}", ""]
    if build.get("record"):
        lines += ["```json", json.dumps(build["record"], indent=1, sort_keys=True), "```", ""]
    if not build.get("skipped") and build.get("rc") != 0:
        lines += tail_block(build)
    tests = results["tests"]
    lines += ["## 2. GPU tests", "", f"Stage: {status_line(tests)}", ""]
    if not tests.get("skipped"):
        lines += [f"Files: {', '.join(tests['files'])}", "", f"Result: {tests['summary']}", ""]
        lines += tail_block(tests, 40 if tests.get("rc") != 0 else 12)
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
        print(f"gpu_report: {stage}: {status_line(results[stage])}", file=sys.stderr, flush=True)
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
