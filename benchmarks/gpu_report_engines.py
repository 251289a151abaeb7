"""gpu_report stage 4: gradsign_fast against the authors' loop, the torch.func recipe and the other peers
on the GPU (peer_table's layout), with the speed goals.

    stage_engines(args, out)      rows -> out (JSON), rewritten after every model
    engines_section(result, batch) the report's markdown of that stage, goals included
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gpu_report_runner import ROOT, status_line, tail_block

BENCH = Path(__file__).resolve().parent
GOALS = {"authors_loop": 30.0, "torch_func_recipe": 3.0}  # peer seconds / gradsign_fast seconds, at least


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


def engines_section(result: dict, batch: int) -> list[str]:
    sys.path.insert(0, str(BENCH))
    import peer_table

    lines = ["## 4. Engines: gradsign_fast vs the authors' loop and the torch.func recipe", "",
             f"Stage: {status_line(result)}", ""]
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
        lines += tail_block(result)
    return lines
