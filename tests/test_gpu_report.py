"""benchmarks/gpu_report.py keeps working on a machine without a GPU: its CPU dry run writes the whole
report (machine, skipped build and tests, the bandwidth and engine tables with their figures and the
goal rows), without CUDA it refuses clearly with exit status 2, a stage past its time box is cut off
with what it printed kept, and the GPU test files are still found by their skip markers. No build and
no pip here: the dry run skips stage 1 (and 2)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_report.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_dry_run_writes_every_section_with_figures(tmp_path):
    out = tmp_path / "report.md"
    cmd = [sys.executable, str(SCRIPT), "--cpu-dry-run", "--out", str(out), "--models", "mlp", "--batch", "4",
           "--repeats", "1", "--repeats-kernel", "2", "--total-budget", "400"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# gradsign_fast GPU report (CPU DRY RUN")
    assert f"- torch: {torch.__version__}" in text and "- gpu: none (CPU dry run)" in text
    assert text.count("skipped: --cpu-dry-run") == 2  # build and tests
    kernels = text.split("## 3.")[1].split("## 4.")[0]
    assert "Stage: ok" in kernels, kernels
    rows = [ln for ln in kernels.splitlines() if ln.startswith("| 64 x 4096 | float32 |")]
    assert len(rows) == 1, kernels
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert float(cells[3]) > 0  # x.sum() GB/s
    assert any(re.fullmatch(r"[0-9.e+-]+", c) and float(c) > 0 for c in cells[4:]), cells  # a backend's figures
    engines = text.split("## 4.")[1]
    assert "Stage: ok" in engines, engines
    mlp = [ln for ln in engines.splitlines() if ln.startswith("| mlp | ")]
    assert re.search(r"\| [0-9.]+ s \|", mlp[0]), mlp  # gradsign_fast timed
    goals = [ln for ln in mlp if re.match(r"\| mlp \| (authors_loop|torch_func_recipe) \| [0-9.]+x \| (30|3)x \| (yes|NO) \|", ln)]
    assert len(goals) == 2, engines


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the script would run for real")
def test_without_cuda_it_says_so_and_exits_2(tmp_path):
    out = tmp_path / "report.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "no CUDA device is visible" in proc.stderr and "--cpu-dry-run" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_a_stage_past_its_time_box_is_cut_off_and_reported():
    report = _module()
    code = "import time; print('started', flush=True); time.sleep(60)"
    result = report.run_child([sys.executable, "-c", code], timeout=3)
    assert result["timed_out"] and result["rc"] is None and result["seconds"] < 30
    assert "started" in result["tail"]
    lines = report.kernels_section({**result, "data": None})
    assert any("TIMED OUT after" in ln for ln in lines) and any("started" in ln for ln in lines)


def test_the_gpu_tests_are_found_by_their_skip_markers():
    files = _module().gpu_test_files()
    for name in ("tests/test_ops_cases.py", "tests/test_triton_conv_weight_signs.py", "tests/test_triton_aot.py"):
        assert name in files, files
    assert "tests/test_gpu_report.py" not in files
