"""GradSign peers side by side (issue "One call per layer", item 4): a markdown table of median seconds.

    python benchmarks/peer_table.py [--models cnn,mlp,nb201,resnet18] [--methods authors_loop,...]
                                    [--batch 64] [--repeats 5] [--threads 2] [--clock wall|cpu]
                                    [--json out.json]

Methods and models: benchmarks/peers.py and benchmarks/peer_models.py. Per model, each method first
runs once and its score is compared with gradsign_fast's (float32: 1e-3 relative); a method is timed
only if it computes the same number. The others show their status: "not installed: ...",
"cannot run: ..." (Opacus on BatchNorm), "computes a different number: x vs y" (BackPACK on BatchNorm:
batch statistics), or "MISMATCH: x vs y" (a bug). Timings interleave the methods round by round
(the order rotating) and report the median of --repeats. Ratios: gradsign_fast / train step (the
floor: one forward + backward of the batch) and fastest peer (same number) / gradsign_fast.
The figures compare only on an idle machine: the header prints the load average (uptime).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_models  # noqa: E402
import peers  # noqa: E402

TIMED = ("ok", "floor")


def load_average() -> str:
    """`uptime`'s output (the load average), or os.getloadavg() where uptime is missing."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def header(args: argparse.Namespace) -> str:
    return (f"{load_average()} | torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"{args.clock} clock, batch {args.batch}, float32, median of {args.repeats}")


def statuses(model, x, y, methods: list[str]) -> tuple[float, dict[str, str], dict[str, float | None]]:
    """Run every method once (correctness pass, also the warm-up) -> (reference, status, score) per method."""
    expected = peers.gradsign_fast_score(model, x, y)
    status, score = {}, {}
    for method in methods:
        status[method], score[method] = peers.evaluate(method, model, x, y, expected)
    return expected, status, score


def time_methods(model, x, y, methods: list[str], repeats: int, clock) -> dict[str, float]:
    """Median seconds per method over `repeats` interleaved rounds (round r starts at method r mod k)."""
    times: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(repeats):
        for method in methods[r % len(methods):] + methods[: r % len(methods)]:
            start = clock()
            peers.METHODS[method](model, x, y)
            times[method].append(clock() - start)
    return {m: statistics.median(ts) for m, ts in times.items()}


def ratios(medians: dict[str, float]) -> dict[str, object]:
    """gradsign_fast / train_step and fastest peer (among those timed) / gradsign_fast, where measured."""
    out: dict[str, object] = {}
    fast = medians.get("gradsign_fast")
    if fast and medians.get("train_step"):
        out["gradsign_fast/train_step"] = round(fast / medians["train_step"], 2)
    timed_peers = {m: t for m, t in medians.items() if m in peers.PEERS}
    if fast and timed_peers:
        best = min(timed_peers, key=timed_peers.get)
        out["fastest_peer"] = best
        out["fastest_peer/gradsign_fast"] = round(timed_peers[best] / fast, 2)
    return out


def measure(name: str, methods: list[str], batch: int, repeats: int, clock) -> dict:
    """One model's row: status, score and median seconds per method, and the ratios."""
    row: dict = {"model": name, "batch": batch}
    try:
        model, x, y = peer_models.workload(name, batch)
    except peer_models.ModelUnavailable as exc:
        row["status"] = {m: f"model unavailable: {exc}" for m in methods}
        return row
    row["scored_weights"] = peer_models.scored_weight_count(model)
    row["gradsign_fast_score"], row["status"], row["score"] = statuses(model, x, y, methods)
    timed = [m for m in methods if row["status"][m] in TIMED]
    row["median_s"] = time_methods(model, x, y, timed, repeats, clock) if timed else {}
    row.update(ratios(row["median_s"]))
    return row


def cell(row: dict, method: str) -> str:
    if method in row.get("median_s", {}):
        return f"{row['median_s'][method]:.4g} s"
    return row["status"][method].replace("|", "/")


def markdown(rows: list[dict], methods: list[str]) -> str:
    """| model | scored weights | <method>... | gradsign_fast / train step | fastest peer / gradsign_fast |"""
    lines = ["| model | scored weights | " + " | ".join(methods) + " | gradsign_fast / train step "
             "| fastest peer / gradsign_fast |", "|---|---:|" + "---:|" * len(methods) + "---:|---:|"]
    for row in rows:
        best = row.get("fastest_peer")
        peer_ratio = f"{row['fastest_peer/gradsign_fast']} ({best})" if best else "-"
        cells = [row["model"], str(row.get("scored_weights", "-")), *(cell(row, m) for m in methods),
                 str(row.get("gradsign_fast/train_step", "-")), peer_ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(peer_models.DEFAULT_MODELS),
                        help=f"comma-separated, from {list(peer_models.MODELS)}")
    parser.add_argument("--methods", default=",".join(peers.METHODS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per method (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time (steadier on a shared machine, best with --threads 1)")
    parser.add_argument("--json", default=None, help="write the header and rows here")
    args = parser.parse_args(argv)
    for kind, names, known in (("model", args.models, peer_models.MODELS), ("method", args.methods, peers.METHODS)):
        unknown = [n for n in names.split(",") if n not in known]
        if unknown:
            parser.error(f"unknown {kind}(s) {unknown}; choose from {list(known)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    methods = args.methods.split(",")
    head = header(args)
    print(head, flush=True)
    rows = []
    for name in args.models.split(","):
        rows.append(measure(name, methods, args.batch, args.repeats, clock))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print()
    print(markdown(rows, methods))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": head, "methods": methods, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
