"""The paper's rank-correlation benchmarks from the committed sweeps: `python benchmarks/paper_tables.py [--plots DIR]`.

One summary table across spaces (NAS-Bench-201 on its three datasets, NAS-Bench-101, the DARTS
space, the five NDS spaces): per results file of `results/` (a `gradsign-fast sweep` output,
gzip'ed), the archs it holds, Spearman rho and Kendall tau with the benchmark's accuracy, the inputs
its records say were used, what scoring cost (the records' own `seconds`: median per arch and the
sum in CPU-hours, each a one-thread worker), and the paper's figure. `--proxies`: GradSign beside
the proxies NASLib published, on the same archs (NB101's 500-row file: a cell listed once per seed gets the mean of its
rows; the DARTS space's 725 archs). `--plots DIR`: the Figure-2-style scatter of each row.
A results file not there yet is listed as such (the sweeps run for hours: results/README.md).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gradsign_fast.nas.correlate import correlate, load_scores, scatter_plot
from gradsign_fast.nas.results import ResultsFile
from gradsign_fast.nas.tables import load_table, table_columns

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
NATS = "nb201/nats_bench_tss_test_acc_200ep.csv"
NB101 = "nb101/nb101_gennas_zero_2500_testacc.csv"
NB101_NASLIB = "nb101/nb101_naslib_zc500_valacc.csv"
DARTS = "darts/naslib_zc_nb301_725.csv"
NDS = "nds/nds_imagenet_subsets.csv"
NB101_PROXIES = ("flops", "params", "snip", "jacov", "grad_norm", "plain", "epe_nas", "fisher", "grasp", "l2_norm",
                 "synflow")
DARTS_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params", "plain",
                 "snip", "synflow")


@dataclass(frozen=True)
class Row:
    """One benchmark: a results file of results/, the table and column it is ranked against, the paper."""

    space: str
    target: str
    results: str
    table: str
    accuracy: str
    paper: str
    where: tuple[tuple[str, str], ...] = ()


ROWS = (
    Row("NB201", "CIFAR-10 test acc.", "nb201_cifar10.jsonl.gz", NATS, "CIFAR10TestAccuracy200Epochs",
        "ρ 0.765 (Table 3)"),
    Row("NB201", "CIFAR-10 test acc.", "nb201_c10_synthetic.jsonl.gz", NATS, "CIFAR10TestAccuracy200Epochs",
        "ρ 0.765 (Table 3)"),
    Row("NB201", "CIFAR-100 test acc.", "nb201_c100_synthetic.jsonl.gz", NATS, "CIFAR100TestAccuracy200Epochs",
        "ρ 0.793 (Table 3)"),
    Row("NB201", "CIFAR-100 test acc.", "nb201_c100_real20.jsonl.gz", NATS, "CIFAR100TestAccuracy200Epochs",
        "ρ 0.793 (Table 3)"),
    Row("NB201", "ImageNet16-120 test acc.", "nb201_in16_synthetic.jsonl.gz", NATS, "ImageNetTestAccuracy200Epochs",
        "ρ 0.783 (Table 3)"),
    Row("NB201", "ImageNet16-120 test acc.", "nb201_in16_c10standin.jsonl.gz", NATS,
        "ImageNetTestAccuracy200Epochs", "ρ 0.783 (Table 3)"),
    Row("NB101", "CIFAR-10 test acc.", "nb101_cifar10.jsonl.gz", NB101, "test_acc", "ρ 0.449 (Table 2)"),
    Row("DARTS (NB301)", "CIFAR-10 val. acc.", "darts_nb301.jsonl.gz", DARTS, "val_accuracy",
        "τ 0.54 (Table 4, NDS-DARTS)"),
    *(Row(f"NDS {name} (ImageNet nets)", "ImageNet top-1 test acc.", "nds_imagenet64.jsonl.gz", NDS,
          "final_test_acc", f"τ {tau} (Table 4, CIFAR-10 nets)", (("space", f"{name}_in"),))
      for name, tau in (("DARTS", "0.54"), ("ENAS", "0.43"), ("PNAS", "0.40"), ("NASNet", "0.31"),
                        ("Amoeba", "0.24"))),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="the folder of the sweeps' files")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data directory")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write one scatter plot per row")
    parser.add_argument("--proxies", action="store_true", help="also GradSign beside NASLib's proxies")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(summary(args.results, args.data, args.plots))
    if args.proxies:
        for title, results, table, proxies in (
                ("NB101, NASLib's 500-row file (mean per cell over its rows)", "nb101_naslib500.jsonl.gz",
                 NB101_NASLIB, NB101_PROXIES),
                ("DARTS space (NB301), NASLib's 725 archs", "darts_nb301.jsonl.gz", DARTS, DARTS_PROXIES)):
            print(f"\n{title}\n")
            print(proxy_table(args.results / results, args.data / table, proxies))
    print(f"# wall time {time.perf_counter() - start:.1f} s")
    return 0


def inputs_of(records: list[dict]) -> str:
    """What the records' config says was scored: the batch, the inputs, their size, the head."""
    config = next((r["config"] for r in records if "score" in r and "config" in r), {})
    data = config.get("data")
    source = f"real {Path(data).name}" if data else "SYNTHETIC"
    size = f", {config['image_size']}x{config['image_size']}" if config.get("image_size") else ""
    dataset = config.get("dataset", "cifar10")
    classes = f", {config['num_classes']} classes" if config.get("num_classes") else ""
    return f"{config.get('batch_size')} {source} ({dataset}{size}{classes})"


def scoring_cost(records: list[dict], archs) -> tuple[float, float]:
    """(median seconds per arch, total CPU-hours) of the finished `records` whose arch is in `archs`,
    from each record's `seconds` (the wall time of its score in a one-thread worker); nan where no
    record has it. On a shared machine these are what the sweep saw, load included."""
    wanted = set(archs)
    seconds = [float(r["seconds"]) for r in records if "score" in r and "seconds" in r and r.get("arch") in wanted]
    if not seconds:
        return float("nan"), float("nan")
    return statistics.median(seconds), sum(seconds) / 3600


def summary(results: Path, data: Path, plots: Path | None) -> str:
    """The markdown summary table (module docstring); plots written when `plots` is given."""
    lines = ["| space | target | inputs (batch) | archs | Spearman ρ | Kendall τ | s/arch | CPU-h | paper | results file |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for row in ROWS:
        path = results / row.results
        if not path.is_file():
            lines.append(f"| {row.space} | {row.target} | - | 0 | - | - | - | - | {row.paper} | "
                         f"`{row.results}` (not run yet) |")
            continue
        scores = load_scores(path)
        accs = load_table(data / row.table, row.accuracy, where=dict(row.where) or None, require="finite")
        records = list(ResultsFile(path).records())
        c, inputs = correlate(scores, accs), inputs_of(records)
        cost = " | ".join("-" if math.isnan(v) else f"{v:.2f}" for v in scoring_cost(records, accs.keys()))
        lines.append(f"| {row.space} | {row.target} | {inputs} | {c.n:,} | {c.spearman:.3f} | "
                     f"{c.kendall:.3f} | {cost} | {row.paper} | `{row.results}` |")
        if plots is not None:
            name = row.results.split(".")[0] + "".join(f"_{v}" for _, v in row.where) + ".png"
            scatter_plot(scores, accs, plots / name, ylabel=f"{row.target} (%)",
                         title=f"{row.space}: {row.target}\n{inputs}\nρ {c.spearman:.3f}, "
                               f"τ {c.kendall:.3f}, n={c.n:,}")
    return "\n".join(lines)


def proxy_table(results: Path, table: Path, proxies: tuple[str, ...]) -> str:
    """GradSign and each proxy column of `table`: Spearman / Kendall with its accuracy on the archs
    GradSign scored (rows of a repeated arch averaged), sorted by Spearman."""
    if not results.is_file():
        return f"(`{results.name}` not run yet)"
    accuracy = "val_acc" if "val_acc" in table_columns(table) else "val_accuracy"
    accs = load_table(table, accuracy, require="finite", duplicates="mean")
    scores = {a: s for a, s in load_scores(results).items() if a in accs}
    rows = []
    for name in ("GradSign", *proxies):
        values = scores if name == "GradSign" else {
            a: v for a, v in load_table(table, name, skip_empty=True, duplicates="mean").items() if a in scores}
        c = correlate(values, accs)
        rows.append((c.spearman, name, c))
    lines = [f"| proxy | archs | ρ vs {accuracy} | τ vs {accuracy} |", "|---|---:|---:|---:|"]
    for _, name, c in sorted(rows, key=lambda r: -r[0]):
        label = "**GradSign (this package)**" if name == "GradSign" else name
        lines.append(f"| {label} | {c.n:,} | {c.spearman:.3f} | {c.kendall:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
