"""Markdown table of a pytest-benchmark JSON from benchmarks/bench_sign_reduce.py.

    python benchmarks/ratio_table.py /tmp/b.json

Per device and layout: median time, GB/s, time / floor (g.sum(), lower is better) and
speedup over torch's expression g.sign().sum(0).abs().sum() (higher is better).
"""

from __future__ import annotations

import argparse
import json


def rows(path: str) -> list[dict]:
    with open(path) as f:
        data = json.load(f)
    out = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        out.append({
            "device": info.get("device", "?"), "layout": info.get("layout", "row-major"),
            "name": info.get("name", bench["name"]), "median": bench["stats"]["median"],
            "gbps": info.get("gbps"), "shape": info.get("shape"), "dtype": info.get("dtype"),
        })
    return out


def table(entries: list[dict], machine: str | None = None) -> str:
    lines = []
    if machine:
        lines.append(f"Machine: {machine}\n")
    lines.append("| device | layout | shape, dtype | backend | median (ms) | GB/s | time / floor | speedup vs expr |")
    lines.append("|---|---|---|---|---:|---:|---:|---:|")
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in entries:
        groups.setdefault((e["device"], e["layout"]), []).append(e)
    for (device, layout), group in sorted(groups.items()):
        floor = next((e["median"] for e in group if e["name"] == "floor"), None)
        expr = next((e["median"] for e in group if e["name"] == "expr"), None)
        for e in sorted(group, key=lambda e: e["median"]):
            vs_floor = f"{e['median'] / floor:.2f}x" if floor else "-"
            vs_expr = f"{expr / e['median']:.1f}x" if expr else "-"
            gbps = f"{e['gbps']:.1f}" if e["gbps"] else "-"
            shape = f"{tuple(e['shape'])}, {e['dtype']}" if e["shape"] else "-"
            lines.append(f"| {device} | {layout} | {shape} | {e['name']} | {e['median'] * 1e3:.1f} | {gbps} "
                         f"| {vs_floor} | {vs_expr} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark --benchmark-json output")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        machine = json.load(f).get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", "")
    print(table(rows(args.json), f"{cpu}, {machine.get('cpu', {}).get('count', '?')} cores" if cpu else None))


if __name__ == "__main__":
    main()
