"""gpu_report's child processes and machine facts: run a command in a time box, build, find and run the
GPU tests, describe the machine, and format a child's status and output for the report.

    run_child(cmd, timeout, env) -> {rc, seconds, timed_out, tail}
    run_build(timeout), run_tests(timeout), gpu_test_files(), machine(dry_run)
    status_line(result), tail_block(result)   markdown of a stage's outcome
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30


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


def status_line(result: dict) -> str:
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"
    if result["timed_out"]:
        return f"TIMED OUT after {result['seconds']} s (time box)"
    return f"{'ok' if result['rc'] == 0 else 'FAILED (exit ' + str(result['rc']) + ')'} in {result['seconds']} s"


def tail_block(result: dict, lines: int = 25) -> list[str]:
    tail = "\n".join(result.get("tail", "").splitlines()[-lines:])
    return ["<details><summary>output (last lines)</summary>", "", "```", tail, "```", "</details>", ""] if tail else []
