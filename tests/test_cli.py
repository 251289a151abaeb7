"""The command line: the main job (default / `rank`), its output, and its exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gradsign_fast.cli import main
from gradsign_fast.nas import is_valid_arch

ROOT = Path(__file__).resolve().parents[1]
# 1 thread: tiny jobs gain nothing from more, and OpenMP spin-waits slow them badly on a busy machine
TINY = ["--archs", "2", "--batch-size", "4", "--channels", "2", "--cells", "1", "--threads", "1", "--quiet"]


def _table(out: str) -> list[tuple[int, float, float, str]]:
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit():
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), parts[3]))
    return rows


def test_main_job_prints_a_ranked_table_on_a_synthetic_batch(capsys):
    assert main(TINY) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[:3]
    assert header[0].startswith("# gradsign-fast rank: 2 NAS-Bench-201 archs sampled with seed 0, variant zero_cost")
    assert "SYNTHETIC" in header[1] and "seed 0" in header[1]
    rows = _table(captured.out)
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1] >= rows[1][1] and all(r[2] >= 0 for r in rows)
    assert all(is_valid_arch(r[3]) for r in rows)
    assert captured.err == ""  # --quiet

    assert main(["rank", *TINY]) == 0  # the explicit subcommand is the same job
    assert _table(capsys.readouterr().out)[0][1::2] == rows[0][1::2]  # same score and arch (seeded)


def test_progress_lines_go_to_stderr_and_options_show_in_the_header(capsys):
    threads = torch.get_num_threads()
    argv = [a for a in TINY if a != "--quiet"] + ["--variant", "benchmark", "--engine", "functorch"]
    assert main(argv) == 0
    assert torch.get_num_threads() == threads  # --threads is undone after the job
    captured = capsys.readouterr()
    assert captured.err.count("[") == 2 and "[2/2]" in captured.err
    assert "variant benchmark" in captured.out and "engine functorch" in captured.out and "threads 1" in captured.out


def test_real_images_from_npz(tmp_path, capsys):
    path = tmp_path / "images.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), y=np.array([0, 1, 40, 3, 4, 5]))
    assert main([*TINY, "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"real images from {path}" in out and "SYNTHETIC" not in out
    assert "100 classes" in out  # label 40 needs the 100-class head
    assert len(_table(out)) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--archs", "0"],
        ["--archs", "two"],
        ["--batch-size", "-1"],
        ["--engine", "nope"],
        ["--backend", "nope"],
        ["--variant", "tiny"],
        ["--device", "not_a_device"],
        ["--no-such-option"],
        ["bogus"],
        ["rank", "extra"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_runtime_errors_exit_1_with_one_line(tmp_path, capsys):
    assert main([*TINY, "--data", str(tmp_path / "missing.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradsign-fast: error: no image file")
    np.savez(tmp_path / "few.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2, np.int64))
    assert main([*TINY, "--data", str(tmp_path / "few.npz")]) == 1
    assert "holds 2 images" in capsys.readouterr().err


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "usage: gradsign-fast" in out
    assert main(["rank", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--archs" in out and "--data" in out and "--engine {auto,batched,functorch,loop}" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("gradsign-fast ")


def test_console_script_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["gradsign-fast"] == "gradsign_fast.cli:main"


def test_python_dash_m_runs_the_main_job():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "gradsign_fast", "--archs", "1", *TINY[2:]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" in done.stdout and len(_table(done.stdout)) == 1


def _imports(path: Path, package: str) -> set[str]:
    """Every module `path` imports (function-level imports too), relative ones resolved in `package`."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    return found


def test_the_core_imports_neither_the_nas_layer_nor_the_cli():
    """Layers: the core (score, sign_sums, distributed, ...) < nas/ (spaces, sweeps; reads data.py) < cli/."""
    package = ROOT / "gradsign_fast"
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        name = ".".join(("gradsign_fast", *relative.with_suffix("").parts))
        inside = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        layer = relative.parts[0] if len(relative.parts) > 1 else "core"
        imported = _imports(path, inside)
        uses = {top for top in ("nas", "data", "cli") for m in imported
                if m == f"gradsign_fast.{top}" or m.startswith(f"gradsign_fast.{top}.")}
        allowed = {"nas": {"nas", "data"}, "cli": {"nas", "data", "cli"}}.get(layer, set())
        if relative.as_posix() == "__main__.py":
            allowed = {"cli"}
        assert uses <= allowed, f"{relative} imports {sorted(uses - allowed)}"
        assert "GRADSIGN_TEST" not in path.read_text(), f"{relative} carries a test hook"


def test_the_torchrun_entry_point_is_a_cli_module():
    import gradsign_fast.distributed as api

    from gradsign_fast.cli import distributed as entry_point

    assert not hasattr(api, "main") and callable(entry_point.main)
