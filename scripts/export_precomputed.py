"""A sweep's results file (JSONL, or .jsonl.gz) -> the precomputed table shipped in the package.

    python scripts/export_precomputed.py /work/sweeps/nb201_c10.jsonl          # NB201 CIFAR-10 defaults
    python scripts/export_precomputed.py results/nb201_cifar10.jsonl.gz --out /tmp/t.csv.gz

Only finished records count (a score, no error: claims and error records are skipped, so are a torn
or corrupt line); they must all be one experiment (the same config up to device/engine/backend). Each
arch gets its benchmark index from --table (row i of the NATS-Bench table = NB201 index i); an arch
not in it is an error. Missing archs stay missing: the header says how many of --total are present.
The header records the command, config, versions, hosts, machine, threads and the data file's sha256.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradsign_fast.nas.precomputed import SUFFIX, TABLES, write_precomputed  # noqa: E402
from gradsign_fast.nas.results import ResultsFile  # noqa: E402
from gradsign_fast.nas.sweep import is_done  # noqa: E402
from gradsign_fast.nas.sweep_config import RUNTIME_FIELDS  # noqa: E402
from gradsign_fast.nas.tables import arch_strings_from_table  # noqa: E402

NATS = "../shared/data/nb201/nats_bench_tss_test_acc_200ep.csv"
DATA = "../shared/data/cifar/cifar10_train_first1000_convnetjs.npz"
COMMAND = f"python -m gradsign_fast sweep /work/sweeps/nb201_c10.jsonl --from-table {NATS} --data {DATA} --threads 1"
IMAGES = ("CIFAR-10 training images 0..{last} of cifar10_train_first1000_convnetjs.npz (the first 1000 images of "
          "CIFAR-10 data_batch_1, HWC uint8, normalized with the usual CIFAR-10 mean/std), their labels")


def read_records(path: Path) -> list[dict]:
    """Every JSON-object line of a JSONL file (gzip'ed if it ends in .gz); torn or corrupt lines skipped."""
    return ResultsFile(path).records()


def finished(records: list[dict]) -> list[dict]:
    """The finished records, checked to be one experiment; one per arch (the first; a later one of the
    same arch with another score is an error)."""
    done = [r for r in records if is_done(r) and "arch" in r]
    experiments = {json.dumps({k: v for k, v in r.get("config", {}).items() if k not in RUNTIME_FIELDS},
                              sort_keys=True) for r in done}
    if len(experiments) > 1:
        raise SystemExit(f"the results mix {len(experiments)} experiments (configs): export one at a time")
    by_arch: dict[str, dict] = {}
    for r in done:
        first = by_arch.setdefault(r["arch"], r)
        if float(first["score"]) != float(r["score"]):
            raise SystemExit(f"arch {r['arch']} has two scores, {first['score']} and {r['score']}")
    return list(by_arch.values())


def machine(hosts: list[str]) -> str:
    """The CPU and OS of this machine if every record was computed here; else only the host names."""
    if hosts != [socket.gethostname()]:
        return f"hosts {hosts} (not the exporting machine: CPU not recorded)"
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"host {hosts[0]}: {model}, {os.cpu_count()} logical CPUs, {platform.platform()}"


def runs(records: list[dict]) -> dict[str, dict]:
    """Per writing process (host:pid, i.e. per run of the command): records, engines, first and last time."""
    out: dict[str, dict] = {}
    for r in records:
        run = out.setdefault(f"{r.get('host')}:{r.get('pid')}", {"records": 0, "engines": set(), "times": []})
        run["records"] += 1
        run["engines"].add(str(r.get("engine")))
        run["times"].append(float(r.get("time", 0.0)))
    return {name: {"records": v["records"], "engines": sorted(v["engines"]),
                   "between": [_iso(min(v["times"])), _iso(max(v["times"]))]} for name, v in out.items()}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build_meta(records: list[dict], args: argparse.Namespace, total: int) -> dict:
    config = records[0]["config"] if records else {}
    data = config.get("data")
    sha = None
    if data and Path(data).is_file():
        import hashlib

        sha = hashlib.sha256(Path(data).read_bytes()).hexdigest()
    batch = config.get("batch_size")
    offset = config.get("data_offset", 0)
    seconds = [float(r["seconds"]) for r in records if "seconds" in r]
    times = [float(r["time"]) for r in records if "time" in r]
    hosts = sorted({str(r.get("host")) for r in records})
    return {
        "space": args.space, "dataset": args.dataset, "archs": 0, "total": total, "complete": False,
        "index": f"row of {Path(args.table).name} (NATS-Bench TSS order = NAS-Bench-201 index)",
        "command": args.command, "config": config, "seed": config.get("seed"), "batch_size": batch,
        "data": {"file": None if data is None else Path(data).name, "path_in_command": data, "sha256": sha,
                 "images": None if batch is None else f"{offset}..{offset + batch - 1}",
                 "what": None if data is None else IMAGES.format(last=offset + batch - 1)},
        "version": sorted({str(r.get("version")) for r in records}),
        "torch": sorted({str(r.get("torch")) for r in records}),
        "hosts": hosts, "machine": args.machine or machine(hosts), "threads": args.threads,
        "code": args.code, "runs": runs(records),
        "seconds_per_arch_median": round(statistics.median(seconds), 3) if seconds else None,
        "scored_between": [_iso(min(times)), _iso(max(times))] if times else None,
        "source": Path(args.results).name,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("results", type=Path, help="the sweep's results file (.jsonl or .jsonl.gz)")
    parser.add_argument("--table", default=NATS, help=f"arch table giving each arch's index (default {NATS})")
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--total", type=int, default=None, help="archs in the space (default: the table's rows)")
    parser.add_argument("--command", default=COMMAND, help="the exact sweep command, recorded in the header")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the sweep (its --threads)")
    parser.add_argument("--code", default=None,
                        help="which code scored the rows (e.g. a git commit), recorded in the header")
    parser.add_argument("--machine", default=None, help="where it ran (default: this machine, if its host)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output (default: gradsign_fast/nas/precomputed_tables/SPACE_DATASET.csv.gz)")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"no results file at {args.results}")
    order = arch_strings_from_table(args.table)
    index = {arch: i for i, arch in enumerate(order)}
    records = finished(read_records(args.results))
    missing = [r["arch"] for r in records if r["arch"] not in index]
    if missing:
        raise SystemExit(f"{len(missing)} archs are not in {args.table}, e.g. {missing[0]}")
    rows = [(index[r["arch"]], r["arch"], float(r["score"])) for r in records]
    total = args.total if args.total is not None else len(order)
    out = args.out or TABLES / f"{args.space}_{args.dataset}{SUFFIX}"
    write_precomputed(out, rows, build_meta(records, args, total))
    print(f"{out}: {len(rows)} of {total} archs ({'complete' if len(rows) == total else 'partial'}), "
          f"{out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
