"""gpu_report stage 3: sign_reduce of the GPU backends against x.sum(), the memory-read floor.

    stage_kernels(args, out)      rows -> out (JSON): GB/s = bytes of g / median seconds, ratio to x.sum()
    kernels_section(result)       the report's markdown of that stage
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from gpu_report_runner import ROOT, status_line, tail_block

# (rows, columns, dtype) of the bandwidth table; the dry run divides the columns by 1024
SHAPES = ((64, 4 << 20, "float32"), (64, 4 << 20, "bfloat16"), (4096, 64 << 10, "float32"), (64, 2 << 20, "float64"))


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


def kernels_section(result: dict) -> list[str]:
    lines = ["## 3. Kernel bandwidth: sign_reduce vs x.sum()", "", f"Stage: {status_line(result)}", ""]
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
        lines += tail_block(result)
    return lines
