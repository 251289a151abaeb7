"""Every command the README shows runs here (at small sizes), so the documentation cannot rot unseen.

The commands are read out of README.md: shell lines of ```bash blocks, indented command blocks, inline
`code` that starts with a program, and ```python snippets. Each must be listed in RUNS (what is run for
it: the same command, or the same one at small sizes) or in SKIPS (why it cannot run here). A command
added to the README without an entry fails test_every_readme_command_is_covered; an entry whose command
left the README fails it too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import shared_data_dir
from thirdparty_code import runnable_snippet

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROGRAMS = ("gradsign-fast", "python", "python3", "torchrun", "bash", "pytest", "pip", "time")
SMALL_NB201 = "--batch-size 8 --channels 2 --cells 1"
DATA = "$D/cifar/cifar10_train_first1000_convnetjs.npz"
NASWOT = "$D/nb201/naswot_arch_score_acc_nb201_cifar10.csv"
NATS = "$D/nb201/nats_bench_tss_test_acc_200ep.csv"
NASLIB = "$D/nb201/naslib_zc_nb201_subset_with_nats_test.csv"
SMALL_NB101 = "--batch-size 4 --channels 8 --cells 1"
NB101_TABLE = "$D/nb101/nb101_gennas_zero_2500_testacc.csv"
DARTS_TABLE = "$D/darts/naslib_zc_nb301_725.csv"
NDS_TABLE = "$D/nds/nds_imagenet_subsets.csv"
NB101_CELL = ("0111000001000100010000000100000001000000010000000|input|maxpool3x3|conv1x1-bn-relu|maxpool3x3|"
              "conv3x3-bn-relu|conv1x1-bn-relu|output")
ARCH = "'|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'"

# README command -> what runs for it, in README order, in one scratch directory (later commands read
# the files earlier ones wrote). $D is the shared data directory; $ROOT the repository.
RUNS: dict[str, str] = {
    "bash scripts/install.sh && gradsign-fast": f"gradsign-fast --archs 2 {SMALL_NB201}",
    "time gradsign-fast": f"gradsign-fast --archs 2 {SMALL_NB201} --quiet",
    "gradsign-fast --data ../shared/data/cifar/cifar10_test_first1000_convnetjs.npz":
        f"gradsign-fast --data $D/cifar/cifar10_test_first1000_convnetjs.npz --archs 2 {SMALL_NB201}",
    'python -c "import gradsign_fast; print(gradsign_fast.info())"':
        'python -c "import gradsign_fast; print(gradsign_fast.info())"',
    f"gradsign-fast score {ARCH}": f"gradsign-fast score {ARCH} {SMALL_NB201}",
    "gradsign-fast score 1 --table nb201/nats_bench_tss_test_acc_200ep.csv":
        f"gradsign-fast score 1 --table {NATS} {SMALL_NB201}",
    "gradsign-fast sweep runs.jsonl --archs 1000 --data cifar10.npz":
        f"gradsign-fast sweep runs.jsonl --archs 3 --data {DATA} {SMALL_NB201} --quiet",
    "gradsign-fast sweep runs.jsonl --archs 1000 --data cifar10.npz --jobs 2":
        f"gradsign-fast sweep runs.jsonl --archs 4 --data {DATA} {SMALL_NB201} --jobs 2 --quiet",
    "gradsign-fast correlate runs.jsonl --table nb201.csv --accuracy valid_test_top1 --plot fig2.png":
        f"gradsign-fast correlate runs.jsonl --table {NASWOT} --accuracy valid_test_top1 --plot fig2.png",
    "gradsign-fast search --table nb201.csv --accuracy valid_top1 --scores runs.jsonl --runs 100 --budget 50":
        f"gradsign-fast search --table {NASWOT} --accuracy valid_top1 --scores runs.jsonl --scored-only "
        "--runs 3 --budget 2 --quiet",
    "D=../shared/data": "true",
    f"gradsign-fast score '{NB101_CELL}' --space nb101": f"gradsign-fast score '{NB101_CELL}' --space nb101 {SMALL_NB101}",
    f"gradsign-fast sweep nb101.jsonl --space nb101 --from-table {NB101_TABLE} --archs 1000 --data {DATA} --threads 1":
        f"gradsign-fast sweep nb101.jsonl --space nb101 --from-table {NB101_TABLE} --archs 3 --data {DATA} "
        f"--threads 1 {SMALL_NB101} --quiet",
    f"gradsign-fast correlate nb101.jsonl --table {NB101_TABLE} --accuracy test_acc":
        f"gradsign-fast correlate nb101.jsonl --table {NB101_TABLE} --accuracy test_acc",
    f"gradsign-fast sweep c100.jsonl --from-table {NATS} --archs 1000 --dataset cifar100 --threads 1":
        f"gradsign-fast sweep c100.jsonl --from-table {NATS} --archs 3 --dataset cifar100 --threads 1 {SMALL_NB201} "
        "--quiet",
    f"gradsign-fast correlate c100.jsonl --table {NATS} --accuracy CIFAR100TestAccuracy200Epochs":
        f"gradsign-fast correlate c100.jsonl --table {NATS} --accuracy CIFAR100TestAccuracy200Epochs",
    f"gradsign-fast sweep darts.jsonl --space darts --from-table {DARTS_TABLE} --data {DATA} --threads 1":
        f"gradsign-fast sweep darts.jsonl --space darts --from-table {DARTS_TABLE} --archs 3 --data {DATA} "
        "--threads 1 --batch-size 4 --channels 4 --cells 5 --quiet",
    f"gradsign-fast correlate darts.jsonl --table {DARTS_TABLE} --accuracy val_accuracy":
        f"gradsign-fast correlate darts.jsonl --table {DARTS_TABLE} --accuracy val_accuracy",
    f"gradsign-fast sweep nds.jsonl --space nds-cifar --from-table {NDS_TABLE} --where space=DARTS_in --data {DATA} "
    "--threads 1":
        f"gradsign-fast sweep nds.jsonl --space nds-cifar --from-table {NDS_TABLE} --where space=DARTS_in --archs 3 "
        f"--data {DATA} --threads 1 --batch-size 2 --quiet",
    f"gradsign-fast correlate nds.jsonl --table {NDS_TABLE} --where space=DARTS_in --accuracy final_test_acc":
        f"gradsign-fast correlate nds.jsonl --table {NDS_TABLE} --where space=DARTS_in --accuracy final_test_acc",
    f"gradsign-fast sweep nds_in.jsonl --space nds --from-table {NDS_TABLE} --where space=ENAS_in --image-size 64 "
    f"--num-classes 1000 --data {DATA} --threads 1":
        f"gradsign-fast sweep nds_in.jsonl --space nds --from-table {NDS_TABLE} --where space=ENAS_in --archs 1 "
        f"--image-size 40 --num-classes 1000 --data {DATA} --threads 1 --batch-size 2 --quiet",
    f"gradsign-fast sweep runs.jsonl --from-table {NASWOT} --archs 1000 --data {DATA} --threads 1":
        f"gradsign-fast sweep runs.jsonl --from-table {NASWOT} --archs 3 --data {DATA} --threads 1 {SMALL_NB201} --quiet",
    f"gradsign-fast sweep runs.jsonl --from-table {NASLIB} --where dataset=cifar10 --data {DATA} --threads 1":
        f"gradsign-fast sweep runs.jsonl --from-table {NASLIB} --where dataset=cifar10 --archs 3 --data {DATA} "
        f"--threads 1 {SMALL_NB201} --quiet",
    "gradsign-fast validate runs.jsonl": "GRADSIGN_SHARED_DATA=$D gradsign-fast validate runs.jsonl",
    "gradsign-fast validate results/nb201_cifar10.jsonl.gz":
        "GRADSIGN_SHARED_DATA=$D gradsign-fast validate $ROOT/results/nb201_cifar10.jsonl.gz",
    f"gradsign-fast search --table {NASWOT} --accuracy valid_top1 --report valid_top1 --report test_top1 --scores "
    "precomputed:nb201/cifar10 --budget 20 --runs 100":
        f"gradsign-fast search --table {NASWOT} --accuracy valid_top1 --report valid_top1 --report test_top1 "
        "--scores precomputed:nb201/cifar10 --budget 2 --runs 3 --quiet",
    "python benchmarks/paper_tables.py --proxies --plots results/plots":
        "python $ROOT/benchmarks/paper_tables.py --data $D --proxies --plots plots",
    "python benchmarks/table5.py precomputed:nb201/cifar10 --runs 500":
        "python $ROOT/benchmarks/table5.py precomputed:nb201/cifar10 --data $D --runs 3",
    "python benchmarks/table6.py precomputed:nb201/cifar10 --runs 500 --plot results/plots/table6.png":
        "python $ROOT/benchmarks/table6.py runs.jsonl --data $D --runs 2 --methods RS,G-RS,REA,G-REA,HB,G-HB "
        "--plot table6.png",
    f"gradsign-fast search --table {NATS} --report CIFAR10TestAccuracy200Epochs --multifidelity "
    "$D/nb201/nb201_multifidelity.csv --scores precomputed:nb201/cifar10 --runs 500":
        f"gradsign-fast search --table {NATS} --report CIFAR10TestAccuracy200Epochs --multifidelity "
        "$D/nb201/nb201_multifidelity.csv --scores precomputed:nb201/cifar10 --runs 2 --methods RS,G-RS,HB,G-HB "
        "--quiet",
    f"gradsign-fast search --table {NATS} --accuracy CIFAR10TestAccuracy200Epochs --scores precomputed:nb201/cifar10 "
    "--runs 100 --budget 50":
        f"gradsign-fast search --table {NATS} --accuracy CIFAR10TestAccuracy200Epochs --scores precomputed:nb201/cifar10 "
        "--runs 2 --budget 5 --quiet",
    "pytest benchmarks/bench_sign_reduce.py --benchmark-json=b.json && python benchmarks/ratio_table.py b.json":
        "GRADSIGN_BENCH_SHAPE=8x4096 python -m pytest -q -p no:cacheprovider $ROOT/benchmarks/bench_sign_reduce.py "
        "--benchmark-json=b.json --benchmark-min-rounds=1 --benchmark-max-time=0.01 && "
        "python $ROOT/benchmarks/ratio_table.py b.json",
    "python benchmarks/engine_table.py --repeats 5 --loop-repeats 3":
        "python $ROOT/benchmarks/engine_table.py --models transformer --repeats 1 --loop-repeats 1",
    "pytest benchmarks/bench_matrix.py --benchmark-json=m.json && python benchmarks/ratio_table.py m.json":
        "python -m pytest -q -p no:cacheprovider $ROOT/benchmarks/bench_matrix.py -k transformer "
        "--benchmark-json=m.json --benchmark-min-rounds=1 --benchmark-max-time=0.01 && "
        "python $ROOT/benchmarks/ratio_table.py m.json",
    "python benchmarks/numerics.py --archs 5 --batch 64 --data ../shared/data/cifar/cifar10_train_first1000_convnetjs.npz":
        "python $ROOT/benchmarks/numerics.py --archs 1 --batch 4 --data $D/cifar/cifar10_train_first1000_convnetjs.npz",
    "python benchmarks/peer_table.py --threads 1 --clock cpu --repeats 5":
        "python $ROOT/benchmarks/peer_table.py --models mlp --methods gradsign_fast,train_step,authors_loop "
        "--batch 4 --threads 1 --clock cpu --repeats 1",
    "python benchmarks/peer_table.py --models nb101 --methods gradsign_fast,train_step --threads 1 --clock cpu --repeats 3":
        "python $ROOT/benchmarks/peer_table.py --models nb101 --methods gradsign_fast,train_step --batch 2 --repeats 1 "
        "--threads 1 --clock cpu",
    "python benchmarks/peer_table.py --models cnn --methods gradsign_fast,opacus,train_step --threads 2 --repeats 3":
        "python $ROOT/benchmarks/peer_table.py --models cnn --methods gradsign_fast,opacus,train_step --batch 2 "
        "--threads 2 --repeats 1",
    "python benchmarks/layer_op_threshold.py --channels 16,32,64,128,256 --sizes 32,16,8 --kernels 3,1 --depthwise 32,128 --threads 1 --repeats 5":
        "python $ROOT/benchmarks/layer_op_threshold.py --channels 8,32 --sizes 4 --kernels 3,1 --depthwise 4 "
        "--batch 2 --repeats 1 --threads 1",
    "python benchmarks/layer_op_threshold.py --end-to-end cnn,nb201,resnet18 --threads 1 --repeats 5":
        "python $ROOT/benchmarks/layer_op_threshold.py --end-to-end cnn --batch 4 --threads 1 --repeats 1",
    "python benchmarks/check_overhead.py --threads 1":
        "python $ROOT/benchmarks/check_overhead.py --models mlp --batch 4 --repeats 1 --threads 1",
    "python benchmarks/gpu_report.py --out gpu_report.md":
        "python $ROOT/benchmarks/gpu_report.py --cpu-dry-run --models nb201 --batch 4 --out gpu_report.md",
    "python benchmarks/sweep_jobs.py --archs 40 --jobs 1,2 --repeats 2":
        "python $ROOT/benchmarks/sweep_jobs.py --archs 2 --channels 2 --batch-size 4 --jobs 1",
    f"gradsign-fast score {ARCH} --variant authors_all_ops --dtype float64":
        f"gradsign-fast score {ARCH} --variant authors_all_ops --dtype float64 --batch-size 4 --channels 2",
    f"gradsign-fast score {ARCH} --variant authors_all_ops --reduction mean":
        f"gradsign-fast score {ARCH} --variant authors_all_ops --reduction mean --batch-size 4 --channels 2",
    "gradsign-fast sweep naslib.jsonl --from-table ../shared/data/nb201/naslib_zc_nb201_subset_with_nats_test.csv "
    "--where dataset=cifar10 --archs 20":
        f"gradsign-fast sweep naslib.jsonl --from-table {NASLIB} --where dataset=cifar10 --archs 2 {SMALL_NB201} --quiet",
    "gradsign-fast score torchvision.models:squeezenet1_1 --batch-size 32":
        "gradsign-fast score torchvision.models:squeezenet1_1 --batch-size 4 --threads 1",
    "torchrun --standalone --nproc_per_node 2 -m gradsign_fast.cli.distributed --archs 2":
        "torchrun --standalone --nproc_per_node 2 -m gradsign_fast.cli.distributed --archs 2 --batch-size 4 "
        "--channels 2 --cells 1",
}

SKIPS: dict[str, str] = {
    'python -c "while True: pass" &': "a busy loop that never ends (the contention benchmark's load); the "
                                      "benchmark command beside it runs",
    "bash scripts/install.sh": ".ci/run runs it before the tests; installing from a test would rebuild the "
                               "package under test",
    "bash scripts/install.sh && python -m pytest -q": "the test command itself",
    "pip install setuptools wheel ninja pybind11": "install step; scripts/install.sh (run by .ci/run) does it",
    "pip install --no-build-isolation -e .": "install step; scripts/install.sh (run by .ci/run) does it",
    "gradsign-fast score my_models:build resnet_a": "placeholder factory; tests/test_cli_nas.py scores factories",
    "gradsign-fast sweep runs.jsonl --all --reverse ...": "placeholder options (...); tests/test_sweep.py runs "
                                                          "two sweeps on one file",
    "gradsign-fast sweep runs.jsonl --archs 1000 --ray --workers 8": "8 Ray workers; tests/test_ray_sweep.py "
                                                                     "runs Ray sweeps",
    "gradsign-fast sweep out.jsonl --archs 1000 --ray --workers 8": "8 Ray workers; tests/test_ray_sweep.py "
                                                                    "runs Ray sweeps",
    "gradsign-fast sweep out.jsonl --archs 1000 --jobs 2": "1000 full-size archs; the same command runs at small "
                                                          "size for `sweep runs.jsonl ... --jobs 2`, and "
                                                          "tests/test_sweep_jobs.py runs --jobs sweeps",
    "python benchmarks/peak_memory.py": "allocates a 16.8M-weight model per engine in fresh processes (minutes); "
                                        "the memory bound is the benchmark's own assertion",
    "python benchmarks/ray_throughput.py --archs 8 --repeats 1": "starts Ray with 1 and 2 workers (minutes); "
                                                                 "tests/test_ray_sweep.py runs Ray sweeps",
}


def _normalize(command: str) -> str:
    command = re.sub(r"\s{2,}#.*$", "", command.strip())  # a trailing '   # comment'
    return " ".join(command.split())


def _is_command(text: str) -> bool:
    words = text.split()
    return bool(words) and (words[0] in PROGRAMS or re.fullmatch(r"[A-Z_]+=\S+", words[0]) is not None) and \
        (len(words) > 1 or words[0] in PROGRAMS[:1] or "=" in words[0])


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """(shell commands, python snippets) of a README, in order."""
    commands, snippets = [], []
    lines = text.splitlines()
    fence, block, i = None, [], 0
    prose = []
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            if fence is None:
                fence, block = line[3:].strip() or "text", []
            else:
                if fence == "python":
                    snippets.append("\n".join(block))
                fence = None
            i += 1
            continue
        if fence is not None:
            block.append(line)
            if fence in ("bash", "sh", "console", "text") and _is_command(line.strip()):
                commands.append(_normalize(line))
        elif line.startswith("    ") and _is_command(line.strip()):
            full = line.strip()
            while full.endswith("\\") and i + 1 < len(lines):
                i += 1
                full = full[:-1].rstrip() + " " + lines[i].strip()
            commands.append(_normalize(full))
        else:
            prose.append(line)
        i += 1
    for span in re.findall(r"`([^`]+)`", "\n".join(prose)):
        if _is_command(" ".join(span.split())) and " " in span.strip():
            commands.append(_normalize(span))
    return list(dict.fromkeys(commands)), snippets


COMMANDS, SNIPPETS = readme_commands(README.read_text())


def test_every_readme_command_is_covered():
    uncovered = [c for c in COMMANDS if c not in RUNS and c not in SKIPS]
    assert not uncovered, f"README commands with no entry in RUNS or SKIPS: {uncovered}"
    stale = [c for c in [*RUNS, *SKIPS] if c not in COMMANDS]
    assert not stale, f"entries whose command is no longer in the README: {stale}"


def _env() -> dict[str, str]:
    env = dict(os.environ, ROOT=str(ROOT), PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    data = shared_data_dir()
    if data is not None:
        env["D"] = str(data)
    return env


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("readme_command", [c for c in COMMANDS if c in RUNS])
def test_readme_command_runs(readme_command, scratch):
    command = RUNS[readme_command]
    if "$D" in command and shared_data_dir() is None:
        pytest.skip("needs the shared data directory")
    result = subprocess.run(["bash", "-c", command], cwd=scratch, env=_env(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_python_snippet_runs(index, scratch):
    code = runnable_snippet(SNIPPETS[index])  # with zero-cost-nas / NASLib from ../shared/thirdparty, or a skip
    result = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=_env(),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{SNIPPETS[index]}\nstderr:\n{result.stderr[-3000:]}"


def test_extraction_finds_every_kind_of_command():
    text = ("```bash\nbash a.sh && gradsign-fast   # c\n```\n\n    gradsign-fast sweep x \\\n      --archs 2\n\n"
            "Run `python -m x --y` or\n`pytest a.py &&\npython b.py`.\n```python\nprint(1)\n```\n")
    commands, snippets = readme_commands(text)
    assert commands == ["bash a.sh && gradsign-fast", "gradsign-fast sweep x --archs 2", "python -m x --y",
                        "pytest a.py && python b.py"]
    assert snippets == ["print(1)"] and shlex.split(commands[1])[0] == "gradsign-fast"
